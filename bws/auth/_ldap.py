# -*- test-case-name: tests.auth.test_ldap -*-
"""The LDAP user store: a ``twisted.cred`` checker of Basic credentials over ldaptor."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any, cast

import attrs
from ldaptor.protocols import pureldap
from ldaptor.protocols.ldap import ldaperrors
from ldaptor.protocols.ldap.ldapclient import LDAPClient
from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import IUsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet import error as netError
from twisted.internet.defer import CancelledError, Deferred, TimeoutError, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Factory, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from bws.auth._args import fieldPairs, secretFromFile
from bws.auth._cache import ExpiringCache
from bws.auth.credentials import BackendUnavailable
from bws.auth.records import (
    ROLES_CACHE_SECONDS,
    LdapUserStoreConfig,
    LdapUserStoreConfigWithScopes,
)
from bws.errors import ConfigurationError
from bws.request import Principal

__all__ = ["LdapChecker", "checkerFor", "checkerFromString", "escapeFilterValue"]

_log = Logger()

#: Bind results that say "these credentials are refused" (RFC 4511 Appendix A): 401. Every
#: other failure is the directory's (busy, unavailable, a protocol error): 503.
_REFUSED = frozenset({
    ldaperrors.LDAPInvalidCredentials.resultCode,            # 49
    ldaperrors.LDAPInappropriateAuthentication.resultCode,   # 48
    ldaperrors.LDAPUnwillingToPerform.resultCode,            # 53: e.g. a disabled account
    ldaperrors.LDAPInsufficientAccessRights.resultCode,      # 50
})
_SUCCESS = ldaperrors.Success.resultCode
_NO_SUCH_OBJECT = ldaperrors.LDAPNoSuchObject.resultCode
_SIZE_LIMIT = ldaperrors.LDAPSizeLimitExceeded.resultCode


def escapeFilterValue(value: str) -> str:
    """``value`` as an RFC 4515 §3 assertion value: ``\\``, ``*``, ``(``, ``)`` and NUL
    become ``\\5c``, ``\\2a``, ``\\28``, ``\\29``, ``\\00``; other characters (UTF-8 included)
    stand for themselves."""
    return (value.replace("\\", "\\5c").replace("*", "\\2a").replace("(", "\\28")
            .replace(")", "\\29").replace("\0", "\\00"))


def _filterFrom(template: str, field: str) -> Callable[[str], Any]:
    """A function building the filter ``template`` with its ``?`` replaced by a value
    (escaped). The template is parsed once, now, so a malformed one fails at start-up."""
    from ldaptor import ldapfilter

    try:
        ldapfilter.parseFilter(template.replace("?", "x"))
    except ldapfilter.InvalidLDAPFilter as e:
        raise ConfigurationError(
            f"LdapUserStoreConfig.{field}: not an LDAP filter (RFC 4515): {template!r}: {e}"
        ) from None

    def build(value: str) -> Any:
        return ldapfilter.parseFilter(template.replace("?", escapeFilterValue(value)))

    return build


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


@attrs.frozen
class _User:
    dn: str
    userId: str
    groups: tuple[str, ...]


class _Client(LDAPClient):
    """ldaptor's client, telling when its connection is gone."""

    def __init__(self) -> None:
        super().__init__()
        self._lost: list[Deferred[None]] = []

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        super().connectionLost(reason)
        lost, self._lost = self._lost, []
        for d in lost:
            d.callback(None)

    def whenLost(self) -> Deferred[None]:
        """Fires once the connection is closed (at once if it is)."""
        d: Deferred[None] = Deferred()
        if self.connected:
            self._lost.append(d)
        else:
            d.callback(None)
        return d


class _Refused(Exception):
    """An LDAP result code the caller asked to see (a bind's)."""

    def __init__(self, resultCode: int, message: str) -> None:
        super().__init__(resultCode, message)
        self.resultCode = resultCode
        self.message = message


@implementer(ICredentialsChecker)
class LdapChecker:
    """Checks ``IUsernamePassword`` credentials against an LDAP directory.

    ``requestAvatarId`` answers a :class:`bws.Principal` (``userId`` the entry's
    ``userNameAttribute``, ``scopes`` its groups, ``claims`` ``{"dn": ...}``), or fails with
    ``UnauthorizedLogin`` (unknown user, wrong or empty password, a name matching several
    entries) or :class:`~bws.auth.credentials.BackendUnavailable` (the directory is down, slow
    past ``readTimeout`` / ``connectionTimeout``, refuses the service bind, or answers
    garbage): never a success it did not see.

    An empty password is refused before anything is sent: an LDAP simple bind with a name
    and no password is an unauthenticated bind (RFC 4513 §5.1.2), which some servers answer
    with success.

    :param config: the directory.
    :param reactor: connects (``IReactorTCP``, name resolution) and times out operations;
        the global reactor by default.
    :param clock: the time for the roles cache and the time bounds; ``reactor`` by default.
    :raises bws.ConfigurationError: a filter template that does not parse.
    """

    credentialInterfaces = (IUsernamePassword,)

    def __init__(self, config: LdapUserStoreConfig, reactor: Any = None,
                 clock: IReactorTime | None = None) -> None:
        if reactor is None:
            from twisted.internet import reactor as globalReactor
            reactor = globalReactor
        self.config = config
        self._reactor = reactor
        self._clock: IReactorTime = clock if clock is not None else reactor
        url = urllib.parse.urlsplit(config.connectionUrl)
        self._tls = url.scheme == "ldaps"
        self._host = url.hostname or ""
        self._port = url.port or (636 if self._tls else 389)
        self._userFilter = _filterFrom(config.userNameSearchFilter, "userNameSearchFilter")
        listFilter = config.groupNameListFilter
        _filterFrom(listFilter, "groupNameListFilter")
        self._groupFilter = _filterFrom(
            f"(&{listFilter}({config.membershipAttribute}=?))", "membershipAttribute")
        self._byName = config.membershipAttribute.lower() == "memberuid"
        self._pooled: _Client | None = None
        self._pooling: Deferred[_Client] | None = None
        self._waiting: list[Deferred[_Client]] = []
        self._roles: ExpiringCache[str, _User] | None = (
            ExpiringCache(self._clock, capacity=1000) if config.userRolesCacheEnabled else None)
        if not self._tls and self._host not in ("127.0.0.1", "::1", "localhost"):
            _log.warn("LDAP store {name}: {url} is not ldaps://: passwords cross the network"
                      " in the clear", name=config.domainName, url=config.connectionUrl)

    # --- ICredentialsChecker ----------------------------------------------------------------

    # The contract of bws's checkers: a Principal, not twisted.cred's bytes avatar id.
    def requestAvatarId(  # type: ignore[override]
            self, credentials: IUsernamePassword) -> Deferred[Principal]:
        """The principal of ``credentials``, checked against the directory (see the class)."""
        d = Deferred.fromCoroutine(self._login(credentials))
        d.addErrback(self._failClosed)
        return d

    def close(self) -> Deferred[None]:
        """Drop the pooled search connection (the next request opens another)."""
        client, self._pooled = self._pooled, None
        if client is None:
            return succeed(None)
        lost = client.whenLost()
        _unbind(client)
        return lost

    # --- the steps ------------------------------------------------------------------------

    async def _login(self, credentials: IUsernamePassword) -> Principal:
        try:
            username = _text(credentials.username)
        except UnicodeDecodeError:
            raise UnauthorizedLogin("the user name is not UTF-8") from None
        password = credentials.password
        if isinstance(password, str):
            password = password.encode("utf-8")
        if not username or not password:
            # Never bind with an empty password: that is an anonymous bind (RFC 4513 §5.1.2).
            raise UnauthorizedLogin("an empty user name or password is refused")
        user = self._roles.get(username) if self._roles is not None else None
        if user is None:
            found = await self._findUser(username)
            await self._bindAs(found.dn, password)
            user = attrs.evolve(found, groups=await self._groupsOf(found.dn, found.userId))
            if self._roles is not None:
                self._roles.put(username, user, self._clock.seconds() + ROLES_CACHE_SECONDS)
        else:
            await self._bindAs(user.dn, password)
        return Principal(user.userId, user.groups, {"dn": user.dn})

    async def _findUser(self, username: str) -> _User:
        config = self.config
        client = await self._searchConnection()
        try:
            entries = await self._search(
                client, config.userSearchBase, self._userFilter(username),
                [config.userNameAttribute], sizeLimit=2)
        finally:
            self._release(client)
        if not entries:
            raise UnauthorizedLogin("no such user")
        if len(entries) > 1:
            _log.warn("LDAP store {name}: the user name {user!r} matches several entries;"
                      " refused", name=config.domainName, user=username)
            raise UnauthorizedLogin("the user name is ambiguous")
        dn, attributes = entries[0]
        names = attributes.get(config.userNameAttribute.lower(), [])
        return _User(dn, names[0] if names else username, ())

    async def _bindAs(self, dn: str, password: bytes) -> None:
        client = await self._connect()
        try:
            await self._bind(client, dn, password)
        except _Refused as e:
            if e.resultCode in _REFUSED:
                raise UnauthorizedLogin("the directory refused the password") from None
            raise self._unavailable(f"the user bind failed: {e.resultCode} {e.message}") from None
        finally:
            _unbind(client)

    async def _groupsOf(self, dn: str, userId: str) -> tuple[str, ...]:
        config = self.config
        if not config.groupSearchBase:
            return ()
        client = await self._searchConnection()
        groups: list[str] = []
        try:
            # RFC 2307 posixGroup lists members by name; the others by DN.
            search = self._groupFilter(userId if self._byName else dn)
            for base in config.groupSearchBase:
                for _, attributes in await self._search(
                        client, base, search, [config.groupNameAttribute]):
                    for name in attributes.get(config.groupNameAttribute.lower(), []):
                        if name not in groups:
                            groups.append(name)
        finally:
            self._release(client)
        return tuple(groups)

    # --- connections --------------------------------------------------------------------------

    async def _connect(self) -> _Client:
        """A new connection, within ``connectionTimeout``."""
        config = self.config
        from twisted.internet.endpoints import HostnameEndpoint  # loads the TLS stack

        endpoint = HostnameEndpoint(self._reactor, self._host, self._port,
                                    timeout=config.connectionTimeout)
        factory: Any = Factory.forProtocol(_Client)
        if self._tls:
            from bws.tls._contexts import clientTLSFactory  # OpenSSL on first use

            factory = clientTLSFactory(config.secureSocket, self._host, factory, self._reactor)
        connecting = endpoint.connect(factory)
        connecting.addTimeout(config.connectionTimeout, self._clock)
        try:
            protocol = await connecting
        except (TimeoutError, CancelledError):
            raise self._unavailable(
                f"no connection within {config.connectionTimeout} s") from None
        except Exception as e:
            raise self._unavailable(f"cannot connect: {e}") from None
        client: Any = protocol.wrappedProtocol if self._tls else protocol  # type: ignore[attr-defined]
        return cast(_Client, client)

    async def _searchConnection(self) -> _Client:
        """The connection searches go on, bound as ``connectionName``: the pooled one when
        pooling is on (opened once, shared by concurrent requests, reopened once lost)."""
        if not self.config.connectionPoolingEnabled:
            return await self._serviceConnection()
        if self._pooled is not None and self._pooled.connected:
            return self._pooled
        if self._pooling is None:
            self._pooling = Deferred.fromCoroutine(self._serviceConnection())
            self._pooling.addBoth(self._pooledConnection)
        waiting: Deferred[_Client] = Deferred()
        self._waiting.append(waiting)
        return await waiting

    def _pooledConnection(self, result: _Client | Failure) -> None:
        self._pooling = None
        if isinstance(result, _Client):
            self._pooled = result
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            _chainTo(d)(result)

    async def _serviceConnection(self) -> _Client:
        client = await self._connect()
        config = self.config
        if config.connectionName:
            try:
                await self._bind(client, config.connectionName,
                                 config.connectionPassword.encode("utf-8"))
            except _Refused as e:
                _unbind(client)
                raise self._unavailable(
                    f"the service bind as {config.connectionName!r} failed:"
                    f" {e.resultCode} {e.message}") from None
            except BaseException:
                _unbind(client)
                raise
        return client

    def _release(self, client: _Client) -> None:
        if client is not self._pooled:
            _unbind(client)

    # --- operations, each within readTimeout -------------------------------------------------------

    def _timed(self, client: _Client, inner: Deferred[Any],
               outer: Deferred[Any] | None = None) -> Deferred[Any]:
        """``outer`` (a new Deferred by default) fires as ``inner`` does, or fails with
        ``BackendUnavailable`` after ``readTimeout``, dropping the connection (a late answer
        would otherwise come back to an operation that gave up)."""
        if outer is None:
            outer = Deferred()
            inner.addCallback(_chainTo(outer))
        inner.addErrback(self._lost, outer)
        seconds = self.config.readTimeout

        def late(failure: Failure) -> Failure:
            if failure.check(TimeoutError, CancelledError):
                if client is self._pooled:
                    self._pooled = None
                client.transport.abortConnection()
                raise self._unavailable(f"no answer within {seconds} s")
            return failure

        outer.addTimeout(seconds, self._clock)
        outer.addErrback(late)
        return outer

    def _lost(self, failure: Failure, outer: Deferred[Any]) -> None:
        """An operation's connection was lost (closed, reset, TLS refused): the directory is
        unavailable, unless the operation has already given up."""
        if not outer.called:
            outer.errback(self._unavailable(f"the connection was lost: {failure.value}"))

    async def _bind(self, client: _Client, dn: str, password: bytes) -> None:
        try:
            sent = client.send(pureldap.LDAPBindRequest(dn=dn, auth=password))
        except ldaperrors.LDAPException as e:
            raise self._unavailable(f"the connection is gone: {e}") from None
        response = await self._timed(client, sent)
        if response.resultCode != _SUCCESS:
            raise _Refused(response.resultCode, _text(response.errorMessage or b""))

    async def _search(self, client: _Client, base: str, filterObject: Any,
                      attributes: Iterable[str], sizeLimit: int = 0,
                      ) -> list[tuple[str, dict[str, list[str]]]]:
        """The entries under ``base`` matching the filter: ``(dn, {attribute: values})``,
        attribute names in lower case. A base that does not exist has no entries."""
        entries: list[tuple[str, dict[str, list[str]]]] = []
        done: Deferred[Any] = Deferred()

        def collect(message: Any) -> bool:
            if done.called:
                return True
            if isinstance(message, pureldap.LDAPSearchResultEntry):
                found: dict[str, list[str]] = {}
                for name, values in message.attributes:
                    found.setdefault(_text(name).lower(), []).extend(_text(v) for v in values)
                entries.append((_text(message.objectName), found))
                return False
            if isinstance(message, pureldap.LDAPSearchResultDone):
                code = message.resultCode
                if code in (_SUCCESS, _NO_SUCH_OBJECT) or (code == _SIZE_LIMIT and sizeLimit):
                    done.callback(entries)
                else:
                    done.errback(self._unavailable(
                        f"a search under {base!r} failed: {code}"
                        f" {_text(message.errorMessage or b'')}"))
                return True
            return False  # a referral (RFC 4511 §4.5.3): not followed

        request = pureldap.LDAPSearchRequest(
            baseObject=base, scope=pureldap.LDAP_SCOPE_wholeSubtree,
            derefAliases=pureldap.LDAP_DEREF_neverDerefAliases, sizeLimit=sizeLimit,
            timeLimit=max(1, int(self.config.readTimeout)), typesOnly=0, filter=filterObject,
            attributes=list(attributes))
        try:
            sent = client.send_multiResponse(request, collect)
        except ldaperrors.LDAPException as e:
            raise self._unavailable(f"the connection is gone: {e}") from None
        # ``sent`` fires only if the connection is lost; the answer comes through ``collect``.
        return list(await self._timed(client, sent, done))

    # --- failures ------------------------------------------------------------------------------

    def _unavailable(self, why: str) -> BackendUnavailable:
        _log.error("LDAP store {name} ({url}): {why}; requests are refused (503) until it"
                   " answers", name=self.config.domainName, url=self.config.connectionUrl,
                   why=why)
        return BackendUnavailable(f"LDAP store unavailable: {why}")

    def _failClosed(self, failure: Failure) -> Failure:
        if failure.check(UnauthorizedLogin):
            return failure
        if failure.check(ldaperrors.LDAPException, netError.ConnectError,
                         netError.ConnectionClosed, OSError):
            return Failure(self._unavailable(f"the connection failed: {failure.value}"))
        _log.failure("LDAP store {name}: unexpected failure; the request is refused (503)",
                     failure, name=self.config.domainName)
        return Failure(BackendUnavailable("LDAP store failed"))


def _chainTo(target: Deferred[Any]) -> Callable[[Any], None]:
    """A callback passing a result (or failure) on to ``target`` unless it has fired."""

    def chain(result: Any) -> None:
        if not target.called:
            if isinstance(result, Failure):
                target.errback(result)
            else:
                target.callback(result)

    return chain


def _unbind(client: _Client) -> None:
    """Say goodbye (RFC 4511 §4.3) and close, whatever state the connection is in."""
    if client.connected:
        try:
            client.unbind()
        except Exception:
            client.transport.abortConnection()


def checkerFor(entry: LdapUserStoreConfigWithScopes, reactor: Any = None) -> LdapChecker:
    """The checker of a listener auth entry (built once per listener)."""
    return LdapChecker(entry.ldapUserStoreConfig, reactor)


def checkerFromString(argstring: str, reactor: Any = None) -> LdapChecker:
    """A checker from ``twistd bws --auth ldap:ARGS``: ``field=value`` pairs joined by commas,
    with the field names of :class:`~bws.auth.records.LdapUserStoreConfig`. A value may hold
    commas (a DN does): a piece that does not start with a field name continues the value
    before it. ``groupSearchBase`` may be given more than once; ``cert=PATH`` trusts that CA
    file for ``ldaps://``. The service password comes from a file,
    ``connectionPasswordFile=PATH``, never from the command line.

    :raises bws.ConfigurationError: an unknown field or a wrong value.
    """
    fields = {f.name for f in attrs.fields(LdapUserStoreConfig)}
    values: dict[str, Any] = {}
    groups: list[str] = []
    for name, value in fieldPairs(argstring, fields | {"cert", "connectionPasswordFile"},
                                  "ldap"):
        if name == "groupSearchBase":
            groups.append(value)
        elif name == "cert":
            values["secureSocket"] = {"cert": value}
        elif name == "connectionPassword":
            raise ConfigurationError(
                "--auth ldap: connectionPassword on the command line is readable by every user"
                " of the machine; give connectionPasswordFile=PATH")
        elif name == "connectionPasswordFile":
            values["connectionPassword"] = secretFromFile(value, "--auth ldap: connectionPasswordFile")
        elif name in ("userRolesCacheEnabled", "connectionPoolingEnabled"):
            if value.lower() not in ("true", "false"):
                raise ConfigurationError(
                    f"LdapUserStoreConfig.{name}: must be true or false, got {value!r}")
            values[name] = value.lower() == "true"
        else:
            values[name] = value
    if groups:
        values["groupSearchBase"] = groups
    try:
        config = LdapUserStoreConfig(**values)
    except TypeError as e:
        raise ConfigurationError(f"--auth ldap: {e}") from None
    return LdapChecker(config, reactor)
