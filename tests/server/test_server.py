"""The server in memory: dispatch order, fragments, limits, closes, HTTP answers, time, Caller.

Every test runs on a ``MemoryReactorClock`` through ``bws.testing`` (``iosim``): bytes move on
``flush()``, time on ``advance()``. The peer is a :class:`bws.Client` or, where the test needs
exact frames, a :class:`tests.helpers.RawPeer`.
"""

from __future__ import annotations

import struct
from typing import Any

from twisted.application.service import IService as ITwistedService
from twisted.internet.interfaces import IPushProducer
from twisted.internet.task import deferLater
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import IResource, Resource
from twisted.web.server import Site
from twisted.web.static import Data
from twisted.web.test.requesthelper import DummyRequest
from zope.interface import implementer
from zope.interface.verify import verifyObject

import bws
from bws.testing import MemoryListener, connect
from bws.testing.echo import EchoUpgradeService
from tests.helpers import (
    UPGRADE_REQUEST,
    Recorder,
    Upgrade,
    closeCode,
    closePayload,
    frame,
    httpAnswer,
    rawConnect,
    rawUpgrade,
)


class EchoTests(SynchronousTestCase):
    """Messages, in order and in fragments."""

    def test_orderingUnderLoad(self) -> None:
        """1,000 messages to a service whose callback is asynchronous come back in order."""
        clock = MemoryReactorClock()

        @implementer(bws.IService)
        class Slow:
            def onTextMessage(self, caller: Any, text: str) -> Any:
                return deferLater(clock, 0.0005 if int(text) % 7 else 0, lambda: text)

        conn = connect(Upgrade(Slow()), "/", clock=clock, webSocketCompressionEnabled=False)
        reads = [conn.client.readTextMessage() for _ in range(1000)]
        for i in range(1000):
            conn.client.writeTextMessage(str(i))
        conn.flush()
        for _ in range(2000):
            if reads[-1].called:
                break
            conn.advance(0.0005)
        got = [self.successResultOf(d) for d in reads]
        self.assertEqual(got, [str(i) for i in range(1000)])

    def test_inboundFragmentsAggregated(self) -> None:
        """A message sent in fragments reaches the service whole."""
        service = Recorder()
        listener = MemoryListener()
        listener.attach(Upgrade(service))
        peer = rawUpgrade(listener)
        peer.send(frame(1, b"ab", fin=False) + frame(0, b"cd", fin=False)
                  + frame(0, "é".encode()))
        listener.flush()
        [(op, fin, payload)] = peer.takeFrames()
        self.assertEqual((op, fin, payload.decode()), (1, True, "abcdé"))
        self.assertIn(("text", "abcdé"), service.events)

    def test_outboundFragmentedAtMaxFrameSize(self) -> None:
        """A message larger than maxFrameSize leaves in frames of at most that size, cut
        between UTF-8 characters."""
        @implementer(bws.IService)
        class Big:
            def onTextMessage(self, caller: Any, text: str) -> str:
                return "é" * 1000  # 2000 bytes

        upgrade = Upgrade(Big())
        bws.config.setServiceConfig(upgrade, bws.WSServiceConfig(maxFrameSize=101))
        listener = MemoryListener(webSocketCompressionEnabled=False)
        listener.attach(upgrade)
        peer = rawUpgrade(listener)
        peer.send(frame(1, b"go"))
        listener.flush()
        frames = peer.takeFrames()
        self.assertTrue(frames[-1][1])
        self.assertEqual([fin for _, fin, _ in frames], [False] * (len(frames) - 1) + [True])
        self.assertTrue(all(len(p) <= 101 for _, _, p in frames))
        self.assertEqual([op for op, _, _ in frames], [1] + [0] * (len(frames) - 1))
        for _, _, payload in frames:
            payload.decode("utf-8")  # each fragment is whole characters
        self.assertEqual(b"".join(p for _, _, p in frames).decode(), "é" * 1000)


class LimitTests(SynchronousTestCase):
    """Frame limits, close codes and errors."""

    def test_frameOverMaxFrameSize(self) -> None:
        """A 64 KiB + 1 frame is answered with close 1009 and reaches onError."""
        service = Recorder()
        listener = MemoryListener(webSocketCompressionEnabled=False)
        listener.attach(Upgrade(service))
        peer = rawUpgrade(listener)
        peer.send(frame(2, b"x" * 65537))
        listener.flush()
        op, _, payload = peer.takeFrames()[0]
        peer.send(frame(8, payload[:2]))
        listener.flush()
        self.assertEqual((op, closeCode(payload)), (8, 1009))
        errors = [e for e in service.events if e[0] == "error"]
        self.assertEqual(len(errors), 1)
        self.assertIsInstance(errors[0][1], bws.PayloadTooLargeError)
        self.assertEqual(str(errors[0][1]), "Max frame length of 65536 has been exceeded.")

    def test_exactlyMaxFrameSizePasses(self) -> None:
        """A frame of exactly maxFrameSize is accepted."""
        conn = connect(EchoUpgradeService(), "/", maxFrameSize=65536,
                       listenerConfig={"webSocketCompressionEnabled": False})
        conn.client.writeBinaryMessage(b"x" * 65536)
        conn.flush()
        self.assertEqual(len(self.successResultOf(conn.client.readBinaryMessage())), 65536)

    def test_peerCloseEchoedWithSameCode(self) -> None:
        """A peer's close reaches onClose and is echoed with the same code."""
        service = Recorder()
        listener = MemoryListener()
        listener.attach(Upgrade(service))
        peer = rawUpgrade(listener)
        peer.send(frame(8, closePayload(4001, "bye")))
        listener.flush()
        [(op, _, payload)] = peer.takeFrames()
        self.assertEqual((op, closeCode(payload), payload[2:].decode()), (8, 4001, "bye"))
        self.assertIn(("close", 4001, "bye"), service.events)

    def test_closeWithoutCodeEchoedWithoutCode(self) -> None:
        """A close frame with no status is echoed with no status; onClose sees 1005."""
        service = Recorder()
        listener = MemoryListener()
        listener.attach(Upgrade(service))
        peer = rawUpgrade(listener)
        peer.send(frame(8, b""))
        listener.flush()
        [(op, _, payload)] = peer.takeFrames()
        self.assertEqual((op, payload), (8, b""))
        self.assertIn(("close", 1005, ""), service.events)

    def test_callbackExceptionKeepsServing(self) -> None:
        """An exception from a callback is logged and the next message is still served."""
        @implementer(bws.IService)
        class Flaky:
            def onTextMessage(self, caller: Any, text: str) -> str:
                if text == "boom":
                    raise RuntimeError("boom")
                return text

        conn = connect(Upgrade(Flaky()))
        conn.client.writeTextMessage("boom")
        conn.client.writeTextMessage("after")
        conn.flush()
        self.assertEqual(self.successResultOf(conn.client.readTextMessage()), "after")
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_subprotocolNegotiation(self) -> None:
        """The first protocol the client offers that the service supports is chosen."""
        upgrade = Upgrade(Recorder())
        bws.config.setServiceConfig(upgrade, bws.WSServiceConfig(subProtocols=["b", "c"]))
        listener = MemoryListener()
        listener.attach(upgrade)
        offering = self.successResultOf(listener.connect("/", subProtocols=["a", "c", "b"]))
        self.assertEqual(offering.getNegotiatedSubProtocol(), "c")
        plain = self.successResultOf(listener.connect("/"))
        self.assertIsNone(plain.getNegotiatedSubProtocol())


class UpgradeOutcomeTests(SynchronousTestCase):
    """HTTP answers of the upgrade pipeline."""

    request = UPGRADE_REQUEST.replace("{extra}", "")

    def answer(self, listener: MemoryListener, path: str, raw: str | None = None) -> bytes:
        return httpAnswer(listener, (raw or self.request).format(path=path).encode())

    def test_outcomes(self) -> None:
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

        listener = MemoryListener()
        listener.attach(Rooms(), "/rooms/{room}")
        listener.attach(Numbers(), "/n/{n}")
        closed = self.answer(listener, "/rooms/closed?limit=1")
        self.assertTrue(closed.startswith(b"HTTP/1.1 400"), closed)
        self.assertIn(b"room is closed", closed)
        self.assertTrue(self.answer(listener, "/nowhere").startswith(b"HTTP/1.1 404"))
        self.assertTrue(self.answer(listener, "/n/six").startswith(b"HTTP/1.1 404"))
        missing = self.answer(listener, "/rooms/a")
        self.assertTrue(missing.startswith(b"HTTP/1.1 400"))
        self.assertIn(b"No query param value found for: limit", missing)
        self.assertTrue(self.answer(listener, "/rooms/crash?limit=1").startswith(
            b"HTTP/1.1 500"))
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)
        self.assertTrue(self.answer(listener, "/rooms/ok?limit=1").startswith(b"HTTP/1.1 101"))

    def test_asyncGetAndResponseHeaders(self) -> None:
        """An ``async def get`` works, and headers and cookies it adds reach the 101."""
        listener = MemoryListener()

        @implementer(bws.IUpgradeService)
        class Cookie:
            async def get(self, request: Any) -> Any:
                await deferLater(listener.clock, 0.001)
                request.addResponseHeader("X-Some-Header", "yes")
                request.addCookie("session", "abc", path="/")
                return Recorder()

        listener.attach(Cookie())
        peer = rawConnect(listener)
        peer.send(self.request.format(path="/").encode())
        listener.flush()
        self.assertEqual(peer.received, b"")  # get() is still waiting
        listener.advance(0.001)
        answer = peer.received
        self.assertTrue(answer.startswith(b"HTTP/1.1 101"), answer)
        self.assertIn(b"X-Some-Header: yes", answer)
        self.assertIn(b"Set-Cookie: session=abc; Path=/", answer)

    def test_badHandshakes(self) -> None:
        """Not GET → 405, no Upgrade → 426, wrong version → 426 naming 13, bad key → 400."""
        listener = MemoryListener()
        listener.attach(EchoUpgradeService())
        post = self.answer(listener, "/", self.request.replace("GET", "POST"))
        self.assertTrue(post.startswith(b"HTTP/1.1 405"))
        plain = self.answer(listener, "/", "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(plain.startswith(b"HTTP/1.1 426"))
        self.assertIn(b"Upgrade: websocket", plain)
        version = self.answer(listener, "/", self.request.replace("Version: 13", "Version: 8"))
        self.assertTrue(version.startswith(b"HTTP/1.1 426"))
        self.assertIn(b"sec-websocket-version: 13", version.lower())
        key = self.answer(listener, "/",
                          self.request.replace("dGhlIHNhbXBsZSBub25jZQ==", "short"))
        self.assertTrue(key.startswith(b"HTTP/1.1 400"))
        twice = self.request.replace("Sec-WebSocket-Version",
                                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                     "Sec-WebSocket-Version")
        self.assertTrue(self.answer(listener, "/", twice).startswith(b"HTTP/1.1 400"))

    def test_requestLimits(self) -> None:
        """A long URI → 414 and oversized headers → 431; the server keeps serving."""
        listener = MemoryListener(requestLimits={"maxUriLength": 100, "maxHeaderSize": 300})
        listener.attach(EchoUpgradeService())
        long = self.answer(listener, "/" + "a" * 200)
        self.assertTrue(long.startswith(b"HTTP/1.1 414"), long)
        big = self.request.replace("Host: x", "Host: x\r\nX-Big: " + "b" * 400)
        self.assertTrue(self.answer(listener, "/", big).startswith(b"HTTP/1.1 431"))
        self.assertTrue(self.answer(listener, "/").startswith(b"HTTP/1.1 101"))

    def test_sharedSite(self) -> None:
        """On a shared Site, plain HTTP resources keep answering beside the WebSocket path."""
        memory = MemoryListener()
        root = Resource()
        root.putChild(b"hello", Data(b"plain http", "text/plain"))
        site = Site(root, reactor=memory.clock)
        listener = bws.Listener(site, reactor=memory.clock)
        listener.attach(EchoUpgradeService(), "/ws")
        self.successResultOf(listener.start())
        memory.listener = listener
        plain = httpAnswer(memory, b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(plain.startswith(b"HTTP/1.1 200"))
        self.assertIn(b"plain http", plain)
        client = self.successResultOf(memory.connect("/ws"))
        client.writeTextMessage("shared")
        memory.flush()
        self.assertEqual(self.successResultOf(client.readTextMessage()), "shared")


class TimeTests(SynchronousTestCase):
    """Idle timeout and the upgrade deadline, on the listener's clock."""

    def test_idleTimeout(self) -> None:
        """onIdleTimeout fires after idleTimeout seconds without traffic; it does not close."""
        fired: list[Any] = []

        @implementer(bws.IService)
        class Idle:
            def onIdleTimeout(self, caller: Any) -> None:
                fired.append(caller.isOpen())

        upgrade = Upgrade(Idle())
        bws.config.setServiceConfig(upgrade, bws.WSServiceConfig(idleTimeout=1.5))
        listener = MemoryListener()
        listener.attach(upgrade)
        peer = rawUpgrade(listener)
        listener.advance(1.4)
        self.assertEqual(fired, [])
        listener.advance(0.2)
        self.assertEqual(fired, [True])
        self.assertFalse(peer.disconnected)

    def test_upgradeDeadline(self) -> None:
        """A peer that sends its request too slowly is cut off at ``timeout``."""
        listener = MemoryListener(timeout=2)
        listener.attach(EchoUpgradeService())
        peer = rawConnect(listener)
        peer.send(b"GET / HTTP/1.1\r\n")
        listener.advance(1.9)
        self.assertFalse(peer.disconnected)
        listener.advance(0.2)
        self.assertTrue(peer.disconnected)
        self.assertEqual(peer.received, b"")


class CallerTests(SynchronousTestCase):
    """Caller methods and the reference's error messages."""

    def test_closeErrors(self) -> None:
        """Invalid codes and timeouts, a second close and writes after close fail with the
        reference's messages; a close is answered by the peer."""
        service = Recorder()
        listener = MemoryListener()
        listener.attach(Upgrade(service))
        peer = rawUpgrade(listener)
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

        listener.flush()
        [(op, _, payload)] = peer.takeFrames()
        peer.send(frame(8, payload[:2]))
        listener.flush()
        self.assertEqual((op, closeCode(payload)), (8, 4000))
        self.successResultOf(closing)
        self.assertNotIn("close", [e[0] for e in service.events])

    def test_closeTimeout(self) -> None:
        """A close the peer never answers fails after the timeout and drops the socket."""
        service = Recorder()
        listener = MemoryListener()
        listener.attach(Upgrade(service))
        peer = rawUpgrade(listener)
        d = service.caller.close(1000, None, 1.5)
        listener.advance(1.4)
        self.assertNoResult(d)
        listener.advance(0.2)
        f = self.failureResultOf(d, bws.ConnectionClosureError)
        self.assertEqual(str(f.value), "Could not receive a WebSocket close frame from remote "
                                       "endpoint within 1.5 seconds")
        self.assertTrue(peer.disconnected)

    def test_configNamesField(self) -> None:
        """A wrong configuration value fails at construction, naming the field."""
        e = self.assertRaises(bws.ConfigurationError, bws.Listener, 9090, timeout=-1)
        self.assertIn("timeout", str(e))
        self.assertIn("Idle timeout cannot be negative", str(e))
        e = self.assertRaises(bws.ConfigurationError, bws.Listener, 9090, nosuch=1)
        self.assertIn("nosuch", str(e))
        self.assertEqual(bws.WSServiceConfig(maxFrameSize=0).maxFrameSize, 65536)
        struct.pack("!H", 1)


class CloseInOnCloseTests(SynchronousTestCase):
    """A service that answers the peer's close itself."""

    def test_closeFromOnCloseIsTheReply(self) -> None:
        """``caller.close()`` inside onClose answers the peer's close at once, with its own
        code, instead of waiting for a reply that will never come."""
        results: list[Any] = []

        @implementer(bws.IService)
        class Answering:
            def onClose(self, caller: Any, statusCode: int, reason: str) -> Any:
                d = caller.close(4444, "my answer")
                d.addBoth(results.append)
                return d

        listener = MemoryListener()
        listener.attach(Upgrade(Answering()))
        peer = rawUpgrade(listener)
        peer.send(frame(8, closePayload(4001, "bye")))
        listener.flush()
        [(op, _, payload)] = peer.takeFrames()
        self.assertEqual((closeCode(payload), payload[2:].decode()), (4444, "my answer"))
        self.assertEqual(op, 8)
        self.assertEqual(results, [None])


class InterfaceTests(SynchronousTestCase):
    """What the server side declares with ``@implementer`` it provides."""

    def test_caller(self) -> None:
        """The ``Caller`` of a connected service provides ``bws.ICaller``."""
        service = Recorder()
        connect(Upgrade(service))
        self.assertTrue(verifyObject(bws.ICaller, service.caller))

    def test_serverProtocolIsAPushProducer(self) -> None:
        """An accepted connection is a streaming producer on its transport."""
        conn = connect(EchoUpgradeService())
        [protocol] = conn.listener.listener.resource.connections
        self.assertTrue(verifyObject(IPushProducer, protocol))

    def test_listenerIsATwistedService(self) -> None:
        """``Listener`` is a ``twisted.application.service.IService`` (``twistd`` runs it)."""
        listener = bws.Listener(0, host="127.0.0.1", reactor=MemoryReactorClock())
        self.assertTrue(verifyObject(ITwistedService, listener))

    def test_upgradeResources(self) -> None:
        """The listener's resource and the leaf it routes upgrades to are ``IResource``s."""
        listener = MemoryListener()
        resource = listener.listener.resource
        self.assertTrue(verifyObject(IResource, resource))
        leaf = resource.getChildWithDefault(b"x", DummyRequest([b"x"]))
        self.assertIsNot(leaf, resource)
        self.assertTrue(verifyObject(IResource, leaf))
