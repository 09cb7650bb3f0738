# -*- test-case-name: tests.auth.test_grants -*-
"""The client's OAuth2 grants (RFC 6749 §4.3, §4.4, §6; RFC 7523 §2.1): records that fetch
an access token from a token endpoint and give it as ``Authorization: Bearer``, cached on
the clock and fetched again before it expires."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure
from zope.interface import implementer

from bws._fields import Fields, optionalNameTuple
from bws.auth._https import Answer, HttpsFailure, clientBasic, postForm
from bws.auth.client import OAUTH2_FAILURE
from bws.auth.records import CLIENT_RECORDS, IClientAuth, OAuth2ClientConfig
from bws.errors import AuthError, ConfigurationError

__all__ = [
    "AUTH_HEADER_BEARER",
    "POST_BODY_BEARER",
    "INFER_REFRESH_CONFIG",
    "OAuth2RefreshConfig",
    "OAuth2ClientCredentialsGrantConfig",
    "OAuth2PasswordGrantConfig",
    "OAuth2RefreshTokenGrantConfig",
    "OAuth2JwtBearerGrantConfig",
    "OAuth2GrantConfig",
]

#: ``credentialBearer``: the client id and secret go in an HTTP Basic header
#: (RFC 6749 §2.3.1; the default).
AUTH_HEADER_BEARER: Final = "AUTH_HEADER_BEARER"
#: ``credentialBearer``: the client id and secret go in the request body (RFC 6749 §2.3.1).
POST_BODY_BEARER: Final = "POST_BODY_BEARER"
#: ``OAuth2PasswordGrantConfig.refreshConfig``: refresh at ``tokenUrl`` with the grant's own
#: scopes, parameters and client settings.
INFER_REFRESH_CONFIG: Final = "INFER_REFRESH_CONFIG"

_MESSAGE = OAUTH2_FAILURE + " "
_JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"

_checks = Fields(ConfigurationError)


def _coerceClientConfig(value: Any) -> Any:
    if value is None:
        return OAuth2ClientConfig()
    return OAuth2ClientConfig(**value) if isinstance(value, Mapping) else value


def _checkClientConfig(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    _checks.checkInstanceOf(OAuth2ClientConfig)(instance, attribute, value)
    if value.auth is not None or value.clientId is not None:
        _checks.fail(instance, attribute,
                     "auth and clientId/clientSecret do not apply to a token request: give"
                     " the grant's own clientId and clientSecret")


def _textMap(value: Any) -> Any:
    if value is None:
        return ()
    return tuple(value.items()) if isinstance(value, Mapping) else value


def _checkParams(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, tuple) or not all(
            isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) and p[0]
            and isinstance(p[1], str) for p in value):
        _checks.fail(instance, attribute, f"must be a mapping of text to text, got {value!r}")


def _required(record: str, field: str) -> Any:
    return _checks.checkText(required=f"{record}.{field}: must not be empty")


def _urlField(record: str, field: str) -> Any:
    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        _required(record, field)(instance, attribute, value)
        if not value.startswith(("https://", "http://")):
            _checks.fail(instance, attribute, f"must be an http(s) URL, got {value!r}")

    return attrs.field(validator=check)


@attrs.define(eq=False)
class _TokenCache:
    """What a grant has fetched: the access token, when it is to be fetched again (clock
    seconds), the refresh token, and the fetch in flight (shared by concurrent callers)."""

    accessToken: str | None = None
    refreshAt: float = 0.0
    refreshToken: str | None = None
    fetching: Deferred[str] | None = None
    waiting: list[Deferred[str]] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class _TokenRequest:
    url: str
    form: tuple[tuple[str, str], ...]
    clientId: str | None
    clientSecret: str | None
    credentialBearer: str
    clientConfig: OAuth2ClientConfig


class _Grant:
    """What every grant config does with its fields (the attrs records below supply them)."""

    # The fields every grant record has.
    scopes: tuple[str, ...] | None
    defaultTokenExpTime: float
    clockSkew: float
    optionalParams: tuple[tuple[str, str], ...]
    credentialBearer: str
    clientConfig: OAuth2ClientConfig
    _cache: _TokenCache

    def authorizationHeader(self, clock: IReactorTime, reactor: Any) -> Deferred[str]:
        """``"Bearer <access token>"``: the cached token while it is fresh (until its
        ``expires_in``, or ``defaultTokenExpTime``, less ``clockSkew``), else a new one from
        the token endpoint (refreshed with the refresh token when the grant has one).

        :param clock: the time (``seconds()``) for the cache and the call's time bound.
        :param reactor: connects to the token endpoint.
        :return: a Deferred of the header value, failing with :class:`bws.errors.AuthError`
            ``"Failed to enrich request with OAuth2 token. <cause>"``.
        """
        cache = self._cache
        if cache.accessToken is not None and clock.seconds() < cache.refreshAt:
            return succeed(f"Bearer {cache.accessToken}")
        waiting: Deferred[str] = Deferred()
        cache.waiting.append(waiting)
        if cache.fetching is None:
            cache.fetching = Deferred.fromCoroutine(self._fetch(clock, reactor))
            cache.fetching.addBoth(self._fetched)
        return waiting

    def invalidate(self) -> None:
        """Forget the cached access token (keep a refresh token): call it when a server
        refused the token, so that the next :meth:`authorizationHeader` fetches another."""
        self._cache.accessToken = None

    def _fetched(self, result: str | Failure) -> None:
        cache = self._cache
        cache.fetching = None
        waiting, cache.waiting = cache.waiting, []
        for d in waiting:
            if isinstance(result, Failure):
                d.errback(result)
            else:
                d.callback(result)

    async def _fetch(self, clock: IReactorTime, reactor: Any) -> str:
        cache = self._cache
        refresh = self._refreshRequest(cache.refreshToken)
        answer: dict[str, Any] | None = None
        if refresh is not None:
            try:
                answer = await _call(refresh, clock, reactor)
            except AuthError:
                if not self._canStartOver():
                    raise
                cache.refreshToken = None  # refused (revoked, expired): start over
        if answer is None:
            answer = await _call(self._tokenRequest(), clock, reactor)
        token = answer["access_token"]
        expiresIn = answer.get("expires_in")
        lifetime = (float(expiresIn) if isinstance(expiresIn, (int, float))
                    and not isinstance(expiresIn, bool) and expiresIn > 0
                    else self.defaultTokenExpTime)
        cache.accessToken = token
        cache.refreshAt = clock.seconds() + lifetime - self.clockSkew
        newRefresh = answer.get("refresh_token")
        if isinstance(newRefresh, str) and newRefresh:
            cache.refreshToken = newRefresh  # RFC 6749 §6: the server may rotate it
        return f"Bearer {token}"

    # --- what each grant says -------------------------------------------------------------------

    def _tokenRequest(self) -> _TokenRequest:
        raise NotImplementedError

    def _refreshRequest(self, refreshToken: str | None) -> _TokenRequest | None:
        """The RFC 6749 §6 request refreshing with ``refreshToken``, or ``None`` when the
        grant does not refresh (a new token is then asked for with :meth:`_tokenRequest`)."""
        return None

    def _canStartOver(self) -> bool:
        """Whether a refused refresh may be followed by a new grant request."""
        return True

    def _form(self, grant: str, extra: list[tuple[str, str]],
              scopes: tuple[str, ...] | None = None,
              params: tuple[tuple[str, str], ...] | None = None) -> tuple[tuple[str, str], ...]:
        form = [("grant_type", grant), *extra]
        scopes = self.scopes if scopes is None else scopes
        if scopes:
            form.append(("scope", " ".join(scopes)))  # RFC 6749 §3.3
        form.extend(self.optionalParams if params is None else params)
        return tuple(form)


async def _call(request: _TokenRequest, clock: IReactorTime, reactor: Any) -> dict[str, Any]:
    """Ask the token endpoint; the RFC 6749 §5.1 answer as a mapping with a text
    ``access_token``, or an AuthError saying what went wrong."""
    form = list(request.form)
    authorization = None
    if request.clientId is not None:
        if request.clientSecret is None:
            form.append(("client_id", request.clientId))  # a public client (RFC 6749 §2.1)
        elif request.credentialBearer == POST_BODY_BEARER:
            form += [("client_id", request.clientId), ("client_secret", request.clientSecret)]
        else:
            authorization = clientBasic(request.clientId, request.clientSecret)
    try:
        answer: Answer = await postForm(
            reactor, clock, request.url, form, request.clientConfig, authorization)
    except HttpsFailure as e:
        raise AuthError(f"{_MESSAGE}{e}") from None
    body = answer.json
    if answer.status != 200:
        detail = ""
        if body is not None and isinstance(body.get("error"), str):  # RFC 6749 §5.2
            detail = f": {body['error']}"
            if isinstance(body.get("error_description"), str):
                detail += f" ({body['error_description']})"
        raise AuthError(
            f"{_MESSAGE}The token endpoint {request.url} answered {answer.status}{detail}")
    if body is None or not isinstance(body.get("access_token"), str) or not body["access_token"]:
        raise AuthError(f"{_MESSAGE}The token endpoint {request.url} answered no access_token")
    tokenType = body.get("token_type")
    if isinstance(tokenType, str) and tokenType.lower() != "bearer":
        raise AuthError(f"{_MESSAGE}The token endpoint {request.url} issued a {tokenType!r}"
                        " token; only Bearer tokens (RFC 6750) can be sent")
    return body


def _scopes() -> Any:
    return attrs.field(default=None, converter=optionalNameTuple,
                       validator=_checks.checkNames(optional=True))


def _params() -> Any:
    return attrs.field(default=(), converter=_textMap, validator=_checkParams)


def _bearer() -> Any:
    return attrs.field(default=AUTH_HEADER_BEARER,
                       validator=_checks.checkOneOf(AUTH_HEADER_BEARER, POST_BODY_BEARER))


def _clientConfig() -> Any:
    return attrs.field(factory=OAuth2ClientConfig, converter=_coerceClientConfig,
                       validator=_checkClientConfig)


def _cache() -> Any:
    return attrs.field(factory=_TokenCache, init=False, eq=False, repr=False)


def _optionalText() -> Any:
    return attrs.field(default=None, validator=_checks.checkText(optional=True))


@implementer(IClientAuth)
@attrs.frozen(kw_only=True)
class OAuth2ClientCredentialsGrantConfig(_Grant):
    """The client credentials grant (RFC 6749 §4.4): the client's own token.

    :param tokenUrl: the token endpoint.
    :param clientId: the client identifier.
    :param clientSecret: the client secret.
    :param scopes: the scopes to ask for (a name or a list).
    :param defaultTokenExpTime: decimal seconds a token lives when the answer has no
        ``expires_in``.
    :param clockSkew: decimal seconds before its expiry that a token is fetched again.
    :param optionalParams: extra form parameters.
    :param credentialBearer: :data:`AUTH_HEADER_BEARER` (HTTP Basic) or
        :data:`POST_BODY_BEARER` (in the body).
    :param clientConfig: TLS and the time bound of the call
        (:class:`~bws.auth.records.OAuth2ClientConfig`).
    """

    tokenUrl: str = _urlField("OAuth2ClientCredentialsGrantConfig", "tokenUrl")
    clientId: str = attrs.field(validator=_required("OAuth2ClientCredentialsGrantConfig",
                                                    "clientId"))
    clientSecret: str = attrs.field(repr=False, validator=_required(
        "OAuth2ClientCredentialsGrantConfig", "clientSecret"))
    scopes: tuple[str, ...] | None = _scopes()
    defaultTokenExpTime: float = _checks.secondsField(3600, positive=True)
    clockSkew: float = _checks.secondsField(0)
    optionalParams: tuple[tuple[str, str], ...] = _params()
    credentialBearer: str = _bearer()
    clientConfig: OAuth2ClientConfig = _clientConfig()
    _cache: _TokenCache = _cache()

    def _tokenRequest(self) -> _TokenRequest:
        return _TokenRequest(url=self.tokenUrl, form=self._form("client_credentials", []),
                             clientId=self.clientId, clientSecret=self.clientSecret,
                             credentialBearer=self.credentialBearer,
                             clientConfig=self.clientConfig)


@attrs.frozen(kw_only=True)
class OAuth2RefreshConfig:
    """How a password grant's token is refreshed (RFC 6749 §6).

    :param refreshUrl: the token endpoint for the refresh.
    :param scopes: the scopes to ask for; ``None``: those of the grant.
    :param optionalParams: extra form parameters.
    :param credentialBearer: as for the grant.
    :param clientConfig: as for the grant.
    """

    refreshUrl: str = _urlField("OAuth2RefreshConfig", "refreshUrl")
    scopes: tuple[str, ...] | None = _scopes()
    optionalParams: tuple[tuple[str, str], ...] = _params()
    credentialBearer: str = _bearer()
    clientConfig: OAuth2ClientConfig = _clientConfig()


def _coerceRefreshConfig(value: Any) -> Any:
    return OAuth2RefreshConfig(**value) if isinstance(value, Mapping) else value


def _checkRefreshConfig(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and value != INFER_REFRESH_CONFIG and not isinstance(
            value, OAuth2RefreshConfig):
        _checks.fail(instance, attribute,
                     f"must be an OAuth2RefreshConfig, INFER_REFRESH_CONFIG or None, got {value!r}")


def _checkPair(record: str) -> Any:
    def check(instance: Any) -> None:
        if instance.clientSecret is not None and instance.clientId is None:
            raise ConfigurationError(f"{record}.clientId: needed with clientSecret")
    return check


@implementer(IClientAuth)
@attrs.frozen(kw_only=True)
class OAuth2PasswordGrantConfig(_Grant):
    """The resource owner password credentials grant (RFC 6749 §4.3).

    :param tokenUrl: the token endpoint.
    :param username: the resource owner's name.
    :param password: their password.
    :param clientId: the client identifier (optional: a public client sends only this).
    :param clientSecret: the client secret (optional).
    :param scopes: the scopes to ask for.
    :param refreshConfig: refresh an expired token with the refresh token
        (:class:`OAuth2RefreshConfig` or :data:`INFER_REFRESH_CONFIG`); ``None``: ask again
        with the password. A refused refresh falls back to the password.
    :param defaultTokenExpTime: as for the client credentials grant.
    :param clockSkew: as for the client credentials grant.
    :param optionalParams: extra form parameters.
    :param credentialBearer: as for the client credentials grant.
    :param clientConfig: as for the client credentials grant.
    """

    tokenUrl: str = _urlField("OAuth2PasswordGrantConfig", "tokenUrl")
    username: str = attrs.field(validator=_required("OAuth2PasswordGrantConfig", "username"))
    password: str = attrs.field(repr=False, validator=_required("OAuth2PasswordGrantConfig",
                                                               "password"))
    clientId: str | None = _optionalText()
    clientSecret: str | None = attrs.field(default=None, repr=False,
                                           validator=_checks.checkText(optional=True))
    scopes: tuple[str, ...] | None = _scopes()
    refreshConfig: OAuth2RefreshConfig | str | None = attrs.field(
        default=None, converter=_coerceRefreshConfig, validator=_checkRefreshConfig)
    defaultTokenExpTime: float = _checks.secondsField(3600, positive=True)
    clockSkew: float = _checks.secondsField(0)
    optionalParams: tuple[tuple[str, str], ...] = _params()
    credentialBearer: str = _bearer()
    clientConfig: OAuth2ClientConfig = _clientConfig()
    _cache: _TokenCache = _cache()

    def __attrs_post_init__(self) -> None:
        _checkPair("OAuth2PasswordGrantConfig")(self)

    def _tokenRequest(self) -> _TokenRequest:
        return _TokenRequest(
            url=self.tokenUrl,
            form=self._form("password", [("username", self.username),
                                         ("password", self.password)]),
            clientId=self.clientId, clientSecret=self.clientSecret,
            credentialBearer=self.credentialBearer, clientConfig=self.clientConfig)

    def _refreshRequest(self, refreshToken: str | None) -> _TokenRequest | None:
        refresh = self.refreshConfig
        if refreshToken is None or refresh is None:
            return None
        if isinstance(refresh, OAuth2RefreshConfig):
            return _TokenRequest(
                url=refresh.refreshUrl,
                form=self._form("refresh_token", [("refresh_token", refreshToken)],
                                refresh.scopes, refresh.optionalParams),
                clientId=self.clientId, clientSecret=self.clientSecret,
                credentialBearer=refresh.credentialBearer, clientConfig=refresh.clientConfig)
        return _TokenRequest(
            url=self.tokenUrl,
            form=self._form("refresh_token", [("refresh_token", refreshToken)]),
            clientId=self.clientId, clientSecret=self.clientSecret,
            credentialBearer=self.credentialBearer, clientConfig=self.clientConfig)


@implementer(IClientAuth)
@attrs.frozen(kw_only=True)
class OAuth2RefreshTokenGrantConfig(_Grant):
    """The refresh token grant (RFC 6749 §6): access tokens from a refresh token held by
    the client; a new refresh token the server rotates in replaces it.

    :param refreshUrl: the token endpoint.
    :param refreshToken: the refresh token.
    :param clientId: the client identifier.
    :param clientSecret: the client secret.
    :param scopes: the scopes to ask for (at most those of the original grant).
    :param defaultTokenExpTime: as for the client credentials grant.
    :param clockSkew: as for the client credentials grant.
    :param optionalParams: extra form parameters.
    :param credentialBearer: as for the client credentials grant.
    :param clientConfig: as for the client credentials grant.
    """

    refreshUrl: str = _urlField("OAuth2RefreshTokenGrantConfig", "refreshUrl")
    refreshToken: str = attrs.field(repr=False, validator=_required(
        "OAuth2RefreshTokenGrantConfig", "refreshToken"))
    clientId: str = attrs.field(validator=_required("OAuth2RefreshTokenGrantConfig",
                                                    "clientId"))
    clientSecret: str = attrs.field(repr=False, validator=_required(
        "OAuth2RefreshTokenGrantConfig", "clientSecret"))
    scopes: tuple[str, ...] | None = _scopes()
    defaultTokenExpTime: float = _checks.secondsField(3600, positive=True)
    clockSkew: float = _checks.secondsField(0)
    optionalParams: tuple[tuple[str, str], ...] = _params()
    credentialBearer: str = _bearer()
    clientConfig: OAuth2ClientConfig = _clientConfig()
    _cache: _TokenCache = _cache()

    def _tokenRequest(self) -> _TokenRequest:
        return self._refreshing(self._cache.refreshToken or self.refreshToken)

    def _refreshRequest(self, refreshToken: str | None) -> _TokenRequest | None:
        return None  # every request is a refresh: _tokenRequest uses the latest token

    def _canStartOver(self) -> bool:
        return False

    def _refreshing(self, refreshToken: str) -> _TokenRequest:
        return _TokenRequest(
            url=self.refreshUrl,
            form=self._form("refresh_token", [("refresh_token", refreshToken)]),
            clientId=self.clientId, clientSecret=self.clientSecret,
            credentialBearer=self.credentialBearer, clientConfig=self.clientConfig)


@implementer(IClientAuth)
@attrs.frozen(kw_only=True)
class OAuth2JwtBearerGrantConfig(_Grant):
    """The JWT bearer grant (RFC 7523 §2.1): a JWT assertion exchanged for a token.

    :param tokenUrl: the token endpoint.
    :param assertion: the signed JWT.
    :param clientId: the client identifier (optional).
    :param clientSecret: the client secret (optional).
    :param scopes: the scopes to ask for.
    :param defaultTokenExpTime: as for the client credentials grant.
    :param clockSkew: as for the client credentials grant.
    :param optionalParams: extra form parameters.
    :param credentialBearer: as for the client credentials grant.
    :param clientConfig: as for the client credentials grant.
    """

    tokenUrl: str = _urlField("OAuth2JwtBearerGrantConfig", "tokenUrl")
    assertion: str = attrs.field(repr=False, validator=_required("OAuth2JwtBearerGrantConfig",
                                                                "assertion"))
    clientId: str | None = _optionalText()
    clientSecret: str | None = attrs.field(default=None, repr=False,
                                           validator=_checks.checkText(optional=True))
    scopes: tuple[str, ...] | None = _scopes()
    defaultTokenExpTime: float = _checks.secondsField(3600, positive=True)
    clockSkew: float = _checks.secondsField(0)
    optionalParams: tuple[tuple[str, str], ...] = _params()
    credentialBearer: str = _bearer()
    clientConfig: OAuth2ClientConfig = _clientConfig()
    _cache: _TokenCache = _cache()

    def __attrs_post_init__(self) -> None:
        _checkPair("OAuth2JwtBearerGrantConfig")(self)

    def _tokenRequest(self) -> _TokenRequest:
        return _TokenRequest(
            url=self.tokenUrl, form=self._form(_JWT_BEARER, [("assertion", self.assertion)]),
            clientId=self.clientId, clientSecret=self.clientSecret,
            credentialBearer=self.credentialBearer, clientConfig=self.clientConfig)


#: Any of the client's OAuth2 grants (REFERENCE §1.13 ``OAuth2GrantConfig``).
OAuth2GrantConfig = (
    OAuth2ClientCredentialsGrantConfig
    | OAuth2PasswordGrantConfig
    | OAuth2RefreshTokenGrantConfig
    | OAuth2JwtBearerGrantConfig
)


def _fieldsOf(record: type[Any]) -> set[str]:
    return {a.name for a in attrs.fields(record) if a.init}


def _grantMatcher(record: type[Any], *markers: str) -> Any:
    """A ``CLIENT_RECORDS`` test: a mapping is ``record`` when it holds the ``markers``
    (fields that tell it from the other client auth records) and only ``record``'s fields."""
    names = _fieldsOf(record)

    def matches(keys: set[str]) -> bool:
        return set(markers) <= keys <= names

    return matches


# ``ClientConfiguration(auth={...})`` with a grant's fields builds that grant.
CLIENT_RECORDS.extend([
    (OAuth2PasswordGrantConfig,
     _grantMatcher(OAuth2PasswordGrantConfig, "tokenUrl", "username", "password")),
    (OAuth2JwtBearerGrantConfig,
     _grantMatcher(OAuth2JwtBearerGrantConfig, "tokenUrl", "assertion")),
    (OAuth2ClientCredentialsGrantConfig,
     _grantMatcher(OAuth2ClientCredentialsGrantConfig, "tokenUrl", "clientId")),
    (OAuth2RefreshTokenGrantConfig,
     _grantMatcher(OAuth2RefreshTokenGrantConfig, "refreshUrl", "refreshToken")),
])
