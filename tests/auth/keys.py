"""Keys, certificates and tokens for the auth tests (made once per process: RSA is slow)."""

from __future__ import annotations

import datetime
import functools
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from twisted.trial.unittest import SynchronousTestCase

#: An HMAC secret long enough for HS512 (64 bytes, RFC 7518 §3.2).
SECRET = "an HMAC secret long enough for HS512, that is 64 bytes at least!"


@functools.cache
def rsaKey(name: str = "signer") -> rsa.RSAPrivateKey:
    """An RSA key per name (2048 bits)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@functools.cache
def ecKey(name: str = "signer") -> ec.EllipticCurvePrivateKey:
    """A P-256 key per name."""
    return ec.generate_private_key(ec.SECP256R1())


def certificate(key: Any, days: int = 365, name: str = "jwt signer") -> x509.Certificate:
    """A self-signed certificate of ``key``'s public key, valid from yesterday."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=days))
            .sign(key, hashes.SHA256()))


def writeFile(case: SynchronousTestCase, data: bytes) -> str:
    """A new file of the test holding ``data``; its path."""
    path = case.mktemp()
    with open(path, "wb") as f:
        f.write(data)
    return path


def certFile(case: SynchronousTestCase, key: Any, days: int = 365) -> str:
    """A PEM certificate file of ``key``."""
    return writeFile(case, certificate(key, days).public_bytes(serialization.Encoding.PEM))


def keyFile(case: SynchronousTestCase, key: Any, password: str | None = None) -> str:
    """A PEM (PKCS#8) private key file, encrypted with ``password`` if given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode()) if password
        else serialization.NoEncryption())
    return writeFile(case, key.private_bytes(serialization.Encoding.PEM,
                                             serialization.PrivateFormat.PKCS8, encryption))


def trustStore(case: SynchronousTestCase, certificates: dict[str, x509.Certificate],
               password: str) -> str:
    """A PKCS#12 trust store of ``certificates`` by alias."""
    entries = [pkcs12.PKCS12Certificate(c, alias.encode()) for alias, c in certificates.items()]
    return writeFile(case, pkcs12.serialize_key_and_certificates(
        None, None, None, entries, serialization.BestAvailableEncryption(password.encode())))


def keyStore(case: SynchronousTestCase, key: Any, alias: str, password: str) -> str:
    """A PKCS#12 key store holding ``key`` and its certificate under ``alias``."""
    return writeFile(case, pkcs12.serialize_key_and_certificates(
        alias.encode(), key, certificate(key), None,
        serialization.BestAvailableEncryption(password.encode())))


def token(key: Any, claims: dict[str, Any], algorithm: str = "RS256",
          headers: dict[str, Any] | None = None) -> str:
    """A signed JWT of ``claims``."""
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers)


def publicJwk(key: Any, kid: str, **extra: Any) -> dict[str, Any]:
    """The public JWK of ``key`` with ``kid``."""
    import json

    algorithm = jwt.algorithms.RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) \
        else jwt.algorithms.ECAlgorithm
    jwk: dict[str, Any] = json.loads(algorithm.to_jwk(key.public_key()))
    jwk.update(kid=kid, **extra)
    return jwk
