"""What a callback returns once the connection is closing is never dropped silently: ``onError``
gets the error a write would have given (REFERENCE §1.7), else a log line."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

import bws
import bws.testing

TEXT_REFUSED = "Close frame already sent. Cannot push text data!"
BINARY_REFUSED = "Close frame already sent. Cannot push binary data."


class Closer:
    """On a text message ``"close"``, closes (``closeArgs``) and returns ``value``."""

    def __init__(self, value: Any, closeArgs: tuple[Any, ...] = (1000, "bye", 5)) -> None:
        self.value = value
        self.closeArgs = closeArgs
        self.errors: list[Exception] = []
        self.closing: Deferred[None] | None = None

    def onTextMessage(self, caller: Any, text: str) -> Any:
        self.closing = caller.close(*self.closeArgs)
        self.closing.addErrback(lambda f: None)
        return self.value

    def onError(self, caller: Any, error: Exception) -> None:
        self.errors.append(error)


class AwaitingCloser(Closer):
    """Awaits its close (the peer's answer), then returns ``value``."""

    async def onTextMessage(self, caller: Any, text: str) -> Any:  # type: ignore[override]
        await caller.close(*self.closeArgs)
        return self.value


class OpenCloser(Closer):
    """Closes in ``onOpen`` and returns ``value`` from it."""

    def onOpen(self, caller: Any) -> Any:
        caller.close(1000, None, 5).addErrback(lambda f: None)
        return self.value


class Echo(Closer):
    """Echoes, without closing."""

    def onTextMessage(self, caller: Any, text: str) -> Any:
        return text


class NoErrorHandler:
    """Closes and returns text, without ``onError``."""

    def onTextMessage(self, caller: Any, text: str) -> str:
        caller.close(1000, "bye", 5).addErrback(lambda f: None)
        return "too late"


class Upgrade:
    def __init__(self, service: Any) -> None:
        self.service = service

    def get(self, request: Any) -> Any:
        return self.service


def trigger(service: Any) -> bws.testing.MemoryConnection:
    """Connect to ``service`` and send it ``"close"``."""
    conn = bws.testing.connect(Upgrade(service))
    conn.client.writeTextMessage("close")
    conn.flush()
    return conn


class ReturnAfterCloseTests(SynchronousTestCase):
    """A value returned after the callback's own close reaches ``onError``."""

    def assertRefused(self, service: Closer, message: str) -> None:
        self.assertEqual([(type(e), str(e)) for e in service.errors],
                         [(bws.ConnectionClosureError, message)])

    def test_textAfterClose(self) -> None:
        """Text returned after ``close`` gives ``onError`` "Close frame already sent. Cannot
        push text data!"."""
        service = Closer("too late")
        trigger(service)
        self.assertRefused(service, TEXT_REFUSED)

    def test_bytesAfterClose(self) -> None:
        """Bytes returned after ``close`` give "... Cannot push binary data."."""
        service = Closer(b"too late")
        trigger(service)
        self.assertRefused(service, BINARY_REFUSED)

    def test_jsonAfterClose(self) -> None:
        """A value sent as JSON text is refused as text."""
        service = Closer({"late": True})
        trigger(service)
        self.assertRefused(service, TEXT_REFUSED)

    def test_textAfterCloseWithoutWaiting(self) -> None:
        """After ``close(1001, "going", timeout=0)`` returned text is refused the same way."""
        service = Closer("too late", (1001, "going", 0))
        trigger(service)
        self.assertRefused(service, TEXT_REFUSED)

    def test_textAfterAwaitedClose(self) -> None:
        """Text returned once the awaited close completed (TCP gone) is still "Close frame
        already sent", not "Connection already closed"."""
        service = AwaitingCloser("too late")
        trigger(service)
        self.assertRefused(service, TEXT_REFUSED)

    def test_bytesAfterAwaitedClose(self) -> None:
        """Bytes returned once the awaited close completed: "... binary data."."""
        service = AwaitingCloser(b"too late")
        trigger(service)
        self.assertRefused(service, BINARY_REFUSED)

    def test_returnFromOnOpenAfterClose(self) -> None:
        """``onOpen`` returning text after closing is refused too."""
        service = OpenCloser("hello")
        bws.testing.connect(Upgrade(service)).flush()
        self.assertRefused(service, TEXT_REFUSED)

    def test_streamAfterClose(self) -> None:
        """A stream returned after ``close`` reports its first item, once, and stops."""
        pulled: list[str] = []

        def items() -> Iterator[str]:
            for item in ("a", "b", "c"):
                pulled.append(item)
                yield item

        service = Closer(items())
        trigger(service)
        self.assertRefused(service, TEXT_REFUSED)
        self.assertEqual(pulled, ["a"])

    def test_nothingSentAfterClose(self) -> None:
        """The refused value never reaches the peer: its read ends with the close."""
        service = Closer("too late")
        conn = bws.testing.connect(Upgrade(service))
        read = conn.client.readTextMessage()
        conn.client.writeTextMessage("close")
        conn.flush()
        error = self.failureResultOf(read, bws.ConnectionClosureError).value
        self.assertEqual(str(error), "bye: Status code: 1000")

    def test_loggedWithoutOnError(self) -> None:
        """Without ``onError`` the refused value is logged, not dropped silently."""
        with capturedLogs() as events:
            trigger(NoErrorHandler())
        texts = [str(event.get("error")) for event in events
                 if "was not sent" in event.get("log_format", "")]
        self.assertEqual(texts, [TEXT_REFUSED])

    def test_openConnectionUnaffected(self) -> None:
        """While the connection is open a returned value is sent and nothing is reported."""
        service = Echo(None)
        conn = bws.testing.connect(Upgrade(service))
        conn.client.writeTextMessage("hi")
        conn.flush()
        self.assertEqual(self.successResultOf(conn.client.readTextMessage()), "hi")
        self.assertEqual(service.errors, [])
