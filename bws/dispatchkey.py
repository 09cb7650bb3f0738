# -*- test-case-name: tests.test_dispatchkey -*-
"""Custom dispatch of JSON text messages by the value of a field (``dispatcherKey``)."""

from __future__ import annotations

import inspect
import json
import re
import weakref
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

__all__ = [
    "DISPATCHER_VALUE_ATTRIBUTE",
    "SPECIAL_METHODS",
    "methodNameFor",
    "dispatcherValue",
    "dispatcherTable",
    "dispatchingValue",
    "findDispatchMethod",
]

_F = TypeVar("_F", bound=Callable[..., Any])

DISPATCHER_VALUE_ATTRIBUTE: Final = "__bws_dispatcherValue__"
"""The attribute ``dispatcherValue`` sets on the method it decorates."""

SPECIAL_METHODS: Final = frozenset(
    {
        "onOpen",
        "onTextMessage",
        "onBinaryMessage",
        "onMessage",
        "onPing",
        "onPong",
        "onIdleTimeout",
        "onClose",
        "onError",
    }
)
"""The service methods the spec gives a fixed meaning; ``dispatcherValue`` refuses them."""

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
    pattern = _JSON_OBJECT_TEXT if isinstance(text, str) else _JSON_OBJECT_BYTES
    if pattern.match(text) is None:  # type: ignore[arg-type]
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

    These are steps 1 and 2 of the lookup: the method marked ``dispatcherValue(value)``, then
    the method named ``methodNameFor(value)``. When this returns ``None`` the message goes to
    ``onTextMessage``, then ``onMessage``, else it is dropped. A derived name never selects
    ``onOpen``, ``onIdleTimeout``, ``onClose``, ``onError`` or ``onBinaryMessage``, which do
    not take text messages; it may select ``onPing``/``onPong``: as in the reference
    implementation, a text ``{"event": "ping"}`` goes to ``onPing``.

    :param service: the service object.
    :param value: the dispatching value.
    :param table: ``dispatcherTable(type(service))``, if the caller has it already.
    :return: the method's name, or ``None``.
    """
    if table is None:
        table = dispatcherTable(service)
    name = table.get(value)
    if name is not None:
        return name
    name = methodNameFor(value)
    if name in _NOT_TEXT_HANDLERS:
        return None
    if callable(getattr(service, name, None)):
        return name
    return None
