# -*- test-case-name: tests.test_returns -*-
"""What a service callback's return value sends (REFERENCE §1.4), streams included."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from bws._connection import OP_PONG
from bws.binding import serialize
from bws.closeframe import CloseFrame

if TYPE_CHECKING:
    from bws.server._serving import ServiceRunner

__all__ = ["sendReturnValue", "sendValue", "isStream"]

log = Logger()


def isStream(value: Any) -> bool:
    """Iterators, generators and async iterators are streams; lists and dicts are JSON."""
    return isinstance(value, (Iterator, AsyncIterator)) and not isinstance(
        value, (str, bytes, bytearray, memoryview))


def sendValue(runner: ServiceRunner, value: Any, pong: bool = False) -> bool:
    """Send one value as a message (or, from ``onPing``, bytes as the pong); False when
    the connection no longer takes data.

    A message that cannot be sent any more is reported (``runner.returnRefused``: the
    service's ``onError``, else a log line). A pong is not a message: once the connection
    is closing it is dropped quietly, as an automatic pong would be (no pong is owed after
    the peer's close, RFC 6455 §5.5.2; after its own close bws sends nothing more).
    """
    connection = runner.connection
    isBinary = isinstance(value, (bytes, bytearray, memoryview))  # all else is text
    if isBinary and pong:
        if connection.writeRefusal("control") is None:
            connection.writeControl(OP_PONG, bytes(value), "PONG").addErrback(lambda f: None)
            runner.noteActivity()
            return True
        return False
    if connection.writeRefusal("text") is not None:
        runner.returnRefused("binary" if isBinary else "text")
        return False
    if isinstance(value, str):
        connection.sendPayload(value.encode("utf-8"), False)
    elif isBinary:
        connection.sendPayload(bytes(value), True)
    else:
        payload, binary = serialize(value)
        connection.sendPayload(payload, binary)
    runner.noteActivity()
    return True


def sendReturnValue(runner: ServiceRunner, result: Any, mode: str) -> None:
    """Send ``result``: a message, a pong (from ``onPing``), a close, or a stream."""
    if isinstance(result, CloseFrame):
        runner.closeWith(result)
    elif isinstance(result, BaseException):
        # Ballerina's "return error": logged, and the connection keeps serving.
        log.error("Service returned an error on connection {id}: {error!r}",
                  id=runner.connection.connectionId, error=result)
    elif isStream(result):
        Deferred.fromCoroutine(_stream(runner, result))
    else:
        sendValue(runner, result, pong=(mode == "ping"))


async def _stream(runner: ServiceRunner, items: Iterator[Any] | AsyncIterator[Any]) -> None:
    """Send each item as its own message, yielding to the reactor between items.

    It runs beside dispatch, so inbound messages and pings keep being served while it
    produces (reference bugs #7844 and #8923); it waits for flow control between items.
    """
    connection = runner.connection
    try:
        if isinstance(items, AsyncIterator):
            async for item in items:
                if not await _streamItem(runner, item):
                    return
        else:
            for item in items:
                if not await _streamItem(runner, item):
                    return
    except Exception as e:
        log.failure("Stream failed on connection {id}", id=connection.connectionId)
        if connection.writeRefusal("text") is None:
            connection.close(1011, f"streaming failed: {e}", None).addErrback(lambda f: None)
    finally:
        close = getattr(items, "aclose", None) or getattr(items, "close", None)
        if close is not None:
            try:
                result = close()
                if hasattr(result, "__await__"):
                    await result
            except Exception:
                log.failure("Closing a stream failed")


async def _streamItem(runner: ServiceRunner, item: Any) -> bool:
    if isinstance(item, CloseFrame):
        runner.closeWith(item)
        return False
    if not sendValue(runner, item):
        return False
    await runner.connection.writeDone()
    await _turn(runner)
    return runner.connection.writeRefusal("text") is None


def _turn(runner: ServiceRunner) -> Deferred[None]:
    """Let the reactor run once, so inbound frames are read between stream items."""
    d: Deferred[None] = Deferred()
    runner.clock.callLater(0, d.callback, None)
    return d
