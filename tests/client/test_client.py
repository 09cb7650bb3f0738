"""Tests for ``bws.client`` in memory, on a Clock (loopback tests: ``tests.integration``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import Protocol
from twisted.internet.testing import MemoryReactorClock
from twisted.test.iosim import FakeTransport
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

import bws
from bws.client import Client, HttpResponse, parseUrl
from bws.testing import MemoryListener, connect
from bws.testing.echo import EchoUpgradeService


class Recorder:
    """A service that records what it gets and does what the test tells it."""

    def __init__(self) -> None:
        self.pongs: list[bytes] = []
        self.texts: list[str] = []
        self.caller: Any = None
        self.onOpenDo: Any = None
        self.onCloseResult: Any = None

    def onOpen(self, caller: Any) -> None:
        self.caller = caller
        if self.onOpenDo is not None:
            self.onOpenDo(caller)

    def onTextMessage(self, caller: Any, text: str) -> str:
        self.texts.append(text)
        return text

    def onBinaryMessage(self, caller: Any, data: bytes) -> bytes:
        return data

    def onPong(self, caller: Any, data: bytes) -> None:
        self.pongs.append(data)

    def onClose(self, caller: Any, statusCode: int, reason: str) -> Any:
        return self.onCloseResult


class Upgrade:
    """An upgrade service giving one fixed service object."""

    def __init__(self, service: Any) -> None:
        self.service = service

    def get(self, request: Any) -> Any:
        return self.service


@dataclasses.dataclass
class Coord:
    x: int
    y: int


class MemoryTests(SynchronousTestCase):
    """The client against bws's own server, in memory, with a Clock."""

    def setUp(self) -> None:
        self.service = Recorder()
        self.conn = connect(Upgrade(self.service), "/ws")
        self.client = self.conn.client

    def echo(self, text: str) -> Any:
        self.client.writeTextMessage(text)
        self.conn.flush()
        return self.successResultOf(self.client.readTextMessage())

    def test_echoText(self) -> None:
        """A text message comes back as ``str`` from ``readTextMessage``."""
        self.assertEqual(self.echo("héllo"), "héllo")

    def test_echoBinary(self) -> None:
        """A binary message comes back as ``bytes`` from ``readBinaryMessage``."""
        self.client.writeBinaryMessage(b"\x00\x01")
        self.conn.flush()
        self.assertEqual(self.successResultOf(self.client.readBinaryMessage()), b"\x00\x01")

    def test_readMessagePlain(self) -> None:
        """``readMessage()`` gives str for text and bytes for binary, in arrival order."""
        self.client.writeTextMessage("a")
        self.client.writeBinaryMessage(b"b")
        self.conn.flush()
        self.assertEqual(self.successResultOf(self.client.readMessage()), "a")
        self.assertEqual(self.successResultOf(self.client.readMessage()), b"b")

    def test_pendingReadGetsLaterMessage(self) -> None:
        """A read issued before the message arrives fires when it does."""
        d = self.client.readTextMessage()
        self.assertNoResult(d)
        self.client.writeTextMessage("later")
        self.conn.flush()
        self.assertEqual(self.successResultOf(d), "later")

    def test_writeMessageJson(self) -> None:
        """``writeMessage`` of a mapping sends JSON text."""
        self.client.writeMessage({"x": 1})
        self.conn.flush()
        self.assertEqual(self.successResultOf(self.client.readTextMessage()), '{"x":1}')

    def test_readMessageTyped(self) -> None:
        """``readMessage(Coord)`` binds JSON text to the dataclass."""
        self.client.writeTextMessage('{"x": 1, "y": 2}')
        self.conn.flush()
        self.assertEqual(self.successResultOf(self.client.readMessage(Coord)), Coord(1, 2))

    def test_bindingFailureKeepsConnection(self) -> None:
        """A binding failure is a PayloadBindingError and the connection stays open."""
        self.client.writeTextMessage("not json")
        self.conn.flush()
        f = self.failureResultOf(self.client.readMessage(Coord), bws.PayloadBindingError)
        self.assertTrue(str(f.value).startswith("data binding failed: "))
        self.assertTrue(self.client.isOpen())
        self.assertEqual(self.echo("still"), "still")

    def test_readTextOnBinaryKeepsMessage(self) -> None:
        """``readTextMessage`` on a binary message fails naming both types; the message stays."""
        self.client.writeBinaryMessage(b"bin")
        self.conn.flush()
        f = self.failureResultOf(self.client.readTextMessage(), bws.PayloadBindingError)
        self.assertIn("expected a text message, got a binary message", str(f.value))
        self.assertEqual(self.successResultOf(self.client.readBinaryMessage()), b"bin")

    def test_readTimeout(self) -> None:
        """A read with no message fails after ``readTimeout`` seconds; the next read works."""
        conn = connect(EchoUpgradeService(), "/", readTimeout=0.5)
        d = conn.client.readTextMessage()
        conn.advance(0.4)
        self.assertNoResult(d)
        conn.advance(0.1)
        f = self.failureResultOf(d, bws.ReadTimeoutError)
        self.assertEqual(str(f.value), "Read timed out")
        conn.client.writeTextMessage("again")
        conn.flush()
        self.assertEqual(self.successResultOf(conn.client.readTextMessage()), "again")

    def test_handshakeTimerCancelled(self) -> None:
        """After the handshake no timer of the client is left on the clock."""
        # Keepalive off at both ends: its timer is meant to stay (tests/*/test_keepalive.py).
        upgrade = Upgrade(self.service)
        bws.config.setServiceConfig(upgrade, bws.WSServiceConfig(pingInterval=0))
        self.conn = connect(upgrade, "/ws", pingInterval=0)
        self.assertEqual(self.conn.clock.getDelayedCalls(), [])

    def test_peerCloseEndsPendingRead(self) -> None:
        """A pending read ends with "<reason>: Status code: N" when the server closes."""
        d = self.client.readTextMessage()
        self.service.caller.close(4001, "bye")
        self.conn.flush()
        f = self.failureResultOf(d, bws.ConnectionClosureError)
        self.assertEqual(str(f.value), "bye: Status code: 4001")

    def test_peerCloseWithoutReason(self) -> None:
        """Without a reason the read error is "Connection closed Status code: N"."""
        d = self.client.readTextMessage()
        self.service.caller.close(1000)
        self.conn.flush()
        f = self.failureResultOf(d, bws.ConnectionClosureError)
        self.assertEqual(str(f.value), "Connection closed Status code: 1000")

    def test_peerCloseAnswered(self) -> None:
        """The client answers the server's close, so the server's close succeeds."""
        closing = self.service.caller.close(1000, "done")
        self.conn.flush()
        self.successResultOf(closing)

    def test_queuedMessagesReadBeforeClosure(self) -> None:
        """Messages that arrived before the peer's close are still read first."""
        self.client.writeTextMessage("first")
        self.conn.flush()
        self.service.caller.close(1000, "done")
        self.conn.flush()
        self.assertEqual(self.successResultOf(self.client.readTextMessage()), "first")
        self.failureResultOf(self.client.readTextMessage(), bws.ConnectionClosureError)

    def test_severalPendingReadsEnd(self) -> None:
        """Every pending read ends when the connection closes."""
        reads = [self.client.readMessage() for _ in range(3)]
        self.service.caller.close(1001, "away")
        self.conn.flush()
        for d in reads:
            self.failureResultOf(d, bws.ConnectionClosureError)

    def test_readAfterLocalClose(self) -> None:
        """A read after ``close()`` fails at once with "Connection already closed"."""
        self.client.close()
        f = self.failureResultOf(self.client.readMessage(), bws.ConnectionClosureError)
        self.assertEqual(str(f.value), "Connection already closed")

    def test_pendingReadEndsOnLocalClose(self) -> None:
        """A read pending when ``close()`` is called ends with ConnectionClosureError."""
        d = self.client.readMessage()
        self.client.close()
        self.failureResultOf(d, bws.ConnectionClosureError)

    def test_closeFiresOnAnswer(self) -> None:
        """``close()`` fires once the server's close frame arrives."""
        d = self.client.close(1000, "bye")
        self.assertNoResult(d)
        self.conn.flush()
        self.successResultOf(d)
        self.assertFalse(self.client.isOpen())

    def test_closeTimeout(self) -> None:
        """Without an answer ``close`` fails after ``timeout`` seconds and drops TCP."""
        self.service.onCloseResult = Deferred()  # the server never echoes
        d = self.client.close(1000, None, timeout=1.5)
        self.conn.advance(1.4)
        self.assertNoResult(d)
        self.conn.advance(0.1)
        f = self.failureResultOf(d, bws.ConnectionClosureError)
        self.assertIn("within 1.5 seconds", str(f.value))
        self.assertTrue(self.client.protocol.transport.disconnected)

    def test_closeInvalidCode(self) -> None:
        """An invalid status code fails and leaves the connection open."""
        f = self.failureResultOf(self.client.close(20), bws.ConnectionClosureError)
        self.assertEqual(str(f.value), "Failed to execute close. Invalid status code: 20")
        self.assertTrue(self.client.isOpen())

    def test_autoPong(self) -> None:
        """Without a handler pings are answered, with no read pending."""
        self.service.caller.ping(b"abc")
        self.conn.flush()
        self.assertEqual(self.service.pongs, [b"abc"])

    def test_pingHandlerPong(self) -> None:
        """Bytes returned by the handler's ``onPing`` are sent as the pong."""
        seen = []

        class Handler:
            def onPing(self, caller: Any, data: bytes) -> bytes:
                seen.append(caller)
                return data + b"!"

        service = Recorder()
        conn = connect(Upgrade(service), "/", pingPongHandler=Handler())
        service.caller.ping(b"p")
        conn.flush()
        self.assertEqual(service.pongs, [b"p!"])
        self.assertEqual(seen, [conn.client])

    def test_pongHandler(self) -> None:
        """The handler's ``onPong`` receives pongs (the caller may be left out)."""
        got = []

        class Handler:
            def onPong(self, data: bytes) -> None:
                got.append(data)

        conn = connect(EchoUpgradeService(), "/", pingPongHandler=Handler())
        conn.client.ping(b"hi")
        conn.flush()
        self.assertEqual(got, [b"hi"])

    def test_pingTooLong(self) -> None:
        """A ping of more than 125 bytes fails with CorruptedFrameError."""
        self.failureResultOf(self.client.ping(b"x" * 126), bws.CorruptedFrameError)

    def test_inboundFrameTooLarge(self) -> None:
        """An inbound frame over ``maxFrameSize`` fails the pending read (close 1009)."""
        service = Recorder()
        conn = connect(Upgrade(service), "/", maxFrameSize=10,
                       webSocketCompressionEnabled=False)
        d = conn.client.readMessage()
        service.caller.writeTextMessage("x" * 100)
        conn.flush()
        f = self.failureResultOf(d, bws.PayloadTooLargeError)
        self.assertEqual(str(f.value), "Max frame length of 10 has been exceeded.")

    def test_outboundFragmentation(self) -> None:
        """A message larger than ``maxFrameSize`` goes out in frames and arrives whole."""
        conn = connect(EchoUpgradeService(), "/", maxFrameSize=7,
                       webSocketCompressionEnabled=False)
        frames = []
        proto = conn.client.protocol
        original = proto.sendFrame
        proto.sendFrame = lambda **kw: (frames.append(kw), original(**kw))[1]  # type: ignore
        conn.client.writeTextMessage("ééééé")  # 10 bytes: cut between characters
        conn.flush()
        self.assertEqual([len(f["payload"]) for f in frames if f["opcode"] in (0, 1)], [6, 4])

    def test_writeTimeout(self) -> None:
        """A write held by flow control fails after ``writeTimeout`` seconds."""
        conn = connect(EchoUpgradeService(), "/", writeTimeout=2)
        conn.client.connection.pauseProducing()
        d = conn.client.writeTextMessage("x")
        conn.clock.advance(2)
        f = self.failureResultOf(d, bws.Error)
        self.assertEqual(str(f.value), "Write timed out")

    def test_subProtocolNegotiated(self) -> None:
        """The subprotocol the server picks is reported."""
        @bws.serviceConfig(subProtocols=["xml", "json"])
        class Up(Upgrade):
            pass

        conn = connect(Up(Recorder()), "/", subProtocols=["json"])
        self.assertEqual(conn.client.getNegotiatedSubProtocol(), "json")

    def test_subProtocolNotPicked(self) -> None:
        """A server that picks no subprotocol fails the handshake with the reference message."""
        e = self.assertRaises(bws.InvalidHandshakeError, connect, EchoUpgradeService(), "/",
                              subProtocols=["xml"])
        self.assertEqual(str(e), "Invalid subprotocol. Actual: null. Expected one of: xml")

    def test_handshakeRefused(self) -> None:
        """A 404 answer is an InvalidHandshakeError carrying the response."""
        listener = MemoryListener()
        listener.attach(EchoUpgradeService(), "/here")
        d = listener.connect("/elsewhere")
        f = self.failureResultOf(d, bws.InvalidHandshakeError)
        self.assertIn("404", str(f.value))
        self.assertEqual(f.value.response.statusCode, 404)  # type: ignore[attr-defined]

    def test_httpResponse(self) -> None:
        """``getHttpResponse`` gives the 101 answer and its headers."""
        response = self.client.getHttpResponse()
        self.assertEqual(response.statusCode, 101)
        self.assertEqual(response.getHeader("upgrade").lower(), "websocket")

    def test_describe(self) -> None:
        """Connection id, isSecure and isOpen describe the connection."""
        self.assertTrue(self.client.getConnectionId())
        self.assertFalse(self.client.isSecure())
        self.assertTrue(self.client.isOpen())

    def test_attributes(self) -> None:
        """Attributes are stored, read and removed."""
        self.client.setAttribute("k", 1)
        self.assertEqual(self.client.getAttribute("k"), 1)
        self.assertEqual(self.client.removeAttribute("k"), 1)
        self.assertIsNone(self.client.getAttribute("k"))


class HandshakeTimeoutTests(SynchronousTestCase):
    """``handShakeTimeout`` on a server that never answers."""

    def test_handshakeTimedOut(self) -> None:
        """No answer within ``handShakeTimeout`` fails with HandshakeTimedOut."""
        clock = MemoryReactorClock()

        def connector(factory: Any) -> Deferred[Any]:
            proto = factory.buildProtocol(None)
            proto.makeConnection(FakeTransport(proto, False))
            silent = Protocol()
            silent.makeConnection(FakeTransport(silent, True))
            return succeed(proto)

        d = Client.connect("ws://example.com/", reactor=clock, connector=connector,
                           handShakeTimeout=0.5)
        clock.advance(0.4)
        self.assertNoResult(d)
        clock.advance(0.1)
        f = self.failureResultOf(d, bws.HandshakeTimedOut)
        self.assertEqual(str(f.value), "Handshake timed out")


class RetryTests(SynchronousTestCase):
    """``retryConfig``: what is retried, when, and when it gives up."""

    def refusingConnector(self, listener: MemoryListener, refusals: int) -> Any:
        self.attempts: list[float] = []

        def wrapped(factory: Any) -> Deferred[Any]:
            self.attempts.append(listener.clock.seconds())
            if len(self.attempts) <= refusals:
                d: Deferred[Any] = Deferred()
                d.errback(ConnectionRefusedError())
                return d
            return listener._connector(factory)

        return wrapped

    def test_refusedRetriedWithBackoff(self) -> None:
        """A refused connect is retried after ``RetryConfig.delay(n)`` seconds."""
        listener = MemoryListener()
        listener.attach(EchoUpgradeService(), "/")
        connector = self.refusingConnector(listener, 2)
        d = Client.connect("ws://h/", reactor=listener.clock, connector=connector,
                           retryConfig={"interval": 1, "backOffFactor": 2.0})
        listener.advance(1)
        listener.advance(2)
        self.successResultOf(d)
        self.assertEqual(self.attempts, [0, 1, 3])

    def test_outOfRetries(self) -> None:
        """After ``maxCount`` retries the connect fails with ConnectionError (IO Error)."""
        listener = MemoryListener()
        connector = self.refusingConnector(listener, 10)
        d = Client.connect("ws://h/", reactor=listener.clock, connector=connector,
                           retryConfig={"interval": 1, "maxCount": 2})
        listener.advance(1)
        listener.advance(1)
        f = self.failureResultOf(d, bws.ConnectionError)
        self.assertIn("IO Error", str(f.value))
        self.assertEqual(len(self.attempts), 3)

    def test_handshakeRefusalNotRetried(self) -> None:
        """A 4xx handshake answer is not retried."""
        listener = MemoryListener()
        d = listener.connect("/nothing", retryConfig={"interval": 1})
        self.failureResultOf(d, bws.InvalidHandshakeError)
        self.assertEqual(len(listener.pumps), 1)

    def test_dropDuringReadReconnects(self) -> None:
        """A drop during a pending read reconnects and the read gets the next message."""
        service = Recorder()
        conn = connect(Upgrade(service), "/", retryConfig={"interval": 1})
        d = conn.client.readTextMessage()
        first = conn.client.protocol
        service.caller._connection.abort()
        service.onOpenDo = lambda caller: caller.writeTextMessage("welcome back")
        conn.flush()
        self.assertNoResult(d)
        conn.advance(1)
        self.assertEqual(self.successResultOf(d), "welcome back")
        self.assertIsNot(conn.client.protocol, first)

    def test_writeAfterDropResent(self) -> None:
        """A write on a dropped connection reconnects and sends the message."""
        service = Recorder()
        conn = connect(Upgrade(service), "/", retryConfig={"interval": 1})
        service.caller._connection.abort()
        conn.flush()
        d = conn.client.writeTextMessage("resent")
        conn.advance(1)
        self.successResultOf(d)
        self.assertEqual(service.texts, ["resent"])

    def test_normalCloseNotRetried(self) -> None:
        """A server's normal close ends the read and does not reconnect."""
        service = Recorder()
        conn = connect(Upgrade(service), "/", retryConfig={"interval": 1})
        d = conn.client.readTextMessage()
        service.caller.close(1000, "done")
        conn.advance(5)
        self.failureResultOf(d, bws.ConnectionClosureError)
        self.assertEqual(len(conn.listener.pumps), 1)


class ConfigurationTests(SynchronousTestCase):
    """URL and configuration errors."""

    def test_malformedUrl(self) -> None:
        """A URL without a scheme or host is "Malformed URL: <url>"."""
        e = self.assertRaises(bws.Error, parseUrl, "xxx")
        self.assertEqual(str(e), "Malformed URL: xxx")

    def test_missingScheme(self) -> None:
        """A URL that lacks its scheme says so."""
        e = self.assertRaises(bws.Error, parseUrl, "127.0.0.1:9090/echo")
        self.assertIn("Malformed URL: 127.0.0.1:9090/echo (no scheme", str(e))

    def test_wrongScheme(self) -> None:
        """An http:// URL is refused."""
        self.assertRaises(bws.Error, parseUrl, "http://host/")

    def test_connectMalformed(self) -> None:
        """``connect`` fails its Deferred on a bad URL."""
        self.failureResultOf(Client.connect("xxx", reactor=MemoryReactorClock()), bws.Error)

    def test_unknownField(self) -> None:
        """An unknown configuration field fails naming it."""
        f = self.failureResultOf(Client.connect("ws://h/", reactor=MemoryReactorClock(),
                                                readTimeOut=1), bws.ConfigurationError)
        self.assertIn("readTimeOut", str(f.value))

    def test_cookieHeader(self) -> None:
        """Cookies become one ``Cookie`` header, longest path first."""
        from bws.client import cookieHeader

        self.assertEqual(cookieHeader([{"name": "a", "value": "1", "path": "/"},
                                       {"name": "b", "value": "2", "path": "/x/y"}]),
                         "b=2; a=1")

    def test_httpResponseCookies(self) -> None:
        """Set-Cookie headers of the handshake answer are parsed one by one."""
        r = HttpResponse.parse(b"HTTP/1.1 403 Forbidden\r\nSet-Cookie: a=1; Path=/\r\n"
                               b"Set-Cookie: b=2\r\n\r\n")
        self.assertEqual((r.statusCode, r.reasonPhrase, r.cookies),
                         (403, "Forbidden", {"a": "1", "b": "2"}))


class InterfaceTests(SynchronousTestCase):
    """What the client side declares with ``@implementer`` it provides."""

    def test_clientConnectionIsAPushProducer(self) -> None:
        """A connected client's connection is the streaming producer on its transport."""
        conn = connect(EchoUpgradeService(), "/")
        self.assertTrue(verifyObject(IPushProducer, conn.client.connection))
