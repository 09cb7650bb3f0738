"""The server core against independent peers: websockets' client and raw sockets."""

from __future__ import annotations

import socket
import struct
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase
from twisted.web.resource import Resource
from twisted.web.server import Site
from twisted.web.static import Data
from websockets.sync.client import connect
from zope.interface import implementer

import bws
from bws.testing.echo import EchoUpgradeService
from tests.helpers import (
    ListenerMixin,
    Upgrade,
    answeringCloseCode,
    closeCode,
    frame,
    httpRequest,
    inThread,
    later,
    rawUpgrade,
    readFrame,
)


class Recorder:
    """A service that records every callback it receives."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.caller: Any = None

    def onOpen(self, caller: Any) -> None:
        self.caller = caller
        self.events.append(("open",))

    def onTextMessage(self, caller: Any, text: str) -> str:
        self.events.append(("text", text))
        return text

    def onBinaryMessage(self, caller: Any, data: bytes) -> bytes:
        self.events.append(("binary", data))
        return data

    def onClose(self, caller: Any, statusCode: int, reason: str) -> None:
        self.events.append(("close", statusCode, reason))

    def onError(self, caller: Any, error: Exception) -> None:
        self.events.append(("error", error))


class EchoTests(ListenerMixin, TestCase):
    """Messages round-trip through ``twistd bws``'s echo service."""

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

    @inlineCallbacks
    def test_orderingUnderLoad(self) -> Any:
        """1,000 messages to a service whose callback is asynchronous come back in order."""
        @implementer(bws.IService)
        class Slow:
            def onTextMessage(self, caller: Any, text: str) -> Deferred[str]:
                return later(0.0005 if int(text) % 7 else 0, text)

        yield self.startListener(Upgrade(Slow()))

        def client() -> list[str]:
            with connect(self.url(), compression=None) as ws:
                for i in range(1000):
                    ws.send(str(i))
                return [ws.recv() for _ in range(1000)]

        got = yield inThread(client)
        self.assertEqual(got, [str(i) for i in range(1000)])

    @inlineCallbacks
    def test_inboundFragmentsAggregated(self) -> Any:
        """A message sent in fragments reaches the service whole."""
        service = Recorder()
        yield self.startListener(Upgrade(service))

        def client() -> str:
            with connect(self.url(), compression=None) as ws:
                ws.send(["ab", "cd", "é"])
                return ws.recv()

        self.assertEqual((yield inThread(client)), "abcdé")
        self.assertIn(("text", "abcdé"), service.events)

    @inlineCallbacks
    def test_outboundFragmentedAtMaxFrameSize(self) -> Any:
        """A message larger than maxFrameSize leaves in frames of at most that size, cut
        between UTF-8 characters."""
        @implementer(bws.IService)
        class Big:
            def onTextMessage(self, caller: Any, text: str) -> str:
                return "é" * 1000  # 2000 bytes

        upgrade = Upgrade(Big())
        bws.config.setServiceConfig(upgrade, bws.WSServiceConfig(maxFrameSize=101))
        yield self.startListener(upgrade, webSocketCompressionEnabled=False)

        def client() -> list[tuple[int, bool, bytes]]:
            s = rawUpgrade(self.port)
            s.sendall(frame(1, b"go"))
            frames = []
            while True:
                f = readFrame(s)
                frames.append(f)
                if f[1]:
                    break
            s.close()
            return frames

        frames = yield inThread(client)
        self.assertTrue(all(len(p) <= 101 for _, _, p in frames))
        self.assertEqual([op for op, _, _ in frames], [1] + [0] * (len(frames) - 1))
        for _, _, payload in frames:
            payload.decode("utf-8")  # each fragment is whole characters
        self.assertEqual(b"".join(p for _, _, p in frames).decode(), "é" * 1000)


class LimitTests(ListenerMixin, TestCase):
    """Frame limits, close codes and errors."""

    @inlineCallbacks
    def test_frameOverMaxFrameSize(self) -> Any:
        """A 64 KiB + 1 frame is answered with close 1009 and reaches onError."""
        service = Recorder()
        yield self.startListener(Upgrade(service), webSocketCompressionEnabled=False)

        def client() -> tuple[int, int | None]:
            s = rawUpgrade(self.port)
            s.sendall(frame(2, b"x" * 65537))
            op, _, payload = readFrame(s)
            s.sendall(frame(8, payload[:2]))
            s.close()
            return op, closeCode(payload)

        self.assertEqual((yield inThread(client)), (8, 1009))
        yield later(0.05)
        errors = [e for e in service.events if e[0] == "error"]
        self.assertEqual(len(errors), 1)
        self.assertIsInstance(errors[0][1], bws.PayloadTooLargeError)
        self.assertEqual(str(errors[0][1]), "Max frame length of 65536 has been exceeded.")

    @inlineCallbacks
    def test_exactlyMaxFrameSizePasses(self) -> Any:
        """A frame of exactly maxFrameSize is accepted."""
        yield self.startListener(EchoUpgradeService(), webSocketCompressionEnabled=False)

        def client() -> int:
            with connect(self.url(), compression=None, max_size=None) as ws:
                ws.send(b"x" * 65536)
                return len(ws.recv())

        self.assertEqual((yield inThread(client)), 65536)

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

    @inlineCallbacks
    def test_peerCloseEchoedWithSameCode(self) -> Any:
        """A peer's close reaches onClose and is echoed with the same code."""
        service = Recorder()
        yield self.startListener(Upgrade(service))

        def client() -> tuple[Any, Any]:
            ws = connect(self.url())
            ws.close(4001, "bye")
            return ws.protocol.close_rcvd.code, ws.protocol.close_rcvd.reason

        self.assertEqual((yield inThread(client)), (4001, "bye"))
        yield later(0.05)
        self.assertIn(("close", 4001, "bye"), service.events)

    @inlineCallbacks
    def test_closeWithoutCodeEchoedWithoutCode(self) -> Any:
        """A close frame with no status is echoed with no status; onClose sees 1005."""
        service = Recorder()
        yield self.startListener(Upgrade(service))

        def client() -> bytes:
            s = rawUpgrade(self.port)
            s.sendall(frame(8, b""))
            op, _, payload = readFrame(s)
            s.close()
            return payload

        self.assertEqual((yield inThread(client)), b"")
        yield later(0.05)
        self.assertIn(("close", 1005, ""), service.events)

    @inlineCallbacks
    def test_callbackExceptionKeepsServing(self) -> Any:
        """An exception from a callback is logged and the next message is still served."""
        @implementer(bws.IService)
        class Flaky:
            def onTextMessage(self, caller: Any, text: str) -> str:
                if text == "boom":
                    raise RuntimeError("boom")
                return text

        yield self.startListener(Upgrade(Flaky()))

        def client() -> str:
            with connect(self.url()) as ws:
                ws.send("boom")
                ws.send("after")
                return ws.recv()

        self.assertEqual((yield inThread(client)), "after")
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    @inlineCallbacks
    def test_subprotocolNegotiation(self) -> Any:
        """The first protocol the client offers that the service supports is chosen."""
        upgrade = Upgrade(Recorder())
        bws.config.setServiceConfig(upgrade, bws.WSServiceConfig(subProtocols=["b", "c"]))
        yield self.startListener(upgrade)

        def client(offer: list[str] | None) -> Any:
            with connect(self.url(), subprotocols=offer) as ws:
                return ws.subprotocol

        self.assertEqual((yield inThread(client, ["a", "c", "b"])), "c")
        self.assertIsNone((yield inThread(client, None)))


class UpgradeOutcomeTests(ListenerMixin, TestCase):
    """HTTP answers of the upgrade pipeline."""

    request = ("GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")

    @inlineCallbacks
    def answer(self, path: str, raw: str | None = None) -> Any:
        data = yield inThread(httpRequest, self.port,
                              (raw or self.request).format(path=path).encode())
        return data

    @inlineCallbacks
    def test_outcomes(self) -> Any:
        """UpgradeError → 400 with its message, unknown path → 404, a crash → 500 and the
        server keeps serving; path and query params bind by annotation."""
        @implementer(bws.IUpgradeService)
        class Rooms:
            def get(self, request: Any, room: str, limit: int) -> Any:
                if room == "closed":
                    raise bws.UpgradeError("room is closed")
                if room == "crash":
                    raise ValueError("bug")
                return Recorder()

        @implementer(bws.IUpgradeService)
        class Numbers:
            def get(self, request: Any, n: int) -> Any:
                return Recorder()

        listener = yield self.startListener(Rooms(), "/rooms/{room}")
        listener.attach(Numbers(), "/n/{n}")
        closed = yield self.answer("/rooms/closed?limit=1")
        self.assertTrue(closed.startswith(b"HTTP/1.1 400"), closed)
        self.assertIn(b"room is closed", closed)
        self.assertTrue((yield self.answer("/nowhere")).startswith(b"HTTP/1.1 404"))
        self.assertTrue((yield self.answer("/n/six")).startswith(b"HTTP/1.1 404"))
        missing = yield self.answer("/rooms/a")
        self.assertTrue(missing.startswith(b"HTTP/1.1 400"))
        self.assertIn(b"No query param value found for: limit", missing)
        self.assertTrue((yield self.answer("/rooms/crash?limit=1")).startswith(b"HTTP/1.1 500"))
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)
        self.assertTrue((yield self.answer("/rooms/ok?limit=1")).startswith(b"HTTP/1.1 101"))

    @inlineCallbacks
    def test_asyncGetAndResponseHeaders(self) -> Any:
        """An ``async def get`` works, and headers and cookies it adds reach the 101."""
        @implementer(bws.IUpgradeService)
        class Cookie:
            async def get(self, request: Any) -> Any:
                await later(0.001)
                request.addResponseHeader("X-Some-Header", "yes")
                request.addCookie("session", "abc", path="/")
                return Recorder()

        yield self.startListener(Cookie())
        answer = yield self.answer("/")
        self.assertTrue(answer.startswith(b"HTTP/1.1 101"), answer)
        self.assertIn(b"X-Some-Header: yes", answer)
        self.assertIn(b"Set-Cookie: session=abc; Path=/", answer)

    @inlineCallbacks
    def test_badHandshakes(self) -> Any:
        """Not GET → 405, no Upgrade → 426, wrong version → 426 naming 13, bad key → 400."""
        yield self.startListener(EchoUpgradeService())
        post = yield self.answer("/", self.request.replace("GET", "POST"))
        self.assertTrue(post.startswith(b"HTTP/1.1 405"))
        plain = yield self.answer("/", "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(plain.startswith(b"HTTP/1.1 426"))
        self.assertIn(b"Upgrade: websocket", plain)
        version = yield self.answer("/", self.request.replace("Version: 13", "Version: 8"))
        self.assertTrue(version.startswith(b"HTTP/1.1 426"))
        self.assertIn(b"sec-websocket-version: 13", version.lower())
        key = yield self.answer("/", self.request.replace("dGhlIHNhbXBsZSBub25jZQ==", "short"))
        self.assertTrue(key.startswith(b"HTTP/1.1 400"))
        twice = self.request.replace("Sec-WebSocket-Version",
                                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                     "Sec-WebSocket-Version")
        self.assertTrue((yield self.answer("/", twice)).startswith(b"HTTP/1.1 400"))

    @inlineCallbacks
    def test_requestLimits(self) -> Any:
        """A long URI → 414 and oversized headers → 431; the server keeps serving."""
        yield self.startListener(EchoUpgradeService(),
                                 requestLimits={"maxUriLength": 100, "maxHeaderSize": 300})
        long = yield self.answer("/" + "a" * 200)
        self.assertTrue(long.startswith(b"HTTP/1.1 414"), long)
        big = self.request.replace("Host: x", "Host: x\r\nX-Big: " + "b" * 400)
        self.assertTrue((yield self.answer("/", big)).startswith(b"HTTP/1.1 431"))
        self.assertTrue((yield self.answer("/")).startswith(b"HTTP/1.1 101"))

    @inlineCallbacks
    def test_sharedSite(self) -> Any:
        """On a shared Site, plain HTTP resources keep answering beside the WebSocket path."""
        root = Resource()
        root.putChild(b"hello", Data(b"plain http", "text/plain"))
        site = Site(root)
        listener = bws.Listener(site)
        listener.attach(EchoUpgradeService(), "/ws")
        yield listener.start()
        port = reactor.listenTCP(0, site, interface="127.0.0.1")  # type: ignore[attr-defined]
        self.addCleanup(port.stopListening)
        self.addCleanup(listener.immediateStop)
        self.port = port.getHost().port
        plain = yield inThread(httpRequest, self.port, b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(plain.startswith(b"HTTP/1.1 200"))
        self.assertIn(b"plain http", plain)

        def client() -> str:
            with connect(self.url("/ws")) as ws:
                ws.send("shared")
                return ws.recv()

        self.assertEqual((yield inThread(client)), "shared")


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


class TimeTests(ListenerMixin, TestCase):
    """Idle timeout and the upgrade deadline, with a Clock."""

    @inlineCallbacks
    def test_idleTimeout(self) -> Any:
        """onIdleTimeout fires after idleTimeout seconds without traffic; it does not close."""
        clock = Clock()
        fired: list[Any] = []

        @implementer(bws.IService)
        class Idle:
            def onIdleTimeout(self, caller: Any) -> None:
                fired.append(caller.isOpen())

        upgrade = Upgrade(Idle())
        bws.config.setServiceConfig(upgrade, bws.WSServiceConfig(idleTimeout=1.5))
        yield self.startListener(upgrade, clock=clock)
        s = yield inThread(rawUpgrade, self.port)
        self.addCleanup(s.close)
        yield later(0.05)
        clock.advance(1.4)
        self.assertEqual(fired, [])
        clock.advance(0.2)
        self.assertEqual(fired, [True])

    @inlineCallbacks
    def test_upgradeDeadline(self) -> Any:
        """A peer that sends its request too slowly is cut off at ``timeout``."""
        clock = Clock()
        yield self.startListener(EchoUpgradeService(), clock=clock, timeout=2)

        def trickle() -> bytes:
            import socket
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            s.sendall(b"GET / HTTP/1.1\r\n")
            return s

        s = yield inThread(trickle)
        self.addCleanup(s.close)
        yield later(0.05)
        clock.advance(2.1)
        yield later(0.05)
        s.settimeout(2)
        try:
            self.assertEqual(s.recv(10), b"")
        except ConnectionResetError:
            pass  # aborted: the socket is freed either way


class CallerTests(ListenerMixin, TestCase):
    """Caller methods and the reference's error messages."""

    @inlineCallbacks
    def test_closeErrors(self) -> Any:
        """Invalid codes and timeouts, a second close and writes after close fail with the
        reference's messages; a close is answered by the peer."""
        service = Recorder()
        yield self.startListener(Upgrade(service))
        s = yield inThread(rawUpgrade, self.port)
        self.addCleanup(s.close)
        yield later(0.05)
        caller = service.caller
        self.assertTrue(caller.isOpen())
        self.assertFalse(caller.isSecure())
        self.assertIsNone(caller.getNegotiatedSubProtocol())
        caller.setAttribute("k", 1)
        self.assertEqual((caller.getAttribute("k"), caller.removeAttribute("k")), (1, 1))
        self.assertIsNone(caller.getAttribute("k"))
        f = self.failureResultOf(caller.close(5), bws.ConnectionClosureError)
        self.assertEqual(str(f.value), "Failed to execute close. Invalid status code: 5")
        f = self.failureResultOf(caller.close(1000, None, -10), bws.Error)
        self.assertEqual(str(f.value), "Invalid timeout value: -10")
        f = self.failureResultOf(caller.ping(b"x" * 126), bws.CorruptedFrameError)
        closing = caller.close(4000, "done", 5)
        f = self.failureResultOf(caller.close(), bws.ConnectionClosureError)
        self.assertEqual(str(f.value), "Close frame already sent. Cannot send close frame again.")
        f = self.failureResultOf(caller.writeTextMessage("x"), bws.ConnectionClosureError)
        self.assertEqual(str(f.value), "Close frame already sent. Cannot push text data!")
        f = self.failureResultOf(caller.writeBinaryMessage(b"x"), bws.ConnectionClosureError)
        self.assertEqual(str(f.value), "Close frame already sent. Cannot push binary data.")
        self.assertFalse(caller.isOpen())

        def answer() -> int | None:
            op, _, payload = readFrame(s)
            s.sendall(frame(8, payload[:2]))
            return closeCode(payload)

        self.assertEqual((yield inThread(answer)), 4000)
        yield closing
        self.assertNotIn("close", [e[0] for e in service.events])

    @inlineCallbacks
    def test_closeTimeout(self) -> Any:
        """A close the peer never answers fails after the timeout and drops the socket."""
        clock = Clock()
        service = Recorder()
        yield self.startListener(Upgrade(service), clock=clock)
        s = yield inThread(rawUpgrade, self.port)
        self.addCleanup(s.close)
        yield later(0.05)
        d = service.caller.close(1000, None, 1.5)
        clock.advance(1.6)
        f = self.failureResultOf(d, bws.ConnectionClosureError)
        self.assertEqual(str(f.value), "Could not receive a WebSocket close frame from remote "
                                       "endpoint within 1.5 seconds")

    def test_configNamesField(self) -> None:
        """A wrong configuration value fails at construction, naming the field."""
        e = self.assertRaises(bws.ConfigurationError, bws.Listener, 9090, timeout=-1)
        self.assertIn("timeout", str(e))
        self.assertIn("Idle timeout cannot be negative", str(e))
        e = self.assertRaises(bws.ConfigurationError, bws.Listener, 9090, nosuch=1)
        self.assertIn("nosuch", str(e))
        self.assertEqual(bws.WSServiceConfig(maxFrameSize=0).maxFrameSize, 65536)
        struct.pack("!H", 1)


class CloseInOnCloseTests(ListenerMixin, TestCase):
    """A service that answers the peer's close itself."""

    @inlineCallbacks
    def test_closeFromOnCloseIsTheReply(self) -> Any:
        """``caller.close()`` inside onClose answers the peer's close at once, with its own
        code, instead of waiting for a reply that will never come."""
        results: list[Any] = []

        @implementer(bws.IService)
        class Answering:
            def onClose(self, caller: Any, statusCode: int, reason: str) -> Any:
                d = caller.close(4444, "my answer")
                d.addBoth(results.append)
                return d

        yield self.startListener(Upgrade(Answering()))

        def client() -> tuple[Any, Any]:
            ws = connect(self.url())
            ws.close(4001, "bye")
            return ws.protocol.close_rcvd.code, ws.protocol.close_rcvd.reason

        self.assertEqual((yield inThread(client)), (4444, "my answer"))
        self.assertEqual(results, [None])


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
