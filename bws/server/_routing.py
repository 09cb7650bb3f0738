# -*- test-case-name: tests.server.test_routing -*-
"""Attach paths, path templates and ``get`` parameter binding (REFERENCE §1.2)."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import unquote

from bws.config import ConfigurationError, WSServiceConfig
from bws.request import Header, UpgradeRequest

__all__ = ["Attachment", "Router", "splitPath", "ParamError", "GetSignature", "CATCH_ALL"]

#: Attach at this path to serve every path that no other attachment claims.
CATCH_ALL = "*"


class ParamError(Exception):
    """A ``get`` parameter could not be bound; carries the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def splitPath(path: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """``"/a/b/"`` or ``["a", "b"]`` as decoded segments; matrix params dropped."""
    if path is None:
        return ()
    if isinstance(path, (list, tuple)):
        parts = [p for segment in path for p in str(segment).split("/")]
    else:
        parts = path.split("/")
    return tuple(unquote(p.split(";", 1)[0]) for p in parts if p.split(";", 1)[0])


def _isTemplate(segment: str) -> bool:
    return len(segment) > 2 and segment[0] == "{" and segment[-1] == "}"


class Attachment:
    """One upgrade service at one (possibly templated) path, with its ``WSServiceConfig``.

    :raise ConfigurationError: when a segment of ``path`` holds a brace but is not a whole
        ``{name}`` template, when ``path`` repeats a template parameter, or ``get`` cannot
        take the path's parameters (see :class:`GetSignature`).
    """

    def __init__(self, upgradeService: Any, path: str | list[str] | tuple[str, ...] | None,
                 config: WSServiceConfig) -> None:
        self.upgradeService = upgradeService
        #: ``"*"``: every path no other attachment claims.
        self.catchAll = path == CATCH_ALL
        self.segments = () if self.catchAll else splitPath(path)
        for segment in self.segments:
            if ("{" in segment or "}" in segment) and not (
                    _isTemplate(segment) and segment[1:-1].isidentifier()):
                raise ConfigurationError(
                    f"attach: path {path!r}: segment {segment!r} is not a template; a "
                    "template segment is a whole segment {name}, name an identifier")
        names = [s[1:-1] for s in self.segments if _isTemplate(s)]
        if len(set(names)) != len(names):
            raise ConfigurationError(f"attach: path {path!r} repeats a template parameter")
        self.path = CATCH_ALL if self.catchAll else "/" + "/".join(self.segments)
        self.config = config
        self.signature = GetSignature(upgradeService.get, set(names))

    def match(self, segments: tuple[str, ...]) -> dict[str, str] | None:
        """Path params when ``segments`` is this attachment's path, else None."""
        if self.catchAll:
            return {}
        if len(segments) != len(self.segments):
            return None
        params: dict[str, str] = {}
        for mine, theirs in zip(self.segments, segments, strict=True):
            if _isTemplate(mine):
                params[mine[1:-1]] = theirs
            elif mine != theirs:
                return None
        return params


class Router:
    """Attachments, longest path first; literal segments win over templates."""

    def __init__(self) -> None:
        self.attachments: list[Attachment] = []

    def add(self, attachment: Attachment) -> None:
        for other in self.attachments:
            if (other.segments, other.catchAll) == (attachment.segments, attachment.catchAll):
                raise ConfigurationError(
                    f"attach: a service is already attached at {attachment.path!r}")
        self.attachments.append(attachment)
        self.attachments.sort(key=lambda a: (a.catchAll, -len(a.segments),
                                             sum(_isTemplate(s) for s in a.segments)))

    def remove(self, upgradeService: Any) -> Attachment:
        for a in self.attachments:
            if a.upgradeService is upgradeService:
                self.attachments.remove(a)
                return a
        raise ConfigurationError(
            "Error: Cannot detach service. Service has not been registered")

    def route(self, path: str) -> tuple[Attachment, dict[str, str]] | None:
        segments = splitPath(path)
        for a in self.attachments:
            params = a.match(segments)
            if params is not None:
                return a, params
        return None


# -- binding ``get``'s parameters -----------------------------------------------------

def _convertScalar(kind: Any, text: str) -> Any:
    if kind in (str, Any, inspect.Parameter.empty):
        return text
    if kind is bool:
        lowered = text.lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise ValueError(f"{text!r} is not a boolean")
    if kind is int:
        return int(text)
    if kind is float:
        return float(text)
    if kind is Decimal:
        try:
            return Decimal(text)
        except InvalidOperation:
            raise ValueError(f"{text!r} is not a decimal") from None
    return kind(text)


def _unwrap(annotation: Any) -> tuple[Any, bool, bool, Header | None]:
    """(scalar type, optional?, list?, Header marker) of a ``get`` parameter annotation."""
    header = None
    if typing.get_origin(annotation) is typing.Annotated:
        args = typing.get_args(annotation)
        annotation = args[0]
        header = next((m for m in args[1:] if isinstance(m, Header)), None)
    optional = False
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(members) < len(typing.get_args(annotation))
        annotation = members[0] if len(members) == 1 else str
        origin = typing.get_origin(annotation)
    isList = origin in (list, tuple)
    if isList:
        inner = typing.get_args(annotation)
        annotation = inner[0] if inner else str
    return annotation, optional, isList, header


class _Param:
    def __init__(self, param: inspect.Parameter, annotation: Any, source: str) -> None:
        self.name = param.name
        self.kind, optional, self.isList, header = _unwrap(annotation)
        self.source = "header" if header is not None else source
        self.key = (header.name or param.name).lower() if header is not None else param.name
        self.hasDefault = param.default is not param.empty
        self.default = param.default if self.hasDefault else None
        self.required = not (self.hasDefault or optional)


class GetSignature:
    """How to call an upgrade service's ``get``: which params come from where."""

    def __init__(self, get: Callable[..., Any], pathNames: set[str]) -> None:
        if not callable(get):
            raise ConfigurationError("attach: the upgrade service has no callable get()")
        signature = inspect.signature(get)
        try:
            hints = typing.get_type_hints(get, include_extras=True)
        except Exception:
            hints = {}
        params = list(signature.parameters.values())
        if not params or params[0].kind not in (params[0].POSITIONAL_ONLY,
                                                params[0].POSITIONAL_OR_KEYWORD):
            raise ConfigurationError("attach: get() must take the request as first parameter")
        self.params: list[_Param] = []
        for param in params[1:]:
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            annotation = hints.get(param.name, param.annotation)
            source = "path" if param.name in pathNames else "query"
            self.params.append(_Param(param, annotation, source))
        missing = pathNames - {p.name for p in self.params if p.source == "path"}
        if missing and not any(p.kind == p.VAR_KEYWORD for p in params):
            raise ConfigurationError(
                f"attach: get() has no parameter for path template {sorted(missing)}")
        self.passExtraPath = {n for n in missing}

    def bind(self, request: UpgradeRequest) -> dict[str, Any]:
        """Keyword arguments for ``get``; raises ParamError with 404 or 400."""
        kwargs: dict[str, Any] = {}
        query = request.query if self.params else {}
        for name in self.passExtraPath:
            kwargs[name] = request.pathParams[name]
        for p in self.params:
            if p.source == "path":
                try:
                    kwargs[p.name] = _convertScalar(p.kind, request.pathParams[p.name])
                except (ValueError, TypeError):
                    raise ParamError(404, f"No resource found for path {request.path}") from None
                continue
            values = (request.getHeaders(p.key) if p.source == "header"
                      else query.get(p.key, []))
            if not values:
                if p.required:
                    what = "header" if p.source == "header" else "query param"
                    raise ParamError(400, f"No {what} value found for: {p.key}")
                kwargs[p.name] = p.default
                continue
            try:
                if p.isList:
                    kwargs[p.name] = [_convertScalar(p.kind, v) for v in values]
                else:
                    kwargs[p.name] = _convertScalar(p.kind, values[0])
            except (ValueError, TypeError):
                raise ParamError(
                    400, f"Invalid value for {p.source} param {p.key}: {values[0]!r}") from None
        return kwargs
