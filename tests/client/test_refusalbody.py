"""A refused upgrade says the server's reason: the refusal's body (``Content-Length``
framed, at most 4 KiB, read within the handshake deadline) is in the client's
``InvalidHandshakeError`` and in ``getHttpResponse()`` (in memory)."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

import bws
import bws.testing
from bws._http import MAX_REFUSAL_BODY, refusalBodyLength
from bws.errors import InvalidHandshakeError, UpgradeError
from bws.testing.echo import EchoService
from tests.client.test_responsehead import Connected


class Refusing:
    """An upgrade service whose ``get`` refuses with ``UpgradeError(reason)``."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def get(self, request: Any) -> Any:
        raise UpgradeError(self.reason)


class RefusalBodyLengthTests(SynchronousTestCase):
    """``refusalBodyLength``: only a ``Content-Length`` body of a non-101, bounded."""

    def test_lengths(self) -> None:
        """A refusal's ``Content-Length`` is read up to 4 KiB; a 101, a chunked body, a
        missing or bad length read nothing."""
        cases = [
            (b"HTTP/1.1 400 Bad Request\r\nContent-Length: 14\r\n\r\n", 14),
            (b"HTTP/1.1 403 Forbidden\r\ncontent-length:  0 \r\n\r\n", 0),
            (b"HTTP/1.1 400 Bad Request\r\nContent-Length: 99999\r\n\r\n", MAX_REFUSAL_BODY),
            (b"HTTP/1.1 400 Bad Request\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n",
             MAX_REFUSAL_BODY),
            (b"HTTP/1.1 101 Switching Protocols\r\nContent-Length: 5\r\n\r\n", 0),
            (b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n"
             b"Content-Length: 5\r\n\r\n", 0),
            (b"HTTP/1.1 400 Bad Request\r\nContent-Length: -1\r\n\r\n", 0),
            (b"HTTP/1.1 400 Bad Request\r\n\r\n", 0),
        ]
        for head, expected in cases:
            self.assertEqual(refusalBodyLength(head), expected, head[:60])


class ListenerRefusalTests(SynchronousTestCase):
    """A bws listener's ``UpgradeError`` reaches a bws client with its message."""

    def test_upgradeErrorReason(self) -> None:
        """``UpgradeError("room is closed")`` is in the error's message and in the
        response's body."""
        listener = bws.testing.MemoryListener()
        listener.attach(Refusing("room is closed"), "/room")
        error = self.failureResultOf(listener.connect("/room"), InvalidHandshakeError).value
        self.assertEqual(str(error),
                         "Invalid handshake response getStatus: 400 Bad Request: "
                         "room is closed")
        assert error.response is not None
        self.assertEqual(error.response.statusCode, 400)
        self.assertEqual(error.response.body, b"room is closed")

    def test_unicodeReason(self) -> None:
        """A reason beyond ASCII arrives as the service wrote it (UTF-8)."""
        listener = bws.testing.MemoryListener()
        listener.attach(Refusing("salle fermée ✋"), "/")
        error = self.failureResultOf(listener.connect("/"), InvalidHandshakeError).value
        self.assertTrue(str(error).endswith(": salle fermée ✋"), str(error))

    def test_notFoundReason(self) -> None:
        """A listener's own refusals say their reason too (404: no service at the path)."""
        listener = bws.testing.MemoryListener()
        listener.attach(Refusing("x"), "/a")
        error = self.failureResultOf(listener.connect("/b"), InvalidHandshakeError).value
        self.assertEqual(str(error), "Invalid handshake response getStatus: 404 Not Found: "
                                     "No service found to handle the service request")


class LaterRefusalTests(SynchronousTestCase):
    """An ``UpgradeError`` that comes later (a Deferred, a coroutine, a reconnect) says its
    reason the same way."""

    def assertRoomClosed(self, error: InvalidHandshakeError) -> None:
        self.assertEqual(str(error), "Invalid handshake response getStatus: 400 Bad Request: "
                                     "room is closed")
        assert error.response is not None
        self.assertEqual(error.response.body, b"room is closed")

    def test_deferredRefusal(self) -> None:
        """``get`` returns a Deferred that fails with ``UpgradeError`` later."""
        pending: list[Deferred[Any]] = []

        class Later:
            def get(self, request: Any) -> Deferred[Any]:
                pending.append(Deferred())
                return pending[-1]

        listener = bws.testing.MemoryListener()
        listener.attach(Later(), "/")
        connecting = listener.connect("/")
        self.assertNoResult(connecting)
        pending[0].errback(UpgradeError("room is closed"))
        listener.flush()
        self.assertRoomClosed(self.failureResultOf(connecting, InvalidHandshakeError).value)

    def test_coroutineRefusal(self) -> None:
        """An ``async def get`` raising ``UpgradeError``."""
        class Async:
            async def get(self, request: Any) -> Any:
                raise UpgradeError("room is closed")

        listener = bws.testing.MemoryListener()
        listener.attach(Async(), "/")
        self.assertRoomClosed(
            self.failureResultOf(listener.connect("/"), InvalidHandshakeError).value)

    def test_reconnectRefused(self) -> None:
        """A client reconnecting (``retryConfig``) to a room that closed meanwhile: the read
        fails with the reason, and ``getHttpResponse()`` is the refusal, body included."""
        class Room:
            open = True

            def get(self, request: Any) -> Any:
                if not self.open:
                    raise UpgradeError("room is closed")
                return EchoService()

        room = Room()
        listener = bws.testing.MemoryListener()
        listener.attach(room, "/room")
        client = self.successResultOf(
            listener.connect("/room", retryConfig={"interval": 1, "maxCount": 3}))
        response = client.getHttpResponse()
        assert response is not None
        self.assertEqual(response.statusCode, 101)
        reading = client.readTextMessage()
        room.open = False
        assert client.protocol is not None and client.protocol.transport is not None
        client.protocol.transport.loseConnection()
        listener.advance(1)
        self.assertRoomClosed(self.failureResultOf(reading, InvalidHandshakeError).value)
        response = client.getHttpResponse()
        assert response is not None
        self.assertEqual((response.statusCode, response.body), (400, b"room is closed"))


class RawRefusalTests(SynchronousTestCase):
    """A raw server's refusals: bodies cut into reads, late, truncated, or not text."""

    def refused(self, connected: Connected) -> InvalidHandshakeError:
        error = self.failureResultOf(connected.opened, InvalidHandshakeError).value
        self.assertIsNotNone(connected.server.lost)
        self.assertEqual(connected.clock.getDelayedCalls(), [])
        return error

    def test_bodyInPieces(self) -> None:
        """A body arriving a byte per read after its head is waited for, then reported."""
        connected = Connected()
        connected.send(b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n"
                       b"Content-Length: 16\r\n\r\n")
        self.assertNoResult(connected.opened)
        for byte in b"not your room\r\n":
            connected.send(bytes((byte,)))
            self.assertNoResult(connected.opened)
        connected.send(b"!")
        error = self.refused(connected)
        self.assertEqual(str(error),
                         "Invalid handshake response getStatus: 403 Forbidden: "
                         "not your room !")
        assert error.response is not None
        self.assertEqual(error.response.body, b"not your room\r\n!")

    def test_lateBodyAtDeadline(self) -> None:
        """A body that stops arriving is not waited for past ``handShakeTimeout``: the
        refusal is reported then, with the part that came."""
        connected = Connected(handShakeTimeout=3)
        connected.send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 100\r\n\r\nroom is")
        connected.clock.advance(2.9)
        self.assertNoResult(connected.opened)
        connected.clock.advance(0.1)
        connected.flush()
        error = self.refused(connected)
        self.assertEqual(str(error),
                         "Invalid handshake response getStatus: 400 Bad Request: room is")

    def test_closedMidBody(self) -> None:
        """A server that closes in the middle of its body: the refusal with what came."""
        connected = Connected()
        connected.send(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 100\r\n\r\n"
                       b"draining")
        assert connected.server.transport is not None
        connected.server.transport.loseConnection()
        connected.flush()
        error = self.failureResultOf(connected.opened, InvalidHandshakeError).value
        self.assertEqual(str(error), "Invalid handshake response getStatus: "
                                     "503 Service Unavailable: draining")

    def test_bodyTruncated(self) -> None:
        """A body over 4 KiB: its first 4 KiB are kept, the message shortened."""
        connected = Connected()
        connected.send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 10000\r\n\r\n"
                       + b"a" * 10000)
        error = self.refused(connected)
        assert error.response is not None
        self.assertEqual(error.response.body, b"a" * MAX_REFUSAL_BODY)
        self.assertEqual(str(error), "Invalid handshake response getStatus: "
                                     "400 Bad Request: " + "a" * 199 + "\u2026")

    def test_noBody(self) -> None:
        """A refusal without a body keeps the bare status line in its message."""
        connected = Connected()
        connected.send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        self.assertEqual(str(self.refused(connected)),
                         "Invalid handshake response getStatus: 400 Bad Request")

    def test_htmlBodyKeptOutOfMessage(self) -> None:
        """An HTML error page is in the response's body, not in the one-line message."""
        page = b"<html><body><h1>400 Bad Request</h1></body></html>"
        connected = Connected()
        connected.send(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\n"
                       b"Content-Length: %d\r\n\r\n%s" % (len(page), page))
        error = self.refused(connected)
        self.assertEqual(str(error), "Invalid handshake response getStatus: 400 Bad Request")
        assert error.response is not None
        self.assertEqual(error.response.body, page)

    def test_switchingProtocolsBytesAreFrames(self) -> None:
        """A 101's following bytes are frames, never a body, whatever its headers say."""
        connected = Connected()
        connected.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       b"Connection: Upgrade\r\nContent-Length: 5\r\n"
                       b"Sec-WebSocket-Accept: " + connected.server.accept() + b"\r\n\r\n"
                       + b"\x81\x02hi")
        client = self.successResultOf(connected.opened)
        self.assertEqual(self.successResultOf(client.readTextMessage()), "hi")
        self.assertIsNotNone(client.getHttpResponse())
        self.assertEqual(client.getHttpResponse().body, b"")  # type: ignore[union-attr]
