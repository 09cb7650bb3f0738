# -*- test-case-name: tests.test_tls -*-
"""Loading PEM, PKCS#12 and CRL files for TLS: every error is an ``SslError`` naming the file."""

from __future__ import annotations

from typing import TypeAlias, cast

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

from bws.errors import SslError
from bws.tls._records import OCSP_STAPLING, CertKey, CertValidation, KeyStore, TrustStore


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


def _publicKeyBytes(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


#: The private keys pyOpenSSL serves a TLS handshake with.
TLSPrivateKey: TypeAlias = (
    dsa.DSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey | rsa.RSAPrivateKey
)


@attrs.frozen
class Identity:
    """A loaded private key with its certificate chain (leaf first)."""

    key: TLSPrivateKey
    chain: list[x509.Certificate]


def loadIdentity(source: CertKey | KeyStore) -> Identity:
    """Load a private key and its chain, and check that the key matches the leaf.

    :raises bws.errors.SslError: naming the file that is missing, unreadable, malformed,
        wrongly protected, or whose key does not match its certificate.
    """
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
    # The key matches the leaf certificate, so it is a signing key; pyOpenSSL refuses the
    # rare kinds outside TLSPrivateKey (ML-DSA) with TypeError when the context is built.
    return Identity(cast(TLSPrivateKey, key), chain)


def loadTrustedCertificates(source: str | TrustStore) -> list[x509.Certificate]:
    """The CA certificates of a PEM file or a :class:`TrustStore`.

    :raises bws.errors.SslError: naming the file, when it cannot be used or holds none.
    """
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


def revocationLists(
    certValidation: CertValidation | None,
) -> list[x509.CertificateRevocationList]:
    """The CRLs ``certValidation`` asks to check against (none without it).

    :raises bws.errors.SslError: for OCSP stapling or a missing ``crlFile`` (bws checks
        local CRLs only), or naming a CRL file that cannot be used.
    """
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
