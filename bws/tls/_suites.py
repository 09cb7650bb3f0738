# -*- test-case-name: tests.test_tls -*-
"""TLS names: IANA cipher suites and their OpenSSL names, TLS versions, verify-error codes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import attrs

from bws.errors import SslError

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

#: IANA cipher-suite name -> OpenSSL name, for the TLS 1.2 (and older) suites in common use.
TLS12_CIPHERS: Final[dict[str, str]] = {
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

#: TLS 1.3 suites: OpenSSL uses the IANA names; they are set with SSL_CTX_set_ciphersuites.
TLS13_CIPHERS: Final[frozenset[str]] = frozenset(
    {
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_256_GCM_SHA384",
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS_AES_128_CCM_SHA256",
        "TLS_AES_128_CCM_8_SHA256",
    }
)


@attrs.frozen
class VersionInfo:
    """One TLS version: its rank, OpenSSL constant and Twisted constant."""

    rank: int
    #: The protocol version number (RFC 8446 §4.2.1, Appendix E: ``0x0301`` is TLS 1.0),
    #: which is also OpenSSL's ``TLS1_*_VERSION``.
    openSSL: int
    #: The name of its ``twisted.internet.ssl.TLSVersion`` constant.
    twistedName: str

    @property
    def twisted(self) -> Any:
        """The ``twisted.internet.ssl.TLSVersion`` constant (``constantly`` ships no types);
        the TLS stack loads on first use, not with ``import bws``."""
        from twisted.internet import ssl as twistedSSL

        return getattr(twistedSSL.TLSVersion, self.twistedName)


#: Every TLS version a ``Protocol`` may name, by its spec name.
VERSIONS: Final[dict[str, VersionInfo]] = {
    "TLSv1": VersionInfo(0, 0x0301, "TLSv1_0"),
    "TLSv1.1": VersionInfo(1, 0x0302, "TLSv1_1"),
    "TLSv1.2": VersionInfo(2, 0x0303, "TLSv1_2"),
    "TLSv1.3": VersionInfo(3, 0x0304, "TLSv1_3"),
}
#: Other spellings accepted for a version, and the name they stand for.
VERSION_ALIASES: Final[dict[str, str]] = {"TLSv1.0": "TLSv1"}
_LEGACY_RANK: Final = 2  # versions ranked below this are "below TLS 1.2"

#: X509_V_ERR_* codes (stable across OpenSSL releases) and OpenSSL's words for them.
VERIFY_ERRORS: Final[dict[int, str]] = {
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
#: Verify codes that mean "this chain does not lead to a CA we trust".
UNTRUSTED_CODES: Final = frozenset({2, 4, 7, 18, 19, 20, 21, 24, 27, 28})
EXPIRED: Final = 10
NOT_YET_VALID: Final = 9
REVOKED: Final = 23
#: Verify codes that mean the CRL itself could not be used.
CRL_PROBLEMS: Final = frozenset({3, 8, 11, 12})


@attrs.frozen
class Versions:
    """The lowest and highest TLS version to enable."""

    lowest: VersionInfo
    highest: VersionInfo

    @property
    def legacy(self) -> bool:
        """Whether a version below TLS 1.2 was asked for in words."""
        return self.lowest.rank < _LEGACY_RANK


def versionRange(names: Sequence[str] | None) -> Versions:
    """The range spanned by validated version ``names``; ``None`` means the defaults."""
    infos = sorted((VERSIONS[n] for n in names or TLS_DEFAULT_VERSIONS), key=lambda v: v.rank)
    return Versions(infos[0], infos[-1])


@attrs.frozen
class Ciphers:
    """Cipher names split by family and translated to OpenSSL's words."""

    tls12: tuple[str, ...]  # OpenSSL names; empty: keep the defaults
    tls13: tuple[str, ...]  # IANA (= OpenSSL) names; empty: keep the defaults

    def tls13Bytes(self) -> bytes | None:
        """The TLS 1.3 suites as ``SSL_CTX_set_ciphersuites`` wants them; ``None``: defaults."""
        return ":".join(self.tls13).encode("ascii") if self.tls13 else None


def cipherSuites(names: Sequence[str] | None) -> Ciphers:
    """Translate validated IANA cipher-suite ``names``, checking the linked OpenSSL has each.

    :param names: IANA names; ``None`` keeps OpenSSL's defaults for both families.
    :raises bws.errors.SslError: naming a suite this OpenSSL build cannot offer.
    """
    if names is None:
        return Ciphers((), ())
    from OpenSSL import SSL

    tls12 = tuple(TLS12_CIPHERS[n] for n in names if n in TLS12_CIPHERS)
    tls13 = tuple(n for n in names if n in TLS13_CIPHERS)
    scratch = SSL.Context(SSL.TLS_METHOD)
    for iana, openSSLName in zip((n for n in names if n in TLS12_CIPHERS), tls12, strict=True):
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
    return Ciphers(tls12, tls13)
