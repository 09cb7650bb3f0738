"""Tests for ``bws.tls`` without sockets: the secureSocket records, start-up errors, error words,
and the interfaces its classes declare (loopback tests: ``tests.integration.test_tls``).

The test PKI (``_pki``) is built here once per process and shared with the integration tests."""

from __future__ import annotations

import atexit
import datetime
import os
import shutil
import tempfile
from collections.abc import Callable
from functools import cache
from typing import Any

import attrs
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from OpenSSL import SSL
from service_identity import VerificationError
from service_identity.exceptions import DNSMismatch
from service_identity.hazmat import DNS_ID
from twisted.internet._sslverify import IOpenSSLTrustRoot, OpenSSLCipher
from twisted.internet.error import ConnectionLost
from twisted.internet.interfaces import (
    IAcceptableCiphers,
    ICipher,
    IOpenSSLClientConnectionCreator,
    IOpenSSLServerConnectionCreator,
    ISSLTransport,
)
from twisted.internet.protocol import Factory
from twisted.internet.protocol import Protocol as TwistedProtocol
from twisted.internet.ssl import optionsForClientTLS, platformTrust
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.test.iosim import FakeTransport
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from bws.errors import SslError
from bws.tls import (
    OCSP_CRL,
    OCSP_STAPLING,
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
from bws.tls._contexts import (  # noqa: E402  (private classes, checked with verifyObject)
    _AcceptableCiphers,
    _ChainOnlyConnectionCreator,
    _ServerConnectionCreator,
    _TrustRoot,
    _UnverifiedConnectionCreator,
)
from bws.tls._suites import versionRange  # noqa: E402

_NOW = datetime.datetime.now(datetime.UTC)
_PASSWORD = "s3cret-pass"


@attrs.frozen
class _Files:
    """Paths of one issued certificate's files."""

    cert: str
    key: str
    serial: int


@attrs.frozen
class _PKI:
    """Every certificate the tests need, written to a temporary directory once per run."""

    directory: str
    ca: str  # PEM of the trusted CA
    otherCa: str  # PEM of a CA nobody trusts
    server: _Files  # localhost + 127.0.0.1, ECDSA
    serverRsa: _Files  # localhost, RSA (for the RSA cipher suites)
    serverIpOnly: _Files  # 127.0.0.1 only
    serverNamed: _Files  # bws.test only
    serverExpired: _Files
    serverOtherCa: _Files
    serverRevoked: _Files
    client: _Files
    clientExpired: _Files
    clientNotYetValid: _Files
    clientOtherCa: _Files
    clientRevoked: _Files
    encryptedKey: str  # the server key, encrypted with _PASSWORD
    keyStore: str  # PKCS#12 of the server key + cert, password _PASSWORD
    clientKeyStore: str  # PKCS#12 of the client key + cert, password _PASSWORD
    trustStore: str  # PKCS#12 holding only the CA certificate, password _PASSWORD
    crl: str  # PEM CRL by the CA revoking clientRevoked and serverRevoked


@cache
def _pki() -> _PKI:
    directory = tempfile.mkdtemp(prefix="bws-test-tls-")
    atexit.register(shutil.rmtree, directory, True)
    ca = trustme.CA(organization_name="bws test CA")
    other = trustme.CA(organization_name="bws other CA")

    def path(name: str) -> str:
        return os.path.join(directory, name)

    def write(name: str, leaf: trustme.LeafCert) -> _Files:
        leaf.cert_chain_pems[0].write_to_path(path(name + ".pem"))
        leaf.private_key_pem.write_to_path(path(name + ".key"))
        serial = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).serial_number
        return _Files(path(name + ".pem"), path(name + ".key"), serial)

    ca.cert_pem.write_to_path(path("ca.pem"))
    other.cert_pem.write_to_path(path("other-ca.pem"))
    past = {"not_before": _NOW - datetime.timedelta(days=30), "not_after": _NOW - datetime.timedelta(days=1)}
    future = {"not_before": _NOW + datetime.timedelta(days=1), "not_after": _NOW + datetime.timedelta(days=30)}
    server = write("server", ca.issue_cert("localhost", "127.0.0.1"))
    files = {
        "server": server,
        "serverRsa": write("server-rsa", ca.issue_cert("localhost", key_type=trustme.KeyType.RSA)),
        "serverIpOnly": write("server-ip", ca.issue_cert("127.0.0.1")),
        "serverNamed": write("server-named", ca.issue_cert("bws.test")),
        "serverExpired": write("server-expired", ca.issue_cert("localhost", **past)),  # type: ignore[arg-type]
        "serverOtherCa": write("server-other", other.issue_cert("localhost")),
        "serverRevoked": write("server-revoked", ca.issue_cert("localhost")),
        "client": write("client", ca.issue_cert("client.bws.test")),
        "clientExpired": write("client-expired", ca.issue_cert("expired.bws.test", **past)),  # type: ignore[arg-type]
        "clientNotYetValid": write("client-future", ca.issue_cert("future.bws.test", **future)),  # type: ignore[arg-type]
        "clientOtherCa": write("client-other", other.issue_cert("client.bws.test")),
        "clientRevoked": write("client-revoked", ca.issue_cert("revoked.bws.test")),
    }

    serverKey = serialization.load_pem_private_key(open(server.key, "rb").read(), None)
    serverCert = x509.load_pem_x509_certificate(open(server.cert, "rb").read())
    clientKey = serialization.load_pem_private_key(open(files["client"].key, "rb").read(), None)
    clientCert = x509.load_pem_x509_certificate(open(files["client"].cert, "rb").read())
    caCert = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    secret = serialization.BestAvailableEncryption(_PASSWORD.encode())
    with open(path("server-encrypted.key"), "wb") as f:
        f.write(serverKey.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, secret))
    with open(path("server.p12"), "wb") as f:
        f.write(pkcs12.serialize_key_and_certificates(b"server", serverKey, serverCert, [caCert], secret))  # type: ignore[arg-type]
    with open(path("client.p12"), "wb") as f:
        f.write(pkcs12.serialize_key_and_certificates(b"client", clientKey, clientCert, None, secret))  # type: ignore[arg-type]
    with open(path("trust.p12"), "wb") as f:
        f.write(pkcs12.serialize_key_and_certificates(None, None, None, [caCert], secret))

    caKey = serialization.load_pem_private_key(ca.private_key_pem.bytes(), None)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(caCert.subject)
        .last_update(_NOW - datetime.timedelta(hours=1))
        .next_update(_NOW + datetime.timedelta(days=1))
    )
    for revoked in (files["clientRevoked"], files["serverRevoked"]):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(revoked.serial)
            .revocation_date(_NOW - datetime.timedelta(minutes=5))
            .build()
        )
    crl = builder.sign(caKey, hashes.SHA256())  # type: ignore[arg-type]
    with open(path("ca.crl"), "wb") as f:
        f.write(crl.public_bytes(serialization.Encoding.PEM))

    return _PKI(
        directory=directory,
        ca=path("ca.pem"),
        otherCa=path("other-ca.pem"),
        encryptedKey=path("server-encrypted.key"),
        keyStore=path("server.p12"),
        clientKeyStore=path("client.p12"),
        trustStore=path("trust.p12"),
        crl=path("ca.crl"),
        **files,
    )


def _certKey(files: _Files) -> CertKey:
    return CertKey(files.cert, files.key)


def _listener(files: _Files | None = None, **kwargs: Any) -> ListenerSecureSocket:
    return ListenerSecureSocket(key=_certKey(files or _pki().server), **kwargs)


def _client(**kwargs: Any) -> ClientSecureSocket:
    kwargs.setdefault("cert", _pki().ca)
    return ClientSecureSocket(**kwargs)


# --- the records --------------------------------------------------------------------------------


class RecordTests(SynchronousTestCase):
    """The records validate at construction and say which field is wrong."""

    def assertSslError(self, expected: str, build: Callable[[], object]) -> str:
        error = self.assertRaises(SslError, build)
        self.assertIn(expected, str(error))
        return str(error)

    def test_missingFieldMessages(self) -> None:
        """Empty or absent paths and passwords give the reference's messages word for word."""
        cases: list[tuple[str, Callable[[], object]]] = [
            ("KeyStore file location must be provided for secure connection", lambda: KeyStore("", "pw")),
            ("KeyStore password must be provided for secure connection", lambda: KeyStore("a.p12", "")),
            ("KeyStore password must be provided for secure connection", lambda: KeyStore("a.p12", None)),  # type: ignore[arg-type]
            ("Certificate file location must be provided for secure connection", lambda: CertKey("", "k.pem")),
            ("Certificate file location must be provided for secure connection", lambda: CertKey(None, "k.pem")),
            ("Private key file location must be provided for secure connection", lambda: CertKey("c.pem", "")),
            ("TrustStore file location must be provided for secure connection", lambda: TrustStore("", "pw")),
            ("TrustStore password must be provided for secure connection", lambda: TrustStore("t.p12", "")),
        ]
        for message, build in cases:
            error = self.assertRaises(SslError, build)
            self.assertEqual(str(error), message)

    def test_passwordsNotInRepr(self) -> None:
        """Passwords never show up in a record's repr (and so never in logs)."""
        text = repr((CertKey("c.pem", "k.pem", "hunter2"), KeyStore("k.p12", "hunter2"), TrustStore("t.p12", "hunter2")))
        self.assertNotIn("hunter2", text)

    def test_recordsAreFrozen(self) -> None:
        """Records are values: assigning a field fails."""
        record = _client()
        self.assertRaises(attrs.exceptions.FrozenInstanceError, setattr, record, "enable", False)

    def test_pathLike(self) -> None:
        """Paths may be ``os.PathLike``; they are stored as text."""
        from pathlib import Path

        self.assertEqual(CertKey(Path("/c.pem"), Path("/k.pem")).certFile, "/c.pem")

    def test_defaults(self) -> None:
        """Defaults follow the spec: the spec's cipher list, TLSv1.2+TLSv1.3, verification on."""
        listener = ListenerSecureSocket(key=CertKey("c.pem", "k.pem"))
        self.assertEqual(listener.ciphers, TLS_DEFAULT_CIPHERS)
        self.assertEqual(len(TLS_DEFAULT_CIPHERS), 9)
        self.assertTrue(listener.shareSession)
        self.assertEqual(Protocol().versions, ("TLSv1.2", "TLSv1.3"))
        self.assertEqual(Protocol(versions=[]).versions, ("TLSv1.2", "TLSv1.3"))
        client = ClientSecureSocket()
        self.assertEqual((client.enable, client.verifyHostName, client.cert), (True, True, None))
        self.assertEqual(MutualSsl(cert="ca.pem").verifyClient, REQUIRE)

    def test_unknownCipher(self) -> None:
        """An unknown cipher-suite name is refused, naming it and the field."""
        message = self.assertSslError(
            "'TLS_FAKE_WITH_ROT13'",
            lambda: ListenerSecureSocket(key=CertKey("c", "k"), ciphers=["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_FAKE_WITH_ROT13"]),
        )
        self.assertIn("ListenerSecureSocket.ciphers", message)
        self.assertSslError("'ECDHE-RSA-AES128-GCM-SHA256'", lambda: _client(ciphers=["ECDHE-RSA-AES128-GCM-SHA256"]))
        self.assertSslError("at least one", lambda: _client(ciphers=[]))

    def test_unknownVersion(self) -> None:
        """Unknown or unsupported TLS versions are refused, naming them."""
        self.assertSslError("'TLSv1.4'", lambda: Protocol(versions=["TLSv1.4"]))
        self.assertSslError("'SSLv3'", lambda: Protocol(versions=["SSLv3", "TLSv1.2"]))
        self.assertSslError("contiguous", lambda: Protocol(versions=["TLSv1.1", "TLSv1.3"]))
        self.assertSslError("Protocol.name", lambda: Protocol(name="DTLS"))
        self.assertEqual(Protocol(versions=["TLSv1.0", "TLSv1.1"]).versions, ("TLSv1", "TLSv1.1"))

    def test_wrongValues(self) -> None:
        """Wrong values name their field."""
        self.assertSslError("MutualSsl.verifyClient", lambda: MutualSsl(verifyClient="SOMETIMES", cert="ca.pem"))
        self.assertEqual(MutualSsl(verifyClient="optional", cert="ca.pem").verifyClient, OPTIONAL)
        self.assertSslError("ListenerSecureSocket.handshakeTimeout", lambda: _listener(handshakeTimeout=-1))
        self.assertSslError("ClientSecureSocket.sessionTimeout", lambda: _client(sessionTimeout=0))
        self.assertSslError("ListenerSecureSocket.key", lambda: ListenerSecureSocket(key="server.pem"))  # type: ignore[arg-type]
        self.assertSslError("ClientSecureSocket.enable", lambda: _client(enable="no"))
        self.assertSslError("CertValidation.type", lambda: CertValidation(type="OCSP", cacheSize=1, cacheValidityPeriod=1))
        self.assertSslError("CertValidation.cacheSize", lambda: CertValidation(type=OCSP_CRL, cacheSize=-1, cacheValidityPeriod=1))
        self.assertSslError("Certificate file location", lambda: MutualSsl(cert=""))

    def test_decimalSeconds(self) -> None:
        """Timeouts are decimal seconds: fractions and ``Decimal`` are kept."""
        from decimal import Decimal

        self.assertEqual(_listener(handshakeTimeout=Decimal("1.5")).handshakeTimeout, 1.5)
        self.assertEqual(_client(handshakeTimeout=0.25).handshakeTimeout, 0.25)


class StartupTests(SynchronousTestCase):
    """File and key problems fail when the factory is built (start-up), as ``SslError``."""

    def assertStartupError(self, expected: str, secureSocket: ListenerSecureSocket) -> str:
        error = self.assertRaises(SslError, listenerTLSFactory, secureSocket, Factory(), Clock())
        self.assertIn(expected, str(error))
        return str(error)

    def test_missingFile(self) -> None:
        """A certificate file that does not exist is named."""
        missing = os.path.join(_pki().directory, "nope.pem")
        self.assertStartupError(f"{missing!r} not found", ListenerSecureSocket(key=CertKey(missing, _pki().server.key)))

    def test_encryptedKeyWithoutPassword(self) -> None:
        """An encrypted key without ``keyPassword`` is refused, naming the file."""
        self.assertStartupError(
            "keyPassword must be provided",
            ListenerSecureSocket(key=CertKey(_pki().server.cert, _pki().encryptedKey)),
        )

    def test_wrongKeyPassword(self) -> None:
        """A wrong ``keyPassword`` is refused at construction, naming the key file."""
        message = self.assertStartupError(
            "wrong keyPassword",
            ListenerSecureSocket(key=CertKey(_pki().server.cert, _pki().encryptedKey, "wrong")),
        )
        self.assertIn(_pki().encryptedKey, message)

    def test_keyDoesNotMatchCertificate(self) -> None:
        """A key that belongs to another certificate is refused."""
        self.assertStartupError(
            "does not match",
            ListenerSecureSocket(key=CertKey(_pki().server.cert, _pki().client.key)),
        )

    def test_notAKey(self) -> None:
        """A file that holds no key is refused, naming it."""
        self.assertStartupError(
            "holds no valid PEM private key",
            ListenerSecureSocket(key=CertKey(_pki().server.cert, _pki().server.cert)),
        )

    def test_wrongKeyStorePassword(self) -> None:
        """A KeyStore that does not open with its password is refused, naming it."""
        self.assertStartupError(_pki().keyStore, ListenerSecureSocket(key=KeyStore(_pki().keyStore, "wrong")))

    def test_wrongTrustStorePassword(self) -> None:
        """A TrustStore that does not open with its password is refused, naming it."""
        self.assertStartupError(
            "Cannot open TrustStore",
            _listener(mutualSsl=MutualSsl(cert=TrustStore(_pki().trustStore, "wrong"))),
        )

    def test_ocspStaplingRefused(self) -> None:
        """OCSP stapling, which bws cannot check, fails at start-up rather than passing silently."""
        self.assertStartupError(
            "OCSP_STAPLING is not supported",
            _listener(
                mutualSsl=MutualSsl(cert=_pki().ca),
                certValidation=CertValidation(type=OCSP_STAPLING, cacheSize=10, cacheValidityPeriod=60),
            ),
        )

    def test_crlNeedsFile(self) -> None:
        """OCSP_CRL needs a ``crlFile``."""
        self.assertStartupError(
            "needs a crlFile",
            _listener(
                mutualSsl=MutualSsl(cert=_pki().ca),
                certValidation=CertValidation(type=OCSP_CRL, cacheSize=10, cacheValidityPeriod=60),
            ),
        )

    def test_crlNeedsMutualSsl(self) -> None:
        """Revocation checking on a listener without mutual TLS would check nothing: refused."""
        self.assertStartupError(
            "needs mutualSsl",
            _listener(certValidation=CertValidation(type=OCSP_CRL, cacheSize=1, cacheValidityPeriod=1, crlFile=_pki().crl)),
        )

    def test_clientFactoryChecksFiles(self) -> None:
        """The client factory reads its files when it is built, too."""
        missing = os.path.join(_pki().directory, "missing-ca.pem")
        error = self.assertRaises(SslError, clientTLSFactory, _client(cert=missing), "localhost", Factory(), Clock())
        self.assertIn(missing, str(error))
        error = self.assertRaises(
            SslError,
            clientTLSFactory,
            _client(key=CertKey(_pki().server.cert, _pki().encryptedKey, "wrong")),
            "localhost",
            Factory(),
            Clock(),
        )
        self.assertIn("wrong keyPassword", str(error))


# --- helpers without sockets ----------------------------------------------------------------


class InspectionTests(SynchronousTestCase):
    """``sslErrorFromFailure``, ``peerCertificate`` and ``isSecureTransport`` on their own."""

    def test_plainTransport(self) -> None:
        """Plain TCP is not secure and has no peer certificate."""
        transport = StringTransport()
        self.assertFalse(isSecureTransport(transport))
        self.assertIsNone(peerCertificate(transport))

    def test_sslErrorPassesThrough(self) -> None:
        """An ``SslError`` comes back unchanged."""
        error = SslError("already worded")
        self.assertIs(sslErrorFromFailure(Failure(error)), error)

    def test_openSSLWords(self) -> None:
        """OpenSSL's reason strings become sentences; the original is the cause."""
        original = SSL.Error([("SSL routines", "", "tlsv1 alert protocol version")])
        error = sslErrorFromFailure(original)
        self.assertIn("protocol version mismatch", str(error))
        self.assertIs(error.__cause__, original)
        self.assertIn(
            "untrusted",
            str(sslErrorFromFailure(SSL.Error([("SSL routines", "", "certificate verify failed")]))),
        )

    def test_hostnameMismatch(self) -> None:
        """A service_identity failure says "hostname mismatch" and the name asked for."""
        failure = Failure(VerificationError(errors=[DNSMismatch(mismatched_id=DNS_ID("example.com"))]))
        self.assertIn("hostname mismatch", str(sslErrorFromFailure(failure)))
        self.assertIn("'example.com'", str(sslErrorFromFailure(failure)))

    def test_otherFailures(self) -> None:
        """Anything else is still an ``SslError`` that quotes the failure."""
        self.assertEqual(
            str(sslErrorFromFailure(Failure(ConnectionLost("gone")))),
            "TLS connection failed: Connection to the other side was lost in a non-clean fashion: gone.",
        )


# --- declared interfaces ----------------------------------------------------------------------


class InterfaceTests(SynchronousTestCase):
    """Every class of ``bws.tls`` declared with ``@implementer`` provides its interface."""

    def test_tlsProtocol(self) -> None:
        """A protocol the TLS factory builds, once connected to a TCP transport, provides
        ``ISSLTransport`` (so twisted.web's ``request.isSecure()`` is true); its TCP methods
        are those of the transport it wraps."""
        factory = listenerTLSFactory(_listener(), Factory.forProtocol(TwistedProtocol), Clock())
        protocol = factory.buildProtocol(None)
        protocol.makeConnection(FakeTransport(protocol, True))
        self.addCleanup(protocol.transport.loseConnection)
        self.assertTrue(verifyObject(ISSLTransport, protocol))

    def test_serverConnectionCreator(self) -> None:
        """The listener's connection creator provides ``IOpenSSLServerConnectionCreator``."""
        creator = _ServerConnectionCreator(SSL.Context(SSL.TLS_METHOD))
        self.assertTrue(verifyObject(IOpenSSLServerConnectionCreator, creator))

    def test_clientConnectionCreators(self) -> None:
        """The client's creators for ``enable=False`` and ``verifyHostName=False`` provide
        ``IOpenSSLClientConnectionCreator``."""
        unverified = _UnverifiedConnectionCreator(SSL.Context(SSL.TLS_METHOD), b"localhost")
        self.assertTrue(verifyObject(IOpenSSLClientConnectionCreator, unverified))
        chainOnly = _ChainOnlyConnectionCreator(optionsForClientTLS("localhost"))
        self.assertTrue(verifyObject(IOpenSSLClientConnectionCreator, chainOnly))

    def test_trustRoot(self) -> None:
        """The client's trust root provides ``IOpenSSLTrustRoot``."""
        root = _TrustRoot(platformTrust(), [], None, versionRange(None))
        self.assertTrue(verifyObject(IOpenSSLTrustRoot, root))

    def test_ciphers(self) -> None:
        """The cipher selection provides ``IAcceptableCiphers``; the ``@SECLEVEL=0`` word it
        adds for legacy versions provides ``ICipher``."""
        acceptable = _AcceptableCiphers(None, True)
        self.assertTrue(verifyObject(IAcceptableCiphers, acceptable))
        chosen = acceptable.selectCiphers([OpenSSLCipher("ECDHE-RSA-AES128-GCM-SHA256")])
        self.assertEqual([c.fullName for c in chosen],
                         ["ECDHE-RSA-AES128-GCM-SHA256", "@SECLEVEL=0"])
        self.assertTrue(verifyObject(ICipher, chosen[-1]))
