# -*- test-case-name: tests.test_tls -*-
"""The ``secureSocket`` records (spec §2.1, §5.1): frozen values, validated when built."""

from __future__ import annotations

import os
from typing import Any, Final

import attrs

from bws._fields import (
    Fields,
    nameTuple,
    optionalNameTuple,
    optionalPathText,
    pathText,
    toSeconds,
    upper,
)
from bws.errors import SslError
from bws.tls._suites import (
    TLS12_CIPHERS,
    TLS13_CIPHERS,
    TLS_DEFAULT_CIPHERS,
    TLS_DEFAULT_VERSIONS,
    VERSION_ALIASES,
    VERSIONS,
)

#: ``MutualSsl.verifyClient``: a client without a valid certificate is refused.
REQUIRE: Final = "REQUIRE"
#: ``MutualSsl.verifyClient``: a client may send no certificate; one it sends must be valid.
OPTIONAL: Final = "OPTIONAL"
#: ``CertValidation.type``: OCSP stapling (not supported by bws; refused at start-up).
OCSP_STAPLING: Final = "OCSP_STAPLING"
#: ``CertValidation.type``: revocation checked against the CRLs in ``crlFile``.
OCSP_CRL: Final = "OCSP_CRL"

# The reference implementation's configuration messages (REFERENCE §1.9), word for word.
_KEYSTORE_PATH_MISSING: Final = "KeyStore file location must be provided for secure connection"
_KEYSTORE_PASSWORD_MISSING: Final = "KeyStore password must be provided for secure connection"
_CERT_FILE_MISSING: Final = "Certificate file location must be provided for secure connection"
_KEY_FILE_MISSING: Final = "Private key file location must be provided for secure connection"
_TRUSTSTORE_PATH_MISSING: Final = "TrustStore file location must be provided for secure connection"
_TRUSTSTORE_PASSWORD_MISSING: Final = "TrustStore password must be provided for secure connection"

_checks = Fields(SslError)


# --- what only TLS fields need ------------------------------------------------------------


def _versionTuple(value: Any) -> Any:
    """Converter: a list of version names, aliases resolved; empty means the defaults."""
    names = nameTuple(value)
    if not isinstance(names, tuple):
        return names
    names = tuple(VERSION_ALIASES.get(v, v) if isinstance(v, str) else v for v in names)
    return names or TLS_DEFAULT_VERSIONS


def _checkVersions(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, tuple):
        _checks.fail(instance, attribute, f"must be a list of TLS versions, got {value!r}")
    for version in value:
        if version not in VERSIONS:
            _checks.fail(
                instance, attribute,
                f"unknown TLS version {version!r}; "
                "use 'TLSv1.2' and/or 'TLSv1.3' ('TLSv1.1' and 'TLSv1' only if you must)",
            )
    ranks = sorted({VERSIONS[v].rank for v in value})
    if ranks != list(range(ranks[0], ranks[-1] + 1)):
        _checks.fail(
            instance, attribute,
            f"must be a contiguous range of versions (OpenSSL cannot skip one), got {list(value)!r}",
        )


def _checkCipherNames(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, tuple):
        _checks.fail(instance, attribute, f"must be a list of cipher-suite names, got {value!r}")
    if not value:
        _checks.fail(instance, attribute, "must name at least one cipher suite (or be left out)")
    for name in value:
        if not isinstance(name, str) or (name not in TLS12_CIPHERS and name not in TLS13_CIPHERS):
            _checks.fail(
                instance, attribute,
                f"unknown cipher suite {name!r}: give IANA names such as "
                "'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256' or 'TLS_AES_128_GCM_SHA256'",
            )


_positiveSeconds = _checks.checkSeconds(positive=True, optional=True)


# --- the records --------------------------------------------------------------------------


@attrs.frozen
class CertKey:
    """A PEM certificate (optionally followed by its chain) and its PEM private key.

    :param certFile: path of the PEM certificate file; further certificates in the same file
        are sent as the chain.
    :param keyFile: path of the PEM private key (PKCS#8 or traditional; may be encrypted).
    :param keyPassword: the password of an encrypted ``keyFile``.
    :raises bws.errors.SslError: naming the field, when a value is missing or of the wrong type.
    """

    certFile: str = attrs.field(
        converter=pathText, validator=_checks.checkText(required=_CERT_FILE_MISSING))
    keyFile: str = attrs.field(
        converter=pathText, validator=_checks.checkText(required=_KEY_FILE_MISSING))
    keyPassword: str | None = attrs.field(
        default=None, repr=False, validator=_checks.checkText(optional=True))


@attrs.frozen
class KeyStore:
    """A PKCS#12 (``.p12``/``.pfx``) file holding a private key and its certificate chain.

    :param path: path of the PKCS#12 file.
    :param password: the password that protects it.
    """

    path: str = attrs.field(
        converter=pathText, validator=_checks.checkText(required=_KEYSTORE_PATH_MISSING))
    password: str = attrs.field(
        repr=False, validator=_checks.checkText(required=_KEYSTORE_PASSWORD_MISSING))


@attrs.frozen
class TrustStore:
    """A PKCS#12 file holding the trusted CA certificates.

    :param path: path of the PKCS#12 file.
    :param password: the password that protects it.
    """

    path: str = attrs.field(
        converter=pathText, validator=_checks.checkText(required=_TRUSTSTORE_PATH_MISSING))
    password: str = attrs.field(
        repr=False, validator=_checks.checkText(required=_TRUSTSTORE_PASSWORD_MISSING))


def _certSource(value: str | os.PathLike[str] | TrustStore | None) -> Any:
    if isinstance(value, TrustStore):
        return value
    return pathText(value)


def _optionalCertSource(value: str | os.PathLike[str] | TrustStore | None) -> Any:
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
        _checks.fail(
            instance, attribute,
            f"must be a CA certificate file path or a TrustStore, not {type(value).__name__}",
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
        default=REQUIRE, converter=upper, validator=_checks.checkOneOf(REQUIRE, OPTIONAL)
    )
    cert: str | TrustStore = attrs.field(converter=_certSource, validator=_checkCertSource)


@attrs.frozen
class Protocol:
    """The TLS protocol versions to offer.

    :param name: ``"TLS"`` (``"SSL"`` is accepted as a synonym; ``"DTLS"`` is not supported).
    :param versions: e.g. ``["TLSv1.3"]``; empty means ``TLS_DEFAULT_VERSIONS``. Versions below
        TLS 1.2 (``"TLSv1.1"``, ``"TLSv1"``) are only enabled when listed here.
    """

    name: str = attrs.field(
        default="TLS", converter=upper, validator=_checks.checkOneOf("TLS", "SSL"))
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
        default=OCSP_STAPLING, converter=upper,
        validator=_checks.checkOneOf(OCSP_STAPLING, OCSP_CRL),
    )
    cacheSize: int = attrs.field(validator=_checks.checkNumber(0))
    cacheValidityPeriod: float = attrs.field(validator=_checks.checkNumber(0))
    crlFile: str | None = attrs.field(
        default=None, converter=optionalPathText, validator=_checks.checkText(optional=True)
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

    key: CertKey | KeyStore = attrs.field(validator=_checks.checkInstanceOf(CertKey, KeyStore))
    mutualSsl: MutualSsl | None = attrs.field(
        default=None, validator=_checks.checkInstanceOf(MutualSsl, optional=True)
    )
    protocol: Protocol | None = attrs.field(
        default=None, validator=_checks.checkInstanceOf(Protocol, optional=True)
    )
    certValidation: CertValidation | None = attrs.field(
        default=None, validator=_checks.checkInstanceOf(CertValidation, optional=True)
    )
    ciphers: tuple[str, ...] = attrs.field(
        default=TLS_DEFAULT_CIPHERS, converter=nameTuple, validator=_checkCipherNames
    )
    shareSession: bool = attrs.field(default=True, validator=_checks.checkBool)
    handshakeTimeout: float | None = attrs.field(
        default=None, converter=toSeconds, validator=_positiveSeconds
    )
    sessionTimeout: float | None = attrs.field(
        default=None, converter=toSeconds, validator=_positiveSeconds
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

    enable: bool = attrs.field(default=True, validator=_checks.checkBool)
    cert: str | TrustStore | None = attrs.field(
        default=None, converter=_optionalCertSource, validator=_checkCertSource
    )
    key: CertKey | KeyStore | None = attrs.field(
        default=None, validator=_checks.checkInstanceOf(CertKey, KeyStore, optional=True)
    )
    protocol: Protocol | None = attrs.field(
        default=None, validator=_checks.checkInstanceOf(Protocol, optional=True)
    )
    certValidation: CertValidation | None = attrs.field(
        default=None, validator=_checks.checkInstanceOf(CertValidation, optional=True)
    )
    ciphers: tuple[str, ...] | None = attrs.field(
        default=None, converter=optionalNameTuple, validator=_checkCipherNames
    )
    verifyHostName: bool = attrs.field(default=True, validator=_checks.checkBool)
    shareSession: bool = attrs.field(default=True, validator=_checks.checkBool)
    handshakeTimeout: float | None = attrs.field(
        default=None, converter=toSeconds, validator=_positiveSeconds
    )
    sessionTimeout: float | None = attrs.field(
        default=None, converter=toSeconds, validator=_positiveSeconds
    )
    serverName: str | None = attrs.field(default=None, validator=_checks.checkText(optional=True))
