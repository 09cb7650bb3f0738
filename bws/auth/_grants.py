# -*- test-case-name: tests.auth.test_grants -*-
"""The client's OAuth2 grants (RFC 6749 §4.3, §4.4, §6; RFC 7523 §2.1): records that fetch
an access token from a token endpoint and give it as ``Authorization: Bearer``, cached on
the clock and fetched again before it expires."""

from __future__ import annotations

import abc
from typing import Any, Final

import attrs
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure
from zope.interface import implementer

from bws._fields import Fields, optionalNameTuple, textPairs
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


def _asClientConfig(value: Any) -> Any:
    return _checks.built(OAuth2ClientConfig, value, default=True)


def _checkClientConfig(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    _checks.checkInstanceOf(OAuth2ClientConfig)(instance, attribute, value)
    if value.auth is not None or value.clientId is not None:
        _checks.fail(instance, attribute,
                     "auth and clientId/clientSecret do not apply to a token request: give"
                     " the grant's own clientId and clientSecret")


def _nonEmpty(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None or value == "":
        _checks.fail(instance, attribute, "must not be empty")
    _checks.checkText()(instance, attribute, value)


def _url() -> Any:
    return attrs.field(validator=_checks.checkUrl("https", "http"))


def _secret() -> Any:
    return attrs.field(repr=False, validator=_nonEmpty)


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


@attrs.frozen(kw_only=True)
class _Endpoint:
    """How a token request is made: the fields of every grant and of
    :class:`OAuth2RefreshConfig`."""

    scopes: tuple[str, ...] | None = attrs.field(
        default=None, converter=optionalNameTuple, validator=_checks.checkNames(optional=True))
    optionalParams: tuple[tuple[str, str], ...] = attrs.field(
        default=(), converter=textPairs, validator=_checks.checkTextPairs())
    credentialBearer: str = attrs.field(
        default=AUTH_HEADER_BEARER,
        validator=_checks.checkOneOf(AUTH_HEADER_BEARER, POST_BODY_BEARER))
    clientConfig: OAuth2ClientConfig = attrs.field(
        factory=OAuth2ClientConfig, converter=_asClientConfig, validator=_checkClientConfig)


@attrs.frozen(kw_only=True)
class _Grant(_Endpoint, abc.ABC):
    """What every grant config does with its fields (the records below add theirs)."""

    clientId: str | None = attrs.field(default=None, validator=_checks.checkText(optional=True))
    clientSecret: str | None = attrs.field(default=None, repr=False,
                                           validator=_checks.checkText(optional=True))
    defaultTokenExpTime: float = _checks.secondsField(3600, positive=True)
    clockSkew: float = _checks.secondsField(0)
    _cache: _TokenCache = attrs.field(factory=_TokenCache, init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.clientSecret is not None and self.clientId is None:
            raise ConfigurationError(f"{type(self).__name__}.clientId: needed with clientSecret")

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

    @abc.abstractmethod
    def _tokenRequest(self) -> _TokenRequest:
        """The grant's own token request (RFC 6749 §4.3, §4.4, §6; RFC 7523 §2.1)."""

    def _refreshRequest(self, refreshToken: str | None) -> _TokenRequest | None:
        """The RFC 6749 §6 request refreshing with ``refreshToken``, or ``None`` when the
        grant does not refresh (a new token is then asked for with :meth:`_tokenRequest`)."""
        return None

    def _canStartOver(self) -> bool:
        """Whether a refused refresh may be followed by a new grant request."""
        return True

    def _request(self, url: str, grant: str, extra: list[tuple[str, str]],
                 via: _Endpoint | None = None) -> _TokenRequest:
        """The request of ``grant`` (``grant_type``) to ``url`` with the ``extra`` form
        fields, made as ``via`` (a refresh config) says, or as the grant says; ``via``'s
        scopes default to the grant's."""
        how = via if via is not None else self
        scopes = how.scopes if how.scopes is not None else self.scopes
        form = [("grant_type", grant), *extra]
        if scopes:
            form.append(("scope", " ".join(scopes)))  # RFC 6749 §3.3
        form.extend(how.optionalParams)
        return _TokenRequest(url=url, form=tuple(form), clientId=self.clientId,
                             clientSecret=self.clientSecret,
                             credentialBearer=how.credentialBearer, clientConfig=how.clientConfig)


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

    tokenUrl: str = _url()
    clientId: str = attrs.field(validator=_nonEmpty)
    clientSecret: str = _secret()

    def _tokenRequest(self) -> _TokenRequest:
        return self._request(self.tokenUrl, "client_credentials", [])


@attrs.frozen(kw_only=True)
class OAuth2RefreshConfig(_Endpoint):
    """How a password grant's token is refreshed (RFC 6749 §6).

    :param refreshUrl: the token endpoint for the refresh.
    :param scopes: the scopes to ask for; ``None``: those of the grant.
    :param optionalParams: extra form parameters.
    :param credentialBearer: as for the grant.
    :param clientConfig: as for the grant.
    """

    refreshUrl: str = _url()


def _asRefreshConfig(value: Any) -> Any:
    return _checks.built(OAuth2RefreshConfig, value)


def _checkRefreshConfig(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and value != INFER_REFRESH_CONFIG and not isinstance(
            value, OAuth2RefreshConfig):
        _checks.fail(instance, attribute,
                     f"must be an OAuth2RefreshConfig, INFER_REFRESH_CONFIG or None, got {value!r}")


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

    ``defaultTokenExpTime``, ``clockSkew``, ``optionalParams``, ``credentialBearer`` and
    ``clientConfig`` are as for :class:`OAuth2ClientCredentialsGrantConfig`.
    """

    tokenUrl: str = _url()
    username: str = attrs.field(validator=_nonEmpty)
    password: str = _secret()
    refreshConfig: OAuth2RefreshConfig | str | None = attrs.field(
        default=None, converter=_asRefreshConfig, validator=_checkRefreshConfig)

    def _tokenRequest(self) -> _TokenRequest:
        return self._request(self.tokenUrl, "password",
                             [("username", self.username), ("password", self.password)])

    def _refreshRequest(self, refreshToken: str | None) -> _TokenRequest | None:
        if refreshToken is None or self.refreshConfig is None:
            return None
        via = self.refreshConfig if isinstance(self.refreshConfig, OAuth2RefreshConfig) else None
        return self._request(via.refreshUrl if via is not None else self.tokenUrl,
                             "refresh_token", [("refresh_token", refreshToken)], via)


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

    ``defaultTokenExpTime``, ``clockSkew``, ``optionalParams``, ``credentialBearer`` and
    ``clientConfig`` are as for :class:`OAuth2ClientCredentialsGrantConfig`.
    """

    refreshUrl: str = _url()
    refreshToken: str = _secret()
    clientId: str = attrs.field(validator=_nonEmpty)
    clientSecret: str = _secret()

    def _tokenRequest(self) -> _TokenRequest:
        # Every request is a refresh, with the latest refresh token the server gave.
        return self._request(self.refreshUrl, "refresh_token",
                             [("refresh_token", self._cache.refreshToken or self.refreshToken)])

    def _canStartOver(self) -> bool:
        return False


@implementer(IClientAuth)
@attrs.frozen(kw_only=True)
class OAuth2JwtBearerGrantConfig(_Grant):
    """The JWT bearer grant (RFC 7523 §2.1): a JWT assertion exchanged for a token.

    :param tokenUrl: the token endpoint.
    :param assertion: the signed JWT.
    :param clientId: the client identifier (optional).
    :param clientSecret: the client secret (optional).
    :param scopes: the scopes to ask for.

    ``defaultTokenExpTime``, ``clockSkew``, ``optionalParams``, ``credentialBearer`` and
    ``clientConfig`` are as for :class:`OAuth2ClientCredentialsGrantConfig`.
    """

    tokenUrl: str = _url()
    assertion: str = _secret()

    def _tokenRequest(self) -> _TokenRequest:
        return self._request(self.tokenUrl, _JWT_BEARER, [("assertion", self.assertion)])


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
