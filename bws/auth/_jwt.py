# -*- test-case-name: tests.auth.test_jwt -*-
"""The JWT validator (spec ``JwtValidatorConfig``): Bearer tokens checked as signed JWTs
with PyJWT (RFC 7519, RFC 7515; the practices of RFC 8725).

- The key comes only from the configuration: a certificate file, a trust store entry, an
  HMAC secret, or the configured JWKS URL chosen by ``kid``. ``jku``, ``x5u``, ``x5c`` and
  ``jwk`` headers are never followed or used (RFC 8725 §3.10).
- Algorithms are pinned per key (RFC 8725 §3.1): RS*/PS* for RSA, ES256/384/512 for the
  matching curve, EdDSA for Ed25519/Ed448, HS* for a secret (and a JWK's own ``alg`` narrows
  it further). ``alg: none`` never passes; an HS256 token "signed" with an RSA public key is
  refused because HS256 is not an RSA algorithm.
- A ``crit`` header is refused: bws understands no extension (RFC 7515 §4.1.11).
- ``exp`` is required; ``exp`` and ``nbf`` are checked on the listener's clock with
  ``clockSkew`` seconds of leeway (an expired or not yet valid token is a 401).
- ``iss``, ``aud`` (any one of the configured audiences) and ``sub`` are checked when
  configured.

The principal is ``sub`` (``""`` when absent), the scopes of the ``scopeKey`` claim (a
space-separated string or a list), and every claim.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from bws.auth._args import fieldPairs, readFile
from bws.auth.credentials import BackendUnavailable, IBearerToken
from bws.auth.listener import scopesOf
from bws.auth.records import (
    JWT_ALGORITHMS,
    JwksConfig,
    JwtValidatorConfig,
    TrustStoreConfig,
    ValidatorSignatureConfig,
)
from bws.errors import ConfigurationError, SslError
from bws.request import Principal
from bws.tls._files import loadTrustedCertificates
from bws.tls._records import ClientSecureSocket

__all__ = ["JwtChecker", "Key", "StaticKeys", "JwksKeys", "algorithmsFor", "jwtChecker",
           "loadSigningKeys", "checkerFromString", "hmacAlgorithmsFor"]

log = Logger()

RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
_CURVES = {"secp256r1": ("ES256",), "secp384r1": ("ES384",), "secp521r1": ("ES512",)}


def hmacAlgorithmsFor(secret: bytes) -> tuple[str, ...]:
    """The HS algorithms a secret is long enough for: at least the hash's size
    (RFC 7518 §3.2)."""
    return tuple(alg for alg in HMAC_ALGORITHMS if len(secret) * 8 >= int(alg[2:]))


def algorithmsFor(key: Any) -> tuple[str, ...]:
    """The JWS algorithms a key may verify (RFC 7518 §3.1, RFC 8037 §3.1); none for a key
    of another kind."""
    if isinstance(key, bytes):
        return hmacAlgorithmsFor(key)
    if isinstance(key, rsa.RSAPublicKey):
        return RSA_ALGORITHMS
    if isinstance(key, ec.EllipticCurvePublicKey):
        return _CURVES.get(key.curve.name, ())
    if isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        return ("EdDSA",)
    return ()


class Key:
    """A verification key and the algorithms pinned to it.

    :ivar key: a ``cryptography`` public key, or the HMAC secret's bytes.
    :ivar algorithms: the ``alg`` values a token may name.
    :ivar notAfter: POSIX seconds after which the key's certificate has expired, if any.
    """

    def __init__(self, key: Any, algorithms: tuple[str, ...],
                 notAfter: float | None = None) -> None:
        self.key = key
        self.algorithms = algorithms
        self.notAfter = notAfter


class StaticKeys:
    """One key from the configuration, whatever the token's ``kid``."""

    def __init__(self, key: Key) -> None:
        self.key = key

    def keyFor(self, header: Mapping[str, Any]) -> Deferred[Key]:
        return succeed(self.key)


class JwksKeys:
    """Keys fetched from a JWKS endpoint, chosen by ``kid``; see
    :class:`~bws.auth.records.JwksConfig` for caching and refresh.

    :param fetch: ``fetch() -> Deferred[dict]``: the key set, as JSON (failing when the
        endpoint cannot be read).
    """

    def __init__(self, config: JwksConfig, clock: IReactorTime,
                 fetch: Any) -> None:
        self.config = config
        self.clock = clock
        self.fetch = fetch
        self.keys: dict[str, Key] = {}
        self.fetchedAt: float | None = None
        #: When the last fetch failed (a failing endpoint is asked again only after
        #: ``minRefreshInterval``).
        self.failedAt: float | None = None
        self.fetches = 0
        self._pending: Deferred[None] | None = None

    async def _keyFor(self, kid: str) -> Key:
        now = self.clock.seconds()
        config = self.config
        fresh = self.fetchedAt is not None and now - self.fetchedAt < config.cacheTtl
        if fresh and kid in self.keys:
            return self.keys[kid]
        if fresh and self.fetchedAt is not None and \
                now - self.fetchedAt < config.minRefreshInterval:
            # An unknown kid does not refetch more often than this (a flood of made-up kids
            # must not become a flood of requests).
            raise UnauthorizedLogin(f"no key {kid!r} in the JWKS")
        try:
            if self.failedAt is not None and now - self.failedAt < config.minRefreshInterval:
                raise BackendUnavailable(f"JWKS {config.url} failed less than "
                                         f"{config.minRefreshInterval:g} s ago")
            await self._refresh()
        except BackendUnavailable:
            stale = self.keys.get(kid)
            if stale is None:
                raise
            log.warn("JWKS {url} cannot be read; using the key {kid} fetched before",
                     url=config.url, kid=kid)
            return stale
        key = self.keys.get(kid)
        if key is None:
            raise UnauthorizedLogin(f"no key {kid!r} in the JWKS")
        return key

    def _refresh(self) -> Deferred[None]:
        """Fetch the key set; concurrent callers share one request."""
        pending = self._pending
        if pending is None:
            self.fetches += 1
            pending = self._pending = Deferred.fromCoroutine(self._fetch())

            def done(result: Any) -> Any:
                self._pending = None
                return result

            pending.addBoth(done)
        waiter: Deferred[None] = Deferred()
        pending.addCallbacks(waiter.callback, waiter.errback)
        return waiter

    async def _fetch(self) -> None:
        try:
            data = await self.fetch()
        except Exception as e:
            self.failedAt = self.clock.seconds()
            log.warn("JWKS {url} cannot be read: {why}", url=self.config.url, why=e)
            raise BackendUnavailable(f"JWKS {self.config.url} cannot be read: {e}") from None
        keys = parseJwks(data)
        if keys is None:
            self.failedAt = self.clock.seconds()
            log.warn("JWKS {url} answered something other than a key set", url=self.config.url)
            raise BackendUnavailable(f"JWKS {self.config.url} answered no key set")
        self.keys = keys
        self.fetchedAt = self.clock.seconds()
        self.failedAt = None

    def keyFor(self, header: Mapping[str, Any]) -> Deferred[Key]:
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            return fail(UnauthorizedLogin("the token names no key (kid)"))
        return Deferred.fromCoroutine(self._keyFor(kid))


def parseJwks(data: Any) -> dict[str, Key] | None:
    """The signature keys of a JWK Set (RFC 7517 §5) by ``kid``: public keys only (a
    symmetric ``oct`` key published in a key set is ignored), ``use`` absent or ``sig``,
    algorithms pinned by key type and narrowed by the JWK's ``alg``. ``None`` when ``data``
    is no key set."""
    if not isinstance(data, Mapping) or not isinstance(data.get("keys"), list):
        return None
    keys: dict[str, Key] = {}
    for jwk in data["keys"]:
        if not isinstance(jwk, Mapping) or jwk.get("kty") == "oct":
            continue
        kid = jwk.get("kid")
        if not isinstance(kid, str) or jwk.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK(dict(jwk)).key
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            continue
        algorithms = algorithmsFor(key)
        alg = jwk.get("alg")
        if alg is not None:
            algorithms = tuple(a for a in algorithms if a == alg)
        if algorithms:
            keys[kid] = Key(key, algorithms)
    return keys


# -- keys from files ------------------------------------------------------------------------


def _certificateKey(certificate: x509.Certificate) -> Key:
    key = certificate.public_key()
    return Key(key, algorithmsFor(key), certificate.not_valid_after_utc.timestamp())


def _fromCertFile(path: str) -> Key:
    data = readFile(path, "ValidatorSignatureConfig.certFile")
    try:
        return _certificateKey(x509.load_pem_x509_certificate(data))
    except ValueError:
        pass
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        raise ConfigurationError(
            f"ValidatorSignatureConfig.certFile: {path!r} holds no PEM certificate or public "
            "key") from None
    return Key(key, algorithmsFor(key))


def _fromTrustStore(config: TrustStoreConfig) -> Key:
    store = config.trustStore
    data = readFile(store.path, "TrustStoreConfig.trustStore")
    try:
        bundle = pkcs12.load_pkcs12(data, store.password.encode("utf-8"))
    except ValueError:
        raise ConfigurationError(f"TrustStoreConfig.trustStore: cannot open {store.path!r}: "
                                 "wrong password, or not a PKCS#12 file") from None
    certificates = ([bundle.cert] if bundle.cert is not None else []) + \
        list(bundle.additional_certs)
    alias = config.certAlias.encode("utf-8")
    for entry in certificates:
        if entry.friendly_name == alias:
            return _certificateKey(entry.certificate)
    names = ", ".join(repr(c.friendly_name.decode("utf-8", "replace"))
                      for c in certificates if c.friendly_name) or "none"
    raise ConfigurationError(f"TrustStoreConfig.certAlias: no certificate {config.certAlias!r} "
                             f"in {store.path!r} (aliases: {names})")


def loadSigningKeys(config: ValidatorSignatureConfig, reactor: Any,
                    clock: IReactorTime) -> StaticKeys | JwksKeys:
    """The keys of a signature config, files read now.

    :raise ConfigurationError: a file is missing or holds no usable key (naming it).
    """
    if config.secret is not None:
        secret = config.secret.encode("utf-8")
        return StaticKeys(Key(secret, hmacAlgorithmsFor(secret)))
    if config.certFile is not None:
        key = _fromCertFile(config.certFile)
    elif config.trustStoreConfig is not None:
        key = _fromTrustStore(config.trustStoreConfig)
    else:
        assert config.jwksConfig is not None
        return jwksKeys(config.jwksConfig, reactor, clock)
    if not key.algorithms:
        raise ConfigurationError("ValidatorSignatureConfig: the key is of a kind JWTs are not "
                                 "verified with (RSA, EC P-256/384/521, Ed25519 or Ed448)")
    return StaticKeys(key)


def jwksKeys(config: JwksConfig, reactor: Any, clock: IReactorTime) -> JwksKeys:
    """Keys from ``config.url``, fetched on ``reactor`` over TLS verified against
    ``config.cert`` (or the platform's CAs).

    :raise ConfigurationError: ``config.cert`` cannot be read (it is read now).
    """
    from bws.auth._https import HttpsFailure, request

    if config.cert is not None:
        try:
            loadTrustedCertificates(config.cert)
        except SslError as e:
            raise ConfigurationError(str(e)) from None
    secureSocket = ClientSecureSocket(cert=config.cert)

    async def fetch() -> Any:
        answer = await request(reactor, clock, "GET", config.url, secureSocket=secureSocket,
                               timeout=config.timeout, headers={"Accept": ["application/json"]})
        if answer.status != 200:
            raise HttpsFailure(f"{config.url} answered HTTP {answer.status}")
        return answer.json

    return JwksKeys(config, clock, lambda: Deferred.fromCoroutine(fetch()))


# -- the checker ----------------------------------------------------------------------------


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value)


@implementer(ICredentialsChecker)
class JwtChecker:
    """A ``twisted.cred`` checker of Bearer tokens as JWTs (see the module docstring).

    ``requestAvatarId`` fires with a :class:`bws.Principal`, or fails with
    ``UnauthorizedLogin`` (any invalid token) or ``BackendUnavailable`` (the JWKS endpoint
    cannot be read and holds no cached key for the token).
    """

    credentialInterfaces = (IBearerToken,)

    def __init__(self, config: JwtValidatorConfig, keys: StaticKeys | JwksKeys,
                 clock: IReactorTime) -> None:
        self.config = config
        self.keys = keys
        self.clock = clock

    # Twisted types avatar ids as bytes; bws checkers answer a Principal (Deferred[Any]).
    def requestAvatarId(self, credentials: IBearerToken) -> Deferred[Any]:
        token = credentials.token
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as e:
            return fail(UnauthorizedLogin(f"not a JWT: {e}"))
        alg = header.get("alg")
        if alg not in JWT_ALGORITHMS:
            return fail(UnauthorizedLogin(f"algorithm {alg!r} is not accepted"))
        if "crit" in header:
            return fail(UnauthorizedLogin("the token has critical extensions (crit) bws does "
                                          "not understand"))
        d = self.keys.keyFor(header)
        d.addCallback(self._validate, token, alg)
        return d

    def _validate(self, key: Key, token: str, alg: str) -> Principal:
        config = self.config
        if alg not in key.algorithms:
            raise UnauthorizedLogin(f"algorithm {alg} does not fit the key")
        now = self.clock.seconds()
        if key.notAfter is not None and now > key.notAfter:
            log.warn("The certificate JWTs are verified with has expired")
            raise UnauthorizedLogin("the verification certificate has expired")
        try:
            claims = jwt.decode(
                token, key.key, algorithms=list(key.algorithms),
                audience=list(config.audience) if config.audience else None,
                issuer=config.issuer,
                options={"require": ["exp"], "verify_exp": False, "verify_nbf": False,
                         "verify_iat": False, "verify_aud": config.audience is not None,
                         "verify_iss": config.issuer is not None})
        except jwt.PyJWTError as e:
            raise UnauthorizedLogin(f"invalid JWT: {e}") from None
        leeway = config.clockSkew
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or not _number(exp):
            raise UnauthorizedLogin("exp is not a number")
        if now > exp + leeway:
            raise UnauthorizedLogin("the JWT has expired")
        nbf = claims.get("nbf")
        if nbf is not None and (not _number(nbf) or now + leeway < nbf):
            raise UnauthorizedLogin("the JWT is not valid yet")
        sub = claims.get("sub")
        if config.username is not None and sub != config.username:
            raise UnauthorizedLogin("the JWT is for another subject")
        return Principal(sub if isinstance(sub, str) else "",
                         scopesOf(claims.get(config.scopeKey)), claims)


def jwtChecker(config: JwtValidatorConfig, reactor: Any) -> JwtChecker:
    """The checker of a :class:`~bws.auth.records.JwtValidatorConfig`; key files are read now.

    :param reactor: times tokens (``seconds()``) and, for a JWKS, fetches the key set.
    :raise ConfigurationError: see :func:`loadSigningKeys`.
    """
    return JwtChecker(config, loadSigningKeys(config.signatureConfig, reactor, reactor), reactor)


#: ``--auth jwt:`` keys (and ``secretFile``, the HMAC secret's file).
_ARGUMENTS = ("issuer", "audience", "username", "clockSkew", "scopeKey", "certFile",
              "jwksUrl", "jwksCa")


def checkerFromString(argstring: str, reactor: Any = None) -> JwtChecker:
    """``twistd bws --auth jwt:issuer=...,audience=...,jwksUrl=https://...``.

    Keys: ``issuer``, ``audience`` (several joined with ``+``), ``username``, ``clockSkew``,
    ``scopeKey``, and one key source: ``certFile=PEM``, ``secretFile=FILE`` (the HMAC
    secret, never on the command line), or ``jwksUrl=https://...`` with ``jwksCa=PEM``. As
    for every ``--auth`` type, a piece that does not start with a key continues the value
    before it.

    :param reactor: times tokens and fetches a key set; the global reactor by default.
    :raise ConfigurationError: an unknown key or a bad value.
    """
    if reactor is None:
        from twisted.internet import reactor
    fields: dict[str, Any] = dict(fieldPairs(argstring, _ARGUMENTS, "jwt", secrets=("secret",)))
    signature: dict[str, Any] = {
        name: fields.pop(name) for name in ("certFile", "secret") if name in fields}
    if "jwksUrl" in fields:
        signature["jwksConfig"] = {"url": fields.pop("jwksUrl"), "cert": fields.pop("jwksCa", None)}
    elif "jwksCa" in fields:
        raise ConfigurationError("--auth jwt: jwksCa needs jwksUrl")
    if "audience" in fields:
        fields["audience"] = fields["audience"].split("+")
    return jwtChecker(JwtValidatorConfig(signatureConfig=signature, **fields), reactor)
