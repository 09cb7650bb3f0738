# -*- test-case-name: tests.auth.test_client -*-
"""The client's ``Authorization`` header (spec §4.1 ``auth``, REFERENCE §1.13).

``ClientConfiguration.auth`` holds a record; :func:`authorizationSource` turns it into an
:class:`~bws.auth.records.IClientAuth` provider, which the client asks for the header
before every connection attempt (the first one and each reconnect):

- :class:`~bws.auth.records.CredentialsConfig` → ``Basic base64(username:password)``
  (RFC 7617, UTF-8);
- :class:`~bws.auth.records.BearerTokenConfig` → ``Bearer <token>`` (RFC 6750 §2.1);
- :class:`~bws.auth.records.JwtIssuerConfig` → ``Bearer <a JWT signed here>``, issued again
  once less than :data:`REFRESH_MARGIN` seconds (or half its lifetime) are left;
- the OAuth2 grants → ``Bearer <a token from the token endpoint>``;
- an object providing ``IClientAuth`` is asked as it is.

A header that cannot be made fails the connection attempt with :class:`bws.AuthError`:
``"Failed to enrich request with Basic Auth token. <cause>"``, ``"... with JWT. <cause>"``,
``"... with OAuth2 token. <cause>"`` (the reference's words).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from zope.interface import implementer

from bws.auth._args import readFile
from bws.auth.credentials import hasControl
from bws.auth.records import (
    BearerTokenConfig,
    CredentialsConfig,
    IClientAuth,
    JwtIssuerConfig,
    KeyStoreConfig,
    PrivateKeyConfig,
)
from bws.errors import AuthError, ConfigurationError

__all__ = ["SOURCES", "authorizationSource", "BasicAuth", "BearerAuth", "IssuedJwtAuth",
           "REFRESH_MARGIN", "BASIC_FAILURE", "BEARER_FAILURE", "JWT_FAILURE",
           "OAUTH2_FAILURE", "checkHeaderValue"]

BASIC_FAILURE = "Failed to enrich request with Basic Auth token."
BEARER_FAILURE = "Failed to enrich request with Bearer token."
JWT_FAILURE = "Failed to enrich request with JWT."
OAUTH2_FAILURE = "Failed to enrich request with OAuth2 token."

#: A cached token is replaced once it has less than this many seconds left (or less than
#: half its lifetime, when that is shorter).
REFRESH_MARGIN = 60.0


def checkHeaderValue(value: Any) -> str:
    """An ``Authorization`` value a source gave, checked: text, one line, visible ASCII
    and spaces only (RFC 9110 §5.5), so it cannot split the request's head.

    :raise AuthError: otherwise.
    """
    if not isinstance(value, str) or not value or \
            any(not (0x20 <= ord(c) < 0x7F) for c in value):
        raise AuthError("The Authorization header value must be visible ASCII text on one line")
    return value


@implementer(IClientAuth)
class BasicAuth:
    """``Authorization: Basic`` from a :class:`~bws.auth.records.CredentialsConfig`."""

    def __init__(self, config: CredentialsConfig) -> None:
        self.config = config

    def authorizationHeader(self, clock: IReactorTime, reactor: Any) -> Deferred[str]:
        username, password = self.config.username, self.config.password
        if not username or not password:
            return fail(AuthError(f"{BASIC_FAILURE} Username or password cannot be empty."))
        if ":" in username:
            return fail(AuthError(f"{BASIC_FAILURE} Username cannot contain a colon "
                                  "(RFC 7617 §2)."))
        if hasControl(username) or hasControl(password):
            return fail(AuthError(f"{BASIC_FAILURE} Username and password cannot contain "
                                  "control characters (RFC 7617 §2)."))
        pair = f"{username}:{password}".encode()
        return succeed("Basic " + base64.b64encode(pair).decode("ascii"))


@implementer(IClientAuth)
class BearerAuth:
    """``Authorization: Bearer`` from a :class:`~bws.auth.records.BearerTokenConfig`.

    The token must be visible ASCII without spaces (RFC 6750 §2.1's ``b64token`` and the
    opaque tokens seen in practice fit).
    """

    def __init__(self, config: BearerTokenConfig) -> None:
        self.config = config

    def authorizationHeader(self, clock: IReactorTime, reactor: Any) -> Deferred[str]:
        token = self.config.token
        if not token:
            return fail(AuthError(f"{BEARER_FAILURE} The token cannot be empty."))
        if any(not (0x21 <= ord(c) < 0x7F) for c in token):
            return fail(AuthError(f"{BEARER_FAILURE} The token must be visible ASCII without "
                                  "spaces (RFC 6750 §2.1)."))
        return succeed("Bearer " + token)


def _signingKey(config: PrivateKeyConfig | KeyStoreConfig) -> Any:
    """The private key of a signature config.

    :raise ValueError: the file is missing, unreadable or holds no such key (the message
        names it).
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    if isinstance(config, PrivateKeyConfig):
        data = readFile(config.keyFile, "PrivateKeyConfig.keyFile")
        password = config.keyPassword.encode() if config.keyPassword else None
        try:
            return serialization.load_pem_private_key(data, password)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{config.keyFile!r} holds no private key it can open ({e})") \
                from None
    path = config.keyStore.path
    data = readFile(path, "KeyStoreConfig.keyStore")
    bundle = None
    for secret in filter(None, (config.keyStore.password, config.keyPassword)):
        try:
            bundle = pkcs12.load_pkcs12(data, secret.encode())
            break
        except ValueError:
            continue
    if bundle is None:
        raise ValueError(f"cannot open key store {path!r}: wrong password, or not PKCS#12")
    if bundle.key is None:
        raise ValueError(f"key store {path!r} holds no private key")
    alias = bundle.cert.friendly_name if bundle.cert is not None else None
    if alias is not None and alias != config.keyAlias.encode():
        raise ValueError(f"key store {path!r} holds {alias.decode(errors='replace')!r}, "
                         f"not {config.keyAlias!r}")
    return bundle.key


def _checkKeyFits(key: Any, algorithm: str) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    if algorithm[:2] in ("RS", "PS"):
        fits = isinstance(key, rsa.RSAPrivateKey)
    elif algorithm.startswith("ES"):
        curves = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
        fits = isinstance(key, ec.EllipticCurvePrivateKey) and \
            key.curve.name == curves[algorithm]
    else:
        fits = isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey))
    if not fits:
        raise ValueError(f"the key does not fit algorithm {algorithm}")


@implementer(IClientAuth)
class IssuedJwtAuth:
    """``Authorization: Bearer`` with a JWT signed here, from a
    :class:`~bws.auth.records.JwtIssuerConfig` (RFC 7519).

    The key is loaded on first use; the token is kept until less than
    ``min(REFRESH_MARGIN, expTime / 2)`` seconds of it are left on the client's clock.

    :ivar token: the token last issued, and :ivar expires: its ``exp`` (POSIX seconds).
    """

    def __init__(self, config: JwtIssuerConfig) -> None:
        self.config = config
        self.key: Any = None
        self.token: str | None = None
        self.expires = 0.0
        self.issued = 0

    def authorizationHeader(self, clock: IReactorTime, reactor: Any) -> Deferred[str]:
        now = clock.seconds()
        margin = min(REFRESH_MARGIN, self.config.expTime / 2)
        if self.token is None or now >= self.expires - margin:
            try:
                self.token, self.expires = self.issue(now)
            except ValueError as e:
                return fail(AuthError(f"{JWT_FAILURE} {e}"))
        return succeed("Bearer " + self.token)

    def issue(self, now: float) -> tuple[str, float]:
        """A new token valid from ``now``, and its ``exp``.

        :raise ValueError: the key cannot be loaded or does not fit the algorithm.
        """
        import jwt

        config = self.config
        signature = config.signatureConfig
        if self.key is None:
            if isinstance(signature.config, str):
                self.key = signature.config.encode("utf-8")
            else:
                key = _signingKey(signature.config)
                _checkKeyFits(key, signature.algorithm)
                self.key = key
        issuedAt = int(now)
        expires = issuedAt + int(math.ceil(config.expTime))
        claims: dict[str, Any] = dict(config.customClaims or {})
        standard: dict[str, Any] = {"iss": config.issuer, "sub": config.username,
                                    "jti": config.jwtId}
        if config.audience is not None:
            standard["aud"] = config.audience[0] if len(config.audience) == 1 \
                else list(config.audience)
        claims.update({k: v for k, v in standard.items() if v is not None})
        claims.update(iat=issuedAt, nbf=issuedAt, exp=expires)
        headers = {"typ": "JWT"}
        if config.keyId is not None:
            headers["kid"] = config.keyId
        try:
            token = jwt.encode(claims, self.key, algorithm=signature.algorithm, headers=headers)
        except (jwt.PyJWTError, TypeError, ValueError) as e:
            raise ValueError(f"signing failed: {e}") from None
        self.issued += 1
        return token, float(expires)


#: How each client auth record becomes a header source (the OAuth2 grants add theirs).
SOURCES: dict[type[Any], Callable[[Any], Any]] = {
    CredentialsConfig: BasicAuth,
    BearerTokenConfig: BearerAuth,
    JwtIssuerConfig: IssuedJwtAuth,
}


def authorizationSource(auth: Any) -> Any:
    """The ``IClientAuth`` provider for ``ClientConfiguration.auth`` (``None`` for none).

    :raise ConfigurationError: a record this version of bws cannot use.
    """
    if auth is None or IClientAuth.providedBy(auth):
        return auth
    make = SOURCES.get(type(auth))
    if make is None:
        raise ConfigurationError(f"ClientConfiguration.auth: {type(auth).__name__} is not "
                                 "available in this version of bws")
    return make(auth)
