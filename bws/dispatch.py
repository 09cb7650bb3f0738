# -*- test-case-name: tests.test_dispatch -*-
"""Which service method a message goes to, and how its data is bound (REFERENCE §1.4-§1.5).

A service class is looked at once (its callbacks, whether each takes the caller, the
annotation of its data parameter); each connection then binds those to its service
object and caller, so the per-message path is a dictionary-free attribute read.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any

from bws.config import WSServiceConfig
from bws.dispatchkey import dispatcherTable, dispatchingValue, methodNameFor

__all__ = ["ServiceMethods", "ClassShape"]

#: Callbacks and how many parameters each takes after the caller.
SPECIAL = {
    "onOpen": 0,
    "onTextMessage": 1,
    "onBinaryMessage": 1,
    "onMessage": 1,
    "onPing": 1,
    "onPong": 1,
    "onIdleTimeout": 0,
    "onClose": 2,
    "onError": 1,
}
_RAW_TEXT = (str, inspect.Parameter.empty, Any)
_RAW_BINARY = (bytes, inspect.Parameter.empty, Any)

Route = tuple[Callable[..., Any], Any]


_CALLER_NAMES = frozenset({"caller", "wsEp", "client", "ep"})


def _isCallerParam(param: inspect.Parameter, hints: dict[str, Any]) -> bool:
    annotation = hints.get(param.name, param.annotation)
    name = getattr(annotation, "__name__", str(annotation))
    return param.name in _CALLER_NAMES or name in ("Caller", "ICaller", "Client")


class MethodShape:
    """How to call one service method: with or without the caller, and its data type."""

    def __init__(self, name: str, function: Callable[..., Any], dataParams: int,
                 hints: dict[str, Any]) -> None:
        self.name = name
        self.dataParams = dataParams
        signature = inspect.signature(function)
        variadic = any(p.kind == p.VAR_POSITIONAL for p in signature.parameters.values())
        params = [p for p in signature.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)][1:]  # no self
        # The caller is optional (REFERENCE §1.4): recognised by name or annotation,
        # else by there being one parameter more than the data needs.
        self.takesCaller = bool(params) and (
            _isCallerParam(params[0], hints) or len(params) > dataParams or variadic)
        dataParamList = params[1:] if self.takesCaller else params
        self.dataType: Any = inspect.Parameter.empty
        if dataParamList:
            first = dataParamList[0]
            self.dataType = hints.get(first.name, first.annotation)
        # onClose may leave out statusCode/reason: pass only what it takes.
        self.dataCount = dataParams if variadic else min(dataParams, len(dataParamList))

    def bind(self, service: Any, caller: Any) -> Callable[..., Any]:
        method = getattr(service, self.name)
        if self.takesCaller:
            method = functools.partial(method, caller)
        if self.dataCount < self.dataParams:
            keep = self.dataCount
            inner = method
            return lambda *args: inner(*args[:keep])
        return method  # type: ignore[no-any-return]


class ClassShape:
    """The callbacks a service class defines, found once per class."""

    _cache: dict[tuple[type, bool, str | None], ClassShape] = {}

    def __init__(self, cls: type, config: WSServiceConfig) -> None:
        self.methods: dict[str, MethodShape] = {}
        self.dispatcherValues: dict[str, str] = {}
        if config.dispatcherKey:
            self.dispatcherValues = dispatcherTable(cls)
        annotated = set(self.dispatcherValues.values())
        for name in dir(cls):
            if name not in annotated and not (name.startswith("on") and name[2:3].isupper()):
                continue
            function = getattr(cls, name, None)
            if not callable(function):
                continue
            try:
                hints = typing.get_type_hints(function, include_extras=True)
            except Exception:
                hints = {}
            try:
                self.methods[name] = MethodShape(name, function, SPECIAL.get(name, 1), hints)
            except (TypeError, ValueError):
                continue
        self.textName = "onTextMessage" if "onTextMessage" in self.methods else (
            "onMessage" if "onMessage" in self.methods else None)
        self.binaryName = "onBinaryMessage" if "onBinaryMessage" in self.methods else (
            "onMessage" if "onMessage" in self.methods else None)
        self.validation = config.validation
        self.binders: dict[str, Any] = {}

    @classmethod
    def of(cls, serviceClass: type, config: WSServiceConfig) -> ClassShape:
        key = (serviceClass, config.validation, config.dispatcherKey)
        shape = cls._cache.get(key)
        if shape is None:
            shape = cls._cache[key] = ClassShape(serviceClass, config)
        return shape

    def binderFor(self, name: str, binary: bool) -> Callable[[Any], Any] | None:
        """The converter for the data parameter of ``name``; None when raw data fits."""
        target = self.methods[name].dataType
        if target in (_RAW_BINARY if binary else _RAW_TEXT):
            return None
        key = f"{name}:{binary}"
        if key not in self.binders:
            from bws.binding import binderFor

            binder = binderFor(target, self.validation)
            self.binders[key] = binder.binary if binary else binder.text
        return self.binders[key]  # type: ignore[no-any-return]


class ServiceMethods:
    """A service object's callbacks, bound to one connection's caller.

    Only what the connection uses on every message is bound up front; the rest is bound
    when first needed, so an idle connection holds little.
    """

    __slots__ = ("shape", "_service", "_caller", "_bound", "dispatcherKey", "plainText",
                 "binaryRoute")

    def __init__(self, service: Any, caller: Any, config: WSServiceConfig) -> None:
        shape = ClassShape.of(type(service), config)
        self.shape = shape
        self._service = service
        self._caller = caller
        self._bound: dict[str, Callable[..., Any]] | None = None
        self.dispatcherKey = config.dispatcherKey
        self.plainText: Route | None = None
        if shape.textName is not None:
            self.plainText = (self.bind(shape.textName), shape.binderFor(shape.textName, False))
        self.binaryRoute: Route | None = None
        if shape.binaryName is not None:
            self.binaryRoute = (self.bind(shape.binaryName),
                                shape.binderFor(shape.binaryName, True))

    def bind(self, name: str) -> Callable[..., Any]:
        """Method ``name`` bound to this connection (cached)."""
        bound = self._bound
        if bound is None:
            bound = self._bound = {}
        fn = bound.get(name)
        if fn is None:
            fn = bound[name] = self.shape.methods[name].bind(self._service, self._caller)
        return fn

    def get(self, name: str) -> Callable[..., Any] | None:
        """Method ``name`` bound, or None when the service does not define it."""
        return self.bind(name) if name in self.shape.methods else None

    @property
    def onOpen(self) -> Callable[..., Any] | None:
        return self.get("onOpen")

    @property
    def onPing(self) -> Callable[..., Any] | None:
        return self.get("onPing")

    @property
    def onPong(self) -> Callable[..., Any] | None:
        return self.get("onPong")

    @property
    def onIdleTimeout(self) -> Callable[..., Any] | None:
        return self.get("onIdleTimeout")

    @property
    def onClose(self) -> Callable[..., Any] | None:
        return self.get("onClose")

    @property
    def onError(self) -> Callable[..., Any] | None:
        return self.get("onError")

    def textRoute(self, payload: bytes) -> Route | None:
        """With ``dispatcherKey``: the annotated method, the name rule, then the defaults."""
        assert self.dispatcherKey is not None
        value = dispatchingValue(payload, self.dispatcherKey)
        if value is not None:
            shape = self.shape
            name = shape.dispatcherValues.get(value)
            if name is None:
                candidate = methodNameFor(value)
                if candidate in shape.methods and candidate not in SPECIAL_CONTROL:
                    name = candidate
            if name is not None:
                return self.bind(name), shape.binderFor(name, False)
        return self.plainText

    def errorHandlerFor(self, fn: Callable[..., Any]) -> Callable[..., Any] | None:
        """``<name>Error`` for the method ``fn`` is bound to, else ``onError``."""
        for name, bound in (self._bound or {}).items():
            if bound is fn:
                handler = self.get(name + "Error")
                if handler is not None:
                    return handler
                break
        return self.onError


#: Special methods a dispatching value must never reach by the name rule.
SPECIAL_CONTROL = frozenset({"onOpen", "onClose", "onError", "onIdleTimeout",
                             "onBinaryMessage"})
