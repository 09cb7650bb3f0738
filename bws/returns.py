# -*- test-case-name: tests.test_returns -*-
"""What a service callback's return value sends (REFERENCE §1.4), streams included."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from bws.closeframe import CloseFrame

if TYPE_CHECKING:
    from bws.connection import ServerProtocol

__all__ = ["sendReturnValue", "sendValue", "isStream"]

log = Logger()


def isStream(value: Any) -> bool:
    """Iterators, generators and async iterators are streams; lists and dicts are JSON."""
    return isinstance(value, (Iterator, AsyncIterator)) and not isinstance(
        value, (str, bytes, bytearray, memoryview))


def sendValue(proto: ServerProtocol, value: Any, pong: bool = False) -> bool:
    """Send one value as a message; False when the connection no longer takes data."""
    if proto.writeRefusal("text") is not None:
        return False
    if isinstance(value, str):
        proto.sendPayload(value.encode("utf-8"), False)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        if pong:
            proto.writeControl(10, bytes(value), "PONG").addErrback(lambda f: None)
        else:
            proto.sendPayload(bytes(value), True)
    else:
        from bws.binding import serialize

        payload, isBinary = serialize(value)
        proto.sendPayload(payload, isBinary)
    proto.noteActivity()
    return True


def sendReturnValue(proto: ServerProtocol, result: Any, mode: str) -> None:
    """Send ``result``: a message, a pong (from ``onPing``), a close, or a stream."""
    if isinstance(result, CloseFrame):
        proto.closeWith(result)
    elif isinstance(result, BaseException):
        # Ballerina's "return error": logged, and the connection keeps serving.
        log.error("Service returned an error on connection {id}: {error!r}",
                  id=proto.connectionId, error=result)
    elif isStream(result):
        Deferred.fromCoroutine(_stream(proto, result))
    else:
        sendValue(proto, result, pong=(mode == "ping"))


async def _stream(proto: ServerProtocol, items: Iterator[Any] | AsyncIterator[Any]) -> None:
    """Send each item as its own message, yielding to the reactor between items.

    It runs beside dispatch, so inbound messages and pings keep being served while it
    produces (reference bugs #7844 and #8923); it waits for flow control between items.
    """
    try:
        if isinstance(items, AsyncIterator):
            async for item in items:
                if not await _streamItem(proto, item):
                    return
        else:
            for item in items:
                if not await _streamItem(proto, item):
                    return
    except Exception as e:
        log.failure("Stream failed on connection {id}", id=proto.connectionId)
        if proto.writeRefusal("text") is None:
            reason = f"streaming failed: {e}"
            proto.startClose(1011, reason, None).addErrback(lambda f: None)
    finally:
        close = getattr(items, "aclose", None) or getattr(items, "close", None)
        if close is not None:
            try:
                result = close()
                if hasattr(result, "__await__"):
                    await result
            except Exception:
                log.failure("Closing a stream failed")


async def _streamItem(proto: ServerProtocol, item: Any) -> bool:
    if isinstance(item, CloseFrame):
        proto.closeWith(item)
        return False
    if not sendValue(proto, item):
        return False
    await proto.writeDone()
    await _turn(proto)
    return proto.writeRefusal("text") is None


def _turn(proto: ServerProtocol) -> Deferred[None]:
    """Let the reactor run once, so inbound frames are read between stream items."""
    d: Deferred[None] = Deferred()
    proto.clock.callLater(0, d.callback, None)
    return d
