"""The server on loopback against independent peers: websockets' client and raw sockets.

What needs real bytes on a real socket lives here: interoperability with another
implementation, malformed frames, TCP back-pressure and frames cut by TCP into many reads.
Server behaviour that memory can express is tested in ``tests.server.test_server``.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase
from websockets.sync.client import connect

import bws
from bws.testing.echo import EchoUpgradeService
from tests.helpers import frame
from tests.integration.helpers import (
    ListenerMixin,
    answeringCloseCode,
    inThread,
    rawUpgrade,
    readFrame,
)


class EchoTests(ListenerMixin, TestCase):
    """Messages round-trip through ``twistd bws``'s echo service to websockets' client."""

    @inlineCallbacks
    def test_textAndBinaryEcho(self) -> Any:
        """Text comes back as text and binary as binary."""
        yield self.startListener(EchoUpgradeService())

        def client() -> tuple[Any, Any]:
            with connect(self.url()) as ws:
                ws.send("héllo")
                text = ws.recv()
                ws.send(b"\x00\xff")
                return text, ws.recv()

        text, data = yield inThread(client)
        self.assertEqual((text, data), ("héllo", b"\x00\xff"))


class LimitTests(ListenerMixin, TestCase):
    """Malformed frames are answered with their close code."""

    @inlineCallbacks
    def test_invalidUtf8Closes1007(self) -> Any:
        """Invalid UTF-8 in a text frame is answered with 1007, not a silent drop."""
        yield self.startListener(EchoUpgradeService(), webSocketCompressionEnabled=False)

        invalid = frame(1, b"\xff\xfe")
        self.assertEqual((yield inThread(answeringCloseCode, self.port, invalid)), 1007)

    @inlineCallbacks
    def test_protocolErrorCloses1002(self) -> Any:
        """An unmasked client frame is answered with 1002."""
        yield self.startListener(EchoUpgradeService(), webSocketCompressionEnabled=False)

        unmasked = b"\x81\x02hi"  # no mask bit
        self.assertEqual((yield inThread(answeringCloseCode, self.port, unmasked)), 1002)


class BackpressureTests(ListenerMixin, TestCase):
    """A peer that never reads cannot grow the server's memory without bound."""

    @inlineCallbacks
    def test_peerThatNeverReads(self) -> Any:
        """The echo server stops reading once its send buffer is full, so a client that
        only writes is blocked by TCP instead of filling server memory."""
        yield self.startListener(EchoUpgradeService(), webSocketCompressionEnabled=False)
        message = frame(2, b"x" * 60000)

        def client() -> int:
            s = rawUpgrade(self.port, timeout=1)
            s.setsockopt(1, 8, 65536)  # SO_RCVBUF: keep the client's window small
            sent = 0
            try:
                for _ in range(1000):  # 60 MB if nothing pushed back
                    s.sendall(message)
                    sent += len(message)
            except (TimeoutError, OSError):
                pass
            s.close()
            return sent

        sent = yield inThread(client)
        self.assertLess(sent, 30_000_000)
        buffered = 0
        for proto in self.listener.resource.connections:
            t = proto.transport
            buffered += len(getattr(t, "dataBuffer", b"")) + getattr(t, "_tempDataLen", 0)
        self.assertLess(buffered, 8_000_000)


class LargeFrameTests(ListenerMixin, TestCase):
    """Large frames arriving over many reads are collected whole, then checked."""

    @inlineCallbacks
    def startBig(self) -> Any:
        upgrade = EchoUpgradeService()
        bws.config.setServiceConfig(upgrade, bws.WSServiceConfig(maxFrameSize=1 << 20))
        yield self.startListener(upgrade, webSocketCompressionEnabled=False)

    @inlineCallbacks
    def test_trickledLargeFrame(self) -> Any:
        """A 300 KB text frame sent in small pieces comes back whole and unchanged."""
        yield self.startBig()
        text = ("é" * 150_000).encode()
        wire = frame(1, text)

        def client() -> tuple[int, bytes]:
            s = rawUpgrade(self.port)
            for i in range(0, len(wire), 7777):
                s.sendall(wire[i:i + 7777])
            s.sendall(frame(2, b"next"))
            op, _, payload = readFrame(s)
            op2, _, payload2 = readFrame(s)
            s.close()
            return (op, payload), (op2, payload2)

        first, second = yield inThread(client)
        self.assertEqual(first, (1, text))
        self.assertEqual(second, (2, b"next"))

    @inlineCallbacks
    def test_largeFrameInvalidUtf8(self) -> Any:
        """Invalid UTF-8 at the end of a large text frame closes 1007."""
        yield self.startBig()

        invalid = frame(1, b"a" * 100_000 + b"\xff")
        self.assertEqual((yield inThread(answeringCloseCode, self.port, invalid)), 1007)

    @inlineCallbacks
    def test_largeFrameOverLimit(self) -> Any:
        """A 64-bit length over maxFrameSize is refused at the header with 1009."""
        yield self.startBig()

        over = b"\x82\xff" + struct.pack("!Q", (1 << 20) + 1) + b"mask" + b"x" * 1000
        self.assertEqual((yield inThread(answeringCloseCode, self.port, over)), 1009)

    @inlineCallbacks
    def test_framesSplitAnywhere(self) -> Any:
        """Frames and a ping cut into one-byte reads are all answered, in order."""
        yield self.startBig()
        wire = frame(1, b"one") + frame(9, b"ping") + frame(2, b"x" * 300) + frame(1, b"three")

        def client() -> list[tuple[int, bytes]]:
            s = rawUpgrade(self.port)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(len(wire)):
                s.sendall(wire[i:i + 1])
            got = [readFrame(s) for _ in range(4)]
            s.close()
            return [(op, payload) for op, _, payload in got]

        self.assertEqual((yield inThread(client)),
                         [(1, b"one"), (10, b"ping"), (2, b"x" * 300), (1, b"three")])
