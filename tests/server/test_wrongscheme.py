"""A listener answers the wrong scheme at once: a TLS ClientHello on a plain port, and plain
HTTP (or any byte that cannot begin a TLS record) on a TLS port (in memory)."""

from __future__ import annotations

import os
import ssl
import tempfile
from functools import cache

import trustme
from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import IProtocol
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial.unittest import SynchronousTestCase

from bws._http import NOT_TLS_ANSWER, TLS_ONLY_ANSWER
from bws.testing import MemoryListener
from bws.testing.echo import EchoUpgradeService
from bws.tls import CertKey, ListenerSecureSocket, listenerTLSFactory

_PEER = IPv4Address("TCP", "127.0.0.1", 40000)
_UPGRADE = (b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


class TcpTransport(StringTransport):
    """A ``StringTransport`` with TCP's options (twisted.web sets TCP_NODELAY)."""

    def setTcpNoDelay(self, enabled: bool) -> None:
        pass


def clientHello(hostname: str = "localhost") -> bytes:
    """The first bytes a TLS client sends (Python's ``ssl``: a real ClientHello)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname=hostname)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


@cache
def certificates() -> tuple[str, str, str]:
    """``(ca, certificate, key)`` files: a test CA and a certificate for localhost and
    127.0.0.1 that it issued."""
    directory = tempfile.mkdtemp(prefix="bws-test-wrongscheme-")
    ca = trustme.CA(organization_name="bws wrong-scheme CA")
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    paths = tuple(os.path.join(directory, name) for name in ("ca.pem", "server.pem", "server.key"))
    ca.cert_pem.write_to_path(paths[0])
    leaf.cert_chain_pems[0].write_to_path(paths[1])
    leaf.private_key_pem.write_to_path(paths[2])
    return paths  # type: ignore[return-value]


def secureSocket() -> ListenerSecureSocket:
    _, cert, key = certificates()
    return ListenerSecureSocket(key=CertKey(cert, key))


class PlainPortTests(SynchronousTestCase):
    """A plain listener's first bytes."""

    def connect(self) -> tuple[IProtocol, StringTransport]:
        memory = MemoryListener()
        memory.attach(EchoUpgradeService())
        channel = memory.listener.site.buildProtocol(_PEER)
        transport = StringTransport(peerAddress=_PEER)
        channel.makeConnection(transport)
        return channel, transport

    def test_clientHello(self) -> None:
        """A TLS ClientHello is answered at once with a 400 saying the port speaks plain
        HTTP/WebSocket, not TLS, and the connection is closed."""
        hello = clientHello()
        self.assertEqual(hello[:2], b"\x16\x03")
        channel, transport = self.connect()
        channel.dataReceived(hello)
        self.assertEqual(transport.value(), NOT_TLS_ANSWER)
        self.assertTrue(NOT_TLS_ANSWER.startswith(b"HTTP/1.1 400 Bad Request\r\n"))
        self.assertIn(b"not TLS: use ws://", NOT_TLS_ANSWER)
        self.assertTrue(transport.disconnecting)

    def test_clientHelloOneByteAtATime(self) -> None:
        """The record's first byte is enough; the rest of the hello is dropped unread."""
        channel, transport = self.connect()
        hello = clientHello()
        for byte in hello:
            channel.dataReceived(bytes((byte,)))
        self.assertEqual(transport.value(), NOT_TLS_ANSWER)
        self.assertTrue(transport.disconnecting)

    def test_laterRequestsUnchecked(self) -> None:
        """Only a connection's first byte is looked at: an upgrade request is answered
        101, and the WebSocket bytes after it are not HTTP's to judge."""
        channel, transport = self.connect()
        channel.dataReceived(_UPGRADE[:1])
        channel.dataReceived(_UPGRADE[1:])
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 101 "), transport.value())
        self.assertFalse(transport.disconnecting)


class TlsPortTests(SynchronousTestCase):
    """A TLS listener's first bytes."""

    def connect(self) -> tuple[IProtocol, StringTransport]:
        memory = MemoryListener()
        memory.attach(EchoUpgradeService())
        factory = listenerTLSFactory(secureSocket(), memory.listener.site, MemoryReactorClock())
        protocol = factory.buildProtocol(_PEER)
        assert protocol is not None
        transport = TcpTransport(peerAddress=_PEER)
        protocol.makeConnection(transport)
        return protocol, transport

    def test_plainRequest(self) -> None:
        """A plain HTTP upgrade request is answered at once, in clear text, with a 400
        whose reason phrase and body say the port speaks TLS; the connection is closed."""
        protocol, transport = self.connect()
        protocol.dataReceived(_UPGRADE)
        self.assertEqual(transport.value(), TLS_ONLY_ANSWER)
        self.assertTrue(TLS_ONLY_ANSWER.startswith(
            b"HTTP/1.1 400 Bad Request (this port speaks TLS: use wss://)\r\n"))
        self.assertTrue(transport.disconnecting)

    def test_plainRequestFirstByte(self) -> None:
        """The method's first letter is enough: no wait for a record that never comes."""
        protocol, transport = self.connect()
        protocol.dataReceived(b"G")
        self.assertEqual(transport.value(), TLS_ONLY_ANSWER)
        self.assertTrue(transport.disconnecting)
        protocol.dataReceived(b"ET / HTTP/1.1\r\n")
        self.assertEqual(transport.value(), TLS_ONLY_ANSWER)

    def test_otherBytes(self) -> None:
        """A first byte that begins neither TLS nor HTTP closes the connection unanswered."""
        for first in (b"\x00", b"\x15", b"\r"):
            protocol, transport = self.connect()
            protocol.dataReceived(first)
            self.assertEqual(transport.value(), b"", first)
            self.assertTrue(transport.disconnecting, first)

    def test_clientHelloProceeds(self) -> None:
        """A real ClientHello is answered by OpenSSL (a ServerHello record), not refused."""
        protocol, transport = self.connect()
        protocol.dataReceived(clientHello())
        self.assertEqual(transport.value()[:2], b"\x16\x03")
        self.assertFalse(transport.disconnecting)
