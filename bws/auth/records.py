# -*- test-case-name: tests.auth.test_records -*-
"""The spec's auth records (spec §5.2, REFERENCE §1.12-§1.13): frozen, validated when built."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

import attrs

from bws._fields import Fields, nameTuple, optionalNameTuple
from bws.config import ConfigurationError
from bws.tls._records import ClientSecureSocket

__all__ = [
    "ROLES_CACHE_SECONDS",
    "CacheConfig",
    "LdapUserStoreConfig",
    "LdapUserStoreConfigWithScopes",
    "OAuth2ClientConfig",
    "OAuth2IntrospectionConfig",
    "OAuth2IntrospectionConfigWithScopes",
]

_checks = Fields(ConfigurationError)


# --- LDAP and OAuth2 introspection (auth-b) -----------------------------------------------------

#: How long ``userRolesCacheEnabled`` keeps a user's DN and groups, in seconds.
ROLES_CACHE_SECONDS = 300.0


def _optionalSecureSocket(value: Any) -> Any:
    return ClientSecureSocket(**value) if isinstance(value, Mapping) else value


def _textMap(value: Any) -> Any:
    """Converter: a mapping becomes a tuple of ``(name, value)`` pairs, in order (records are
    frozen); anything else is left for the validator."""
    if value is None:
        return ()
    if isinstance(value, Mapping):
        return tuple(value.items())
    return value


def _checkTextMap(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, tuple):
        _checks.fail(instance, attribute, f"must be a mapping of text to text, got {value!r}")
    for name, item in value:
        if not isinstance(name, str) or not name or not isinstance(item, str):
            _checks.fail(instance, attribute,
                         f"must map non-empty text to text, got {name!r}: {item!r}")
        if any(c in name + item for c in "\r\n\0"):
            _checks.fail(instance, attribute, f"must hold no CR, LF or NUL, got {name!r}")


def _scopesField() -> Any:
    """The ``scopes`` of a ``...WithScopes`` entry: a name or a list of names, or ``None``
    (authentication only). Any overlap with the principal's scopes passes (REFERENCE §1.12)."""
    return attrs.field(default=None, converter=optionalNameTuple,
                       validator=_checks.checkNames(optional=True, nonEmpty=True))


def _checkHttpUrl(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value:
        _checks.fail(instance, attribute, f"must be an http(s) URL, got {value!r}")
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        _checks.fail(instance, attribute, f"must be an http:// or https:// URL, got {value!r}")
    try:
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError:
        _checks.fail(instance, attribute, f"has a bad port: {value!r}")


@attrs.frozen(kw_only=True)
class CacheConfig:
    """A bounded cache of validation results (Ballerina's ``cache:CacheConfig``).

    :param capacity: the most entries kept.
    :param evictionFactor: the share of ``capacity`` dropped, least recently used first,
        when a new entry finds the cache full (0 < factor <= 1).
    :param defaultMaxAge: decimal seconds an entry may live at most, whatever its own expiry
        says; -1 for no such cap.
    """

    capacity: int = attrs.field(default=100, validator=_checks.checkInt(1))
    evictionFactor: float = attrs.field(default=0.25, validator=_checks.checkNumber(0))
    defaultMaxAge: float = _checks.secondsField(-1, allowMinusOne=True, positive=True)

    def __attrs_post_init__(self) -> None:
        if not 0 < self.evictionFactor <= 1:
            raise ConfigurationError(
                f"CacheConfig.evictionFactor: must be > 0 and <= 1, got {self.evictionFactor!r}")


def _checkLdapUrl(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value:
        _checks.fail(instance, attribute, f"must be an ldap:// or ldaps:// URL, got {value!r}")
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("ldap", "ldaps") or not parts.hostname:
        _checks.fail(instance, attribute, f"must be an ldap:// or ldaps:// URL, got {value!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        _checks.fail(instance, attribute,
                     f"must name only a scheme, a host and a port, got {value!r}")
    try:
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError:
        _checks.fail(instance, attribute, f"has a bad port: {value!r}")


def _checkFilterTemplate(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    _checks.checkText()(instance, attribute, value)
    if not (value.startswith("(") and value.endswith(")")) or "?" not in value:
        _checks.fail(instance, attribute,
                     f"must be an LDAP filter in parentheses with a ? where the name goes,"
                     f" got {value!r}")


def _checkFilter(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    _checks.checkText()(instance, attribute, value)
    if not (value.startswith("(") and value.endswith(")")):
        _checks.fail(instance, attribute, f"must be an LDAP filter in parentheses, got {value!r}")


def _checkAttributeName(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    # RFC 4512 §2.5: an attribute description is a keystring (ALPHA, then ALPHA / DIGIT / "-").
    if (not isinstance(value, str) or not value or not value[0].isascii()
            or not value[0].isalpha()
            or not all(c.isascii() and (c.isalnum() or c == "-") for c in value)):
        _checks.fail(instance, attribute, f"must be an LDAP attribute name, got {value!r}")


@attrs.frozen(kw_only=True)
class LdapUserStoreConfig:
    """An LDAP directory as a user store for Basic credentials (Ballerina's
    ``auth:LdapUserStoreConfig``).

    A request's user is found by a search under ``userSearchBase`` with
    ``userNameSearchFilter`` (its ``?`` replaced by the user name, escaped as RFC 4515 §3
    says), made on a connection bound as ``connectionName``; the password is then checked
    by binding as that user (RFC 4513 §5.1.3). The user's groups, the entries under
    ``groupSearchBase`` matching ``groupNameListFilter`` whose ``membershipAttribute`` holds
    the user's DN, give the principal's scopes (their ``groupNameAttribute``).

    :param domainName: a name for this store, used in log lines.
    :param connectionUrl: ``ldap://host[:port]`` (389 by default) or ``ldaps://host[:port]``
        (636; TLS configured by ``secureSocket``).
    :param connectionName: the DN the checker binds as to search; ``""`` (with an empty
        ``connectionPassword``) searches anonymously.
    :param connectionPassword: that DN's password.
    :param userSearchBase: the DN under which users are searched (whole subtree).
    :param userEntryObjectClass: the object class of user entries (documentation of the
        directory; the search filter is what selects users).
    :param userNameAttribute: the attribute holding the user name; its value on the found entry
        is the principal's ``userId``.
    :param userNameSearchFilter: the filter that finds one user; ``?`` stands for the name.
    :param userNameListFilter: the filter that lists users (kept for the spec; authentication
        does not list users).
    :param groupSearchBase: the DNs under which groups are searched; empty: no scopes from
        groups.
    :param groupEntryObjectClass: the object class of group entries (kept for the spec).
    :param groupNameAttribute: the attribute holding a group's name: the scope it gives.
    :param groupNameSearchFilter: the filter that finds one group by name (kept for the spec).
    :param groupNameListFilter: the filter every group entry matches.
    :param membershipAttribute: the group attribute listing its members' DNs (``member``,
        ``uniqueMember``), or ``memberUid`` (RFC 2307 ``posixGroup``), which lists user names.
    :param userRolesCacheEnabled: keep each user's DN and groups for
        :data:`ROLES_CACHE_SECONDS`, so a repeated login costs one bind; the password is
        still checked against the directory every time.
    :param connectionPoolingEnabled: keep the service-bound search connection open between
        requests (user binds always use a connection of their own).
    :param connectionTimeout: decimal seconds to open a connection (TCP and TLS).
    :param readTimeout: decimal seconds each LDAP operation may take.
    :param secureSocket: TLS for ``ldaps://`` (trust, client certificate, versions); ``None``
        trusts the platform's CAs.
    :raises bws.ConfigurationError: naming the field, for a value of the wrong kind.
    """

    domainName: str = attrs.field(default="", validator=_checks.checkText(singleLine=True))
    connectionUrl: str = attrs.field(validator=_checkLdapUrl)
    connectionName: str = attrs.field(validator=_checks.checkText())
    connectionPassword: str = attrs.field(repr=False, validator=_checks.checkText())
    userSearchBase: str = attrs.field(
        validator=_checks.checkText(required="LdapUserStoreConfig.userSearchBase: must be"
                                             " a DN, got an empty value"))
    userEntryObjectClass: str = attrs.field(default="inetOrgPerson",
                                            validator=_checkAttributeName)
    userNameAttribute: str = attrs.field(default="uid", validator=_checkAttributeName)
    userNameSearchFilter: str = attrs.field(default="(&(objectClass=inetOrgPerson)(uid=?))",
                                            validator=_checkFilterTemplate)
    userNameListFilter: str = attrs.field(default="(objectClass=inetOrgPerson)",
                                          validator=_checkFilter)
    groupSearchBase: tuple[str, ...] = attrs.field(default=(), converter=nameTuple,
                                                   validator=_checks.checkNames())
    groupEntryObjectClass: str = attrs.field(default="groupOfNames",
                                             validator=_checkAttributeName)
    groupNameAttribute: str = attrs.field(default="cn", validator=_checkAttributeName)
    groupNameSearchFilter: str = attrs.field(default="(&(objectClass=groupOfNames)(cn=?))",
                                             validator=_checkFilterTemplate)
    groupNameListFilter: str = attrs.field(default="(objectClass=groupOfNames)",
                                           validator=_checkFilter)
    membershipAttribute: str = attrs.field(default="member", validator=_checkAttributeName)
    userRolesCacheEnabled: bool = attrs.field(default=False, validator=_checks.checkBool)
    connectionPoolingEnabled: bool = attrs.field(default=True, validator=_checks.checkBool)
    connectionTimeout: float = _checks.secondsField(5, positive=True)
    readTimeout: float = _checks.secondsField(60, positive=True)
    secureSocket: ClientSecureSocket | None = attrs.field(
        default=None, converter=_optionalSecureSocket,
        validator=_checks.checkInstanceOf(ClientSecureSocket, optional=True))

    def __attrs_post_init__(self) -> None:
        if self.connectionName and not self.connectionPassword:
            # RFC 4513 §5.1.2: a name with an empty password is an unauthenticated bind,
            # which servers treat as anonymous: never what a configured name means.
            raise ConfigurationError(
                "LdapUserStoreConfig.connectionPassword: must not be empty when"
                " connectionName is set (an empty password makes the bind anonymous)")
        if self.connectionPassword and not self.connectionName:
            raise ConfigurationError(
                "LdapUserStoreConfig.connectionName: must be set with connectionPassword")
        if self.secureSocket is not None and not self.connectionUrl.startswith("ldaps:"):
            raise ConfigurationError(
                "LdapUserStoreConfig.secureSocket: needs an ldaps:// connectionUrl,"
                f" got {self.connectionUrl!r}")


def _coerceLdapConfig(value: Any) -> Any:
    """Converter: a mapping (as a config file spells the nested record) becomes the record."""
    return LdapUserStoreConfig(**value) if isinstance(value, Mapping) else value


@attrs.frozen(kw_only=True)
class LdapUserStoreConfigWithScopes:
    """A listener auth entry checking Basic credentials against LDAP (spec §5.2).

    :param ldapUserStoreConfig: the directory (:class:`LdapUserStoreConfig` or a mapping of
        its fields).
    :param scopes: the scopes the service requires (any one of them); ``None``: any user the
        directory accepts.
    """

    ldapUserStoreConfig: LdapUserStoreConfig = attrs.field(
        converter=_coerceLdapConfig,
        validator=_checks.checkInstanceOf(LdapUserStoreConfig))
    scopes: tuple[str, ...] | None = _scopesField()


def _checkClientAuth(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not callable(getattr(value, "authorizationHeader", None)):
        _checks.fail(instance, attribute,
                     "must be a client auth config with an authorizationHeader method (an"
                     f" OAuth2 grant config), not {type(value).__name__}")


@attrs.frozen(kw_only=True)
class OAuth2ClientConfig:
    """How bws calls an OAuth2 endpoint (introspection, token): Ballerina's
    ``oauth2:ClientConfiguration``, plus the client credentials and a time bound.

    :param secureSocket: TLS to the endpoint (:class:`bws.tls.ClientSecureSocket` or a
        mapping); ``None`` verifies against the platform's CAs.
    :param customHeaders: extra request headers.
    :param customPayload: extra ``application/x-www-form-urlencoded`` parameters, already
        encoded (``"a=1&b=2"``), appended to the body.
    :param auth: a client auth config whose ``authorizationHeader(clock, reactor)`` gives the
        ``Authorization`` header (e.g. an OAuth2 grant: the endpoint sees a Bearer token).
    :param clientId: the client identifier, sent with ``clientSecret`` as HTTP Basic
        (RFC 6749 §2.3.1, RFC 7662 §2.1); not with ``auth``.
    :param clientSecret: the client secret.
    :param timeout: decimal seconds the whole call may take (connect, TLS, answer); past it
        the endpoint counts as down.
    """

    secureSocket: ClientSecureSocket | None = attrs.field(
        default=None, converter=_optionalSecureSocket,
        validator=_checks.checkInstanceOf(ClientSecureSocket, optional=True))
    customHeaders: tuple[tuple[str, str], ...] = attrs.field(
        default=(), converter=_textMap, validator=_checkTextMap)
    customPayload: str | None = attrs.field(
        default=None, validator=_checks.checkText(optional=True, singleLine=True))
    auth: Any = attrs.field(default=None, validator=_checkClientAuth)
    clientId: str | None = attrs.field(default=None,
                                       validator=_checks.checkText(optional=True))
    clientSecret: str | None = attrs.field(default=None, repr=False,
                                           validator=_checks.checkText(optional=True))
    timeout: float = _checks.secondsField(10, positive=True)

    def __attrs_post_init__(self) -> None:
        if (self.clientId is None) != (self.clientSecret is None):
            raise ConfigurationError(
                "OAuth2ClientConfig.clientSecret: clientId and clientSecret go together")
        if self.clientId is not None and self.auth is not None:
            raise ConfigurationError(
                "OAuth2ClientConfig.auth: give either auth or clientId/clientSecret, not both")


def _coerceClientConfig(value: Any) -> Any:
    if value is None:
        return OAuth2ClientConfig()
    return OAuth2ClientConfig(**value) if isinstance(value, Mapping) else value


def _coerceCacheConfig(value: Any) -> Any:
    return CacheConfig(**value) if isinstance(value, Mapping) else value


@attrs.frozen(kw_only=True)
class OAuth2IntrospectionConfig:
    """An RFC 7662 introspection endpoint that validates Bearer tokens (Ballerina's
    ``oauth2:IntrospectionConfig`` with the websocket module's ``scopeKey``).

    :param url: the endpoint (https; http is accepted for a loopback test server).
    :param tokenTypeHint: sent as ``token_type_hint`` (RFC 7662 §2.1), e.g. ``access_token``.
    :param scopeKey: the answer's member holding the scopes: a space-separated string
        (RFC 7662 §2.2) or a list of strings.
    :param optionalParams: extra form parameters sent with each request.
    :param cacheConfig: cache active answers (:class:`CacheConfig`) until their ``exp``, or
        ``defaultTokenExpTime`` when they carry none; ``None``: every request asks.
    :param defaultTokenExpTime: decimal seconds a cached answer without ``exp`` is kept.
    :param clientConfig: how the endpoint is called (:class:`OAuth2ClientConfig`).
    """

    url: str = attrs.field(validator=_checkHttpUrl)
    tokenTypeHint: str | None = attrs.field(
        default=None, validator=_checks.checkText(optional=True, singleLine=True))
    scopeKey: str = attrs.field(default="scope", validator=_checks.checkText(
        required="OAuth2IntrospectionConfig.scopeKey: must be a claim name, got an empty value"))
    optionalParams: tuple[tuple[str, str], ...] = attrs.field(
        default=(), converter=_textMap, validator=_checkTextMap)
    cacheConfig: CacheConfig | None = attrs.field(
        default=None, converter=_coerceCacheConfig,
        validator=_checks.checkInstanceOf(CacheConfig, optional=True))
    defaultTokenExpTime: float = _checks.secondsField(3600, positive=True)
    clientConfig: OAuth2ClientConfig = attrs.field(
        factory=OAuth2ClientConfig, converter=_coerceClientConfig,
        validator=_checks.checkInstanceOf(OAuth2ClientConfig))


def _coerceIntrospectionConfig(value: Any) -> Any:
    return OAuth2IntrospectionConfig(**value) if isinstance(value, Mapping) else value


@attrs.frozen(kw_only=True)
class OAuth2IntrospectionConfigWithScopes:
    """A listener auth entry validating Bearer tokens by introspection (spec §5.2).

    :param oauth2IntrospectionConfig: the endpoint (:class:`OAuth2IntrospectionConfig` or a
        mapping of its fields).
    :param scopes: the scopes the service requires (any one of them); ``None``: any active
        token.
    """

    oauth2IntrospectionConfig: OAuth2IntrospectionConfig = attrs.field(
        converter=_coerceIntrospectionConfig,
        validator=_checks.checkInstanceOf(OAuth2IntrospectionConfig))
    scopes: tuple[str, ...] | None = _scopesField()

