"""The server's answer to the upgrade request is read within bounds, in linear time: a
server that never ends its head, or answers with something that is not HTTP, fails the
client's handshake at once (``bws._http.ResponseHead`` and the client adapter, in memory)."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IProtocol, IProtocolFactory
from twisted.internet.protocol import Protocol
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from twisted.test.iosim import FakeTransport, IOPump
from twisted.test.iosim import connect as iosimConnect
from twisted.trial.unittest import SynchronousTestCase

from bws._http import HeadError, NotHttp, ResponseHead
from bws.client import Client
from bws.errors import InvalidHandshakeError

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def head() -> ResponseHead:
    """A reader with the client's bounds (the listener's ``requestLimits`` defaults)."""
    return ResponseHead(4096, 8192, 100)


class _SearchCounter(bytearray):
    """A buffer that adds up how many bytes each ``find`` had to look at."""

    searched = 0

    def find(self, sub: Any, start: Any = 0, *args: Any) -> int:
        self.searched += len(self) - start
        return super().find(sub, start, *args)


class ResponseHeadTests(SynchronousTestCase):
    """``ResponseHead``: a whole head, its limits (inclusive), and what is not HTTP."""

    answer = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\n\r\n")

    def test_wholeHead(self) -> None:
        """A head in one read gives its length; bytes after it are kept, not counted."""
        reader = head()
        self.assertEqual(reader.feed(self.answer + b"\x81\x02hi"), len(self.answer))
        self.assertEqual(bytes(reader.buffer), self.answer + b"\x81\x02hi")

    def test_oneByteAtATime(self) -> None:
        """A head cut into one-byte reads (each CRLF split in two) ends at the same place."""
        reader = head()
        results = [reader.feed(self.answer[i:i + 1]) for i in range(len(self.answer))]
        self.assertEqual(results, [None] * (len(self.answer) - 1) + [len(self.answer)])

    def test_eachByteSearchedOnce(self) -> None:
        """However the head is cut, each byte is searched for a line end about once (a
        server dripping its head byte by byte costs linear time, not quadratic)."""
        reader = head()
        reader.buffer = counter = _SearchCounter()
        dripped = b"HTTP/1.1 101 OK\r\n" + b"X-Filler: " + b"a" * 8000
        for i in range(len(dripped)):
            self.assertIsNone(reader.feed(dripped[i:i + 1]))
        self.assertGreaterEqual(counter.searched, len(dripped) - 1)
        self.assertLessEqual(counter.searched, 2 * len(dripped))

    def test_statusLineLimit(self) -> None:
        """A status line of 4096 bytes passes; one byte more is refused while the line is
        still arriving, naming the limit."""
        line = b"HTTP/1.1 101 " + b"x" * (4096 - 13)
        self.assertEqual(head().feed(line + b"\r\n\r\n"), 4100)
        reader = head()
        self.assertIsNone(reader.feed(line))
        error = self.assertRaises(HeadError, reader.feed, b"x")
        self.assertEqual(str(error), "status line longer than 4096 bytes")

    def test_headerBytesLimit(self) -> None:
        """Header lines of 8192 bytes in all (CRLFs not counted) pass; a line that would
        take them over is refused before it ends."""
        lines = b"A: " + b"a" * 4093 + b"\r\nB: " + b"b" * 4093 + b"\r\n"
        whole = b"HTTP/1.1 101 OK\r\n" + lines + b"\r\n"
        self.assertEqual(head().feed(whole), len(whole))
        reader = head()
        self.assertIsNone(reader.feed(b"HTTP/1.1 101 OK\r\n" + lines[:-2]))
        error = self.assertRaises(HeadError, reader.feed, b"b")
        self.assertEqual(str(error), "header fields larger than 8192 bytes")

    def test_endlessHeaderLine(self) -> None:
        """One header line that never ends is refused once it is over 8192 bytes."""
        reader = head()
        reader.feed(b"HTTP/1.1 101 OK\r\nX-Long: ")
        taken = 0
        with self.assertRaises(HeadError):
            while True:
                reader.feed(b"a" * 1000)
                taken += 1000
        self.assertLessEqual(taken, 9000)

    def test_headerCountLimit(self) -> None:
        """100 header lines pass; the 101st is refused, naming the limit."""
        lines = b"".join(b"X-%d: 1\r\n" % i for i in range(100))
        whole = b"HTTP/1.1 101 OK\r\n" + lines + b"\r\n"
        self.assertEqual(head().feed(whole), len(whole))
        error = self.assertRaises(HeadError, head().feed,
                                  b"HTTP/1.1 101 OK\r\n" + lines + b"X-100: 1\r\n")
        self.assertEqual(str(error), "more than 100 header fields")

    def test_notHttp(self) -> None:
        """Bytes that cannot begin ``HTTP/`` are refused at the first one that differs,
        even one byte at a time."""
        for answer in (b"\x15\x03\x03\x00\x02\x02\x46", b"\x16\x03\x03", b"SSH-2.0-x\r\n",
                       b"http/1.1 101 OK\r\n", b"HTTX"):
            reader = head()
            with self.assertRaises(NotHttp) as caught:
                for i in range(len(answer)):
                    reader.feed(answer[i:i + 1])
            self.assertEqual(caught.exception.first, answer[:len(caught.exception.first)])
        reader = head()
        for byte in b"HTTP/":
            self.assertIsNone(reader.feed(bytes((byte,))))


class RawServer(Protocol):
    """A server that answers the upgrade request with whatever the test writes."""

    def __init__(self) -> None:
        self.request = b""
        self.lost: Failure | None = None

    def dataReceived(self, data: bytes) -> None:
        self.request += data

    def connectionLost(self, reason: Failure = Failure(Exception())) -> None:
        self.lost = reason

    def accept(self) -> bytes:
        """The ``Sec-WebSocket-Accept`` value for the request received (RFC 6455 §4.2.2)."""
        found = re.search(rb"Sec-WebSocket-Key: (\S+)", self.request, re.IGNORECASE)
        assert found is not None, self.request
        return base64.b64encode(hashlib.sha1(found.group(1) + _GUID).digest())


class Connected:
    """A ``bws.Client`` connecting, in memory, to a :class:`RawServer`."""

    def __init__(self, **config: Any) -> None:
        self.clock = MemoryReactorClock()
        self.server = RawServer()
        self.pump: IOPump | None = None
        self.opened: Deferred[Client] = Client.connect(
            "ws://127.0.0.1:9090/", reactor=self.clock, connector=self._connector, **config)
        self.flush()

    def _connector(self, factory: IProtocolFactory) -> Deferred[IProtocol | None]:
        serverAddress = IPv4Address("TCP", "127.0.0.1", 9090)
        clientAddress = IPv4Address("TCP", "127.0.0.1", 40000)
        client = factory.buildProtocol(serverAddress)
        assert client is not None
        self.pump = iosimConnect(
            self.server, FakeTransport(self.server, True, serverAddress, clientAddress),
            client, FakeTransport(client, False, clientAddress, serverAddress),
            greet=False, clock=self.clock)
        return succeed(client)

    def flush(self) -> None:
        assert self.pump is not None
        self.pump.flush()

    def send(self, data: bytes) -> None:
        """One write of the server, delivered to the client as one read."""
        assert self.server.transport is not None
        self.server.transport.write(data)
        self.flush()

    def drip(self, data: bytes, chunk: int, most: int) -> int:
        """Send ``data`` repeated in reads of ``chunk`` bytes until the client's handshake
        ends (at most ``most`` bytes); how many bytes were sent."""
        sent = 0
        while not self.opened.called and sent < most:
            self.send(data[:chunk] if len(data) >= chunk else (data * chunk)[:chunk])
            sent += chunk
        return sent


class ClientResponseHeadTests(SynchronousTestCase):
    """``bws.Client`` against a server whose answer is endless, oversized or not HTTP."""

    def refused(self, connected: Connected) -> str:
        """The handshake's error message; the connection is dropped and no timer is left."""
        error = self.failureResultOf(connected.opened, InvalidHandshakeError).value
        self.assertIsNotNone(connected.server.lost)
        self.assertEqual(connected.clock.getDelayedCalls(), [])
        return str(error)

    def test_endlessHeaderLines(self) -> None:
        """2 MiB of header lines that never end: refused once over 8192 bytes, naming the
        limit, not read to the handshake timeout."""
        connected = Connected()
        connected.send(b"HTTP/1.1 101 Switching Protocols\r\n")
        sent = connected.drip(b"X-Filler: " + b"a" * 1012 + b"\r\n", 1024, 2 * 1024 * 1024)
        self.assertLessEqual(sent, 9 * 1024)
        self.assertEqual(self.refused(connected),
                         "Invalid handshake response: header fields larger than 8192 bytes")

    def test_endlessHeaderLine(self) -> None:
        """One header line that never ends: refused once over 8192 bytes."""
        connected = Connected()
        connected.send(b"HTTP/1.1 101 Switching Protocols\r\nX-Long: ")
        self.assertLessEqual(connected.drip(b"a", 1024, 2 * 1024 * 1024), 9 * 1024)
        self.assertEqual(self.refused(connected),
                         "Invalid handshake response: header fields larger than 8192 bytes")

    def test_endlessStatusLine(self) -> None:
        """A status line that never ends: refused once over 4096 bytes."""
        connected = Connected()
        connected.send(b"HTTP/1.1 101 ")
        self.assertLessEqual(connected.drip(b"x", 512, 2 * 1024 * 1024), 5 * 1024)
        self.assertEqual(self.refused(connected),
                         "Invalid handshake response: status line longer than 4096 bytes")

    def test_tooManyHeaderLines(self) -> None:
        """A 101st header line, however short, is refused."""
        connected = Connected()
        connected.send(b"HTTP/1.1 101 Switching Protocols\r\n"
                       + b"".join(b"X-%d: 1\r\n" % i for i in range(101)))
        self.assertEqual(self.refused(connected),
                         "Invalid handshake response: more than 100 header fields")

    def test_atTheLimitsOpens(self) -> None:
        """A 101 of exactly 100 header lines and 8192 header bytes, dripped one byte per
        read, opens the connection."""
        connected = Connected()
        accept = connected.server.accept()
        lines = [b"Upgrade: websocket", b"Connection: Upgrade",
                 b"Sec-WebSocket-Accept: " + accept]
        lines += [b"X-%02d: " % i for i in range(97)]
        short = 8192 - sum(len(line) for line in lines)
        lines[-1] += b"a" * short
        self.assertEqual((len(lines), sum(len(line) for line in lines)), (100, 8192))
        answer = b"HTTP/1.1 101 Switching Protocols\r\n" + b"\r\n".join(lines) + b"\r\n\r\n"
        for i in range(len(answer)):
            connected.send(answer[i:i + 1])
        client = self.successResultOf(connected.opened)
        self.assertTrue(client.isOpen())
        self.assertEqual(client.getHttpResponse().statusCode, 101)  # type: ignore[union-attr]

    def test_framesAfterTheHead(self) -> None:
        """A message sent in the same read as the 101 is delivered (the head's bytes and
        what follows go to the parser together)."""
        connected = Connected()
        connected.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                       + connected.server.accept() + b"\r\n\r\n\x81\x05hello")
        client = self.successResultOf(connected.opened)
        self.assertEqual(self.successResultOf(client.readTextMessage()), "hello")

    def test_notHttp(self) -> None:
        """An answer that is not HTTP is refused at its first byte."""
        connected = Connected()
        connected.send(b"S")
        self.assertEqual(self.refused(connected),
                         "Invalid handshake response: not an HTTP response (it starts with b'S')")

    def test_tlsAnswerOnPlainUrl(self) -> None:
        """A TLS record (an alert, or a handshake record) answering a ``ws://`` request
        says the server speaks TLS, naming it."""
        for record in (b"\x15\x03\x03\x00\x02\x02\x46", b"\x16\x03\x03\x00\x5a\x02"):
            connected = Connected()
            connected.send(record)
            self.assertEqual(
                self.refused(connected),
                "Invalid handshake response: the server at 127.0.0.1:9090 speaks TLS "
                "(is it wss:// rather than ws://?)")
