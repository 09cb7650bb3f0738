# -*- test-case-name: tests.server.test_dispatch -*-
"""Which service method a message goes to, and how its data is bound (REFERENCE §1.4-§1.5).

A service class is looked at once (its callbacks, whether each takes the caller, the name of
its data parameter, its ``dispatcherValue`` marks: a :class:`ClassShape`); each connection
then binds those to its service object and caller (:class:`ServiceMethods`), so the
per-message path is an attribute read. With ``dispatcherKey``, a JSON text message goes to
the method :meth:`ClassShape.methodFor` picks: the one lookup, which
:func:`findDispatchMethod` exposes.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import typing
import weakref
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final, TypeVar

from bws.config import WSServiceConfig

__all__ = [
    "DISPATCHER_VALUE_ATTRIBUTE",
    "SPECIAL_METHODS",
    "methodNameFor",
    "dispatcherValue",
    "dispatcherTable",
    "dispatchingValue",
    "findDispatchMethod",
    "ClassShape",
    "ServiceMethods",
]

_F = TypeVar("_F", bound=Callable[..., Any])

DISPATCHER_VALUE_ATTRIBUTE: Final = "__bws_dispatcherValue__"
"""The attribute ``dispatcherValue`` sets on the method it decorates."""

SPECIAL_METHODS: Final[Mapping[str, int]] = MappingProxyType(
    {
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
)
"""The service methods the spec gives a fixed meaning, each with the number of data
parameters it takes after the caller; ``dispatcherValue`` refuses them. Any other method
takes one (the message)."""

# Methods a derived name never selects: they do not take a text message.
_NOT_TEXT_HANDLERS: Final = frozenset(
    {"onOpen", "onIdleTimeout", "onClose", "onError", "onBinaryMessage"}
)

_WORD_SEPARATOR: Final = re.compile(r"[\W_]+")
_JSON_OBJECT_TEXT: Final = re.compile(r"[ \t\n\r]*\{")
_JSON_OBJECT_BYTES: Final = re.compile(rb"[ \t\n\r]*\{")


def methodNameFor(value: str) -> str:
    """
    Derive the name of the method that handles the dispatching value ``value``.

    ``"on " + value`` is split on runs of non-word characters and underscores; the first word
    is lower-cased and every later word gets its first letter upper-cased and the rest
    lower-cased: ``"connection_init"`` gives ``"onConnectionInit"`` and ``"heartBeat"`` gives
    ``"onHeartbeat"``. Word characters are Unicode word characters, as in Python identifiers.

    :param value: a dispatching value.
    :return: the derived method name.
    """
    words = [word for word in _WORD_SEPARATOR.split("on " + value) if word]
    return words[0].lower() + "".join(word[:1].upper() + word[1:].lower() for word in words[1:])


def dispatcherValue(value: str) -> Callable[[_F], _F]:
    """
    Route text messages whose dispatching value is ``value`` to the decorated method.

    This is the spec's ``@websocket:DispatcherConfig {dispatcherValue: value}``; it takes
    precedence over the method name derived by ``methodNameFor``::

        class Chat:
            @dispatcherValue("subscribe")
            def onSubscribeMessage(self, caller, message: Subscribe): ...

    :param value: the dispatching value routed to the method.
    :return: a decorator that marks the method and returns it unchanged.
    :raise TypeError: if ``value`` is not a ``str``, or (when decorating) if the method is one
        of ``SPECIAL_METHODS``.
    """
    if not isinstance(value, str):
        raise TypeError(f"dispatcherValue takes a str, not {type(value).__name__}")

    def decorate(method: _F) -> _F:
        name = getattr(method, "__name__", None)
        if name in SPECIAL_METHODS:
            raise TypeError(
                f"dispatcherValue({value!r}) cannot be used on {name}: "
                f"the special methods ({', '.join(sorted(SPECIAL_METHODS))}) are dispatched "
                "by frame type, not by dispatching value"
            )
        target = method.__func__ if isinstance(method, staticmethod | classmethod) else method
        setattr(target, DISPATCHER_VALUE_ATTRIBUTE, value)
        return method

    return decorate


_tables: weakref.WeakKeyDictionary[type, dict[str, str]] = weakref.WeakKeyDictionary()


def dispatcherTable(serviceClass: type | object) -> dict[str, str]:
    """
    Collect the ``dispatcherValue`` marks of a service class.

    Inherited methods count; a method overridden without the decorator loses its mark.

    :param serviceClass: a service class, or an instance of one.
    :return: a new ``dict`` mapping each dispatching value to the name of its method.
    :raise TypeError: if a special method carries a mark, or two methods carry the same value.
    """
    cls = serviceClass if isinstance(serviceClass, type) else type(serviceClass)
    try:
        cached = _tables.get(cls)
    except TypeError:  # a class that cannot be weakly referenced
        cached = None
    if cached is None:
        cached = _collect(cls)
        try:
            _tables[cls] = cached
        except TypeError:
            pass
    return dict(cached)


def _collect(cls: type) -> dict[str, str]:
    table: dict[str, str] = {}
    for name in dir(cls):
        try:
            member = inspect.getattr_static(cls, name)
        except AttributeError:
            continue
        if isinstance(member, staticmethod | classmethod):
            member = member.__func__
        try:
            value = getattr(member, DISPATCHER_VALUE_ATTRIBUTE, None)
        except Exception:
            continue
        if not isinstance(value, str):
            continue
        if name in SPECIAL_METHODS:
            raise TypeError(
                f"{cls.__qualname__}.{name} is a special method and cannot have "
                f"dispatcherValue({value!r})"
            )
        other = table.get(value)
        if other is not None:
            first, second = sorted((other, name))
            raise TypeError(
                f"{cls.__qualname__} uses dispatcherValue({value!r}) on both {first} and "
                f"{second}; each dispatching value may route to one method only"
            )
        table[value] = name
    return table


def dispatchingValue(text: str | bytes, key: str) -> str | None:
    """
    Find the dispatching value of a text message.

    Text that does not start (after JSON whitespace) with ``{`` is rejected before any
    parsing, so plain text costs one regular-expression match.

    :param text: the message, as ``str`` or as its UTF-8 bytes.
    :param key: the ``dispatcherKey``: the name of a top-level field.
    :return: the value of ``key`` if ``text`` is a JSON object whose ``key`` holds a string,
        else ``None``.
    """
    matched = (_JSON_OBJECT_TEXT.match(text) if isinstance(text, str)
               else _JSON_OBJECT_BYTES.match(text))
    if matched is None:
        return None
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are both
        return None
    if not isinstance(document, dict):
        return None
    value = document.get(key)
    return value if isinstance(value, str) else None


def findDispatchMethod(
    service: object, value: str, table: Mapping[str, str] | None = None
) -> str | None:
    """
    Choose the method that handles a message whose dispatching value is ``value``.

    This is the lookup ``ServiceMethods.textRoute`` runs (:meth:`ClassShape.methodFor`), for
    a service object.

    :param service: the service object.
    :param value: the dispatching value.
    :param table: a ``dispatcherTable`` to use instead of the service class's own.
    :return: the method's name, or ``None``.
    :raise TypeError: as ``dispatcherTable``.
    """
    return ClassShape.of(type(service), validation=True, dispatching=True).methodFor(value, table)


_RAW_TEXT: Final = (str, Any)
_RAW_BINARY: Final = (bytes, Any)
_CALLER_NAMES: Final = frozenset({"caller", "wsEp", "client", "ep"})

Route = tuple[Callable[..., Any], Any]


def _isCallerParam(param: inspect.Parameter, hints: dict[str, Any]) -> bool:
    annotation = hints.get(param.name, param.annotation)
    name = getattr(annotation, "__name__", str(annotation))
    return param.name in _CALLER_NAMES or name in ("Caller", "ICaller", "Client")


class MethodShape:
    """How to call one service method: with or without the caller, and which parameter
    takes the data.

    :ivar takesCaller: whether the caller is passed first (REFERENCE §1.4: recognised by
        name or annotation, else by there being one parameter more than the data needs).
    :ivar dataParameter: the name of the first data parameter, or ``None`` when the method
        takes none.
    """

    def __init__(self, name: str, function: Callable[..., Any], dataParams: int,
                 hints: dict[str, Any]) -> None:
        self.name = name
        self.function = function
        self.dataParams = dataParams
        signature = inspect.signature(function)
        variadic = any(p.kind == p.VAR_POSITIONAL for p in signature.parameters.values())
        params = [p for p in signature.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)][1:]  # no self
        self.takesCaller = bool(params) and (
            _isCallerParam(params[0], hints) or len(params) > dataParams or variadic)
        dataParamList = params[1:] if self.takesCaller else params
        self.dataParameter: str | None = dataParamList[0].name if dataParamList else None
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
        return method


class ClassShape:
    """The callbacks a service class defines, found once per class.

    :ivar methods: method name to :class:`MethodShape`, for the callbacks (``on`` and an
        upper-case letter) and, when dispatching, the methods marked ``dispatcherValue``.
    :ivar dispatcherValues: the class's ``dispatcherTable`` when dispatching, else empty.
    """

    _cache: dict[tuple[type, bool, bool], ClassShape] = {}

    def __init__(self, cls: type, validation: bool, dispatching: bool) -> None:
        self.methods: dict[str, MethodShape] = {}
        self.dispatcherValues: dict[str, str] = dispatcherTable(cls) if dispatching else {}
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
                self.methods[name] = MethodShape(name, function, SPECIAL_METHODS.get(name, 1),
                                                 hints)
            except (TypeError, ValueError):
                continue
        self.textName = "onTextMessage" if "onTextMessage" in self.methods else (
            "onMessage" if "onMessage" in self.methods else None)
        self.binaryName = "onBinaryMessage" if "onBinaryMessage" in self.methods else (
            "onMessage" if "onMessage" in self.methods else None)
        self.validation = validation
        self.binders: dict[tuple[str, bool], Callable[[Any], Any] | None] = {}

    @classmethod
    def of(cls, serviceClass: type, validation: bool, dispatching: bool) -> ClassShape:
        """The shape of ``serviceClass``, built on first use."""
        key = (serviceClass, validation, dispatching)
        shape = cls._cache.get(key)
        if shape is None:
            shape = cls._cache[key] = ClassShape(serviceClass, validation, dispatching)
        return shape

    def methodFor(self, value: str, table: Mapping[str, str] | None = None) -> str | None:
        """
        Choose the method for a text message whose dispatching value is ``value``.

        These are steps 1 and 2 of the lookup: the method marked ``dispatcherValue(value)``,
        then the method named ``methodNameFor(value)`` when the class defines it. When this
        returns ``None`` the message goes to ``onTextMessage``, then ``onMessage``, else it
        is dropped. A derived name never selects ``onOpen``, ``onIdleTimeout``, ``onClose``,
        ``onError`` or ``onBinaryMessage``, which do not take text messages; it may select
        ``onPing``/``onPong``: as in the reference implementation, a text
        ``{"event": "ping"}`` goes to ``onPing``.

        :param value: the dispatching value.
        :param table: a ``dispatcherTable`` to use instead of :attr:`dispatcherValues`.
        :return: the method's name, or ``None``.
        """
        name = (self.dispatcherValues if table is None else table).get(value)
        if name is not None:
            return name
        name = methodNameFor(value)
        if name in self.methods and name not in _NOT_TEXT_HANDLERS:
            return name
        return None

    def binderFor(self, name: str, binary: bool) -> Callable[[Any], Any] | None:
        """
        The converter for the data parameter of ``name`` (built once per class).

        :return: ``Binder.text`` or ``Binder.binary`` of ``bws.binding.binderFor``, or
            ``None`` when the raw data (``str`` / ``bytes``, or no annotation) fits.
        :raise TypeError: as ``bws.binding.dataTypeOf`` and ``bws.binding.binderFor``.
        """
        key = (name, binary)
        try:
            return self.binders[key]
        except KeyError:
            pass
        # pydantic takes most of a second to import: only services that bind data pay it.
        from bws.binding import binderFor, dataTypeOf

        shape = self.methods[name]
        target = (Any if shape.dataParameter is None
                  else dataTypeOf(shape.function, shape.dataParameter))
        converter = None
        if target not in (_RAW_BINARY if binary else _RAW_TEXT):
            binder = binderFor(target, self.validation)
            converter = binder.binary if binary else binder.text
        self.binders[key] = converter
        return converter


class ServiceMethods:
    """A service object's callbacks, bound to one connection's caller.

    Only what the connection uses on every message is bound up front; the rest is bound
    when first needed, so an idle connection holds little.
    """

    __slots__ = ("shape", "_service", "_caller", "_bound", "dispatcherKey", "plainText",
                 "binaryRoute")

    def __init__(self, service: Any, caller: Any, config: WSServiceConfig) -> None:
        shape = ClassShape.of(type(service), config.validation, bool(config.dispatcherKey))
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
        """
        Route a text message by its dispatching value (needs ``dispatcherKey``).

        :param payload: the message's UTF-8 bytes.
        :return: ``(bound method, converter)`` for the method :meth:`ClassShape.methodFor`
            picks, else :attr:`plainText` (``onTextMessage``, then ``onMessage``; ``None``
            drops the message).
        """
        assert self.dispatcherKey is not None
        value = dispatchingValue(payload, self.dispatcherKey)
        if value is not None:
            shape = self.shape
            name = shape.methodFor(value)
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
