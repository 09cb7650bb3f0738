# -*- test-case-name: tests.auth.test_oauth2 -*-
"""The OAuth2 introspection store (RFC 7662): a ``twisted.cred`` checker of Bearer tokens."""

from __future__ import annotations

import hashlib
import math
from typing import Any

import attrs
from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from bws.auth._args import fieldPairs, recordFromArgs
from bws.auth._cache import ExpiringCache
from bws.auth._https import HttpsFailure, clientBasic, postForm
from bws.auth._remote import RemoteChecker
from bws.auth.credentials import IBearerToken
from bws.auth.listener import scopesOf
from bws.auth.records import (
    CacheConfig,
    OAuth2ClientConfig,
    OAuth2IntrospectionConfig,
    OAuth2IntrospectionConfigWithScopes,
)
from bws.errors import ConfigurationError
from bws.request import Principal

__all__ = ["IntrospectionChecker", "checkerFor", "checkerFromString", "scopesFrom"]

_log = Logger()


def scopesFrom(value: Any) -> tuple[str, ...] | None:
    """The scopes of a claim as :func:`bws.auth.listener.scopesOf` reads them: a
    space-separated string (RFC 7662 §2.2, RFC 6749 §3.3) or a list of strings; ``()`` when
    the claim is absent (``None``); ``None`` when it is anything else (garbage, which the
    checker answers with 503 rather than guess)."""
    if value is None:
        return ()
    if isinstance(value, str) or (
            isinstance(value, list) and all(isinstance(s, str) for s in value)):
        return scopesOf(value)
    return None


def _number(value: Any) -> float | None:
    """An ``exp``-like NumericDate (seconds since the epoch) as a float; a string of digits
    is accepted (some servers quote it); ``None`` for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    if isinstance(value, str) and value.strip().isdigit():
        return float(value.strip())
    return None


@implementer(ICredentialsChecker)
class IntrospectionChecker(RemoteChecker):
    """Checks ``IBearerToken`` credentials by asking an RFC 7662 introspection endpoint.

    ``requestAvatarId`` answers a :class:`bws.Principal` for an active token (``userId`` the
    answer's ``username``, else ``sub``, else ``client_id``; ``scopes`` from ``scopeKey``;
    ``claims`` the whole answer), fails with ``UnauthorizedLogin`` for an inactive one, and
    with :class:`~bws.auth.credentials.BackendUnavailable` when the endpoint cannot be
    reached, does not answer within ``clientConfig.timeout``, answers another status than
    200, or answers anything but a JSON object with a boolean ``active`` (RFC 7662 §2.2).

    With ``cacheConfig``, active answers are kept until their ``exp`` (or
    ``defaultTokenExpTime`` seconds when they have none), keyed by the token's SHA-256.

    :param config: the endpoint.
    :param reactor: connects; the global reactor by default.
    :param clock: the time for the cache and the call's time bound, in seconds since the
        epoch (``exp`` is compared with it); ``reactor`` by default.
    """

    credentialInterfaces = (IBearerToken,)
    kind = "OAuth2 introspection"

    def __init__(self, config: OAuth2IntrospectionConfig, reactor: Any = None,
                 clock: IReactorTime | None = None) -> None:
        super().__init__(reactor, clock)
        self.config = config
        cache = config.cacheConfig
        self._cache: ExpiringCache[bytes, Principal] | None = None
        if cache is not None:
            self._cache = ExpiringCache(
                self._clock, cache.capacity, cache.evictionFactor,
                None if cache.defaultMaxAge == -1 else cache.defaultMaxAge)
        if config.url.startswith("http:"):
            _log.warn("OAuth2 introspection at {url} is not https: tokens and client"
                      " credentials cross the network in the clear (RFC 7662 §4 requires"
                      " TLS)", url=config.url)

    # The contract of bws's checkers: a Principal, not twisted.cred's bytes avatar id.
    def requestAvatarId(  # type: ignore[override]
            self, credentials: IBearerToken) -> Deferred[Principal]:
        """The principal of an active token (see the class)."""
        return self._checked(self._introspect(credentials.token))

    def where(self) -> str:
        return f"at {self.config.url}"

    async def _introspect(self, token: str) -> Principal:
        if not token:
            raise UnauthorizedLogin("an empty token is refused")
        key = hashlib.sha256(token.encode("utf-8")).digest()
        if self._cache is not None:
            cached = self._cache.get(key)
            if cached is not None:
                return cached
        config = self.config
        clientConfig = config.clientConfig
        form = [("token", token)]
        if config.tokenTypeHint:
            form.append(("token_type_hint", config.tokenTypeHint))
        form.extend(config.optionalParams)
        authorization = await self._authorization(clientConfig)
        try:
            answer = await postForm(self._reactor, self._clock, config.url, form, clientConfig,
                                    authorization)
        except HttpsFailure as e:
            raise self._unavailable(str(e)) from None
        if answer.status != 200:
            if answer.status == 401 and hasattr(clientConfig.auth, "invalidate"):
                clientConfig.auth.invalidate()
            raise self._unavailable(f"it answered {answer.status}")
        body = answer.json
        if body is None:
            raise self._unavailable("the answer is not a JSON object")
        active = body.get("active")
        if not isinstance(active, bool):
            raise self._unavailable("the answer has no boolean 'active' member")
        if not active:
            raise UnauthorizedLogin("the token is not active")
        scopes = scopesFrom(body.get(config.scopeKey))
        if scopes is None:
            raise self._unavailable(f"the answer's {config.scopeKey!r} is not a scope list")
        userId = next((body[k] for k in ("username", "sub", "client_id")
                       if isinstance(body.get(k), str)), "")
        principal = Principal(userId, scopes, body)
        if self._cache is not None:
            exp = _number(body.get("exp"))
            expiresAt = exp if exp is not None else (
                self._clock.seconds() + config.defaultTokenExpTime)
            self._cache.put(key, principal, expiresAt)
        return principal

    async def _authorization(self, clientConfig: OAuth2ClientConfig) -> str | None:
        if clientConfig.clientId is not None and clientConfig.clientSecret is not None:
            return clientBasic(clientConfig.clientId, clientConfig.clientSecret)
        if clientConfig.auth is not None:
            try:
                header: str = await clientConfig.auth.authorizationHeader(
                    self._clock, self._reactor)
            except Exception as e:
                raise self._unavailable(f"no credentials for the endpoint: {e}") from None
            return header
        return None


def checkerFor(entry: OAuth2IntrospectionConfigWithScopes,
               reactor: Any = None) -> IntrospectionChecker:
    """The checker of a listener auth entry (built once per listener)."""
    return IntrospectionChecker(entry.oauth2IntrospectionConfig, reactor)


#: ``--auth oauth2:`` fields that belong to the endpoint's client configuration.
_CLIENT_FIELDS = ("clientId", "clientSecret", "timeout", "customPayload")


def checkerFromString(argstring: str, reactor: Any = None) -> IntrospectionChecker:
    """A checker from ``twistd bws --auth oauth2:ARGS``: ``field=value`` pairs joined by
    commas: ``url``, ``tokenTypeHint``, ``scopeKey``, ``defaultTokenExpTime``, ``clientId``,
    ``clientSecretFile`` (a file holding the client secret: never the secret itself on the
    command line), ``timeout``, ``customPayload``, ``cert`` (a CA file to trust for https),
    ``cache`` (a capacity: cache active answers). A piece that does not start with a field
    name continues the value before it.

    :raises bws.ConfigurationError: an unknown field or a wrong value.
    """
    own = {f.name for f in attrs.fields(OAuth2IntrospectionConfig)} - {
        "clientConfig", "cacheConfig", "optionalParams"}
    known = own | set(_CLIENT_FIELDS) | {"cert", "cache"}
    values: dict[str, Any] = {}
    client: dict[str, Any] = {}
    for name, value in fieldPairs(argstring, known, "oauth2", secrets=("clientSecret",)):
        if name in _CLIENT_FIELDS:
            client[name] = value
        elif name == "cert":
            client["secureSocket"] = {"cert": value}
        elif name == "cache":
            if not value.isdigit():
                raise ConfigurationError(
                    f"CacheConfig.capacity: must be a whole number, got {value!r}")
            values["cacheConfig"] = CacheConfig(capacity=int(value))
        else:
            values[name] = value
    config = recordFromArgs(OAuth2IntrospectionConfig, dict(values, clientConfig=client), "oauth2")
    return IntrospectionChecker(config, reactor)
