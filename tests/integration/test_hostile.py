"""Hostile peers: each gets its status or close code, and the server keeps serving others."""

from __future__ import annotations

import struct
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, TimeoutError, inlineCallbacks
from twisted.trial.unittest import TestCase
from websockets.sync.client import connect

import bws
from bws.testing.echo import EchoUpgradeService
from tests.helpers import Recorder, Upgrade, closeCode, frame
from tests.integration.helpers import (
    ListenerMixin,
    answeringCloseCode,
    httpRequest,
    inThread,
    rawUpgrade,
    readFrame,
)


class ClosingRecorder(Recorder):
    """A :class:`Recorder` whose :attr:`closed` fires once its first ``onClose`` has run and
    the connection's teardown around it has finished."""

    def __init__(self) -> None:
        super().__init__()
        self.closed: Deferred[None] = Deferred()

    def onClose(self, caller: Any, statusCode: int, reason: str) -> None:
        super().onClose(caller, statusCode, reason)
        if len([e for e in self.events if e[0] == "close"]) > 1:
            return
        # onClose runs inside the protocol's connectionLost: fire on the next reactor turn,
        # once connectionLost has returned (and the listener has let the connection go).
        reactor.callLater(0, self.closed.callback, None)  # type: ignore[attr-defined]


class HostileMixin(ListenerMixin):
    @inlineCallbacks
    def assertStillServing(self) -> Any:
        """A well-behaved client still gets its echo."""
        def client() -> str:
            with connect(self.url()) as ws:
                ws.send("still here")
                return ws.recv(timeout=5)

        self.assertEqual((yield inThread(client)), "still here")  # type: ignore[attr-defined]


class FrameAttackTests(HostileMixin, TestCase):
    """Attacks after the upgrade."""

    @inlineCallbacks
    def test_hugeLengthRefusedAtHeader(self) -> Any:
        """A header announcing 2**40 bytes is answered 1009 without the payload arriving."""
        yield self.startListener(EchoUpgradeService(), webSocketCompressionEnabled=False)

        huge = b"\x82\xff" + struct.pack("!Q", 2**40) + b"mask"
        self.assertEqual((yield inThread(answeringCloseCode, self.port, huge)), 1009)
        yield self.assertStillServing()

    @inlineCallbacks
    def test_emptyContinuationFlood(self) -> Any:
        """200,000 empty continuation frames are cut off with 1009, not collected."""
        yield self.startListener(EchoUpgradeService(), webSocketCompressionEnabled=False)
        empty = frame(0, b"", fin=False)

        flood = frame(1, b"a", fin=False) + empty * 200_000
        self.assertEqual((yield inThread(answeringCloseCode, self.port, flood)), 1009)
        yield self.assertStillServing()

    @inlineCallbacks
    def test_pipelinedBytesAreWebSocketData(self) -> Any:
        """Bytes sent right behind the upgrade request are frames, never HTTP."""
        yield self.startListener(EchoUpgradeService(), webSocketCompressionEnabled=False)

        def client(extra: bytes) -> tuple[int, bytes]:
            import base64
            import os
            import socket
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            key = base64.b64encode(os.urandom(16))
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade"
                      b"\r\nSec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
                      + extra)
            head = b""
            while b"\r\n\r\n" not in head:
                head += s.recv(1)
            op, _, payload = readFrame(s)
            s.close()
            return op, payload

        self.assertEqual((yield inThread(client, frame(1, b"early"))), (1, b"early"))
        op, payload = yield inThread(client, b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual((op, closeCode(payload)), (8, 1002))

    @inlineCallbacks
    def test_pingFloodNeverReading(self) -> Any:
        """A peer that floods pings and never reads is held back by TCP, not buffered."""
        yield self.startListener(EchoUpgradeService(), webSocketCompressionEnabled=False)
        ping = frame(9, b"p" * 125)

        def client() -> int:
            s = rawUpgrade(self.port, timeout=1)
            s.setsockopt(1, 8, 4096)
            sent = 0
            try:
                for _ in range(200_000):  # 26 MB of pings, 26 MB of pongs if unbounded
                    s.sendall(ping)
                    sent += 1
            except OSError:
                pass
            s.close()
            return sent

        sent = yield inThread(client)
        self.assertLess(sent, 200_000)
        yield self.assertStillServing()

    @inlineCallbacks
    def test_resetMidMessage(self) -> Any:
        """A TCP reset in the middle of a message reaches onClose as 1006."""
        service = ClosingRecorder()
        yield self.startListener(Upgrade(service))

        def client() -> None:
            s = rawUpgrade(self.port)
            s.sendall(frame(1, b"partial", fin=False))
            s.setsockopt(1, 13, struct.pack("ii", 1, 0))  # SO_LINGER 0: RST on close
            s.close()

        yield inThread(client)
        yield service.closed
        self.assertIn(("close", 1006, "Connection closed abnormally"), service.events)
        self.assertEqual(self.listener.resource.connections, set())
        yield self.assertStillServing()


class HandshakeAttackTests(HostileMixin, TestCase):
    """Attacks on the upgrade request."""

    @inlineCallbacks
    def test_bodyTooLarge(self) -> Any:
        """A body over maxEntityBodySize is refused with 413."""
        yield self.startListener(EchoUpgradeService(), requestLimits={"maxEntityBodySize": 10})
        answer = yield inThread(httpRequest, self.port,
                                b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 413"), answer)
        yield self.assertStillServing()

    @inlineCallbacks
    def test_headerCount(self) -> Any:
        """An unreasonable number of headers is refused with 431."""
        yield self.startListener(EchoUpgradeService())
        headers = b"".join(b"X-%d: 1\r\n" % i for i in range(500))
        answer = yield inThread(httpRequest, self.port,
                                b"GET / HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 431"), answer)

    @inlineCallbacks
    def test_separatorHeavyHeaderIsLinear(self) -> Any:
        """A 16 KiB Sec-WebSocket-Protocol of separators is answered in milliseconds."""
        upgrade = EchoUpgradeService()
        bws.config.setServiceConfig(upgrade, bws.WSServiceConfig(subProtocols=["chat"]))
        yield self.startListener(upgrade, requestLimits={"maxHeaderSize": 65536,
                                                         "maxUriLength": 4096})

        def client() -> bytes:
            import socket
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            s.sendall(
                b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                b"Sec-WebSocket-Protocol: " + b", \t" * 5000 + b"chat\r\n"
                b"Sec-WebSocket-Extensions: " + b";,=" * 5000 + b"\r\n\r\n")
            answer = s.recv(65536)
            s.close()
            return answer

        # The race is between two events: the answer reaching the client, and a deadline on
        # the reactor's clock. The request is parsed in the reactor thread, so a parser that
        # holds it for long (quadratic parsing takes minutes) lets the deadline fire first;
        # a linear one answers in milliseconds. The bound is generous, so that a loaded
        # machine running the suite in parallel does not miss it.
        answering = inThread(client)
        answering.addTimeout(5, reactor)  # type: ignore[arg-type]
        try:
            answer = yield answering
        except TimeoutError:
            self.fail("the 5 s deadline fired before the answer: header parsing is not linear")
        self.assertTrue(answer.startswith(b"HTTP/1.1 101"), answer[:100])
        self.assertIn(b"Sec-WebSocket-Protocol: chat", answer)

    @inlineCallbacks
    def test_originAllowlist(self) -> Any:
        """With allowedOrigins, a foreign or missing Origin gets 403; a listed one (any case
        of scheme and host) upgrades."""
        upgrade = EchoUpgradeService()
        bws.config.setServiceConfig(
            upgrade, bws.WSServiceConfig(allowedOrigins=["https://app.example:8443"]))
        yield self.startListener(upgrade)
        request = ("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                   "{origin}\r\n")
        for origin, status in [("Origin: https://evil.example:8443\r\n", b"403"), ("", b"403"),
                               ("Origin: HTTPS://APP.example:8443\r\n", b"101")]:
            answer = yield inThread(httpRequest, self.port,
                                    request.format(origin=origin).encode(), 1)
            self.assertTrue(answer.startswith(b"HTTP/1.1 " + status), (origin, answer[:40]))


class CompressionTests(HostileMixin, TestCase):
    """permessage-deflate: limits count inflated bytes."""

    def deflated(self, data: bytes) -> bytes:
        import zlib
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
        return out[:-4]  # RFC 7692: drop the trailing 00 00 ff ff

    @inlineCallbacks
    def test_inflatedLimit(self) -> Any:
        """A small compressed frame inflating to exactly maxMessageSize passes; one byte more
        closes 1009 (it is refused, never truncated)."""
        upgrade = EchoUpgradeService()
        bws.config.setServiceConfig(
            upgrade, bws.WSServiceConfig(maxFrameSize=4096, maxMessageSize=100_000))
        yield self.startListener(upgrade)

        def client(size: int) -> tuple[int, int | None, int]:
            s = rawUpgrade(self.port, extra="Sec-WebSocket-Extensions: permessage-deflate\r\n")
            wire = self.deflated(b"\x00" * size)
            assert len(wire) < 1024
            s.sendall(frame(2, wire, rsv=4))
            op, _, payload = readFrame(s)
            s.close()
            return op, closeCode(payload) if op == 8 else None, len(wire)

        op, code, _ = yield inThread(client, 100_000)
        self.assertEqual((op, code), (2, None))
        op, code, _ = yield inThread(client, 100_001)
        self.assertEqual((op, code), (8, 1009))
        yield self.assertStillServing()

    @inlineCallbacks
    def test_compressionNegotiation(self) -> Any:
        """Compression is used when both sides want it, not when the listener turns it off;
        messages round-trip either way."""
        for enabled in (True, False):
            yield self.startListener(EchoUpgradeService(), webSocketCompressionEnabled=enabled)

            def client() -> tuple[Any, str]:
                with connect(self.url()) as ws:
                    ws.send("x" * 5000)
                    return ws.protocol.extensions, ws.recv()

            extensions, echo = yield inThread(client)
            self.assertEqual(echo, "x" * 5000)
            self.assertEqual(bool(extensions), enabled)
            yield self.listener.immediateStop()

    @inlineCallbacks
    def test_zipBombMemoryBounded(self) -> Any:
        """A 20 MB zip bomb in one small frame is refused (1009) while the server's traced
        allocations stay near the limit, far below the bomb's size."""
        import tracemalloc

        upgrade = EchoUpgradeService()
        bws.config.setServiceConfig(upgrade, bws.WSServiceConfig(maxMessageSize=100_000))
        yield self.startListener(upgrade)
        bomb = self.deflated(b"\x00" * 20_000_000)

        tracemalloc.start()
        try:
            code = yield inThread(answeringCloseCode, self.port, frame(2, bomb, rsv=4),
                                  "Sec-WebSocket-Extensions: permessage-deflate\r\n")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        self.assertEqual(code, 1009)
        self.assertLess(peak, 2_000_000)
