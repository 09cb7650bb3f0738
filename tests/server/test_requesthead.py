"""The upgrade request's limits hold against a peer that never ends its head: endless
header lines, one endless line, and a slow drip under every limit (the listener's
``UpgradeChannel``, in memory on a Clock)."""

from __future__ import annotations

from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.http import HTTPChannel

from bws.testing import MemoryListener
from bws.testing.echo import EchoUpgradeService

_REQUEST_LINE = b"GET / HTTP/1.1\r\nHost: x\r\n"
_UPGRADE = (b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


class RequestHeadTests(SynchronousTestCase):
    """A listener with the default ``requestLimits`` (4096-byte target, 8192 header bytes,
    100 header lines) and ``timeout`` (120 s)."""

    def setUp(self) -> None:
        self.memory = MemoryListener()
        self.memory.attach(EchoUpgradeService())

    def connect(self) -> tuple[HTTPChannel, StringTransport]:
        peer = IPv4Address("TCP", "127.0.0.1", 40000)
        channel = self.memory.listener.site.buildProtocol(peer)
        transport = StringTransport(peerAddress=peer)
        channel.makeConnection(transport)
        return channel, transport

    def feedUntilClosed(self, channel: HTTPChannel, transport: StringTransport, data: bytes,
                        most: int) -> int:
        """Feed ``data`` again and again until the listener closes (at most ``most``
        bytes); how many bytes it took in."""
        taken = 0
        while not transport.disconnecting and taken < most:
            channel.dataReceived(data)
            taken += len(data)
        return taken

    def test_endlessHeaderLines(self) -> None:
        """1 KiB header lines without end are refused with 431 once over 8192 bytes; later
        bytes are dropped unread."""
        channel, transport = self.connect()
        channel.dataReceived(_REQUEST_LINE)
        taken = self.feedUntilClosed(channel, transport, b"X-Filler: " + b"a" * 1012 + b"\r\n",
                                     2 * 1024 * 1024)
        self.assertLessEqual(taken, 9 * 1024)
        answer = transport.value()
        self.assertTrue(answer.startswith(b"HTTP/1.1 431 "), answer)
        channel.dataReceived(b"X-More: 1\r\n" * 1000)
        self.assertEqual(transport.value(), answer)

    def test_endlessShortHeaderLines(self) -> None:
        """Header lines of a few bytes without end are refused with 431 at the 101st."""
        channel, transport = self.connect()
        channel.dataReceived(b"GET / HTTP/1.1\r\n")
        taken = self.feedUntilClosed(channel, transport, b"X: 1\r\n", 2 * 1024 * 1024)
        self.assertEqual(taken, 101 * 6)
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 431 "))

    def test_endlessHeaderLine(self) -> None:
        """One header line without end is refused with 431 once longer than the longest
        line the limits allow (target + header bytes + 64: 12352 bytes)."""
        channel, transport = self.connect()
        channel.dataReceived(_REQUEST_LINE + b"X-Long: ")
        taken = self.feedUntilClosed(channel, transport, b"a" * 1024, 2 * 1024 * 1024)
        self.assertLessEqual(taken, 12352 + 1024)
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 431 "))

    def test_endlessRequestLine(self) -> None:
        """A request line without end is refused with 414."""
        channel, transport = self.connect()
        channel.dataReceived(b"GET /")
        taken = self.feedUntilClosed(channel, transport, b"a" * 1024, 2 * 1024 * 1024)
        self.assertLessEqual(taken, 12352 + 1024)
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 414 "))

    def test_slowDripCutAtDeadline(self) -> None:
        """A head dripped one byte a second, under every limit, is cut off when ``timeout``
        (120 s) has passed since the connection opened, unanswered."""
        channel, transport = self.connect()
        drip = (_REQUEST_LINE + b"X-Slow: " + b"a" * 200)[:119]
        for byte in drip:
            channel.dataReceived(bytes((byte,)))
            self.memory.clock.advance(1)
        self.assertFalse(transport.disconnected)
        channel.dataReceived(b"a")
        self.memory.clock.advance(1)
        self.assertTrue(transport.disconnected)
        self.assertEqual(transport.value(), b"")

    def test_drippedRequestUpgrades(self) -> None:
        """A whole upgrade request dripped one byte per read is answered 101."""
        channel, transport = self.connect()
        for byte in _UPGRADE:
            channel.dataReceived(bytes((byte,)))
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 101 "), transport.value())
