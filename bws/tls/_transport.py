# -*- test-case-name: tests.test_tls -*-
"""The TLS protocol wrapper (handshake deadline, read-pause semantics) and connection inspection."""

from __future__ import annotations

from typing import cast

from cryptography import x509
from OpenSSL import SSL, crypto
from service_identity import VerificationError
from twisted.internet.interfaces import (
    IDelayedCall,
    IOpenSSLClientConnectionCreator,
    IOpenSSLServerConnectionCreator,
    IProtocolFactory,
    IPushProducer,
    IReactorCore,
    IReactorTime,
    ISSLTransport,
    ITransport,
)
from twisted.internet.protocol import connectionDone
from twisted.logger import Logger
from twisted.protocols.tls import BufferingTLSTransport, TLSMemoryBIOFactory, TLSMemoryBIOProtocol
from twisted.python.failure import Failure
from zope.interface import implementer

from bws.errors import SslError
from bws.tls._suites import VERIFY_ERRORS
from bws.tls._wording import (
    annotate,
    certificateNames,
    describeVerifyError,
    openSSLReasons,
    sslErrorFromFailure,
)

_log = Logger(namespace="bws.tls")


def verifyErrorRecorder(
    connection: SSL.Connection, certificate: crypto.X509, code: int, depth: int, ok: int
) -> bool:
    """Server-side verify callback: OpenSSL decides; we write down why it said no."""
    if not ok:
        try:
            protocol = connection.get_app_data()
            if isinstance(protocol, TLSProtocol) and protocol.bwsVerifyError is None:
                words = VERIFY_ERRORS.get(code, f"certificate verify error {code}")
                protocol.bwsVerifyError = describeVerifyError(code, words, certificate.to_cryptography())
        except Exception:
            _log.failure("while recording a certificate verification error")
    return bool(ok)


@implementer(ISSLTransport)
class TLSProtocol(BufferingTLSTransport):
    """Twisted's TLS protocol plus a handshake deadline and worded verification errors.

    It provides ``ISSLTransport`` so that ``twisted.web``'s ``request.isSecure()`` is true.
    """

    factory: TLSFactory
    bwsVerifyError: str | None = None
    _handshakeTimer: IDelayedCall | None = None
    _readingPaused = False
    _fresh = True

    def makeConnection(self, transport: ITransport) -> None:
        timeout = self.factory.handshakeTimeout
        if timeout is not None:
            self._handshakeTimer = self.factory.clock.callLater(timeout, self._handshakeTimedOut, timeout)
        super().makeConnection(transport)

    def dataReceived(self, data: bytes) -> None:
        if self._fresh and data:
            self._fresh = False
            if self.factory.plainAnswer is not None and not _mayBeTls(data[0]):
                self._notTls(data[0], self.factory.plainAnswer)
                return
        super().dataReceived(data)

    def _notTls(self, first: int, answer: bytes) -> None:
        """The client's first byte cannot begin a TLS record: fail the handshake now rather
        than wait for the rest of a record that will never come. A plain HTTP request (its
        method starts with a letter, RFC 9112 §3) is answered in clear text first."""
        transport = self.transport
        assert transport is not None  # bytes arrived on it
        if 0x41 <= first <= 0x5A or 0x61 <= first <= 0x7A:
            transport.write(answer)
        transport.loseConnection()
        self.dataReceived = _ignore  # type: ignore[method-assign]

    def _checkHandshakeStatus(self) -> None:
        # The one place the handshake completes, before any application data is delivered.
        super()._checkHandshakeStatus()
        if self._handshakeDone:
            self._stopTimer()
            if self._readingPaused:
                self._tcpProducer().pauseProducing()

    def pauseProducing(self) -> None:
        """Stop reading application data.

        The handshake still needs the peer's bytes, so until it is done the pause is only
        remembered: a protocol that pauses reading when its writes are held back (writes
        are held until the handshake completes) would otherwise never see it complete.
        """
        self._readingPaused = True
        if self._handshakeDone:
            self._tcpProducer().pauseProducing()

    def resumeProducing(self) -> None:
        """Read application data again."""
        self._readingPaused = False
        self._tcpProducer().resumeProducing()

    def _tcpProducer(self) -> IPushProducer:
        return cast(IPushProducer, self.transport)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._stopTimer()
        super().connectionLost(reason)

    def failVerification(self, reason: Failure) -> None:
        # service_identity refused the host name (or our own deadline passed).
        if isinstance(reason.value, VerificationError):
            names = self._peerNames()
            if names:
                annotate(reason.value, names)
            reason = Failure(sslErrorFromFailure(reason))
        super().failVerification(reason)

    def _tlsShutdownFinished(self, reason: Failure | None) -> None:
        # Every TLS-level error passes here. Word it while the connection can still be asked
        # why; Twisted turns a bare EOF into ConnectionLost, and what is left is an SslError.
        if reason is not None and isinstance(reason.value, SSL.Error):
            detail = self._explainVerifyFailure(reason.value)
            if detail is not None:
                annotate(reason.value, detail)
        super()._tlsShutdownFinished(reason)
        if self._reason is not None and self._reason.check(SSL.Error):
            self._reason = Failure(sslErrorFromFailure(self._reason))

    def _handshakeTimedOut(self, timeout: float) -> None:
        self._handshakeTimer = None
        if self._handshakeDone:
            return
        self.failVerification(
            Failure(SslError(f"TLS handshake timed out: not completed within {timeout:g} seconds"))
        )

    def _stopTimer(self) -> None:
        timer, self._handshakeTimer = self._handshakeTimer, None
        if timer is not None and timer.active():
            timer.cancel()

    def _peerNames(self) -> str:
        try:
            chain = self._tlsConnection.get_peer_cert_chain(as_cryptography=True)
        except Exception:
            return ""
        if not chain:
            return ""
        return ", ".join(certificateNames(chain[0]))

    def _explainVerifyFailure(self, error: SSL.Error) -> str | None:
        """Why did ``certificate verify failed`` happen? Recorded (server) or re-checked (client)."""
        if not any("certificate verify failed" in r for r in openSSLReasons(error)):
            return None
        if self.bwsVerifyError is not None:
            return self.bwsVerifyError
        try:
            connection = self._tlsConnection
            chain = connection.get_peer_cert_chain()
            if not chain:
                return None
            store = connection.get_context().get_cert_store()
            if store is None:
                return None
            crypto.X509StoreContext(store, chain[0], chain[1:]).verify_certificate()
        except crypto.X509StoreContextError as e:
            code = int(e.errors[0]) if e.errors else 0
            cert = e.certificate.to_cryptography() if e.certificate is not None else None
            return describeVerifyError(code, str(e), cert)
        except Exception:
            return None
        return None


def _mayBeTls(first: int) -> bool:
    """Whether ``first`` can begin a client's first TLS record: a handshake record (RFC 8446
    §5.1), or the high bit of an SSLv2-format ClientHello (RFC 6101 §E.1), which OpenSSL
    still reads and refuses in its own words."""
    return first == 0x16 or first >= 0x80


def _ignore(data: bytes) -> None:
    """Bytes after the connection was refused are dropped unread."""


class TLSFactory(TLSMemoryBIOFactory):
    """A ``TLSMemoryBIOFactory`` whose protocols enforce ``handshakeTimeout``.

    The deadline runs on ``clock``. Twisted batches small TLS writes with a zero-delay call;
    that runs on ``clock`` too when it is a whole reactor (``IReactorCore``, e.g. a
    ``MemoryReactorClock``), and on the global reactor when it is a bare ``Clock``, so that
    a test clock for the deadline does not hold back writes on real sockets.
    """

    protocol = TLSProtocol

    def __init__(
        self,
        creator: IOpenSSLServerConnectionCreator | IOpenSSLClientConnectionCreator,
        isClient: bool,
        wrappedFactory: IProtocolFactory,
        clock: IReactorTime,
        handshakeTimeout: float | None,
        plainAnswer: bytes | None = None,
    ) -> None:
        writeClock = clock if IReactorCore.providedBy(clock) else None
        super().__init__(creator, isClient, wrappedFactory, writeClock)
        self.clock = clock
        self.handshakeTimeout = handshakeTimeout
        #: Server side: what a client whose first byte is not TLS is answered in clear
        #: text, when it is a plain HTTP request (``None``: no check, OpenSSL decides).
        self.plainAnswer = plainAnswer


def isSecureTransport(transport: object) -> bool:
    """Whether ``transport`` carries TLS (a bws TLS factory's, ``listenSSL``'s, ``startTLS``'s)."""
    return ISSLTransport.providedBy(transport) or isinstance(transport, TLSMemoryBIOProtocol)


def peerCertificate(transport: object) -> x509.Certificate | None:
    """The peer's certificate on a TLS ``transport``, if it was presented and verified.

    :param transport: a protocol's ``transport``.
    :return: the certificate, or ``None`` on plain TCP, before the handshake is done, when
        the peer sent none, or when verification was off (``enable=False``).
    """
    if not isSecureTransport(transport):
        return None
    if isinstance(transport, TLSMemoryBIOProtocol) and not transport._handshakeDone:
        return None
    getHandle = getattr(transport, "getHandle", None)
    try:
        connection = getHandle() if getHandle is not None else None
        if not isinstance(connection, SSL.Connection):
            return None
        if not connection.get_verify_mode() & SSL.VERIFY_PEER:
            return None
        certificate = connection.get_peer_certificate(as_cryptography=True)
    except Exception:
        return None
    return certificate
