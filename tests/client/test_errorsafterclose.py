"""The client's errors once a connection is closing or closed, worded as the reference words
them (REFERENCE §1.7-§1.8), and its ``pingPongHandler`` check at connect."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

import bws
import bws.testing
from bws.testing.echo import EchoUpgradeService
from tests.rawpeers import closePayload, rawServerClient

TEXT_REFUSED = "Close frame already sent. Cannot push text data!"
BINARY_REFUSED = "Close frame already sent. Cannot push binary data."


class WriteAfterCloseTests(SynchronousTestCase):
    """Writes after the client's own close say that the close frame went."""

    def setUp(self) -> None:
        self.conn = bws.testing.connect(EchoUpgradeService())
        self.client = self.conn.client

    def assertRefused(self, message: str, binary: bool = False) -> None:
        write = self.client.writeBinaryMessage(b"x") if binary else \
            self.client.writeTextMessage("x")
        error = self.failureResultOf(write, bws.ConnectionClosureError).value
        self.assertEqual(str(error), message)

    def test_writeAfterCloseWithoutWaiting(self) -> None:
        """After ``close(timeout=0)`` a text write fails "Close frame already sent. Cannot
        push text data!", before and after TCP is gone."""
        self.successResultOf(self.client.close(timeout=0))
        self.assertRefused(TEXT_REFUSED)
        self.conn.flush()
        self.assertRefused(TEXT_REFUSED)

    def test_binaryWriteAfterCloseWithoutWaiting(self) -> None:
        """A binary write after ``close(timeout=0)``: "... Cannot push binary data."."""
        self.client.close(timeout=0)
        self.conn.flush()
        self.assertRefused(BINARY_REFUSED, binary=True)

    def test_writeMessageAfterClose(self) -> None:
        """``writeMessage`` of JSON after the close completed is refused as text."""
        closing = self.client.close(1000, "bye")
        self.conn.flush()
        self.successResultOf(closing)
        error = self.failureResultOf(self.client.writeMessage({"a": 1}),
                                     bws.ConnectionClosureError).value
        self.assertEqual(str(error), TEXT_REFUSED)

    def test_secondClose(self) -> None:
        """A second ``close`` fails "Close frame already sent. Cannot send close frame
        again.", while the first waits and after it completed."""
        self.client.close(1000, None, timeout=0)
        error = self.failureResultOf(self.client.close(), bws.ConnectionClosureError).value
        self.assertEqual(str(error), "Close frame already sent. Cannot send close frame again.")
        self.conn.flush()
        error = self.failureResultOf(self.client.close(), bws.ConnectionClosureError).value
        self.assertEqual(str(error), "Close frame already sent. Cannot send close frame again.")

    def test_readAfterCloseUnchanged(self) -> None:
        """A read after ``close`` still fails "Connection already closed"."""
        self.client.close(timeout=0)
        self.conn.flush()
        error = self.failureResultOf(self.client.readMessage(), bws.ConnectionClosureError)
        self.assertEqual(str(error.value), "Connection already closed")


class PeerGoneTests(SynchronousTestCase):
    """Pending reads when the server goes."""

    def test_dropWithoutCloseFrame(self) -> None:
        """A read pending when TCP drops without a close frame (1006, no reason) fails
        "Connection closed Status code: 1006"."""
        conn = rawServerClient()
        read = conn.client.readTextMessage()
        conn.server.transport.loseConnection()  # type: ignore[union-attr]
        conn.flush()
        error = self.failureResultOf(read, bws.ConnectionClosureError).value
        self.assertEqual(str(error), "Connection closed Status code: 1006")

    def test_dropWithoutCloseFrameLaterRead(self) -> None:
        """A read after the drop fails with the same message."""
        conn = rawServerClient()
        conn.server.transport.loseConnection()  # type: ignore[union-attr]
        conn.flush()
        error = self.failureResultOf(conn.client.readTextMessage(),
                                     bws.ConnectionClosureError).value
        self.assertEqual(str(error), "Connection closed Status code: 1006")

    def test_closeWithoutReason(self) -> None:
        """A close frame with a code and no reason: "Connection closed Status code: N"."""
        conn = rawServerClient()
        read = conn.client.readTextMessage()
        conn.server.sendClose(closePayload(1001))
        conn.flush()
        error = self.failureResultOf(read, bws.ConnectionClosureError).value
        self.assertEqual(str(error), "Connection closed Status code: 1001")


class OnlyPing:
    def onPing(self, caller: Any, data: bytes) -> bytes:
        return data


class OnlyPong:
    def onPong(self, data: bytes) -> None:
        pass


class Neither:
    def onMessage(self, caller: Any, data: Any) -> None:
        pass


class PingPongHandlerTests(SynchronousTestCase):
    """``pingPongHandler`` must define ``onPing`` or ``onPong``."""

    def connect(self, handler: Any) -> Any:
        listener = bws.testing.MemoryListener()
        listener.attach(EchoUpgradeService())
        return listener.connect("/", pingPongHandler=handler)

    def test_neitherRefused(self) -> None:
        """An object with neither ``onPing`` nor ``onPong`` fails connect with "The callback
        service should be a PingPongService"."""
        for handler in (Neither(), object(), "handler"):
            error = self.failureResultOf(self.connect(handler), bws.Error).value
            self.assertEqual(str(error), "The callback service should be a PingPongService")

    def test_onlyOnPingAccepted(self) -> None:
        """A handler with only ``onPing`` is accepted."""
        self.assertIsInstance(self.successResultOf(self.connect(OnlyPing())), bws.Client)

    def test_onlyOnPongAccepted(self) -> None:
        """A handler with only ``onPong`` (caller left out) is accepted."""
        self.assertIsInstance(self.successResultOf(self.connect(OnlyPong())), bws.Client)

    def test_noneAccepted(self) -> None:
        """No handler at all is the default and is accepted."""
        self.assertIsInstance(self.successResultOf(self.connect(None)), bws.Client)
