# -*- test-case-name: tests.test_tls -*-
"""The ``secureSocket`` records (spec §2.1, §5.1) and their translation to pyOpenSSL and Twisted TLS."""

from __future__ import annotations

import binascii
import math
import os
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, Final, cast

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from OpenSSL import SSL, crypto
from service_identity import VerificationError
from service_identity.exceptions import DNSMismatch, IPAddressMismatch
from service_identity.hazmat import DNS_ID, IPAddress_ID
from twisted.internet import ssl as twistedSSL
from twisted.internet._sslverify import IOpenSSLTrustRoot
from twisted.internet.interfaces import (
    IAcceptableCiphers,
    ICipher,
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

__all__ = [
    "REQUIRE",
    "OPTIONAL",
    "OCSP_STAPLING",
    "OCSP_CRL",
    "TLS_DEFAULT_CIPHERS",
    "TLS_DEFAULT_VERSIONS",
    "CertKey",
    "KeyStore",
    "TrustStore",
    "MutualSsl",
    "Protocol",
    "CertValidation",
    "ListenerSecureSocket",
    "ClientSecureSocket",
    "listenerTLSFactory",
    "clientTLSFactory",
    "sslErrorFromFailure",
    "peerCertificate",
    "isSecureTransport",
]

_log = Logger()

#: ``MutualSsl.verifyClient``: a client without a valid certificate is refused.
REQUIRE: Final = "REQUIRE"
#: ``MutualSsl.verifyClient``: a client may send no certificate; one it sends must be valid.
OPTIONAL: Final = "OPTIONAL"
#: ``CertValidation.type``: OCSP stapling (not supported by bws; refused at start-up).
OCSP_STAPLING: Final = "OCSP_STAPLING"
#: ``CertValidation.type``: revocation checked against the CRLs in ``crlFile``.
OCSP_CRL: Final = "OCSP_CRL"

#: The spec's default ``ListenerSecureSocket.ciphers`` (IANA names, TLS 1.2 suites).
TLS_DEFAULT_CIPHERS: Final[tuple[str, ...]] = (
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
)

#: The TLS versions offered when ``protocol`` is absent or lists none.
TLS_DEFAULT_VERSIONS: Final[tuple[str, ...]] = ("TLSv1.2", "TLSv1.3")

# The reference implementation's configuration messages (REFERENCE §1.9), word for word.
_KEYSTORE_PATH_MISSING: Final = "KeyStore file location must be provided for secure connection"
_KEYSTORE_PASSWORD_MISSING: Final = "KeyStore password must be provided for secure connection"
_CERT_FILE_MISSING: Final = "Certificate file location must be provided for secure connection"
_KEY_FILE_MISSING: Final = "Private key file location must be provided for secure connection"
_TRUSTSTORE_PATH_MISSING: Final = "TrustStore file location must be provided for secure connection"
_TRUSTSTORE_PASSWORD_MISSING: Final = "TrustStore password must be provided for secure connection"

# IANA cipher-suite name -> OpenSSL name, for the TLS 1.2 (and older) suites in common use.
_TLS12_CIPHERS: Final[dict[str, str]] = {
    # ECDHE with ECDSA certificates
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CCM": "ECDHE-ECDSA-AES128-CCM",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CCM": "ECDHE-ECDSA-AES256-CCM",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8": "ECDHE-ECDSA-AES128-CCM8",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8": "ECDHE-ECDSA-AES256-CCM8",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256": "ECDHE-ECDSA-AES128-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384": "ECDHE-ECDSA-AES256-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    # ECDHE with RSA certificates
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": "ECDHE-RSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384": "ECDHE-RSA-AES256-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA": "ECDHE-RSA-DES-CBC3-SHA",
    # finite-field DHE with RSA certificates
    "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256": "DHE-RSA-AES128-GCM-SHA256",
    "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384": "DHE-RSA-AES256-GCM-SHA384",
    "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "DHE-RSA-CHACHA20-POLY1305",
    "TLS_DHE_RSA_WITH_AES_128_CCM": "DHE-RSA-AES128-CCM",
    "TLS_DHE_RSA_WITH_AES_256_CCM": "DHE-RSA-AES256-CCM",
    "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256": "DHE-RSA-AES128-SHA256",
    "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256": "DHE-RSA-AES256-SHA256",
    "TLS_DHE_RSA_WITH_AES_128_CBC_SHA": "DHE-RSA-AES128-SHA",
    "TLS_DHE_RSA_WITH_AES_256_CBC_SHA": "DHE-RSA-AES256-SHA",
    # static RSA key exchange (no forward secrecy)
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_RSA_WITH_AES_128_CCM": "AES128-CCM",
    "TLS_RSA_WITH_AES_256_CCM": "AES256-CCM",
    "TLS_RSA_WITH_AES_128_CBC_SHA256": "AES128-SHA256",
    "TLS_RSA_WITH_AES_256_CBC_SHA256": "AES256-SHA256",
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA": "DES-CBC3-SHA",
}

# TLS 1.3 suites: OpenSSL uses the IANA names; they are set with SSL_CTX_set_ciphersuites.
_TLS13_CIPHERS: Final[frozenset[str]] = frozenset(
    {
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_256_GCM_SHA384",
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS_AES_128_CCM_SHA256",
        "TLS_AES_128_CCM_8_SHA256",
    }
)


@attrs.frozen
class _VersionInfo:
    """One TLS version: its rank, OpenSSL constant and Twisted constant."""

    rank: int
    openSSL: int
    twisted: Any


_VERSIONS: Final[dict[str, _VersionInfo]] = {
    "TLSv1": _VersionInfo(0, SSL.TLS1_VERSION, twistedSSL.TLSVersion.TLSv1_0),
    "TLSv1.1": _VersionInfo(1, SSL.TLS1_1_VERSION, twistedSSL.TLSVersion.TLSv1_1),
    "TLSv1.2": _VersionInfo(2, SSL.TLS1_2_VERSION, twistedSSL.TLSVersion.TLSv1_2),
    "TLSv1.3": _VersionInfo(3, SSL.TLS1_3_VERSION, twistedSSL.TLSVersion.TLSv1_3),
}
_VERSION_ALIASES: Final[dict[str, str]] = {"TLSv1.0": "TLSv1"}
_LEGACY_RANK: Final = 2  # versions ranked below this are "below TLS 1.2"

# X509_V_ERR_* codes (stable across OpenSSL releases) and OpenSSL's words for them.
_VERIFY_ERRORS: Final[dict[int, str]] = {
    2: "unable to get issuer certificate",
    3: "unable to get certificate CRL",
    4: "unable to decrypt certificate's signature",
    7: "certificate signature failure",
    8: "CRL signature failure",
    9: "certificate is not yet valid",
    10: "certificate has expired",
    11: "CRL is not yet valid",
    12: "CRL has expired",
    18: "self-signed certificate",
    19: "self-signed certificate in certificate chain",
    20: "unable to get local issuer certificate",
    21: "unable to verify the first certificate",
    22: "certificate chain too long",
    23: "certificate revoked",
    24: "invalid CA certificate",
    26: "unsupported certificate purpose",
    27: "certificate not trusted",
    28: "certificate rejected",
}
_UNTRUSTED_CODES: Final = frozenset({2, 4, 7, 18, 19, 20, 21, 24, 27, 28})
_EXPIRED: Final = 10
_NOT_YET_VALID: Final = 9
_REVOKED: Final = 23
_CRL_PROBLEMS: Final = frozenset({3, 8, 11, 12})

# Attribute on a handshake exception that carries bws's explanation of it.
_DETAIL_ATTRIBUTE: Final = "bwsTlsDetail"


# --- validation helpers -----------------------------------------------------------------


def _fieldName(instance: object, attribute: attrs.Attribute[Any]) -> str:
    return f"{type(instance).__name__}.{attribute.name}"


def _pathText(value: str | os.PathLike[str] | None) -> str:
    """Convert a path-like to text; ``None`` becomes ``""`` so the validator reports it."""
    if value is None:
        return ""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def _optionalPathText(value: str | os.PathLike[str] | None) -> str | None:
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def _required(message: str) -> Any:
    """A validator: the value must be non-empty text, else ``SslError(message)``."""

    def validate(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is None or value == "":
            raise SslError(message)
        if not isinstance(value, str):
            raise SslError(
                f"{_fieldName(instance, attribute)} must be text, not {type(value).__name__}"
            )

    return validate


def _optionalText(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, str):
        raise SslError(
            f"{_fieldName(instance, attribute)} must be text or None, not {type(value).__name__}"
        )


def _nameTuple(value: Iterable[str] | str) -> tuple[str, ...]:
    """Lists become tuples (records are frozen); a lone string is a list of one."""
    if isinstance(value, str):
        return (value,)
    try:
        return tuple(value)
    except TypeError:
        raise SslError(f"Expected a list of names, got {value!r}") from None


def _optionalNameTuple(value: Iterable[str] | str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return _nameTuple(value)


def _versionTuple(value: Iterable[str] | str) -> tuple[str, ...]:
    names = tuple(_VERSION_ALIASES.get(v, v) if isinstance(v, str) else v for v in _nameTuple(value))
    return names or TLS_DEFAULT_VERSIONS


def _checkVersions(instance: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    field = _fieldName(instance, attribute)
    for version in value:
        if version not in _VERSIONS:
            raise SslError(
                f"Unknown TLS version {version!r} in {field}; "
                "use 'TLSv1.2' and/or 'TLSv1.3' ('TLSv1.1' and 'TLSv1' only if you must)"
            )
    ranks = sorted({_VERSIONS[v].rank for v in value})
    if ranks != list(range(ranks[0], ranks[-1] + 1)):
        raise SslError(
            f"{field} must be a contiguous range of versions (OpenSSL cannot skip one), "
            f"got {list(value)!r}"
        )


def _checkCipherNames(instance: object, attribute: attrs.Attribute[Any], value: tuple[str, ...] | None) -> None:
    if value is None:
        return
    field = _fieldName(instance, attribute)
    if not value:
        raise SslError(f"{field} must name at least one cipher suite (or be left out)")
    for name in value:
        if not isinstance(name, str) or (name not in _TLS12_CIPHERS and name not in _TLS13_CIPHERS):
            raise SslError(
                f"Unknown cipher suite {name!r} in {field}: give IANA names such as "
                "'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256' or 'TLS_AES_128_GCM_SHA256'"
            )


def _seconds(value: float | Decimal | None) -> float | None:
    """Decimal seconds as in the spec; non-numbers are left for the validator to report."""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return float(value)
    return value


def _checkPositiveSeconds(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, float) or not math.isfinite(value) or value <= 0:
        raise SslError(
            f"{_fieldName(instance, attribute)} must be a positive number of seconds, got {value!r}"
        )


def _checkBool(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        raise SslError(f"{_fieldName(instance, attribute)} must be True or False, got {value!r}")


def _checkNonNegativeNumber(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)) or value < 0:
        raise SslError(f"{_fieldName(instance, attribute)} must be a number >= 0, got {value!r}")


def _instanceOf(*types: type, optional: bool = False) -> Any:
    def validate(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is None and optional:
            return
        if not isinstance(value, types):
            names = " or ".join(t.__name__ for t in types)
            if optional:
                names += " or None"
            raise SslError(
                f"{_fieldName(instance, attribute)} must be a {names}, not {type(value).__name__}"
            )

    return validate


def _oneOf(*choices: str) -> Any:
    def validate(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value not in choices:
            raise SslError(
                f"{_fieldName(instance, attribute)} must be one of {', '.join(choices)}, got {value!r}"
            )

    return validate


def _upperName(value: str) -> str:
    return value.upper() if isinstance(value, str) else value


# --- the records ------------------------------------------------------------------------


@attrs.frozen
class CertKey:
    """A PEM certificate (optionally followed by its chain) and its PEM private key.

    :param certFile: path of the PEM certificate file; further certificates in the same file
        are sent as the chain.
    :param keyFile: path of the PEM private key (PKCS#8 or traditional; may be encrypted).
    :param keyPassword: the password of an encrypted ``keyFile``.
    """

    certFile: str = attrs.field(converter=_pathText, validator=_required(_CERT_FILE_MISSING))
    keyFile: str = attrs.field(converter=_pathText, validator=_required(_KEY_FILE_MISSING))
    keyPassword: str | None = attrs.field(default=None, repr=False, validator=_optionalText)


@attrs.frozen
class KeyStore:
    """A PKCS#12 (``.p12``/``.pfx``) file holding a private key and its certificate chain.

    :param path: path of the PKCS#12 file.
    :param password: the password that protects it.
    """

    path: str = attrs.field(converter=_pathText, validator=_required(_KEYSTORE_PATH_MISSING))
    password: str = attrs.field(repr=False, validator=_required(_KEYSTORE_PASSWORD_MISSING))


@attrs.frozen
class TrustStore:
    """A PKCS#12 file holding the trusted CA certificates.

    :param path: path of the PKCS#12 file.
    :param password: the password that protects it.
    """

    path: str = attrs.field(converter=_pathText, validator=_required(_TRUSTSTORE_PATH_MISSING))
    password: str = attrs.field(repr=False, validator=_required(_TRUSTSTORE_PASSWORD_MISSING))


def _certSource(value: str | os.PathLike[str] | TrustStore | None) -> str | TrustStore:
    if isinstance(value, TrustStore):
        return value
    return _pathText(value)


def _optionalCertSource(
    value: str | os.PathLike[str] | TrustStore | None,
) -> str | TrustStore | None:
    if value is None:
        return None
    return _certSource(value)


def _checkCertSource(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None and isinstance(instance, ClientSecureSocket):
        return
    if isinstance(value, TrustStore):
        return
    if value is None or value == "":
        raise SslError(_CERT_FILE_MISSING)
    if not isinstance(value, str):
        raise SslError(
            f"{_fieldName(instance, attribute)} must be a CA certificate file path or a TrustStore,"
            f" not {type(value).__name__}"
        )


@attrs.frozen(kw_only=True)
class MutualSsl:
    """Client-certificate authentication on a listener.

    :param verifyClient: ``REQUIRE`` (a client without a valid certificate is refused) or
        ``OPTIONAL`` (no certificate is accepted; a certificate that is sent must be valid).
    :param cert: the CA certificates that client certificates must chain to: a PEM file path
        or a :class:`TrustStore`.
    """

    verifyClient: str = attrs.field(
        default=REQUIRE, converter=_upperName, validator=_oneOf(REQUIRE, OPTIONAL)
    )
    cert: str | TrustStore = attrs.field(converter=_certSource, validator=_checkCertSource)


@attrs.frozen
class Protocol:
    """The TLS protocol versions to offer.

    :param name: ``"TLS"`` (``"SSL"`` is accepted as a synonym; ``"DTLS"`` is not supported).
    :param versions: e.g. ``["TLSv1.3"]``; empty means ``TLS_DEFAULT_VERSIONS``. Versions below
        TLS 1.2 (``"TLSv1.1"``, ``"TLSv1"``) are only enabled when listed here.
    """

    name: str = attrs.field(default="TLS", converter=_upperName, validator=_oneOf("TLS", "SSL"))
    versions: tuple[str, ...] = attrs.field(
        default=TLS_DEFAULT_VERSIONS, converter=_versionTuple, validator=_checkVersions
    )


@attrs.frozen(kw_only=True)
class CertValidation:
    """Revocation checking of the peer's certificate.

    bws checks revocation against local CRLs: give ``type=OCSP_CRL`` and ``crlFile``.
    ``OCSP_STAPLING``, and ``OCSP_CRL`` without a ``crlFile``, are refused at start-up because
    bws does not query OCSP responders or fetch CRLs. ``cacheSize`` and
    ``cacheValidityPeriod`` are accepted for compatibility with the spec and unused.

    :param type: ``OCSP_STAPLING`` or ``OCSP_CRL``.
    :param cacheSize: spec field, validated (>= 0), unused.
    :param cacheValidityPeriod: spec field, validated (>= 0), unused.
    :param crlFile: a file of PEM (one or more) or DER certificate revocation lists.
    """

    type: str = attrs.field(
        default=OCSP_STAPLING, converter=_upperName, validator=_oneOf(OCSP_STAPLING, OCSP_CRL)
    )
    cacheSize: int = attrs.field(validator=_checkNonNegativeNumber)
    cacheValidityPeriod: float = attrs.field(validator=_checkNonNegativeNumber)
    crlFile: str | None = attrs.field(
        default=None, converter=_optionalPathText, validator=_optionalText
    )


@attrs.frozen(kw_only=True)
class ListenerSecureSocket:
    """TLS for a :class:`bws.Listener` (spec §2.1 ``ListenerSecureSocket``).

    :param key: the server's :class:`CertKey` or :class:`KeyStore`.
    :param mutualSsl: ask clients for certificates (:class:`MutualSsl`).
    :param protocol: the TLS versions to offer (default TLSv1.2 and TLSv1.3).
    :param certValidation: revocation checking of client certificates (needs ``mutualSsl``).
    :param ciphers: IANA cipher-suite names; the TLS 1.2 suites restrict TLS 1.2 (and older),
        the TLS 1.3 suites restrict TLS 1.3. A family you name none of keeps OpenSSL's
        defaults. Default: ``TLS_DEFAULT_CIPHERS``.
    :param shareSession: keep a server-side session cache so clients can resume sessions.
    :param handshakeTimeout: decimal seconds a client has to finish the TLS handshake.
    :param sessionTimeout: decimal seconds a cached session stays resumable.
    """

    key: CertKey | KeyStore = attrs.field(validator=_instanceOf(CertKey, KeyStore))
    mutualSsl: MutualSsl | None = attrs.field(
        default=None, validator=_instanceOf(MutualSsl, optional=True)
    )
    protocol: Protocol | None = attrs.field(
        default=None, validator=_instanceOf(Protocol, optional=True)
    )
    certValidation: CertValidation | None = attrs.field(
        default=None, validator=_instanceOf(CertValidation, optional=True)
    )
    ciphers: tuple[str, ...] = attrs.field(
        default=TLS_DEFAULT_CIPHERS, converter=_nameTuple, validator=_checkCipherNames
    )
    shareSession: bool = attrs.field(default=True, validator=_checkBool)
    handshakeTimeout: float | None = attrs.field(
        default=None, converter=_seconds, validator=_checkPositiveSeconds
    )
    sessionTimeout: float | None = attrs.field(
        default=None, converter=_seconds, validator=_checkPositiveSeconds
    )


@attrs.frozen(kw_only=True)
class ClientSecureSocket:
    """TLS for :meth:`bws.Client.connect` (spec ``ClientSecureSocket``).

    :param enable: ``False`` turns certificate verification off (the connection is still
        encrypted); a warning is logged. It is the only way to skip verification.
    :param cert: the CA certificates to trust: a PEM file path or a :class:`TrustStore`;
        ``None`` trusts the platform's CA store.
    :param key: the client certificate for mutual TLS (:class:`CertKey` or :class:`KeyStore`).
    :param protocol: the TLS versions to offer (default TLSv1.2 and TLSv1.3).
    :param certValidation: revocation checking of the server certificate (``OCSP_CRL`` with
        a ``crlFile``).
    :param ciphers: IANA cipher-suite names (as for the listener); ``None`` keeps Twisted's
        and OpenSSL's defaults.
    :param verifyHostName: ``False`` keeps chain verification but skips the host-name check
        (a warning is logged).
    :param shareSession: spec field; bws does not resume client sessions, so it has no effect.
    :param handshakeTimeout: decimal seconds the server has to finish the TLS handshake.
    :param sessionTimeout: spec field; no effect on the client side (see ``shareSession``).
    :param serverName: the name to send as SNI and to check the certificate against,
        instead of the URL's host.
    """

    enable: bool = attrs.field(default=True, validator=_checkBool)
    cert: str | TrustStore | None = attrs.field(
        default=None, converter=_optionalCertSource, validator=_checkCertSource
    )
    key: CertKey | KeyStore | None = attrs.field(
        default=None, validator=_instanceOf(CertKey, KeyStore, optional=True)
    )
    protocol: Protocol | None = attrs.field(
        default=None, validator=_instanceOf(Protocol, optional=True)
    )
    certValidation: CertValidation | None = attrs.field(
        default=None, validator=_instanceOf(CertValidation, optional=True)
    )
    ciphers: tuple[str, ...] | None = attrs.field(
        default=None, converter=_optionalNameTuple, validator=_checkCipherNames
    )
    verifyHostName: bool = attrs.field(default=True, validator=_checkBool)
    shareSession: bool = attrs.field(default=True, validator=_checkBool)
    handshakeTimeout: float | None = attrs.field(
        default=None, converter=_seconds, validator=_checkPositiveSeconds
    )
    sessionTimeout: float | None = attrs.field(
        default=None, converter=_seconds, validator=_checkPositiveSeconds
    )
    serverName: str | None = attrs.field(default=None, validator=_optionalText)


# --- loading files (every error here is an SslError naming the file) --------------------


def _readFile(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise SslError(f"{what} {path!r} not found") from None
    except IsADirectoryError:
        raise SslError(f"{what} {path!r} is a directory, not a file") from None
    except OSError as e:
        raise SslError(f"{what} {path!r} cannot be read: {e.strerror or e}") from e


def _loadPemCertificates(path: str, what: str) -> list[x509.Certificate]:
    data = _readFile(path, what)
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError as e:
        raise SslError(f"{what} {path!r} holds no valid PEM certificate: {e}") from e
    return certificates


def _loadPemKey(path: str, password: str | None) -> PrivateKeyTypes:
    data = _readFile(path, "Private key file")
    encrypted = b"ENCRYPTED" in data
    if encrypted and not password:
        raise SslError(f"Private key file {path!r} is encrypted: keyPassword must be provided")
    try:
        return serialization.load_pem_private_key(
            data, password.encode("utf-8") if (encrypted and password) else None
        )
    except (ValueError, TypeError) as e:
        if encrypted:
            raise SslError(
                f"Cannot decrypt private key file {path!r}: wrong keyPassword"
            ) from e
        raise SslError(f"Private key file {path!r} holds no valid PEM private key: {e}") from e
    except Exception as e:  # e.g. UnsupportedAlgorithm
        raise SslError(f"Private key file {path!r} cannot be loaded: {e}") from e


def _loadPkcs12(path: str, password: str, what: str) -> pkcs12.PKCS12KeyAndCertificates:
    data = _readFile(path, what)
    try:
        return pkcs12.load_pkcs12(data, password.encode("utf-8"))
    except ValueError as e:
        raise SslError(
            f"Cannot open {what} {path!r}: wrong password, or not a PKCS#12 file"
        ) from e


def _publicKeyBytes(key: Any) -> bytes:
    return key.public_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@attrs.frozen
class _Identity:
    """A loaded private key with its certificate chain (leaf first)."""

    key: PrivateKeyTypes
    chain: list[x509.Certificate]


def _loadIdentity(source: CertKey | KeyStore) -> _Identity:
    if isinstance(source, CertKey):
        chain = _loadPemCertificates(source.certFile, "Certificate file")
        key = _loadPemKey(source.keyFile, source.keyPassword)
        where = f"private key file {source.keyFile!r} does not match certificate file {source.certFile!r}"
    else:
        bundle = _loadPkcs12(source.path, source.password, "KeyStore")
        if bundle.key is None or bundle.cert is None:
            raise SslError(f"KeyStore {source.path!r} holds no private key with its certificate")
        key = bundle.key
        chain = [bundle.cert.certificate] + [c.certificate for c in bundle.additional_certs]
        where = f"the private key in KeyStore {source.path!r} does not match its certificate"
    if _publicKeyBytes(key.public_key()) != _publicKeyBytes(chain[0].public_key()):
        raise SslError(where[0].upper() + where[1:])
    return _Identity(key, chain)


def _loadTrustedCertificates(source: str | TrustStore) -> list[x509.Certificate]:
    if isinstance(source, str):
        return _loadPemCertificates(source, "CA certificate file")
    bundle = _loadPkcs12(source.path, source.password, "TrustStore")
    certificates = [c.certificate for c in bundle.additional_certs]
    if bundle.cert is not None:
        certificates.insert(0, bundle.cert.certificate)
    if not certificates:
        raise SslError(f"TrustStore {source.path!r} holds no certificates")
    return certificates


def _loadCrls(path: str) -> list[x509.CertificateRevocationList]:
    data = _readFile(path, "CRL file")
    marker = b"-----BEGIN X509 CRL-----"
    try:
        if marker in data:
            blocks = data.split(marker)[1:]
            return [x509.load_pem_x509_crl(marker + block) for block in blocks]
        return [x509.load_der_x509_crl(data)]
    except ValueError as e:
        raise SslError(f"CRL file {path!r} holds no valid PEM or DER CRL: {e}") from e


def _revocationLists(certValidation: CertValidation | None) -> list[x509.CertificateRevocationList]:
    if certValidation is None:
        return []
    if certValidation.type == OCSP_STAPLING:
        raise SslError(
            "certValidation type OCSP_STAPLING is not supported by bws; "
            "use type=OCSP_CRL with a crlFile"
        )
    if not certValidation.crlFile:
        raise SslError(
            "certValidation type OCSP_CRL needs a crlFile: bws checks revocation against "
            "local CRLs and does not query OCSP responders or download CRLs"
        )
    return _loadCrls(certValidation.crlFile)


# --- versions and ciphers ---------------------------------------------------------------


@attrs.frozen
class _Versions:
    lowest: _VersionInfo
    highest: _VersionInfo

    @property
    def legacy(self) -> bool:
        """Whether a version below TLS 1.2 was asked for in words."""
        return self.lowest.rank < _LEGACY_RANK


def _versions(protocol: Protocol | None) -> _Versions:
    names = protocol.versions if protocol is not None else TLS_DEFAULT_VERSIONS
    infos = sorted((_VERSIONS[n] for n in names), key=lambda v: v.rank)
    return _Versions(infos[0], infos[-1])


@attrs.frozen
class _Ciphers:
    """Cipher names split by family and translated to OpenSSL's words."""

    tls12: tuple[str, ...]  # OpenSSL names; empty: keep the defaults
    tls13: tuple[str, ...]  # IANA (= OpenSSL) names; empty: keep the defaults

    def tls13Bytes(self) -> bytes | None:
        return ":".join(self.tls13).encode("ascii") if self.tls13 else None


def _ciphers(names: Sequence[str] | None) -> _Ciphers:
    if names is None:
        return _Ciphers((), ())
    tls12 = tuple(_TLS12_CIPHERS[n] for n in names if n in _TLS12_CIPHERS)
    tls13 = tuple(n for n in names if n in _TLS13_CIPHERS)
    scratch = SSL.Context(SSL.TLS_METHOD)
    for iana, openSSLName in zip((n for n in names if n in _TLS12_CIPHERS), tls12, strict=True):
        try:
            scratch.set_cipher_list(f"{openSSLName}:@SECLEVEL=0".encode("ascii"))
        except SSL.Error:
            raise SslError(
                f"Cipher suite {iana!r} ({openSSLName}) is not available in the linked OpenSSL "
                f"({SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode()})"
            ) from None
    for iana in tls13:
        try:
            scratch.set_tls13_ciphersuites(iana.encode("ascii"))
        except SSL.Error:
            raise SslError(
                f"TLS 1.3 cipher suite {iana!r} is not available in the linked OpenSSL"
            ) from None
    return _Ciphers(tls12, tls13)


def _applyVersionsAndCiphers(ctx: SSL.Context, versions: _Versions, ciphers: _Ciphers) -> None:
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


# --- verification bookkeeping and error words --------------------------------------------


def _subjectText(certificate: x509.Certificate) -> str:
    try:
        return certificate.subject.rfc4514_string() or "(empty subject)"
    except Exception:
        return "(unreadable subject)"


def _certificateNames(certificate: x509.Certificate) -> list[str]:
    names: list[str] = []
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names += [str(n) for n in san.get_values_for_type(x509.DNSName)]
        names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        pass
    if not names:
        cns = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        names += [f"CN={cn.value!s}" for cn in cns]
    return names


def _describeVerifyError(code: int, words: str, certificate: x509.Certificate | None) -> str:
    """Say in words why OpenSSL refused a certificate chain."""
    who = "the certificate"
    if certificate is not None:
        who = f"the certificate of {_subjectText(certificate)}"
        names = _certificateNames(certificate)
        if names:
            who += f" ({', '.join(names)})"
    if code in _UNTRUSTED_CODES:
        return f"{words}: {who} is untrusted (it does not chain to a CA in the trust store)"
    if code == _EXPIRED:
        when = f" on {certificate.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC" if certificate else ""
        return f"{words}: {who} expired{when}"
    if code == _NOT_YET_VALID:
        when = f" until {certificate.not_valid_before_utc:%Y-%m-%d %H:%M:%S} UTC" if certificate else ""
        return f"{words}: {who} is not valid{when}"
    if code == _REVOKED:
        return f"{words}: {who} is listed in the CRL"
    if code in _CRL_PROBLEMS:
        return f"{words}: the crlFile cannot be used to check {who}"
    return f"{words}: {who} was refused"


def _annotate(exception: BaseException, detail: str) -> None:
    if getattr(exception, _DETAIL_ATTRIBUTE, None) is None:
        try:
            setattr(exception, _DETAIL_ATTRIBUTE, detail)
        except AttributeError:  # exceptions with __slots__
            pass


def _openSSLReasons(exception: SSL.Error) -> list[str]:
    reasons: list[str] = []
    for arg in exception.args:
        if isinstance(arg, list):
            for item in arg:
                if isinstance(item, tuple) and item:
                    reasons.append(str(item[-1]))
                else:
                    reasons.append(str(item))
        elif arg:
            reasons.append(str(arg))
    return [r for r in reasons if r]


_ALERTS: Final[tuple[tuple[str, str], ...]] = (
    ("alert certificate required", "the peer requires a client certificate and none was sent"),
    ("peer did not return a certificate", "the client sent no certificate, but verifyClient is REQUIRE"),
    ("alert unknown ca", "the peer refused our certificate as untrusted (unknown CA)"),
    ("alert certificate expired", "the peer refused our certificate: certificate has expired"),
    ("alert certificate revoked", "the peer refused our certificate: certificate revoked"),
    ("alert bad certificate", "the peer refused our certificate (bad certificate)"),
    ("alert certificate unknown", "the peer refused our certificate (certificate unknown)"),
    ("alert unsupported certificate", "the peer refused our certificate (unsupported certificate)"),
    ("alert access denied", "the peer refused our certificate (access denied)"),
    ("alert protocol version", "protocol version mismatch: the peer supports none of our TLS versions"),
    ("unsupported protocol", "protocol version mismatch: the peer offered no TLS version we allow"),
    ("no protocols available", "protocol version mismatch: no TLS version is enabled"),
    ("version too low", "protocol version mismatch: the peer's TLS version is too low"),
    ("wrong version number", "protocol version mismatch: the peer did not answer with a TLS version we speak (is it TLS at all?)"),
    ("inappropriate fallback", "protocol version mismatch: inappropriate fallback"),
    ("no shared cipher", "no cipher suite in common with the peer"),
    ("no cipher match", "no cipher suite in common with the peer"),
    ("no ciphers available", "no cipher suite in common with the peer"),
    ("alert handshake failure", "the peer aborted the handshake (handshake failure: often no cipher suite or TLS version in common)"),
    ("http request", "the peer sent plain HTTP to a TLS port"),
    ("unexpected eof", "the peer closed the connection during the TLS handshake"),
)


def _describeOpenSSLError(exception: SSL.Error) -> str:
    reasons = _openSSLReasons(exception)
    raw = "; ".join(reasons) or type(exception).__name__
    lowered = raw.lower()
    detail = getattr(exception, _DETAIL_ATTRIBUTE, None)
    if "certificate verify failed" in lowered:
        if detail is None:
            detail = "the peer certificate is untrusted, expired, not yet valid or revoked"
        return f"TLS handshake failed: certificate verify failed: {detail}"
    for needle, words in _ALERTS:
        if needle in lowered:
            return f"TLS handshake failed: {words} [{raw}]"
    return f"TLS handshake failed: {raw}"


def _describeVerificationError(exception: VerificationError) -> str:
    wanted: list[str] = []
    for error in exception.errors:
        identity = getattr(error, "mismatched_id", None)
        if isinstance(error, DNSMismatch) and isinstance(identity, DNS_ID):
            host = identity.hostname
            wanted.append(host.decode("ascii", "replace") if isinstance(host, bytes) else str(host))
        elif isinstance(error, IPAddressMismatch) and isinstance(identity, IPAddress_ID):
            wanted.append(str(identity.ip))
        else:
            wanted.append(str(error))
    message = f"TLS handshake failed: hostname mismatch: the server certificate is not valid for {', '.join(repr(w) for w in wanted) or 'the requested host'}"
    names = getattr(exception, _DETAIL_ATTRIBUTE, None)
    if names:
        message += f" (it is valid for: {names})"
    return message


def sslErrorFromFailure(reason: Failure | BaseException) -> SslError:
    """Turn a TLS failure into an :class:`bws.errors.SslError` that says what went wrong.

    Protocols wrapped by :func:`listenerTLSFactory` and :func:`clientTLSFactory` already
    receive TLS-level failures in ``connectionLost`` as ``SslError`` (returned unchanged
    here); this also words the raw OpenSSL and ``service_identity`` failures of other TLS
    transports, and bare exceptions: untrusted issuers, host-name mismatches, expired or
    revoked certificates, protocol-version and cipher mismatches, alerts from the peer, and
    handshake timeouts. The original exception is the result's ``__cause__``.

    :param reason: the failure or exception.
    :return: the error to raise or report; an ``SslError`` is returned unchanged.
    """
    exception = reason.value if isinstance(reason, Failure) else reason
    if isinstance(exception, SslError):
        return exception
    if isinstance(exception, VerificationError):
        message = _describeVerificationError(exception)
    elif isinstance(exception, SSL.Error):
        message = _describeOpenSSLError(exception)
    elif isinstance(exception, crypto.X509StoreContextError):
        code, words = int(exception.errors[0]), str(exception)
        cert = exception.certificate.to_cryptography() if exception.certificate is not None else None
        message = f"TLS handshake failed: certificate verify failed: {_describeVerifyError(code, words, cert)}"
    else:
        text = str(exception) or type(exception).__name__
        message = f"TLS connection failed: {text}"
    error = SslError(message)
    error.__cause__ = exception if isinstance(exception, BaseException) else None
    return error


# --- the TLS protocol and factory ----------------------------------------------------------


def _verifyErrorRecorder(
    connection: SSL.Connection, certificate: crypto.X509, code: int, depth: int, ok: int
) -> bool:
    """Server-side verify callback: OpenSSL decides; we write down why it said no."""
    if not ok:
        try:
            protocol = connection.get_app_data()
            if isinstance(protocol, _TLSProtocol) and protocol.bwsVerifyError is None:
                words = _VERIFY_ERRORS.get(code, f"certificate verify error {code}")
                protocol.bwsVerifyError = _describeVerifyError(code, words, certificate.to_cryptography())
        except Exception:
            _log.failure("while recording a certificate verification error")
    return bool(ok)


def _chainOnlyVerify(
    connection: SSL.Connection, certificate: crypto.X509, code: int, depth: int, ok: int
) -> bool:
    """Client verify callback for ``verifyHostName=False``: the chain only."""
    return bool(ok)


@implementer(ISSLTransport)
class _TLSProtocol(BufferingTLSTransport):
    """Twisted's TLS protocol plus a handshake deadline and worded verification errors.

    It provides ``ISSLTransport`` so that ``twisted.web``'s ``request.isSecure()`` is true.
    """

    factory: _TLSFactory
    bwsVerifyError: str | None = None
    _handshakeTimer: IDelayedCall | None = None
    _readingPaused = False

    def makeConnection(self, transport: ITransport) -> None:
        timeout = self.factory.handshakeTimeout
        if timeout is not None:
            self._handshakeTimer = self.factory.clock.callLater(timeout, self._handshakeTimedOut, timeout)
        super().makeConnection(transport)

    def _checkHandshakeStatus(self) -> None:
        # The one place the handshake completes, before any application data is delivered.
        super()._checkHandshakeStatus()  # type: ignore[misc]
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
                _annotate(reason.value, names)
            reason = Failure(sslErrorFromFailure(reason))
        super().failVerification(reason)

    def _tlsShutdownFinished(self, reason: Failure | None) -> None:
        # Every TLS-level error passes here. Word it while the connection can still be asked
        # why; Twisted turns a bare EOF into ConnectionLost, and what is left is an SslError.
        if reason is not None and isinstance(reason.value, SSL.Error):
            detail = self._explainVerifyFailure(reason.value)
            if detail is not None:
                _annotate(reason.value, detail)
        super()._tlsShutdownFinished(reason)  # type: ignore[misc]
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
        return ", ".join(_certificateNames(chain[0]))

    def _explainVerifyFailure(self, error: SSL.Error) -> str | None:
        """Why did ``certificate verify failed`` happen? Recorded (server) or re-checked (client)."""
        if not any("certificate verify failed" in r for r in _openSSLReasons(error)):
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
            return _describeVerifyError(code, str(e), cert)
        except Exception:
            return None
        return None


class _TLSFactory(TLSMemoryBIOFactory):
    """A ``TLSMemoryBIOFactory`` whose protocols enforce ``handshakeTimeout``.

    The deadline runs on ``clock``. Twisted batches small TLS writes with a zero-delay call;
    that runs on ``clock`` too when it is a whole reactor (``IReactorCore``, e.g. a
    ``MemoryReactorClock``), and on the global reactor when it is a bare ``Clock``, so that
    a test clock for the deadline does not hold back writes on real sockets.
    """

    protocol = _TLSProtocol

    def __init__(
        self,
        creator: IOpenSSLServerConnectionCreator | IOpenSSLClientConnectionCreator,
        isClient: bool,
        wrappedFactory: IProtocolFactory,
        clock: IReactorTime,
        handshakeTimeout: float | None,
    ) -> None:
        writeClock = clock if IReactorCore.providedBy(clock) else None
        super().__init__(creator, isClient, wrappedFactory, writeClock)
        self.clock = clock
        self.handshakeTimeout = handshakeTimeout


def _defaultReactor() -> IReactorTime:
    from twisted.internet import reactor

    return reactor  # type: ignore[return-value]


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
    identity = _loadIdentity(secureSocket.key)
    versions = _versions(secureSocket.protocol)
    ciphers = _ciphers(secureSocket.ciphers)
    crls = _revocationLists(secureSocket.certValidation)
    if crls and secureSocket.mutualSsl is None:
        raise SslError(
            "certValidation on a listener checks client certificates: it needs mutualSsl"
        )
    trusted = (
        _loadTrustedCertificates(secureSocket.mutualSsl.cert)
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
        ctx.use_privatekey(identity.key)  # type: ignore[arg-type]
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
        ctx.set_verify(mode, _verifyErrorRecorder)
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
    start-up, never on the first connection.

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
    return _TLSFactory(
        _ServerConnectionCreator(context), False, wrappedFactory, clock, secureSocket.handshakeTimeout
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
        versions: _Versions,
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
    import ipaddress

    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def _unverifiedContext(
    identity: _Identity | None, versions: _Versions, ciphers: _Ciphers
) -> SSL.Context:
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.set_options(SSL.OP_NO_COMPRESSION | SSL.OP_NO_TICKET)
    ctx.set_mode(SSL.MODE_RELEASE_BUFFERS)
    _applyVersionsAndCiphers(ctx, versions, ciphers)
    if identity is not None:
        ctx.use_certificate(identity.chain[0])
        for extra in identity.chain[1:]:
            ctx.add_extra_chain_cert(crypto.X509.from_cryptography(extra))
        ctx.use_privatekey(identity.key)  # type: ignore[arg-type]
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
    identity = _loadIdentity(secureSocket.key) if secureSocket.key is not None else None
    versions = _versions(secureSocket.protocol)
    ciphers = _ciphers(secureSocket.ciphers)
    crls = _revocationLists(secureSocket.certValidation)
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
            _loadTrustedCertificates(secureSocket.cert) if secureSocket.cert is not None else None
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
            extra["privateKey"] = crypto.PKey.from_cryptography_key(identity.key)  # type: ignore[arg-type]
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
    return _TLSFactory(creator, True, wrappedFactory, clock, secureSocket.handshakeTimeout)


# --- inspecting a connection -----------------------------------------------------------------


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
