# -*- test-case-name: tests.auth.test_records -*-
"""The spec's auth records (spec §5.2, REFERENCE §1.12–§1.13): what a service's
``WSServiceConfig.auth`` entries and a client's ``ClientConfiguration.auth`` hold.

Records are values, validated when built: a wrong value raises
:class:`bws.ConfigurationError` naming ``Record.field``. They do no I/O; the stores behind
the listener records are built by :func:`bws.auth._stores.buildEntries` when a service is
attached, and the client's ``Authorization`` header by :mod:`bws.auth.client`.

Listener side (one entry of ``WSServiceConfig.auth``):

- :class:`FileUserStoreConfigWithScopes` — Basic, users in a TOML file;
- :class:`JwtValidatorConfigWithScopes` — Bearer, the token validated as a JWT;
- ``LdapUserStoreConfigWithScopes``, ``OAuth2IntrospectionConfigWithScopes`` — Basic
  through LDAP, Bearer through RFC 7662 introspection;
- :class:`CheckerWithScopes` — any ``twisted.cred`` ``ICredentialsChecker`` (a bare
  checker is taken as one with no scopes).

Client side (``ClientConfiguration.auth``): :class:`CredentialsConfig` (Basic),
:class:`BearerTokenConfig`, :class:`JwtIssuerConfig` (a self-signed JWT), the OAuth2 grant
configs, or any object providing :class:`IClientAuth`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs
from twisted.cred.checkers import ICredentialsChecker
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from zope.interface import Interface

from bws._fields import (
    Fields,
    nameTuple,
    optionalNameTuple,
    optionalPathText,
    pathText,
    textPairs,
)
from bws.errors import ConfigurationError
from bws.tls._records import ClientSecureSocket, KeyStore, TrustStore

__all__ = [
    "Scopes",
    "CheckerWithScopes",
    "FileUserStoreConfig",
    "FileUserStoreConfigWithScopes",
    "TrustStoreConfig",
    "JwksConfig",
    "ValidatorSignatureConfig",
    "JwtValidatorConfig",
    "JwtValidatorConfigWithScopes",
    "LISTENER_RECORDS",
    "listenerEntry",
    "listenerEntries",
    "IClientAuth",
    "CredentialsConfig",
    "BearerTokenConfig",
    "PrivateKeyConfig",
    "KeyStoreConfig",
    "IssuerSignatureConfig",
    "JwtIssuerConfig",
    "CLIENT_RECORDS",
    "clientAuth",
    "JWT_ALGORITHMS",
    "ROLES_CACHE_SECONDS",
    "CacheConfig",
    "LdapUserStoreConfig",
    "LdapUserStoreConfigWithScopes",
    "OAuth2ClientConfig",
    "OAuth2IntrospectionConfig",
    "OAuth2IntrospectionConfigWithScopes",
]

_checks = Fields(ConfigurationError)

#: Required scopes: ``None`` (authentication only) or at least one scope name.
Scopes = tuple[str, ...] | None

#: The signature algorithms bws signs and verifies with (RFC 7518 §3.1, RFC 8037 §3.1).
#: ``none`` is never one of them.
JWT_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                  "ES256", "ES384", "ES512", "EdDSA", "HS256", "HS384", "HS512")


# -- shared fields ------------------------------------------------------------------------


def _checkScopes(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, tuple):
        _checks.fail(instance, attribute, f"must be a scope name or a list of them, got "
                                          f"{type(value).__name__}")
    if not value:
        _checks.fail(instance, attribute,
                     "must name at least one scope (leave it out to only authenticate)")
    for scope in value:
        if not isinstance(scope, str) or not scope:
            _checks.fail(instance, attribute, f"must be non-empty strings, got {scope!r}")
        if len(scope.split()) != 1:
            _checks.fail(instance, attribute,
                         f"{scope!r}: a scope name holds no whitespace; give a list of names")


def _scopesField() -> Any:
    """``scopes: string|string[]`` of the spec: one name or a list, any one of which passes."""
    return attrs.field(default=None, converter=optionalNameTuple,
                       validator=_checkScopes)


# Converters of nested records (a mapping is built into the record); named functions, as
# mypy's attrs plugin wants them.


def _asFileUserStoreConfig(value: Any) -> Any:
    return _checks.built(FileUserStoreConfig, value)


def _asTrustStore(value: Any) -> Any:
    return _checks.built(TrustStore, value)


def _asJwksConfig(value: Any) -> Any:
    return _checks.built(JwksConfig, value)


def _asTrustStoreConfig(value: Any) -> Any:
    return _checks.built(TrustStoreConfig, value)


def _asValidatorSignatureConfig(value: Any) -> Any:
    return _checks.built(ValidatorSignatureConfig, value)


def _asJwtValidatorConfig(value: Any) -> Any:
    return _checks.built(JwtValidatorConfig, value)


def _asKeyStore(value: Any) -> Any:
    return _checks.built(KeyStore, value)


def _asIssuerSignatureConfig(value: Any) -> Any:
    return _checks.built(IssuerSignatureConfig, value)


def _optionalText() -> Any:
    return attrs.field(default=None, validator=_checks.checkText(optional=True))


# -- listener: any twisted.cred checker -------------------------------------------------


#: The shortest HMAC secret accepted, in bytes: the output of SHA-256 (RFC 7518 §3.2).
_HMAC_MIN_BYTES = 32


def _checkHmacSecret(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    """An HMAC secret: text of at least :data:`_HMAC_MIN_BYTES` bytes in UTF-8."""
    if isinstance(value, str) and len(value.encode("utf-8")) < _HMAC_MIN_BYTES:
        _checks.fail(instance, attribute,
                     f"an HMAC secret must be at least {_HMAC_MIN_BYTES} bytes (RFC 7518 §3.2)")


def _checkChecker(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not ICredentialsChecker.providedBy(value):
        _checks.fail(instance, attribute,
                     f"must provide twisted.cred ICredentialsChecker, got {type(value).__name__}")


@attrs.frozen
class CheckerWithScopes:
    """A ``twisted.cred`` credentials checker as a listener auth entry.

    Basic credentials (``IUsernamePassword``) go to it when its ``credentialInterfaces``
    name ``IUsernamePassword``; Bearer tokens (:class:`bws.auth.credentials.IBearerToken`)
    when they name that. ``requestAvatarId`` answers a :class:`bws.Principal`, or a
    ``str``/``bytes`` user id (a principal with no scopes), or fails with
    ``UnauthorizedLogin`` (401) or :class:`bws.auth.credentials.BackendUnavailable` (503).

    :ivar checker: the ``ICredentialsChecker``.
    :ivar scopes: the scopes required (any one of them passes); ``None``: authentication only.
    """

    checker: Any = attrs.field(validator=_checkChecker)
    scopes: Scopes = _scopesField()


# -- listener: file user store ------------------------------------------------------------


@attrs.frozen
class FileUserStoreConfig:
    """Users and their (hashed) passwords and scopes in a TOML file (spec ``FileUserStoreConfig``).

    The file holds ``[[users]]`` tables (``username``, ``password``, ``scopes``); the
    reference's ``[[ballerina.auth.users]]`` tables are read too. A password is plain text
    or a hash in its modular-crypt form (``$pbkdf2-sha256$…``, ``$scrypt$…``, ``$2b$…``,
    ``$argon2id$…``). The file is read when the service is attached; a missing or malformed
    file fails then, naming the file and line.

    :ivar path: the TOML file; the reference reads the program's ``Config.toml``.
    """

    path: str = attrs.field(default="Config.toml", converter=pathText,
                            validator=_checks.checkText())


@attrs.frozen
class FileUserStoreConfigWithScopes:
    """Basic authentication against a :class:`FileUserStoreConfig` (spec §5.2)."""

    fileUserStoreConfig: FileUserStoreConfig = attrs.field(
        factory=FileUserStoreConfig, converter=_asFileUserStoreConfig,
        validator=_checks.checkInstanceOf(FileUserStoreConfig))
    scopes: Scopes = _scopesField()


# -- listener: JWT validator --------------------------------------------------------------


@attrs.frozen
class TrustStoreConfig:
    """The certificate named ``certAlias`` (its PKCS#12 friendly name) in ``trustStore``
    holds the public key JWTs are signed with."""

    trustStore: TrustStore = attrs.field(converter=_asTrustStore,
                                         validator=_checks.checkInstanceOf(TrustStore))
    certAlias: str = attrs.field(validator=_checks.checkText())


def _trustSource(value: Any) -> Any:
    if isinstance(value, Mapping):
        return _checks.build(TrustStore, value)
    return optionalPathText(value)


def _checkTrustSource(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not isinstance(value, (str, TrustStore)):
        _checks.fail(instance, attribute,
                     f"must be a PEM file path or a TrustStore, not {type(value).__name__}")


@attrs.frozen
class JwksConfig:
    """Signing keys fetched from a JWKS endpoint (RFC 7517 §5) over HTTPS.

    Keys are cached for ``cacheTtl`` seconds; a token naming a ``kid`` the cache lacks makes
    one refetch, at most every ``minRefreshInterval`` seconds. The endpoint's certificate is
    always verified.

    :ivar url: the ``https://`` URL of the key set.
    :ivar cert: CA certificates to trust for that endpoint (a PEM file or a ``TrustStore``);
        ``None`` trusts the platform's CAs.
    :ivar cacheTtl: decimal seconds a fetched key set is used.
    :ivar minRefreshInterval: decimal seconds between two fetches caused by unknown ``kid`` values.
    :ivar timeout: decimal seconds a fetch may take; then the request is answered 503.
    """

    url: str = attrs.field(validator=_checks.checkUrl("https"))
    cert: str | TrustStore | None = attrs.field(default=None, converter=_trustSource,
                                                validator=_checkTrustSource)
    cacheTtl: float = _checks.secondsField(3600, positive=True)
    minRefreshInterval: float = _checks.secondsField(30)
    timeout: float = _checks.secondsField(10, positive=True)


@attrs.frozen
class ValidatorSignatureConfig:
    """How a JWT's signature is verified: exactly one of the four (spec
    ``ValidatorSignatureConfig``).

    :ivar jwksConfig: keys from a JWKS endpoint, chosen by the token's ``kid``.
    :ivar certFile: a PEM certificate (or public key) file.
    :ivar trustStoreConfig: a certificate in a PKCS#12 trust store.
    :ivar secret: an HMAC secret (HS256/384/512), as UTF-8 text.
    """

    jwksConfig: JwksConfig | None = attrs.field(
        default=None, converter=_asJwksConfig,
        validator=_checks.checkInstanceOf(JwksConfig, optional=True))
    certFile: str | None = attrs.field(default=None, converter=optionalPathText,
                                       validator=_checks.checkText(optional=True))
    trustStoreConfig: TrustStoreConfig | None = attrs.field(
        default=None, converter=_asTrustStoreConfig,
        validator=_checks.checkInstanceOf(TrustStoreConfig, optional=True))
    secret: str | None = attrs.field(
        default=None, repr=False,
        validator=[_checks.checkText(optional=True), _checkHmacSecret])

    def __attrs_post_init__(self) -> None:
        given = [name for name in ("jwksConfig", "certFile", "trustStoreConfig", "secret")
                 if getattr(self, name) is not None]
        if len(given) != 1:
            raise ConfigurationError(
                "ValidatorSignatureConfig: give exactly one of jwksConfig, certFile, "
                f"trustStoreConfig, secret (got {', '.join(given) or 'none'})")


@attrs.frozen
class JwtValidatorConfig:
    """What a Bearer JWT must be (spec ``JwtValidatorConfig``; RFC 7519, RFC 8725).

    The token must be signed as ``signatureConfig`` says, with an algorithm fitting the key
    (``alg: none`` never passes), and carry ``exp``; ``nbf`` and ``exp`` are checked with
    ``clockSkew`` seconds of leeway.

    :ivar issuer: the ``iss`` required, if any.
    :ivar audience: ``aud`` must hold one of these, if given.
    :ivar username: the ``sub`` required, if any.
    :ivar clockSkew: decimal seconds of leeway for ``exp``/``nbf``/``iat``.
    :ivar signatureConfig: how the signature is verified (required).
    :ivar scopeKey: the claim holding the scopes: a space-separated string or a list.
    """

    signatureConfig: ValidatorSignatureConfig = attrs.field(
        converter=_asValidatorSignatureConfig,
        validator=_checks.checkInstanceOf(ValidatorSignatureConfig))
    issuer: str | None = _optionalText()
    audience: tuple[str, ...] | None = attrs.field(
        default=None, converter=optionalNameTuple, validator=_checks.checkNames(optional=True))
    username: str | None = _optionalText()
    clockSkew: float = _checks.secondsField(0)
    scopeKey: str = attrs.field(default="scope", validator=_checks.checkText())


@attrs.frozen
class JwtValidatorConfigWithScopes:
    """Bearer authentication by JWT validation (spec §5.2)."""

    jwtValidatorConfig: JwtValidatorConfig = attrs.field(
        converter=_asJwtValidatorConfig, validator=_checks.checkInstanceOf(JwtValidatorConfig))
    scopes: Scopes = _scopesField()


# -- listener: LDAP user store and OAuth2 introspection ---------------------------------

#: How long ``userRolesCacheEnabled`` keeps a user's DN and groups, in seconds.
ROLES_CACHE_SECONDS = 300.0


def _optionalSecureSocket(value: Any) -> Any:
    return _checks.built(ClientSecureSocket, value)


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
    _checks.checkUrl("ldap", "ldaps")(instance, attribute, value)
    parts = urlsplit(value)
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        _checks.fail(instance, attribute,
                     f"must name only a scheme, a host and a port, got {value!r}")


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


def _asLdapUserStoreConfig(value: Any) -> Any:
    return _checks.built(LdapUserStoreConfig, value)


@attrs.frozen(kw_only=True)
class LdapUserStoreConfigWithScopes:
    """A listener auth entry checking Basic credentials against LDAP (spec §5.2).

    :param ldapUserStoreConfig: the directory (:class:`LdapUserStoreConfig` or a mapping of
        its fields).
    :param scopes: the scopes the service requires (any one of them); ``None``: any user the
        directory accepts.
    """

    ldapUserStoreConfig: LdapUserStoreConfig = attrs.field(
        converter=_asLdapUserStoreConfig,
        validator=_checks.checkInstanceOf(LdapUserStoreConfig))
    scopes: Scopes = _scopesField()


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
        default=(), converter=textPairs, validator=_checks.checkTextPairs(singleLine=True))
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


def _asOAuth2ClientConfig(value: Any) -> Any:
    return _checks.built(OAuth2ClientConfig, value, default=True)


def _asCacheConfig(value: Any) -> Any:
    return _checks.built(CacheConfig, value)


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

    url: str = attrs.field(validator=_checks.checkUrl("http", "https"))
    tokenTypeHint: str | None = attrs.field(
        default=None, validator=_checks.checkText(optional=True, singleLine=True))
    scopeKey: str = attrs.field(default="scope", validator=_checks.checkText(
        required="OAuth2IntrospectionConfig.scopeKey: must be a claim name, got an empty value"))
    optionalParams: tuple[tuple[str, str], ...] = attrs.field(
        default=(), converter=textPairs, validator=_checks.checkTextPairs(singleLine=True))
    cacheConfig: CacheConfig | None = attrs.field(
        default=None, converter=_asCacheConfig,
        validator=_checks.checkInstanceOf(CacheConfig, optional=True))
    defaultTokenExpTime: float = _checks.secondsField(3600, positive=True)
    clientConfig: OAuth2ClientConfig = attrs.field(
        factory=OAuth2ClientConfig, converter=_asOAuth2ClientConfig,
        validator=_checks.checkInstanceOf(OAuth2ClientConfig))


def _asOAuth2IntrospectionConfig(value: Any) -> Any:
    return _checks.built(OAuth2IntrospectionConfig, value)


@attrs.frozen(kw_only=True)
class OAuth2IntrospectionConfigWithScopes:
    """A listener auth entry validating Bearer tokens by introspection (spec §5.2).

    :param oauth2IntrospectionConfig: the endpoint (:class:`OAuth2IntrospectionConfig` or a
        mapping of its fields).
    :param scopes: the scopes the service requires (any one of them); ``None``: any active
        token.
    """

    oauth2IntrospectionConfig: OAuth2IntrospectionConfig = attrs.field(
        converter=_asOAuth2IntrospectionConfig,
        validator=_checks.checkInstanceOf(OAuth2IntrospectionConfig))
    scopes: Scopes = _scopesField()


# -- listener entries ---------------------------------------------------------------------

#: The spec's listener records by the key naming them in a mapping
#: (``{"fileUserStoreConfig": {...}, "scopes": [...]}``), as the reference writes entries.
LISTENER_RECORDS: dict[str, type[Any]] = {
    "fileUserStoreConfig": FileUserStoreConfigWithScopes,
    "jwtValidatorConfig": JwtValidatorConfigWithScopes,
    "ldapUserStoreConfig": LdapUserStoreConfigWithScopes,
    "oauth2IntrospectionConfig": OAuth2IntrospectionConfigWithScopes,
}


def listenerEntry(value: Any, where: str = "WSServiceConfig.auth") -> Any:
    """One ``WSServiceConfig.auth`` entry as a record.

    A record of :data:`LISTENER_RECORDS` or a :class:`CheckerWithScopes` is kept; a bare
    ``ICredentialsChecker`` becomes ``CheckerWithScopes(checker)``; a mapping with one key
    of :data:`LISTENER_RECORDS` (and ``scopes``) becomes that record.

    :raise ConfigurationError: naming ``where`` when the value is none of these.
    """
    if isinstance(value, CheckerWithScopes) or type(value) in LISTENER_RECORDS.values():
        return value
    if ICredentialsChecker.providedBy(value):
        return CheckerWithScopes(value)
    if isinstance(value, Mapping):
        keys = [k for k in value if k in LISTENER_RECORDS]
        if len(keys) == 1:
            return _checks.build(LISTENER_RECORDS[keys[0]], value)
        raise ConfigurationError(
            f"{where}: a mapping entry needs exactly one of {', '.join(LISTENER_RECORDS)} "
            f"(and scopes); got keys {', '.join(map(str, value)) or 'none'}")
    raise ConfigurationError(
        f"{where}: must be a {', '.join(r.__name__ for r in LISTENER_RECORDS.values())}, "
        f"a CheckerWithScopes or a twisted.cred ICredentialsChecker; got "
        f"{type(value).__name__}")


def listenerEntries(value: Any) -> tuple[Any, ...] | None:
    """Converter of ``WSServiceConfig.auth``: ``None`` or each entry through
    :func:`listenerEntry`, naming its index when refused."""
    if value is None:
        return None
    if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__iter__"):
        value = [value]
    return tuple(listenerEntry(entry, f"WSServiceConfig.auth[{i}]")
                 for i, entry in enumerate(value))


# -- client ---------------------------------------------------------------------------------


class IClientAuth(Interface):
    """A source of the client's ``Authorization`` header: give one as
    ``ClientConfiguration.auth`` to compute the header yourself.

    bws asks it before every connection attempt (the first and each reconnect), so a
    source that caches a token refreshes it there.
    """

    def authorizationHeader(clock: IReactorTime, reactor: Any) -> Deferred[str]:
        """The whole header value (``"Bearer abc"``), or a failure with
        :class:`bws.AuthError` saying why none could be made.

        :param clock: the client's clock (token lifetimes are measured on it).
        :param reactor: the client's reactor (for a request to a token endpoint).
        """


@attrs.frozen
class CredentialsConfig:
    """Basic authentication (RFC 7617): ``Authorization: Basic base64(username:password)``.

    :ivar username: UTF-8; must not be empty or hold a colon (checked when connecting).
    :ivar password: UTF-8; may hold colons.
    """

    username: str = attrs.field(validator=_checks.checkText())
    password: str = attrs.field(repr=False, validator=_checks.checkText())


@attrs.frozen
class BearerTokenConfig:
    """A fixed bearer token (RFC 6750 §2.1): ``Authorization: Bearer <token>``."""

    token: str = attrs.field(repr=False, validator=_checks.checkText())


@attrs.frozen
class PrivateKeyConfig:
    """A PEM private key file (encrypted with ``keyPassword``, if given) to sign with."""

    keyFile: str = attrs.field(converter=pathText, validator=_checks.checkText())
    keyPassword: str | None = attrs.field(default=None, repr=False,
                                          validator=_checks.checkText(optional=True))


@attrs.frozen
class KeyStoreConfig:
    """The private key named ``keyAlias`` in a PKCS#12 ``keyStore`` to sign with.

    :ivar keyPassword: the key's password when it differs from the key store's.
    """

    keyStore: KeyStore = attrs.field(converter=_asKeyStore,
                                     validator=_checks.checkInstanceOf(KeyStore))
    keyAlias: str = attrs.field(validator=_checks.checkText())
    keyPassword: str | None = attrs.field(default=None, repr=False,
                                          validator=_checks.checkText(optional=True))


def _signingKey(value: Any) -> Any:
    if isinstance(value, Mapping):
        if "keyStore" in value:
            return _checks.build(KeyStoreConfig, value)
        return _checks.build(PrivateKeyConfig, value)
    return value


def _checkSigningKey(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, (PrivateKeyConfig, KeyStoreConfig, str)):
        _checks.fail(instance, attribute, "must be a PrivateKeyConfig, a KeyStoreConfig or an "
                                          f"HMAC secret (str), not {type(value).__name__}")
    _checkHmacSecret(instance, attribute, value)


@attrs.frozen
class IssuerSignatureConfig:
    """How a self-issued JWT is signed (spec ``IssuerSignatureConfig``).

    :ivar algorithm: a JWS algorithm fitting the key (RS*/PS* for RSA, ES* for EC, EdDSA for
        Ed25519, HS* for a secret); never ``none``.
    :ivar config: a :class:`PrivateKeyConfig`, a :class:`KeyStoreConfig`, or an HMAC secret.
    """

    config: PrivateKeyConfig | KeyStoreConfig | str = attrs.field(
        converter=_signingKey, validator=_checkSigningKey, repr=False)
    algorithm: str = attrs.field(default="RS256", validator=_checks.checkOneOf(*JWT_ALGORITHMS))

    def __attrs_post_init__(self) -> None:
        secret = isinstance(self.config, str)
        if secret != self.algorithm.startswith("HS"):
            raise ConfigurationError(
                f"IssuerSignatureConfig.algorithm: {self.algorithm} does not fit "
                + ("an HMAC secret (use HS256, HS384 or HS512)" if secret else
                   "a private key (HS* algorithms take a secret)"))
        bits = int(self.algorithm[2:]) if secret else 0
        if secret and len(str(self.config).encode("utf-8")) * 8 < bits:
            raise ConfigurationError(
                f"IssuerSignatureConfig.config: {self.algorithm} needs a secret of at least "
                f"{bits // 8} bytes (RFC 7518 §3.2)")


def _claims(value: Any) -> Any:
    return None if value is None else (dict(value) if isinstance(value, Mapping) else value)


def _checkClaims(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not isinstance(value, dict):
        _checks.fail(instance, attribute, f"must be a mapping, not {type(value).__name__}")


@attrs.frozen
class JwtIssuerConfig:
    """A JWT the client signs itself, sent as ``Authorization: Bearer`` (spec
    ``JwtIssuerConfig``). It carries ``iat``, ``nbf`` and ``exp`` (``expTime`` seconds on)
    and is issued again before it expires.

    :ivar username: the ``sub`` claim.
    :ivar issuer: the ``iss`` claim.
    :ivar audience: the ``aud`` claim (one string or a list).
    :ivar jwtId: the ``jti`` claim.
    :ivar keyId: the ``kid`` header.
    :ivar customClaims: more claims (JSON values); they cannot replace the ones above.
    :ivar expTime: decimal seconds the token is valid for.
    :ivar signatureConfig: how it is signed.
    """

    signatureConfig: IssuerSignatureConfig = attrs.field(
        converter=_asIssuerSignatureConfig,
        validator=_checks.checkInstanceOf(IssuerSignatureConfig))
    username: str | None = _optionalText()
    issuer: str | None = _optionalText()
    audience: tuple[str, ...] | None = attrs.field(
        default=None, converter=optionalNameTuple, validator=_checks.checkNames(optional=True))
    jwtId: str | None = _optionalText()
    keyId: str | None = _optionalText()
    customClaims: dict[str, Any] | None = attrs.field(default=None, converter=_claims,
                                                      validator=_checkClaims)
    expTime: float = _checks.secondsField(300, positive=True)


def _isCredentials(keys: set[str]) -> bool:
    return keys == {"username", "password"}


def _isBearer(keys: set[str]) -> bool:
    return keys == {"token"}


def _isJwtIssuer(keys: set[str]) -> bool:
    return "signatureConfig" in keys and keys <= {a.name for a in attrs.fields(JwtIssuerConfig)}


#: The client auth records, each with the test telling a mapping of its fields from the
#: others (``{"username": ..., "password": ...}`` is a CredentialsConfig), in the order
#: tried. The OAuth2 grant records add themselves here.
CLIENT_RECORDS: list[tuple[type[Any], Callable[[set[str]], bool]]] = [
    (CredentialsConfig, _isCredentials),
    (BearerTokenConfig, _isBearer),
    (JwtIssuerConfig, _isJwtIssuer),
]


def clientAuth(value: Any) -> Any:
    """Converter and check of ``ClientConfiguration.auth``.

    Kept as given: ``None``, a record of :data:`CLIENT_RECORDS`, an object providing
    :class:`IClientAuth`. A mapping becomes the record whose fields it holds:
    ``{"username", "password"}`` a :class:`CredentialsConfig`, ``{"token"}`` a
    :class:`BearerTokenConfig`, ``JwtIssuerConfig`` fields with ``signatureConfig`` a
    :class:`JwtIssuerConfig`, and so on.

    :raise ConfigurationError: naming ``ClientConfiguration.auth`` for anything else. The
        message names the value's type only: a token passed by mistake is not echoed.
    """
    if value is None or IClientAuth.providedBy(value):
        return value
    if any(isinstance(value, record) for record, _ in CLIENT_RECORDS):
        return value
    names = ", ".join(record.__name__ for record, _ in CLIENT_RECORDS)
    if isinstance(value, Mapping):
        keys = {str(k) for k in value}
        for record, matches in CLIENT_RECORDS:
            if matches(keys):
                try:
                    return _checks.build(record, value)
                except ConfigurationError as e:
                    raise ConfigurationError(f"ClientConfiguration.auth: {e}") from None
        raise ConfigurationError(
            f"ClientConfiguration.auth: a mapping with keys {', '.join(sorted(keys)) or 'none'}"
            f" is none of {names}")
    raise ConfigurationError(
        f"ClientConfiguration.auth: must be one of {names}, a mapping of one's fields, or "
        f"an IClientAuth provider; got {type(value).__name__}")
