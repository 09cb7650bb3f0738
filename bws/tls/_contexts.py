# -*- test-case-name: tests.test_tls -*-
"""The TLS factories: the listener's ``SSL.Context`` and the client's creator through
``optionsForClientTLS``, both built (files read, mistakes raised) before any connection."""

from __future__ import annotations

import binascii
import ipaddress
import math
import os
from collections.abc import Sequence
from typing import Any

import attrs
from cryptography import x509
from OpenSSL import SSL, crypto
from twisted.internet import ssl as twistedSSL
from twisted.internet._sslverify import IOpenSSLTrustRoot
from twisted.internet.interfaces import (
    IAcceptableCiphers,
    ICipher,
    IOpenSSLClientConnectionCreator,
    IOpenSSLServerConnectionCreator,
    IProtocolFactory,
    IReactorTime,
)
from twisted.logger import Logger
from twisted.protocols.tls import TLSMemoryBIOFactory, TLSMemoryBIOProtocol
from zope.interface import implementer

from bws._http import TLS_ONLY_ANSWER
from bws.errors import SslError
from bws.tls._files import Identity, loadIdentity, loadTrustedCertificates, revocationLists
from bws.tls._records import REQUIRE, ClientSecureSocket, ListenerSecureSocket
from bws.tls._suites import Ciphers, Versions, cipherSuites, versionRange
from bws.tls._transport import TLSFactory, verifyErrorRecorder

_log = Logger(namespace="bws.tls")


# --- versions and ciphers ---------------------------------------------------------------


def _applyVersionsAndCiphers(ctx: SSL.Context, versions: Versions, ciphers: Ciphers) -> None:
    """Restrict a context we build ourselves to the chosen versions and cipher suites."""
    ctx.set_min_proto_version(versions.lowest.openSSL)
    ctx.set_max_proto_version(versions.highest.openSSL)
    # OpenSSL 3 forbids TLS < 1.2 from security level 1 up; listing it is asking for it.
    suffix = ":@SECLEVEL=0" if versions.legacy else ""
    cipherList = ":".join(ciphers.tls12) if ciphers.tls12 else "DEFAULT"
    if ciphers.tls12 or versions.legacy:
        ctx.set_cipher_list((cipherList + suffix).encode("ascii"))
    tls13 = ciphers.tls13Bytes()
    if tls13 is not None:
        ctx.set_tls13_ciphersuites(tls13)


@implementer(ICipher)
@attrs.frozen
class _CipherWord:
    """A word for the OpenSSL cipher string that is not a cipher (``@SECLEVEL=0``)."""

    fullName: str


@implementer(IAcceptableCiphers)
@attrs.frozen
class _AcceptableCiphers:
    """Twisted's cipher selection hook, fed with the names the record asked for."""

    openSSLNames: tuple[str, ...] | None  # None: every cipher Twisted offers
    legacy: bool

    def selectCiphers(  # type: ignore[override]  # Twisted annotates a 1-tuple
        self, availableCiphers: Sequence[ICipher]
    ) -> tuple[ICipher, ...]:
        if self.openSSLNames is None:
            chosen: list[ICipher] = list(availableCiphers)
        else:
            byName = {c.fullName: c for c in availableCiphers}
            chosen = [byName[n] for n in self.openSSLNames if n in byName]
        if chosen and self.legacy:
            chosen.append(_CipherWord("@SECLEVEL=0"))
        return tuple(chosen)


def _chainOnlyVerify(
    connection: SSL.Connection, certificate: crypto.X509, code: int, depth: int, ok: int
) -> bool:
    """Client verify callback for ``verifyHostName=False``: the chain only."""
    return bool(ok)


def _defaultReactor() -> IReactorTime:
    from twisted.internet import reactor

    return reactor


# --- listener side ---------------------------------------------------------------------------


@implementer(IOpenSSLServerConnectionCreator)
class _ServerConnectionCreator:
    """One ``SSL.Context``, built at start-up, for every accepted connection."""

    def __init__(self, context: SSL.Context) -> None:
        self.context = context

    def serverConnectionForTLS(self, tlsProtocol: TLSMemoryBIOProtocol) -> SSL.Connection:
        return SSL.Connection(self.context, None)


def _sessionIdContext() -> bytes:
    return b"bws-" + binascii.hexlify(os.urandom(8))


def _listenerContext(secureSocket: ListenerSecureSocket) -> SSL.Context:
    """Build the server ``SSL.Context`` for ``secureSocket``; every mistake is an ``SslError``."""
    identity = loadIdentity(secureSocket.key)
    versions = versionRange(secureSocket.protocol.versions if secureSocket.protocol else None)
    ciphers = cipherSuites(secureSocket.ciphers)
    crls = revocationLists(secureSocket.certValidation)
    if crls and secureSocket.mutualSsl is None:
        raise SslError(
            "certValidation on a listener checks client certificates: it needs mutualSsl"
        )
    trusted = (
        loadTrustedCertificates(secureSocket.mutualSsl.cert)
        if secureSocket.mutualSsl is not None
        else []
    )

    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.set_options(
        SSL.OP_NO_COMPRESSION
        | SSL.OP_CIPHER_SERVER_PREFERENCE
        | SSL.OP_SINGLE_DH_USE
        | SSL.OP_SINGLE_ECDH_USE
        | SSL.OP_NO_RENEGOTIATION
        | SSL.OP_NO_TICKET
    )
    ctx.set_mode(SSL.MODE_RELEASE_BUFFERS)
    try:
        _applyVersionsAndCiphers(ctx, versions, ciphers)
        ctx.use_certificate(identity.chain[0])
        for extra in identity.chain[1:]:
            ctx.add_extra_chain_cert(crypto.X509.from_cryptography(extra))
        ctx.use_privatekey(identity.key)
        ctx.check_privatekey()
    except SSL.Error as e:
        raise SslError(f"Cannot use the listener's certificate and key: {e}") from e
    ctx.set_session_id(_sessionIdContext())
    if secureSocket.shareSession:
        ctx.set_session_cache_mode(SSL.SESS_CACHE_SERVER)
        if secureSocket.sessionTimeout is not None:
            ctx.set_timeout(max(1, math.ceil(secureSocket.sessionTimeout)))
    else:
        ctx.set_session_cache_mode(SSL.SESS_CACHE_OFF)

    if secureSocket.mutualSsl is not None:
        store = ctx.get_cert_store()
        assert store is not None
        for ca in trusted:
            store.add_cert(crypto.X509.from_cryptography(ca))
            ctx.add_client_ca(crypto.X509.from_cryptography(ca))
        for crl in crls:
            store.add_crl(crl)
        if crls:
            store.set_flags(crypto.X509StoreFlags.CRL_CHECK)
        mode = SSL.VERIFY_PEER | SSL.VERIFY_CLIENT_ONCE
        if secureSocket.mutualSsl.verifyClient == REQUIRE:
            mode |= SSL.VERIFY_FAIL_IF_NO_PEER_CERT
        ctx.set_verify(mode, verifyErrorRecorder)
        ctx.set_verify_depth(9)
    else:
        ctx.set_verify(SSL.VERIFY_NONE)
    return ctx


def listenerTLSFactory(
    secureSocket: ListenerSecureSocket,
    wrappedFactory: IProtocolFactory,
    reactor: IReactorTime | None = None,
) -> TLSMemoryBIOFactory:
    """Wrap a listening factory in server-side TLS configured by ``secureSocket``.

    The certificate, key, trust store and CRL files are read, and the ``SSL.Context`` is
    built, here and now: a configuration mistake raises :class:`bws.errors.SslError` at
    start-up, never on the first connection. A client whose first byte cannot begin a TLS
    record is refused at once; a plain HTTP request (a ``ws://`` URL for this ``wss://``
    port) gets a clear-text 400 saying the port speaks TLS.

    :param secureSocket: the listener's TLS configuration.
    :param wrappedFactory: the factory of the protocol that speaks inside TLS (HTTP).
    :param reactor: the clock for ``handshakeTimeout`` (and, if it is a whole reactor, for
        Twisted's batching of small writes); the global reactor by default.
    :return: a ``TLSMemoryBIOFactory`` to listen with.
    :raises bws.errors.SslError: if the configuration cannot be used.
    """
    if not isinstance(secureSocket, ListenerSecureSocket):
        raise SslError(f"secureSocket must be a ListenerSecureSocket, not {type(secureSocket).__name__}")
    context = _listenerContext(secureSocket)
    clock = reactor if reactor is not None else _defaultReactor()
    return TLSFactory(
        _ServerConnectionCreator(context), False, wrappedFactory, clock, secureSocket.handshakeTimeout,
        TLS_ONLY_ANSWER,
    )


# --- client side -------------------------------------------------------------------------------


@implementer(IOpenSSLTrustRoot)
class _TrustRoot:
    """The CAs to trust (or the platform's), plus what Twisted's options cannot express:
    CRLs, TLS 1.3 cipher suites and exact version bounds. Twisted calls this while it
    builds the client context, before the first connection."""

    def __init__(
        self,
        base: IOpenSSLTrustRoot,
        crls: list[x509.CertificateRevocationList],
        tls13: bytes | None,
        versions: Versions,
    ) -> None:
        self._base = base
        self._crls = crls
        self._tls13 = tls13
        self._versions = versions

    def _addCACertsToContext(self, context: SSL.Context) -> None:
        self._base._addCACertsToContext(context)
        store = context.get_cert_store()
        if self._crls and store is not None:
            for crl in self._crls:
                store.add_crl(crl)
            store.set_flags(crypto.X509StoreFlags.CRL_CHECK)
        if self._tls13 is not None:
            context.set_tls13_ciphersuites(self._tls13)
        context.set_min_proto_version(self._versions.lowest.openSSL)
        context.set_max_proto_version(self._versions.highest.openSSL)


@implementer(IOpenSSLClientConnectionCreator)
class _ChainOnlyConnectionCreator:
    """``optionsForClientTLS``'s connections with the host-name check taken out."""

    def __init__(self, inner: IOpenSSLClientConnectionCreator) -> None:
        self._inner = inner

    def clientConnectionForTLS(self, tlsProtocol: TLSMemoryBIOProtocol) -> SSL.Connection:
        connection = self._inner.clientConnectionForTLS(tlsProtocol)
        connection.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, _chainOnlyVerify)
        return connection


@implementer(IOpenSSLClientConnectionCreator)
class _UnverifiedConnectionCreator:
    """``enable=False``: encrypted, SNI sent, nothing verified."""

    def __init__(self, context: SSL.Context, serverName: bytes | None) -> None:
        self._context = context
        self._serverName = serverName

    def clientConnectionForTLS(self, tlsProtocol: TLSMemoryBIOProtocol) -> SSL.Connection:
        connection = SSL.Connection(self._context, None)
        if self._serverName is not None:
            connection.set_tlsext_host_name(self._serverName)
        return connection


def _isIPAddress(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def _unverifiedContext(
    identity: Identity | None, versions: Versions, ciphers: Ciphers
) -> SSL.Context:
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.set_options(SSL.OP_NO_COMPRESSION | SSL.OP_NO_TICKET)
    ctx.set_mode(SSL.MODE_RELEASE_BUFFERS)
    _applyVersionsAndCiphers(ctx, versions, ciphers)
    if identity is not None:
        ctx.use_certificate(identity.chain[0])
        for extra in identity.chain[1:]:
            ctx.add_extra_chain_cert(crypto.X509.from_cryptography(extra))
        ctx.use_privatekey(identity.key)
        ctx.check_privatekey()
    ctx.set_verify(SSL.VERIFY_NONE)
    return ctx


def clientTLSFactory(
    secureSocket: ClientSecureSocket | None,
    hostname: str,
    wrappedFactory: IProtocolFactory,
    reactor: IReactorTime | None = None,
) -> TLSMemoryBIOFactory:
    """Wrap a connecting factory in client-side TLS configured by ``secureSocket``.

    The server is verified through :func:`twisted.internet.ssl.optionsForClientTLS` and
    ``service_identity``: the chain must lead to ``cert`` (or the platform's CAs) and the
    certificate must name ``serverName`` or ``hostname`` (DNS names and IP addresses). Bytes
    the wrapped protocol writes before that succeeds are held back, and dropped if it fails.
    Files are read and checked here, so mistakes raise :class:`bws.errors.SslError` now.

    :param secureSocket: the client's TLS configuration; ``None`` means the defaults
        (platform trust, host-name check).
    :param hostname: the host of the URL being connected to.
    :param wrappedFactory: the factory of the protocol that speaks inside TLS.
    :param reactor: the clock for ``handshakeTimeout`` (and, if it is a whole reactor, for
        Twisted's batching of small writes); the global reactor by default.
    :return: a ``TLSMemoryBIOFactory`` to connect with.
    :raises bws.errors.SslError: if the configuration cannot be used.
    """
    if secureSocket is None:
        secureSocket = ClientSecureSocket()
    if not isinstance(secureSocket, ClientSecureSocket):
        raise SslError(f"secureSocket must be a ClientSecureSocket, not {type(secureSocket).__name__}")
    name = secureSocket.serverName or hostname
    if not name:
        raise SslError("A host name (or ClientSecureSocket.serverName) is needed for TLS")
    identity = loadIdentity(secureSocket.key) if secureSocket.key is not None else None
    versions = versionRange(secureSocket.protocol.versions if secureSocket.protocol else None)
    ciphers = cipherSuites(secureSocket.ciphers)
    crls = revocationLists(secureSocket.certValidation)
    clock = reactor if reactor is not None else _defaultReactor()
    creator: IOpenSSLClientConnectionCreator

    if not secureSocket.enable:
        _log.warn(
            "TLS certificate verification is OFF for {host} (ClientSecureSocket enable=False):"
            " the connection is encrypted but the server is not authenticated",
            host=name,
        )
        try:
            context = _unverifiedContext(identity, versions, ciphers)
        except SSL.Error as e:
            raise SslError(f"Cannot build the client TLS context: {e}") from e
        sni: bytes | None = None
        if not _isIPAddress(name):
            try:
                sni = name.encode("idna")
            except UnicodeError:
                sni = None  # not a name SNI can carry; connect without it
        creator = _UnverifiedConnectionCreator(context, sni)
    else:
        trusted = (
            loadTrustedCertificates(secureSocket.cert) if secureSocket.cert is not None else None
        )
        base: IOpenSSLTrustRoot = (
            twistedSSL.trustRootFromCertificates(
                [twistedSSL.Certificate(crypto.X509.from_cryptography(c)) for c in trusted]
            )
            if trusted is not None
            else twistedSSL.platformTrust()
        )
        extra: dict[str, Any] = {
            "insecurelyLowerMinimumTo": versions.lowest.twisted,
            "lowerMaximumSecurityTo": versions.highest.twisted,
        }
        if ciphers.tls12 or versions.legacy:
            extra["acceptableCiphers"] = _AcceptableCiphers(ciphers.tls12 or None, versions.legacy)
        if identity is not None:
            extra["privateKey"] = crypto.PKey.from_cryptography_key(identity.key)
            extra["certificate"] = crypto.X509.from_cryptography(identity.chain[0])
            if len(identity.chain) > 1:
                extra["extraCertChain"] = [crypto.X509.from_cryptography(c) for c in identity.chain[1:]]
        try:
            creator = twistedSSL.optionsForClientTLS(
                name,
                trustRoot=_TrustRoot(base, crls, ciphers.tls13Bytes(), versions),
                extraCertificateOptions=extra,
            )
        except ValueError as e:
            raise SslError(f"Cannot build the client TLS options: {e}") from e
        if not secureSocket.verifyHostName:
            _log.warn(
                "TLS host-name verification is OFF for {host} (ClientSecureSocket"
                " verifyHostName=False): any certificate from a trusted CA is accepted",
                host=name,
            )
            creator = _ChainOnlyConnectionCreator(creator)
    return TLSFactory(creator, True, wrappedFactory, clock, secureSocket.handshakeTimeout)
