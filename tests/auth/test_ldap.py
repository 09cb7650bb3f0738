"""The LDAP user store against a real slapd on loopback (tests/auth/slapd.py)."""

from __future__ import annotations

import subprocess
from typing import Any

from ldaptor import ldapfilter
from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import IUsernamePassword, UsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface.verify import verifyObject

from bws.auth._ldap import LdapChecker, checkerFor, checkerFromString, escapeFilterValue
from bws.auth.credentials import BackendUnavailable
from bws.auth.records import (
    ROLES_CACHE_SECONDS,
    LdapUserStoreConfig,
    LdapUserStoreConfigWithScopes,
)
from bws.errors import ConfigurationError
from bws.request import Principal
from tests.auth.conformance import CheckerConformanceMixin
from tests.auth.slapd import ADMIN_DN, ADMIN_PASSWORD, SKIP_REASON, SLAPD, SUFFIX, Slapd, freePort

#: User names that would widen the search if they reached the filter unescaped.
HOSTILE_NAMES = [
    "*",
    "*)(uid=*",
    "admin)(|(uid=*",
    "alice)(uid=*",
    "*)(|(objectClass=*)",
    "a*",
    "*lice",
    "al*ce",
    "alice)(&",
    ")(",
    "\\",
    "\\2a",
    "alice\x00",
    "*)(objectClass=*))(&(uid=alice",
]


def login(username: str, password: str) -> UsernamePassword:
    return UsernamePassword(username.encode("utf-8"), password.encode("utf-8"))


class FilterEscapingTests(SynchronousTestCase):
    """RFC 4515 §3 escaping of the values bws puts in a filter."""

    def test_metacharactersEscaped(self) -> None:
        """The four metacharacters and NUL become their two-hex-digit escapes."""
        self.assertEqual(escapeFilterValue("a*(b)\\c\x00"), "a\\2a\\28b\\29\\5cc\\00")

    def test_otherCharactersKept(self) -> None:
        """Letters, spaces, commas, equals signs and non-ASCII stand for themselves."""
        self.assertEqual(escapeFilterValue("zoë, o=x"), "zoë, o=x")

    def test_hostileNamesStayOneEqualityMatch(self) -> None:
        """Whatever the name, the user filter parses to one equality match on it, verbatim."""
        for name in HOSTILE_NAMES + ["zoë", "we(ird)*"]:
            parsed = ldapfilter.parseFilter(f"(uid={escapeFilterValue(name)})")
            self.assertEqual(type(parsed).__name__, "LDAPFilter_equalityMatch", name)
            self.assertEqual(parsed.assertionValue.value, name)


class LdapRecordTests(SynchronousTestCase):
    """LdapUserStoreConfig refuses what cannot work, naming the field."""

    base = dict(connectionUrl="ldap://127.0.0.1:389", connectionName=ADMIN_DN,
                connectionPassword="x", userSearchBase=SUFFIX)

    def refused(self, field: str, **overrides: Any) -> None:
        with self.assertRaises(ConfigurationError) as caught:
            LdapUserStoreConfig(**{**self.base, **overrides})
        self.assertIn(f"LdapUserStoreConfig.{field}", str(caught.exception))

    def test_url(self) -> None:
        """Only ldap:// and ldaps:// URLs naming a host (and maybe a port) are accepted."""
        for url in ["http://x", "ldap://", "ldap://h/dc=x", "ldap://h:99999", "", 3]:
            self.refused("connectionUrl", connectionUrl=url)

    def test_emptyServicePassword(self) -> None:
        """A service DN with an empty password (an anonymous bind in disguise) is refused."""
        self.refused("connectionPassword", connectionPassword="")

    def test_passwordWithoutName(self) -> None:
        """A password without a DN to bind as is refused."""
        self.refused("connectionName", connectionName="")

    def test_secureSocketNeedsLdaps(self) -> None:
        """TLS settings on an ldap:// URL are refused instead of silently unused."""
        self.refused("secureSocket", secureSocket={"cert": "/ca.pem"})

    def test_filterTemplate(self) -> None:
        """The user search filter needs parentheses and a ``?`` for the name."""
        self.refused("userNameSearchFilter", userNameSearchFilter="(uid=alice)")
        self.refused("userNameSearchFilter", userNameSearchFilter="uid=?")

    def test_attributeNames(self) -> None:
        """Attribute fields must be attribute names (RFC 4512 §2.5)."""
        self.refused("membershipAttribute", membershipAttribute="member)(x=*")
        self.refused("userNameAttribute", userNameAttribute="")

    def test_timeouts(self) -> None:
        """Timeouts are positive decimal seconds."""
        self.refused("readTimeout", readTimeout=0)
        self.refused("connectionTimeout", connectionTimeout="soon")

    def test_malformedFilterAtStartUp(self) -> None:
        """A filter that does not parse fails when the checker is built, naming the field."""
        config = LdapUserStoreConfig(**self.base, userNameSearchFilter="(&(uid=?)")
        with self.assertRaises(ConfigurationError) as caught:
            LdapChecker(config, Clock())
        self.assertIn("LdapUserStoreConfig.userNameSearchFilter", str(caught.exception))

    def test_entryWithScopes(self) -> None:
        """The listener entry nests the store (a mapping is accepted) and takes scopes."""
        entry = LdapUserStoreConfigWithScopes(ldapUserStoreConfig=self.base, scopes="write")
        self.assertEqual(entry.scopes, ("write",))
        self.assertEqual(entry.ldapUserStoreConfig.userSearchBase, SUFFIX)

    def test_fromString(self) -> None:
        """``--auth ldap:`` arguments: DNs keep their commas, booleans and repeats parse, the
        password comes from a file."""
        secret = self.mktemp()
        with open(secret, "w") as f:
            f.write("p=w,x\n")
        checker = checkerFromString(
            "connectionUrl=ldaps://h:1636,connectionName=cn=admin,dc=example,dc=org,"
            f"connectionPasswordFile={secret},userSearchBase=ou=users,dc=example,dc=org,"
            "groupSearchBase=ou=a,dc=x,groupSearchBase=ou=b,dc=x,userRolesCacheEnabled=true,"
            "readTimeout=2.5,cert=/tmp/ca.pem", reactor=Clock())
        config = checker.config
        self.assertEqual(config.connectionName, "cn=admin,dc=example,dc=org")
        self.assertEqual(config.connectionPassword, "p=w,x")
        self.assertEqual(config.userSearchBase, "ou=users,dc=example,dc=org")
        self.assertEqual(config.groupSearchBase, ("ou=a,dc=x", "ou=b,dc=x"))
        self.assertTrue(config.userRolesCacheEnabled)
        self.assertEqual(config.readTimeout, 2.5)
        assert config.secureSocket is not None
        self.assertEqual(config.secureSocket.cert, "/tmp/ca.pem")

    def test_fromStringRefusals(self) -> None:
        """Unknown fields, a password on the command line, an unreadable password file, bad
        booleans and missing fields fail naming what is wrong."""
        for argstring, word in [("nonsense", "field=value"),
                                ("connectionUrl=ldap://h,connectionPassword=x",
                                 "connectionPasswordFile=PATH"),
                                ("connectionUrl=ldap://h,connectionPasswordFile=/nonexistent",
                                 "cannot read '/nonexistent'"),
                                ("connectionUrl=ldap://h,connectionPoolingEnabled=yes",
                                 "connectionPoolingEnabled"),
                                ("connectionUrl=ldap://h", "--auth ldap")]:
            with self.assertRaises(ConfigurationError) as caught:
                checkerFromString(argstring, reactor=Clock())
            self.assertIn(word, str(caught.exception))


class SlapdTestCase(TestCase):
    """A fresh slapd per test, with the directory of tests/auth/slapd.py."""

    if SLAPD is None:
        skip = SKIP_REASON

    def setUp(self) -> None:
        self.slapd = Slapd()
        self.addCleanup(self.slapd.cleanup)
        self.slapd.start()

    def config(self, **overrides: Any) -> LdapUserStoreConfig:
        fields: dict[str, Any] = dict(
            domainName="example.org",
            connectionUrl=self.slapd.url,
            connectionName=ADMIN_DN,
            connectionPassword=ADMIN_PASSWORD,
            userSearchBase=f"ou=users,{SUFFIX}",
            groupSearchBase=[f"ou=groups,{SUFFIX}"],
            readTimeout=5,
            connectionTimeout=5,
        )
        fields.update(overrides)
        return LdapUserStoreConfig(**fields)

    def makeChecker(self, clock: Any = None, **overrides: Any) -> LdapChecker:
        checker = LdapChecker(self.config(**overrides), clock=clock)
        self.addCleanup(checker.close)
        return checker

    async def refusedAs(self, kind: type, checker: LdapChecker, username: str,
                        password: str) -> Exception:
        try:
            result = await checker.requestAvatarId(login(username, password))
        except UnauthorizedLogin as e:
            self.assertIs(type(e), kind, f"{username!r}: {e!r}")
            return e
        self.fail(f"{username!r} was let in: {result!r}")


class LdapConformanceTests(CheckerConformanceMixin, SlapdTestCase):
    """The LDAP store keeps the contract of every bws checker."""

    def setUp(self) -> None:
        super().setUp()
        self.checker = self.makeChecker()

    def goodCredentials(self) -> list[tuple[UsernamePassword, Principal]]:
        return [(login("bob", "bob-pw"), Principal("bob", ("read",))),
                (login("eve", "eve-pw"), Principal("eve")),
                (login("zoë", "zoë-pw"), Principal("zoë", ("write",)))]

    def badCredentials(self) -> list[UsernamePassword]:
        return [login("bob", "alice-pw"), login("mallory", "x"), login("bob", ""),
                login("*", "bob-pw"), login("b*", "bob-pw")]


class LdapCheckerTests(SlapdTestCase):
    """Logins against the directory: who gets in, with which scopes, and who does not."""

    def test_interface(self) -> None:
        """The checker is a twisted.cred checker of usernames and passwords."""
        checker = self.makeChecker()
        self.assertTrue(verifyObject(ICredentialsChecker, checker))
        self.assertEqual(checker.credentialInterfaces, (IUsernamePassword,))

    async def test_goodUser(self) -> None:
        """A right password gives a Principal with the user's groups as scopes."""
        principal = await self.makeChecker().requestAvatarId(login("alice", "alice-pw"))
        self.assertIsInstance(principal, Principal)
        self.assertEqual(principal.userId, "alice")
        self.assertEqual(sorted(principal.scopes), ["update", "write"])
        self.assertEqual(principal.claims["dn"], f"uid=alice,ou=users,{SUFFIX}")

    async def test_checkerForEntry(self) -> None:
        """``checkerFor`` builds the checker of a listener entry."""
        entry = LdapUserStoreConfigWithScopes(ldapUserStoreConfig=self.config(), scopes="read")
        checker = checkerFor(entry)
        self.addCleanup(checker.close)
        principal = await checker.requestAvatarId(login("bob", "bob-pw"))
        self.assertEqual(principal.scopes, ("read",))

    async def test_userWithoutGroups(self) -> None:
        """A user in no group gets in with no scopes."""
        principal = await self.makeChecker().requestAvatarId(login("eve", "eve-pw"))
        self.assertEqual((principal.userId, principal.scopes), ("eve", ()))

    async def test_noGroupSearchBase(self) -> None:
        """Without a group search base there are no scopes, and no group search."""
        principal = await self.makeChecker(groupSearchBase=()).requestAvatarId(
            login("alice", "alice-pw"))
        self.assertEqual(principal.scopes, ())

    async def test_wrongPassword(self) -> None:
        """A wrong password is a refusal (401), not a backend failure."""
        await self.refusedAs(UnauthorizedLogin, self.makeChecker(), "alice", "bob-pw")

    async def test_unknownUser(self) -> None:
        """A name the directory does not hold is a refusal (401)."""
        await self.refusedAs(UnauthorizedLogin, self.makeChecker(), "mallory", "alice-pw")

    async def test_emptyPasswordNeverSent(self) -> None:
        """An empty password is refused before any connection: with no server listening the
        answer is still 401, not 503."""
        checker = self.makeChecker(connectionUrl=f"ldap://127.0.0.1:{freePort()}")
        await self.refusedAs(UnauthorizedLogin, checker, "alice", "")

    async def test_emptyPasswordAgainstDirectory(self) -> None:
        """An empty password for a real user is refused, though an LDAP server may take a
        name with no password as an anonymous bind."""
        await self.refusedAs(UnauthorizedLogin, self.makeChecker(), "alice", "")

    async def test_emptyUserName(self) -> None:
        """An empty user name is refused."""
        await self.refusedAs(UnauthorizedLogin, self.makeChecker(), "", "alice-pw")

    async def test_hostileNames(self) -> None:
        """Filter metacharacters in a user name match nobody and raise no error, even with
        a real user's password (``a*`` would find alice if it reached the filter raw)."""
        checker = self.makeChecker()
        for name in HOSTILE_NAMES:
            await self.refusedAs(UnauthorizedLogin, checker, name, "alice-pw")
        principal = await checker.requestAvatarId(login("alice", "alice-pw"))
        self.assertEqual(principal.userId, "alice")

    async def test_metacharactersInRealName(self) -> None:
        """A user whose name and DN hold ``(``, ``)`` and ``*`` is found, and their DN is
        escaped in the group search, so their own groups (and only those) are their scopes."""
        principal = await self.makeChecker().requestAvatarId(login("we(ird)*", "weird-pw"))
        self.assertEqual((principal.userId, principal.scopes), ("we(ird)*", ("read",)))

    async def test_nonAsciiName(self) -> None:
        """A UTF-8 user name and password work (RFC 4515 values are UTF-8)."""
        principal = await self.makeChecker().requestAvatarId(login("zoë", "zoë-pw"))
        self.assertEqual((principal.userId, principal.scopes), ("zoë", ("write",)))

    async def test_invalidUtf8Name(self) -> None:
        """A user name that is not UTF-8 is refused without an error."""
        checker = self.makeChecker()
        try:
            await checker.requestAvatarId(UsernamePassword(b"\xff", b"alice-pw"))
        except UnauthorizedLogin as e:
            self.assertNotIsInstance(e, BackendUnavailable)
        else:
            self.fail("let in")

    async def test_posixGroupsByName(self) -> None:
        """With ``memberUid`` (RFC 2307 posixGroup) groups list members by user name."""
        checker = self.makeChecker(groupSearchBase=[f"ou=posix,{SUFFIX}"],
                               groupNameListFilter="(objectClass=posixGroup)",
                               membershipAttribute="memberUid")
        principal = await checker.requestAvatarId(login("bob", "bob-pw"))
        self.assertEqual(principal.scopes, ("ops",))

    async def test_severalGroupBases(self) -> None:
        """Groups from every search base are the scopes."""
        checker = self.makeChecker(groupSearchBase=[f"ou=groups,{SUFFIX}", f"ou=posix,{SUFFIX}"],
                               groupNameListFilter="(|(objectClass=groupOfNames)"
                                                   "(objectClass=posixGroup))")
        principal = await checker.requestAvatarId(login("bob", "bob-pw"))
        self.assertEqual(principal.scopes, ("read",))

    async def test_missingGroupBase(self) -> None:
        """A group search base that does not exist gives no scopes rather than an error."""
        principal = await self.makeChecker(groupSearchBase=[f"ou=nowhere,{SUFFIX}"]).requestAvatarId(
            login("alice", "alice-pw"))
        self.assertEqual(principal.scopes, ())

    async def test_anonymousSearch(self) -> None:
        """With no service DN the search is anonymous; passwords are still checked by bind."""
        checker = self.makeChecker(connectionName="", connectionPassword="")
        principal = await checker.requestAvatarId(login("alice", "alice-pw"))
        self.assertEqual(principal.userId, "alice")
        await self.refusedAs(UnauthorizedLogin, checker, "alice", "wrong")

    async def test_withoutPooling(self) -> None:
        """Without pooling every login opens and closes its own connections."""
        checker = self.makeChecker(connectionPoolingEnabled=False)
        for _ in range(2):
            principal = await checker.requestAvatarId(login("bob", "bob-pw"))
            self.assertEqual(principal.scopes, ("read",))

    async def test_concurrentLogins(self) -> None:
        """Logins in flight together share the pooled connection and all get answers."""
        from twisted.internet.defer import gatherResults

        checker = self.makeChecker()
        results = await gatherResults([
            checker.requestAvatarId(login(name, password)).addErrback(lambda f: f.type)
            for name, password in [("alice", "alice-pw"), ("bob", "bob-pw"),
                                   ("eve", "wrong"), ("zoë", "zoë-pw")] * 3])
        self.assertEqual([r if isinstance(r, type) else r.userId for r in results],
                         ["alice", "bob", UnauthorizedLogin, "zoë"] * 3)

    async def test_rolesCache(self) -> None:
        """With ``userRolesCacheEnabled`` groups are kept for ROLES_CACHE_SECONDS, yet every
        login still binds: a wrong password is refused even while the groups are cached."""
        clock = Clock()
        checker = self.makeChecker(clock=clock, userRolesCacheEnabled=True)
        first = await checker.requestAvatarId(login("bob", "bob-pw"))
        self.assertEqual(first.scopes, ("read",))
        ldapmodify(self.slapd, f"dn: cn=read,ou=groups,{SUFFIX}\nchangetype: modify\n"
                               f"delete: member\nmember: uid=bob,ou=users,{SUFFIX}\n")
        cached = await checker.requestAvatarId(login("bob", "bob-pw"))
        self.assertEqual(cached.scopes, ("read",))
        await self.refusedAs(UnauthorizedLogin, checker, "bob", "wrong")
        clock.advance(ROLES_CACHE_SECONDS)
        fresh = await checker.requestAvatarId(login("bob", "bob-pw"))
        self.assertEqual(fresh.scopes, ())


def ldapmodify(slapd: Slapd, ldif: str) -> None:
    subprocess.run(["ldapmodify", "-x", "-H", slapd.url, "-D", ADMIN_DN, "-w", ADMIN_PASSWORD],
                   input=ldif.encode("utf-8"), check=True, stdout=subprocess.DEVNULL)


class LdapBackendFailureTests(SlapdTestCase):
    """A directory that is down, slow, refuses the service account or cannot be trusted
    gives BackendUnavailable (503) in bounded time: never a login."""

    async def test_serverDown(self) -> None:
        """Nothing listening at the URL: 503."""
        checker = self.makeChecker(connectionUrl=f"ldap://127.0.0.1:{freePort()}")
        await self.refusedAs(BackendUnavailable, checker, "alice", "alice-pw")

    async def test_serviceBindRefused(self) -> None:
        """A wrong service password is the store's fault, not the user's: 503."""
        checker = self.makeChecker(connectionPassword="wrong")
        await self.refusedAs(BackendUnavailable, checker, "alice", "alice-pw")

    async def test_stoppedMidRun(self) -> None:
        """slapd stopped between logins gives 503; started again, logins work again."""
        checker = self.makeChecker()
        await checker.requestAvatarId(login("alice", "alice-pw"))
        self.slapd.stop()
        await self.refusedAs(BackendUnavailable, checker, "alice", "alice-pw")
        await self.refusedAs(BackendUnavailable, checker, "bob", "wrong")
        self.slapd.start()
        principal = await checker.requestAvatarId(login("alice", "alice-pw"))
        self.assertEqual(principal.userId, "alice")

    async def test_frozenServer(self) -> None:
        """A server that accepts but does not answer gives 503 after readTimeout, and the
        checker recovers once it answers again."""
        checker = self.makeChecker(readTimeout=0.5)
        await checker.requestAvatarId(login("alice", "alice-pw"))
        self.slapd.pause()
        try:
            await self.refusedAs(BackendUnavailable, checker, "alice", "alice-pw")
        finally:
            self.slapd.resume()
        principal = await checker.requestAvatarId(login("alice", "alice-pw"))
        self.assertEqual(principal.userId, "alice")

    async def test_frozenServerWithoutPooling(self) -> None:
        """Frozen before the first login: the first operation times out, 503."""
        checker = self.makeChecker(readTimeout=0.5, connectionPoolingEnabled=False)
        self.slapd.pause()
        try:
            await self.refusedAs(BackendUnavailable, checker, "alice", "alice-pw")
        finally:
            self.slapd.resume()


class LdapsTests(SlapdTestCase):
    """ldaps:// verified against the configured CA."""

    async def test_trustedCA(self) -> None:
        """With the server's CA in ``secureSocket.cert`` logins work over TLS."""
        checker = self.makeChecker(connectionUrl=self.slapd.tlsUrl,
                               secureSocket={"cert": self.slapd.caFile})
        principal = await checker.requestAvatarId(login("alice", "alice-pw"))
        self.assertEqual(sorted(principal.scopes), ["update", "write"])

    async def test_untrustedServer(self) -> None:
        """A server whose certificate does not chain to a trusted CA is unavailable (503)."""
        checker = self.makeChecker(connectionUrl=self.slapd.tlsUrl)
        await self.refusedAs(BackendUnavailable, checker, "alice", "alice-pw")
