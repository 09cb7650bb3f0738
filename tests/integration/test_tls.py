"""``bws.tls`` over real loopback: the TLS factories against each other and Python's ``ssl``.

Every wait is on an event: a peer's connection made or lost, its first bytes, a thread's
result. Deadlines run on a ``Clock`` the test advances.
"""

from __future__ import annotations

import socket
import ssl
import warnings
from collections.abc import Callable, Generator
from typing import Any

import attrs
from cryptography import x509
from OpenSSL import SSL
from service_identity import VerificationError
from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults, inlineCallbacks
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IHandshakeListener, IPushProducer, ISSLTransport
from twisted.internet.protocol import ClientFactory, Factory, connectionDone
from twisted.internet.protocol import Protocol as TwistedProtocol
from twisted.internet.task import Clock
from twisted.internet.threads import deferToThread
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase
from zope.interface import implementer

from bws.errors import SslError
from bws.tls import (
    OCSP_CRL,
    OPTIONAL,
    REQUIRE,
    TLS_DEFAULT_CIPHERS,
    CertKey,
    CertValidation,
    ClientSecureSocket,
    KeyStore,
    ListenerSecureSocket,
    MutualSsl,
    Protocol,
    TrustStore,
    clientTLSFactory,
    isSecureTransport,
    listenerTLSFactory,
    peerCertificate,
    sslErrorFromFailure,
)
from tests.tls.test_tls import _PASSWORD, _certKey, _client, _listener, _pki

# --- plain Twisted peers over the TLS factories ----------------------------------------------


@implementer(IHandshakeListener)
class _Peer(TwistedProtocol):
    """One end of a test connection. The server echoes; the client greets, and hangs up when
    the echo is back. Both record what they saw of the TLS layer."""

    def __init__(self, greeting: bytes | None, echo: bool, onData: Callable[[_Peer], None] | None) -> None:
        self.greeting = greeting
        self.echo = echo
        self.onData = onData
        self.received = b""
        self.made: Deferred[_Peer] = Deferred()
        self.lost: Deferred[None] = Deferred()
        self.reason: Failure | None = None
        self.secure: bool | None = None
        self.peer: x509.Certificate | None = None
        self.handshakeDone = False
        self.cipher: str | None = None
        self.version: str | None = None
        self.serverName: bytes | None = None

    def connectionMade(self) -> None:
        self.secure = isSecureTransport(self.transport)
        if self.greeting is not None:
            self.transport.write(self.greeting)
        self.made.callback(self)

    def handshakeCompleted(self) -> None:
        self.handshakeDone = True

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        if isSecureTransport(self.transport):
            self.peer = peerCertificate(self.transport)
            handle = self.transport.getHandle()
            self.cipher = handle.get_cipher_name()
            self.version = handle.get_protocol_version_name()
            self.serverName = handle.get_servername()
        if self.onData is not None:
            self.onData(self)
        elif self.echo:
            self.transport.write(data)
        elif self.greeting is not None and self.received == self.greeting:
            self.finish()

    def finish(self) -> None:
        self.transport.loseConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.reason = reason
        self.lost.callback(None)


@implementer(IPushProducer)
class _ReadPausingPeer(_Peer):
    """A client that, like bws's channel, is a streaming producer on its transport and stops
    reading while the transport holds its writes back."""

    askedToPause = False

    def connectionMade(self) -> None:
        self.transport.registerProducer(self, True)
        super().connectionMade()

    def pauseProducing(self) -> None:
        self.askedToPause = True
        self.transport.pauseProducing()

    def resumeProducing(self) -> None:
        self.transport.resumeProducing()

    def stopProducing(self) -> None:
        pass

    def finish(self) -> None:
        self.transport.unregisterProducer()
        super().finish()


class _PeerFactory(ClientFactory):
    """Builds ``_Peer``s (server or client side) and keeps them."""

    def __init__(
        self,
        greeting: bytes | None = None,
        echo: bool = False,
        onData: Callable[[_Peer], None] | None = None,
        peerClass: type[_Peer] | None = None,
    ) -> None:
        self.greeting = greeting
        self.echo = echo
        self.onData = onData
        self.peerClass = peerClass or _Peer
        self.peers: list[_Peer] = []
        self.built: Deferred[_Peer] = Deferred()

    def buildProtocol(self, addr: Any) -> _Peer:
        peer = self.peerClass(self.greeting, self.echo, self.onData)
        peer.factory = self
        self.peers.append(peer)
        if not self.built.called:
            self.built.callback(peer)
        return peer

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        if not self.built.called:
            self.built.errback(reason)


@attrs.frozen
class _Outcome:
    client: _Peer
    server: _Peer

    @property
    def clientError(self) -> str:
        assert self.client.reason is not None
        return str(sslErrorFromFailure(self.client.reason))

    @property
    def serverError(self) -> str:
        assert self.server.reason is not None
        return str(sslErrorFromFailure(self.server.reason))


GREETING = b"GET /chat HTTP/1.1\r\nAuthorization: Basic YWxpY2U6c2VjcmV0\r\n\r\n"


class _LoopbackMixin:
    """Run a listener factory and a client factory against each other on 127.0.0.1."""

    timeout = 10

    addCleanup: Callable[..., None]

    def listen(self, secureSocket: ListenerSecureSocket, factory: Factory, clock: Any = None) -> int:
        port = reactor.listenTCP(  # type: ignore[attr-defined]
            0, listenerTLSFactory(secureSocket, factory, reactor=clock), interface="127.0.0.1"
        )
        self.addCleanup(port.stopListening)
        return int(port.getHost().port)

    @inlineCallbacks
    def exchange(
        self,
        listenerSocket: ListenerSecureSocket,
        clientSocket: ClientSecureSocket | None,
        hostname: str = "localhost",
        greeting: bytes = GREETING,
    ) -> Generator[Deferred[Any], Any, _Outcome]:
        serverFactory = _PeerFactory(echo=True)
        port = self.listen(listenerSocket, serverFactory)
        clientFactory = _PeerFactory(greeting=greeting)
        reactor.connectTCP(  # type: ignore[attr-defined]
            "127.0.0.1", port, clientTLSFactory(clientSocket, hostname, clientFactory)
        )
        client = yield clientFactory.built
        server = yield serverFactory.built
        yield gatherResults([client.lost, server.lost])
        return _Outcome(client, server)


class _LogCapture:
    """Collect log events of ``bws.tls`` while a test runs."""

    def __init__(self, case: TestCase) -> None:
        self.events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(self.events.append)
        case.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def warnings(self) -> list[str]:
        return [
            formatEvent(e)
            for e in self.events
            if e.get("log_level") == LogLevel.warn and e.get("log_namespace") == "bws.tls"
        ]


# --- the listener side over loopback ------------------------------------------------------


class ListenerTests(_LoopbackMixin, TestCase):
    """``listenerTLSFactory`` serves TLS as the record says."""

    @inlineCallbacks
    def test_pemCertKey(self) -> Generator[Deferred[Any], Any, None]:
        """A PEM certificate and key serve TLS 1.3; the echo comes back; SNI is seen."""
        outcome = yield self.exchange(_listener(), _client())
        self.assertEqual(outcome.client.received, GREETING)
        self.assertEqual(outcome.server.received, GREETING)
        self.assertTrue(outcome.server.secure)
        self.assertTrue(outcome.client.secure)
        self.assertTrue(ISSLTransport.providedBy(outcome.server.transport))  # request.isSecure()
        self.assertEqual(outcome.server.version, "TLSv1.3")
        self.assertEqual(outcome.server.serverName, b"localhost")
        self.assertIsNone(outcome.server.peer)  # no mutual TLS asked
        assert outcome.client.peer is not None
        self.assertIn("localhost", str(outcome.client.peer.extensions.get_extension_for_class(x509.SubjectAlternativeName).value))
        assert outcome.client.reason is not None
        outcome.client.reason.trap(ConnectionDone)

    @inlineCallbacks
    def test_encryptedKey(self) -> Generator[Deferred[Any], Any, None]:
        """An encrypted PEM key is opened with ``keyPassword``."""
        secureSocket = ListenerSecureSocket(key=CertKey(_pki().server.cert, _pki().encryptedKey, _PASSWORD))
        outcome = yield self.exchange(secureSocket, _client())
        self.assertEqual(outcome.client.received, GREETING)

    @inlineCallbacks
    def test_keyStore(self) -> Generator[Deferred[Any], Any, None]:
        """A PKCS#12 KeyStore serves as the listener's key."""
        outcome = yield self.exchange(ListenerSecureSocket(key=KeyStore(_pki().keyStore, _PASSWORD)), _client())
        self.assertEqual(outcome.client.received, GREETING)

    @inlineCallbacks
    def test_pythonSslClient(self) -> Generator[Deferred[Any], Any, None]:
        """A client built on Python's own ``ssl`` module talks to the listener."""
        serverFactory = _PeerFactory(echo=True)
        port = self.listen(_listener(), serverFactory)
        context = ssl.create_default_context(cafile=_pki().ca)
        received, cipher, version = yield deferToThread(_pythonClient, port, context, b"ping")
        yield serverFactory.peers[0].lost
        self.assertEqual(received, b"ping")
        self.assertEqual(version, "TLSv1.3")

    @inlineCallbacks
    def test_versionsBelowTls12Off(self) -> Generator[Deferred[Any], Any, None]:
        """By default a TLS 1.1 client is refused; listing TLSv1.1 in words lets it in."""
        context = _legacyPythonContext()
        serverFactory = _PeerFactory(echo=True)
        port = self.listen(_listener(), serverFactory)
        error = yield self.assertFailure(deferToThread(_pythonClient, port, context, b"x"), ssl.SSLError)
        self.assertIn("PROTOCOL_VERSION", str(error).upper())
        yield serverFactory.peers[0].lost
        self.assertIn("protocol version", str(sslErrorFromFailure(serverFactory.peers[0].reason)))  # type: ignore[arg-type]

        legacyFactory = _PeerFactory(echo=True)
        port = self.listen(_listener(protocol=Protocol(versions=["TLSv1.1", "TLSv1.2"])), legacyFactory)
        received, cipher, version = yield deferToThread(_pythonClient, port, context, b"old")
        yield legacyFactory.peers[0].lost
        self.assertEqual((received, version), (b"old", "TLSv1.1"))

    @inlineCallbacks
    def test_legacyVersionBothSides(self) -> Generator[Deferred[Any], Any, None]:
        """TLSv1.1, listed in words on both sides, is negotiated."""
        outcome = yield self.exchange(
            _listener(protocol=Protocol(versions=["TLSv1.1"])),
            _client(protocol=Protocol(versions=["TLSv1.1", "TLSv1.2"])),
        )
        self.assertEqual((outcome.client.received, outcome.server.version), (GREETING, "TLSv1.1"))

    @inlineCallbacks
    def test_versionMismatch(self) -> Generator[Deferred[Any], Any, None]:
        """A TLSv1.2-only client against a TLSv1.3-only server fails, saying "protocol version"."""
        outcome = yield self.exchange(
            _listener(protocol=Protocol(versions=["TLSv1.3"])),
            _client(protocol=Protocol(versions=["TLSv1.2"])),
        )
        self.assertIn("protocol version", outcome.clientError)
        self.assertIn("protocol version", outcome.serverError)
        self.assertEqual(outcome.server.received, b"")

    @inlineCallbacks
    def test_chosenCipherNegotiated(self) -> Generator[Deferred[Any], Any, None]:
        """On TLS 1.2 the cipher suite named in IANA words is the one negotiated."""
        secureSocket = _listener(
            _pki().serverRsa,
            protocol=Protocol(versions=["TLSv1.2"]),
            ciphers=["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"],
        )
        serverFactory = _PeerFactory(echo=True)
        port = self.listen(secureSocket, serverFactory)
        received, cipher, version = yield deferToThread(_pythonClient, port, ssl.create_default_context(cafile=_pki().ca), b"c")
        yield serverFactory.peers[0].lost
        self.assertEqual((cipher, version), ("ECDHE-RSA-AES256-GCM-SHA384", "TLSv1.2"))

    @inlineCallbacks
    def test_specDefaultCiphers(self) -> Generator[Deferred[Any], Any, None]:
        """The spec's default list serves a TLS 1.2 client a suite from that list."""
        outcome = yield self.exchange(
            _listener(protocol=Protocol(versions=["TLSv1.2"])),
            _client(ciphers=["TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"]),
        )
        self.assertEqual((outcome.server.cipher, outcome.server.version), ("ECDHE-ECDSA-AES128-SHA256", "TLSv1.2"))

    @inlineCallbacks
    def test_noSharedCipher(self) -> Generator[Deferred[Any], Any, None]:
        """Disjoint TLS 1.2 cipher lists fail with words about the cipher suites."""
        outcome = yield self.exchange(
            _listener(protocol=Protocol(versions=["TLSv1.2"]), ciphers=["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"]),
            _client(ciphers=["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"]),
        )
        self.assertIn("cipher suite", outcome.serverError)
        self.assertIn("handshake failure", outcome.clientError)

    @inlineCallbacks
    def test_tls13CipherSuite(self) -> Generator[Deferred[Any], Any, None]:
        """TLS 1.3 suites are applied (``set_tls13_ciphersuites``) on both sides."""
        outcome = yield self.exchange(
            _listener(ciphers=list(TLS_DEFAULT_CIPHERS) + ["TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"]),
            _client(ciphers=["TLS_CHACHA20_POLY1305_SHA256"]),
        )
        self.assertEqual((outcome.server.cipher, outcome.server.version), ("TLS_CHACHA20_POLY1305_SHA256", "TLSv1.3"))

    @inlineCallbacks
    def test_sessionCacheOff(self) -> Generator[Deferred[Any], Any, None]:
        """``shareSession=False`` with a session timeout still serves connections."""
        outcome = yield self.exchange(_listener(shareSession=False), _client())
        self.assertEqual(outcome.client.received, GREETING)
        outcome = yield self.exchange(_listener(sessionTimeout=1.5), _client())
        self.assertEqual(outcome.client.received, GREETING)


class MutualTlsTests(_LoopbackMixin, TestCase):
    """``mutualSsl`` REQUIRE and OPTIONAL, trust stores and CRLs."""

    def required(self, **kwargs: Any) -> ListenerSecureSocket:
        return _listener(mutualSsl=MutualSsl(verifyClient=REQUIRE, cert=_pki().ca), **kwargs)

    @inlineCallbacks
    def test_requireGoodCertificate(self) -> Generator[Deferred[Any], Any, None]:
        """A client certificate from the trusted CA is accepted and visible to the server."""
        outcome = yield self.exchange(self.required(), _client(key=_certKey(_pki().client)))
        self.assertEqual(outcome.client.received, GREETING)
        assert outcome.server.peer is not None
        names = outcome.server.peer.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        self.assertEqual(names.get_values_for_type(x509.DNSName), ["client.bws.test"])

    @inlineCallbacks
    def test_requireNoCertificate(self) -> Generator[Deferred[Any], Any, None]:
        """REQUIRE refuses a client without a certificate; the server never sees its data."""
        outcome = yield self.exchange(self.required(), _client())
        self.assertEqual(outcome.server.received, b"")
        self.assertIn("no certificate", outcome.serverError)
        self.assertIn("requires a client certificate", outcome.clientError)

    @inlineCallbacks
    def test_requireOtherCa(self) -> Generator[Deferred[Any], Any, None]:
        """REQUIRE refuses a certificate from a CA it does not trust, saying "untrusted"."""
        outcome = yield self.exchange(self.required(), _client(key=_certKey(_pki().clientOtherCa)))
        self.assertEqual(outcome.server.received, b"")
        self.assertIn("unable to get local issuer certificate", outcome.serverError)
        self.assertIn("untrusted", outcome.serverError)
        self.assertIn("untrusted", outcome.clientError)

    @inlineCallbacks
    def test_requireExpired(self) -> Generator[Deferred[Any], Any, None]:
        """An expired client certificate is refused."""
        outcome = yield self.exchange(self.required(), _client(key=_certKey(_pki().clientExpired)))
        self.assertEqual(outcome.server.received, b"")
        self.assertIn("certificate has expired", outcome.serverError)
        self.assertIn("certificate has expired", outcome.clientError)

    @inlineCallbacks
    def test_requireNotYetValid(self) -> Generator[Deferred[Any], Any, None]:
        """A client certificate that is not valid yet is refused."""
        outcome = yield self.exchange(self.required(), _client(key=_certKey(_pki().clientNotYetValid)))
        self.assertEqual(outcome.server.received, b"")
        self.assertIn("not yet valid", outcome.serverError)

    @inlineCallbacks
    def test_optionalNoCertificate(self) -> Generator[Deferred[Any], Any, None]:
        """OPTIONAL accepts a client without a certificate; there is no peer certificate."""
        secureSocket = _listener(mutualSsl=MutualSsl(verifyClient=OPTIONAL, cert=_pki().ca))
        outcome = yield self.exchange(secureSocket, _client())
        self.assertEqual(outcome.server.received, GREETING)
        self.assertIsNone(outcome.server.peer)

    @inlineCallbacks
    def test_optionalBadCertificate(self) -> Generator[Deferred[Any], Any, None]:
        """OPTIONAL still refuses a certificate that does not verify."""
        secureSocket = _listener(mutualSsl=MutualSsl(verifyClient=OPTIONAL, cert=_pki().ca))
        outcome = yield self.exchange(secureSocket, _client(key=_certKey(_pki().clientOtherCa)))
        self.assertEqual(outcome.server.received, b"")
        self.assertIn("untrusted", outcome.serverError)

    @inlineCallbacks
    def test_trustStoreAndKeyStore(self) -> Generator[Deferred[Any], Any, None]:
        """PKCS#12 trust store on the listener, PKCS#12 key store and trust store on the client."""
        secureSocket = _listener(mutualSsl=MutualSsl(cert=TrustStore(_pki().trustStore, _PASSWORD)))
        client = ClientSecureSocket(
            cert=TrustStore(_pki().trustStore, _PASSWORD), key=KeyStore(_pki().clientKeyStore, _PASSWORD)
        )
        outcome = yield self.exchange(secureSocket, client)
        self.assertEqual(outcome.client.received, GREETING)
        self.assertIsNotNone(outcome.server.peer)

    @inlineCallbacks
    def test_revokedClientRefused(self) -> Generator[Deferred[Any], Any, None]:
        """With OCSP_CRL and a crlFile a revoked client certificate is refused; others pass."""
        crl = CertValidation(type=OCSP_CRL, cacheSize=0, cacheValidityPeriod=0, crlFile=_pki().crl)
        outcome = yield self.exchange(self.required(certValidation=crl), _client(key=_certKey(_pki().clientRevoked)))
        self.assertEqual(outcome.server.received, b"")
        self.assertIn("certificate revoked", outcome.serverError)
        self.assertIn("revoked", outcome.clientError)
        outcome = yield self.exchange(self.required(certValidation=crl), _client(key=_certKey(_pki().client)))
        self.assertEqual(outcome.server.received, GREETING)


# --- the client side over loopback ----------------------------------------------------------


class ClientTests(_LoopbackMixin, TestCase):
    """``clientTLSFactory`` verifies the server through optionsForClientTLS + service_identity."""

    @inlineCallbacks
    def test_untrustedServer(self) -> Generator[Deferred[Any], Any, None]:
        """A server certificate from an untrusted CA fails, and the client's bytes never reach it."""
        outcome = yield self.exchange(_listener(_pki().serverOtherCa), _client())
        self.assertEqual(outcome.server.received, b"")
        self.assertEqual(outcome.client.received, b"")
        self.assertIn("certificate verify failed: unable to get local issuer certificate", outcome.clientError)
        self.assertIn("untrusted", outcome.clientError)
        self.assertIn("untrusted", outcome.serverError)
        # The wrapped protocol already gets an SslError, the OpenSSL error as its cause.
        assert outcome.client.reason is not None
        outcome.client.reason.trap(SslError)
        self.assertIsInstance(outcome.client.reason.value.__cause__, SSL.Error)

    @inlineCallbacks
    def test_readingPausedBeforeHandshake(self) -> Generator[Deferred[Any], Any, None]:
        """A protocol that stops reading while its writes are held back (as bws's channel
        does) does not stall the handshake: its pause waits until the handshake is done."""
        serverFactory = _PeerFactory(echo=True)
        port = self.listen(_listener(), serverFactory)
        clientFactory = _PeerFactory(greeting=GREETING, peerClass=_ReadPausingPeer)
        reactor.connectTCP(  # type: ignore[attr-defined]
            "127.0.0.1", port, clientTLSFactory(_client(), "localhost", clientFactory)
        )
        client = yield clientFactory.built
        server = yield serverFactory.built
        yield gatherResults([client.lost, server.lost])
        self.assertEqual((server.received, client.received), (GREETING, GREETING))
        assert isinstance(client, _ReadPausingPeer)
        self.assertTrue(client.askedToPause)

    @inlineCallbacks
    def test_noPlaintextOnTheWire(self) -> Generator[Deferred[Any], Any, None]:
        """Bytes written before the handshake are held back: a raw TCP server sees only the
        ClientHello, never the Authorization header, before the client gives up."""
        clock = Clock()
        firstBytes: Deferred[None] = Deferred()

        def onData(peer: _Peer) -> None:
            if not firstBytes.called:
                firstBytes.callback(None)

        rawFactory = _PeerFactory(onData=onData)
        port = reactor.listenTCP(0, rawFactory, interface="127.0.0.1")  # type: ignore[attr-defined]
        self.addCleanup(port.stopListening)
        clientFactory = _PeerFactory(greeting=GREETING)
        reactor.connectTCP(  # type: ignore[attr-defined]
            "127.0.0.1",
            port.getHost().port,
            clientTLSFactory(_client(handshakeTimeout=0.5), "localhost", clientFactory, reactor=clock),
        )
        client = yield clientFactory.built
        yield client.made
        raw = yield rawFactory.built
        yield firstBytes  # the ClientHello is arriving
        clock.advance(0.5)
        yield gatherResults([client.lost, raw.lost])
        self.assertIn(b"localhost", raw.received)  # the SNI in the ClientHello
        self.assertNotIn(b"Authorization", raw.received)
        self.assertNotIn(b"YWxpY2U6c2VjcmV0", raw.received)
        assert client.reason is not None
        self.assertIn("timed out", str(sslErrorFromFailure(client.reason)))

    @inlineCallbacks
    def test_wrongHost(self) -> Generator[Deferred[Any], Any, None]:
        """A certificate for another name fails with "hostname mismatch", naming both sides."""
        outcome = yield self.exchange(_listener(_pki().serverNamed), _client(), hostname="localhost")
        self.assertEqual(outcome.server.received, b"")
        self.assertIn("hostname mismatch", outcome.clientError)
        self.assertIn("'localhost'", outcome.clientError)
        self.assertIn("bws.test", outcome.clientError)
        assert outcome.client.reason is not None
        outcome.client.reason.trap(SslError)
        self.assertIsInstance(outcome.client.reason.value.__cause__, VerificationError)

    @inlineCallbacks
    def test_expiredServer(self) -> Generator[Deferred[Any], Any, None]:
        """An expired server certificate fails with "certificate has expired"."""
        outcome = yield self.exchange(_listener(_pki().serverExpired), _client())
        self.assertEqual(outcome.server.received, b"")
        self.assertIn("certificate has expired", outcome.clientError)

    @inlineCallbacks
    def test_ipAddressSan(self) -> Generator[Deferred[Any], Any, None]:
        """An IP address is checked against the certificate's IP SANs (and sends no SNI)."""
        outcome = yield self.exchange(_listener(_pki().serverIpOnly), _client(), hostname="127.0.0.1")
        self.assertEqual(outcome.client.received, GREETING)
        self.assertIsNone(outcome.server.serverName)
        outcome = yield self.exchange(_listener(_pki().serverNamed), _client(), hostname="127.0.0.1")
        self.assertIn("hostname mismatch", outcome.clientError)
        self.assertIn("127.0.0.1", outcome.clientError)

    @inlineCallbacks
    def test_serverNameOverride(self) -> Generator[Deferred[Any], Any, None]:
        """``serverName`` replaces the URL host for both SNI and the certificate check."""
        outcome = yield self.exchange(_listener(_pki().serverNamed), _client(serverName="bws.test"), hostname="127.0.0.1")
        self.assertEqual(outcome.client.received, GREETING)
        self.assertEqual(outcome.server.serverName, b"bws.test")

    @inlineCallbacks
    def test_enableFalse(self) -> Generator[Deferred[Any], Any, None]:
        """``enable=False`` connects to an untrusted server, still encrypted, and logs a warning."""
        logs = _LogCapture(self)
        outcome = yield self.exchange(_listener(_pki().serverOtherCa), ClientSecureSocket(enable=False))
        self.assertEqual(outcome.client.received, GREETING)
        self.assertTrue(outcome.client.secure)
        self.assertIsNone(outcome.client.peer)  # nothing was verified
        self.assertEqual(outcome.server.serverName, b"localhost")
        [warning] = logs.warnings()
        self.assertIn("verification is OFF", warning)
        self.assertIn("enable=False", warning)

    @inlineCallbacks
    def test_verifyHostNameFalse(self) -> Generator[Deferred[Any], Any, None]:
        """``verifyHostName=False`` accepts a wrong name but still refuses an untrusted chain."""
        logs = _LogCapture(self)
        outcome = yield self.exchange(_listener(_pki().serverNamed), _client(verifyHostName=False))
        self.assertEqual(outcome.client.received, GREETING)
        self.assertIsNotNone(outcome.client.peer)
        self.assertIn("verifyHostName=False", logs.warnings()[0])
        outcome = yield self.exchange(_listener(_pki().serverOtherCa), _client(verifyHostName=False))
        self.assertIn("untrusted", outcome.clientError)

    @inlineCallbacks
    def test_revokedServer(self) -> Generator[Deferred[Any], Any, None]:
        """A client with OCSP_CRL and a crlFile refuses a revoked server certificate."""
        crl = CertValidation(type=OCSP_CRL, cacheSize=0, cacheValidityPeriod=0, crlFile=_pki().crl)
        outcome = yield self.exchange(_listener(_pki().serverRevoked), _client(certValidation=crl))
        self.assertIn("certificate revoked", outcome.clientError)
        outcome = yield self.exchange(_listener(), _client(certValidation=crl))
        self.assertEqual(outcome.client.received, GREETING)

    @inlineCallbacks
    def test_platformTrust(self) -> Generator[Deferred[Any], Any, None]:
        """Without ``cert`` the platform's CAs are trusted, which do not include the test CA."""
        outcome = yield self.exchange(_listener(), ClientSecureSocket())
        self.assertIn("certificate verify failed", outcome.clientError)
        self.assertEqual(outcome.server.received, b"")


class HandshakeTimeoutTests(_LoopbackMixin, TestCase):
    """``handshakeTimeout`` drops a peer that never finishes the handshake, on a ``Clock``."""

    @inlineCallbacks
    def test_silentClientDropped(self) -> Generator[Deferred[Any], Any, None]:
        """A client that opens TCP and says nothing is dropped at the deadline."""
        clock = Clock()
        serverFactory = _PeerFactory(echo=True)
        port = self.listen(_listener(handshakeTimeout=2.5), serverFactory, clock=clock)
        silentFactory = _PeerFactory()
        reactor.connectTCP("127.0.0.1", port, silentFactory)  # type: ignore[attr-defined]
        server = yield serverFactory.built
        yield server.made
        silent = yield silentFactory.built
        clock.advance(2.4)
        self.assertFalse(server.lost.called)
        clock.advance(0.1)
        yield gatherResults([server.lost, silent.lost])
        assert server.reason is not None
        self.assertEqual(str(sslErrorFromFailure(server.reason)), "TLS handshake timed out: not completed within 2.5 seconds")
        self.assertEqual(clock.getDelayedCalls(), [])

    @inlineCallbacks
    def test_timerCancelledOnSuccess(self) -> Generator[Deferred[Any], Any, None]:
        """After a completed handshake the deadline is gone."""
        clock = Clock()
        pending: list[int] = []

        def onData(peer: _Peer) -> None:
            pending.append(len(clock.getDelayedCalls()))
            peer.transport.loseConnection()

        serverFactory = _PeerFactory(onData=onData)
        port = self.listen(_listener(handshakeTimeout=5), serverFactory, clock=clock)
        clientFactory = _PeerFactory(greeting=b"hi")
        reactor.connectTCP("127.0.0.1", port, clientTLSFactory(_client(), "localhost", clientFactory))  # type: ignore[attr-defined]
        client = yield clientFactory.built
        server = yield serverFactory.built
        yield gatherResults([client.lost, server.lost])
        self.assertEqual(pending, [0])
        clock.advance(10)
        assert server.reason is not None
        server.reason.trap(ConnectionDone)


# --- Python ssl client, run in a thread -----------------------------------------------------


def _pythonClient(port: int, context: ssl.SSLContext, data: bytes) -> tuple[bytes, str, str]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        with context.wrap_socket(sock, server_hostname="localhost") as tls:
            tls.sendall(data)
            received = b""
            while len(received) < len(data):
                chunk = tls.recv(65536)
                if not chunk:
                    break
                received += chunk
            cipher = tls.cipher()
            version = tls.version()
            assert cipher is not None and version is not None
            return received, cipher[0], version


def _legacyPythonContext() -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=_pki().ca)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1_1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    return context
