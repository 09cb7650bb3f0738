"""The OAuth2 introspection store (RFC 7662) against a real authorization server built from
authlib's server classes, over TLS on loopback (tests/auth/authserver.py)."""

from __future__ import annotations

import json
import time
from typing import Any

from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface.verify import verifyObject

from bws.auth._https import MAX_BODY, clientBasic
from bws.auth._oauth2 import IntrospectionChecker, checkerFor, checkerFromString, scopesFrom
from bws.auth.credentials import BackendUnavailable, BearerToken, IBearerToken
from bws.auth.records import (
    CacheConfig,
    OAuth2ClientConfig,
    OAuth2IntrospectionConfig,
    OAuth2IntrospectionConfigWithScopes,
)
from bws.errors import ConfigurationError
from bws.request import Principal
from tests.auth.authserver import sharedAuthServer
from tests.auth.conformance import CheckerConformanceMixin
from tests.auth.peers import fixedServer, silentServer
from tests.auth.slapd import freePort


class ScopeClaimTests(SynchronousTestCase):
    """How a scope claim becomes scopes."""

    def test_spaceSeparated(self) -> None:
        """A string is split on whitespace (RFC 7662 §2.2)."""
        self.assertEqual(scopesFrom("write  update\tread"), ("write", "update", "read"))

    def test_list(self) -> None:
        """A list of strings is taken as it is."""
        self.assertEqual(scopesFrom(["write", "update"]), ("write", "update"))

    def test_absent(self) -> None:
        """No claim: no scopes."""
        self.assertEqual(scopesFrom(None), ())

    def test_garbage(self) -> None:
        """Anything else is not a scope list."""
        for value in [1, True, {"a": 1}, ["a", 2]]:
            self.assertIsNone(scopesFrom(value))


class ClientBasicTests(SynchronousTestCase):
    def test_formEncodedFirst(self) -> None:
        """Client id and secret are form-urlencoded before Basic (RFC 6749 §2.3.1)."""
        import base64

        header = clientBasic("id:1", "s é+")
        self.assertEqual(base64.b64decode(header.split()[1]), b"id%3A1:s%20%C3%A9%2B")


class IntrospectionRecordTests(SynchronousTestCase):
    """The introspection records refuse what cannot work, naming the field."""

    def refused(self, field: str, make: Any) -> None:
        with self.assertRaises(ConfigurationError) as caught:
            make()
        self.assertIn(field, str(caught.exception))

    def test_url(self) -> None:
        """The endpoint is an http(s) URL with a host."""
        for url in ["ftp://x/i", "https://", "/introspect", "", None]:
            self.refused("OAuth2IntrospectionConfig.url",
                         lambda url=url: OAuth2IntrospectionConfig(url=url))

    def test_clientCredentialsPair(self) -> None:
        """clientId and clientSecret go together, and not with ``auth``."""
        self.refused("OAuth2ClientConfig.clientSecret",
                     lambda: OAuth2ClientConfig(clientId="a"))
        self.refused("OAuth2ClientConfig.auth", lambda: OAuth2ClientConfig(
            clientId="a", clientSecret="b", auth=_BasicAuth("a", "b")))

    def test_authNeedsTheHook(self) -> None:
        """``auth`` must offer ``authorizationHeader``."""
        self.refused("OAuth2ClientConfig.auth", lambda: OAuth2ClientConfig(auth="garbage"))

    def test_headers(self) -> None:
        """Custom headers map text to text and cannot split a header."""
        self.refused("OAuth2ClientConfig.customHeaders",
                     lambda: OAuth2ClientConfig(customHeaders={"X": 1}))
        self.refused("OAuth2ClientConfig.customHeaders",
                     lambda: OAuth2ClientConfig(customHeaders={"X": "a\r\nB: c"}))

    def test_cacheConfig(self) -> None:
        """Cache sizes and factors are checked."""
        self.refused("CacheConfig.capacity", lambda: CacheConfig(capacity=0))
        self.refused("CacheConfig.evictionFactor", lambda: CacheConfig(evictionFactor=2))

    def test_timeouts(self) -> None:
        """The call's time bound and the default expiry are positive seconds."""
        self.refused("OAuth2ClientConfig.timeout", lambda: OAuth2ClientConfig(timeout=0))
        self.refused("OAuth2IntrospectionConfig.defaultTokenExpTime",
                     lambda: OAuth2IntrospectionConfig(url="https://h/i",
                                                       defaultTokenExpTime=-1))

    def test_mappings(self) -> None:
        """The nested records may be spelled as mappings (as a config file does)."""
        entry = OAuth2IntrospectionConfigWithScopes(
            oauth2IntrospectionConfig={"url": "https://h/i", "cacheConfig": {"capacity": 5},
                                       "clientConfig": {"clientId": "a", "clientSecret": "b",
                                                        "secureSocket": {"cert": "/ca.pem"}}},
            scopes=["write", "update"])
        config = entry.oauth2IntrospectionConfig
        assert config.cacheConfig is not None and config.clientConfig.secureSocket is not None
        self.assertEqual((config.cacheConfig.capacity, config.clientConfig.secureSocket.cert,
                          entry.scopes), (5, "/ca.pem", ("write", "update")))

    def test_fromString(self) -> None:
        """``--auth oauth2:`` arguments build the checker's config (the client secret from a
        file); a secret on the command line is refused."""
        secret = self.mktemp()
        with open(secret, "w") as f:
            f.write("s,e,cret\n")
        checker = checkerFromString(
            "url=https://h:9443/oauth2/introspect,tokenTypeHint=access_token,scopeKey=scp,"
            f"clientId=rs,clientSecretFile={secret},cert=/ca.pem,timeout=2,cache=50",
            reactor=Clock())
        config = checker.config
        self.assertEqual((config.url, config.tokenTypeHint, config.scopeKey),
                         ("https://h:9443/oauth2/introspect", "access_token", "scp"))
        self.assertEqual((config.clientConfig.clientId, config.clientConfig.clientSecret,
                          config.clientConfig.timeout), ("rs", "s,e,cret", 2.0))
        assert config.cacheConfig is not None
        self.assertEqual(config.cacheConfig.capacity, 50)
        for bad in ["nonsense", "url=https://h/i,cache=lots", "tokenTypeHint=x",
                    "url=https://h/i,clientId=a,clientSecret=b"]:
            with self.assertRaises(ConfigurationError):
                checkerFromString(bad, reactor=Clock())


class _BasicAuth:
    """A client auth config for the endpoint, through the ``authorizationHeader`` hook."""

    def __init__(self, clientId: str, secret: str) -> None:
        self.header = clientBasic(clientId, secret)
        self.calls = 0

    def authorizationHeader(self, clock: Any, reactor: Any) -> Any:
        self.calls += 1
        return succeed(self.header)


class IntrospectionTestCase(TestCase):
    def setUp(self) -> None:
        self.server = sharedAuthServer()

    def config(self, **overrides: Any) -> OAuth2IntrospectionConfig:
        client = dict(clientId="introspector", clientSecret="intro-secret",
                      secureSocket={"cert": self.server.caFile}, timeout=10)
        client.update(overrides.pop("client", {}))
        fields: dict[str, Any] = dict(url=f"{self.server.url}/introspect", clientConfig=client)
        fields.update(overrides)
        return OAuth2IntrospectionConfig(**fields)

    def makeChecker(self, clock: Any = None, **overrides: Any) -> IntrospectionChecker:
        return IntrospectionChecker(self.config(**overrides), clock=clock)

    async def refusedAs(self, kind: type, checker: IntrospectionChecker,
                        token: str) -> Exception:
        try:
            result = await checker.requestAvatarId(BearerToken(token))
        except UnauthorizedLogin as e:
            self.assertIs(type(e), kind, repr(e))
            return e
        self.fail(f"let in: {result!r}")


class IntrospectionConformanceTests(CheckerConformanceMixin, IntrospectionTestCase):
    """The introspection store keeps the contract of every bws checker."""

    def setUp(self) -> None:
        super().setUp()
        self.checker = self.makeChecker()

    def goodCredentials(self) -> list[tuple[BearerToken, Principal]]:
        token = self.server.issue("write update")["access_token"]
        user = self.server.issue("read", grant_type="password", username="alice",
                                 password="alice-pw")["access_token"]
        return [(BearerToken(token), Principal("ws-client", ("write", "update"))),
                (BearerToken(user), Principal("alice", ("read",)))]

    def badCredentials(self) -> list[BearerToken]:
        revoked = self.server.issue("read")["access_token"]
        self.server.revoke(revoked)
        return [BearerToken("unknown"), BearerToken(revoked)]


class IntrospectionTests(IntrospectionTestCase):
    """Tokens the authorization server issued, introspected."""

    def test_interface(self) -> None:
        """The checker is a twisted.cred checker of bearer tokens."""
        checker = self.makeChecker()
        self.assertTrue(verifyObject(ICredentialsChecker, checker))
        self.assertEqual(checker.credentialInterfaces, (IBearerToken,))

    async def test_activeWriteUpdate(self) -> None:
        """An active token with ``write update`` gives a Principal with both scopes."""
        token = self.server.issue("write update")["access_token"]
        principal = await self.makeChecker().requestAvatarId(BearerToken(token))
        self.assertIsInstance(principal, Principal)
        self.assertEqual((principal.userId, principal.scopes),
                         ("ws-client", ("write", "update")))
        self.assertIs(principal.claims["active"], True)

    async def test_activeRead(self) -> None:
        """An active token with ``read`` gives just that scope."""
        token = self.server.issue("read")["access_token"]
        principal = await self.makeChecker().requestAvatarId(BearerToken(token))
        self.assertEqual(principal.scopes, ("read",))

    async def test_inactive(self) -> None:
        """A token the server does not know is inactive: 401, not 503."""
        await self.refusedAs(UnauthorizedLogin, self.makeChecker(), "not-a-token")

    async def test_revoked(self) -> None:
        """A revoked token is inactive: 401."""
        token = self.server.issue("read")["access_token"]
        self.server.revoke(token)
        await self.refusedAs(UnauthorizedLogin, self.makeChecker(), token)

    async def test_emptyToken(self) -> None:
        """An empty token is refused without a call."""
        checker = self.makeChecker(url=f"http://127.0.0.1:{freePort()}/introspect")
        await self.refusedAs(UnauthorizedLogin, checker, "")

    async def test_userToken(self) -> None:
        """A token issued to a user names the user."""
        token = self.server.issue("read", grant_type="password", username="alice",
                                  password="alice-pw")["access_token"]
        principal = await self.makeChecker().requestAvatarId(BearerToken(token))
        self.assertEqual(principal.userId, "alice")

    async def test_scopeKeyList(self) -> None:
        """``scopeKey`` picks another member; a list of scopes is taken as it is."""
        token = self.server.issue("write update")["access_token"]
        principal = await self.makeChecker(scopeKey="scp").requestAvatarId(BearerToken(token))
        self.assertEqual(principal.scopes, ("write", "update"))

    async def test_noScopeClaim(self) -> None:
        """A ``scopeKey`` the answer lacks gives no scopes (the listener then says 403 where
        scopes are required)."""
        token = self.server.issue("write")["access_token"]
        principal = await self.makeChecker(scopeKey="roles").requestAvatarId(BearerToken(token))
        self.assertEqual(principal.scopes, ())

    async def test_tokenTypeHint(self) -> None:
        """``tokenTypeHint`` is sent; ``access_token`` is one the server knows."""
        token = self.server.issue("read")["access_token"]
        principal = await self.makeChecker(tokenTypeHint="access_token").requestAvatarId(
            BearerToken(token))
        self.assertEqual(principal.scopes, ("read",))

    async def test_authHook(self) -> None:
        """With ``clientConfig.auth`` the endpoint gets that config's Authorization header."""
        auth = _BasicAuth("introspector", "intro-secret")
        checker = self.makeChecker(client=dict(clientId=None, clientSecret=None, auth=auth))
        token = self.server.issue("read")["access_token"]
        principal = await checker.requestAvatarId(BearerToken(token))
        self.assertEqual((principal.scopes, auth.calls), (("read",), 1))

    async def test_checkerForEntry(self) -> None:
        """``checkerFor`` builds the checker of a listener entry."""
        entry = OAuth2IntrospectionConfigWithScopes(oauth2IntrospectionConfig=self.config())
        token = self.server.issue("update")["access_token"]
        principal = await checkerFor(entry).requestAvatarId(BearerToken(token))
        self.assertEqual(principal.scopes, ("update",))

    async def test_fromStringAgainstServer(self) -> None:
        """A checker from ``--auth oauth2:`` arguments introspects."""
        secret = self.mktemp()
        with open(secret, "w") as f:
            f.write("intro-secret\n")
        checker = checkerFromString(
            f"url={self.server.url}/introspect,clientId=introspector,"
            f"clientSecretFile={secret},cert={self.server.caFile}")
        token = self.server.issue("write")["access_token"]
        principal = await checker.requestAvatarId(BearerToken(token))
        self.assertEqual(principal.scopes, ("write",))


class IntrospectionCacheTests(IntrospectionTestCase):
    """The cache keeps active answers until ``exp`` (or ``defaultTokenExpTime``)."""

    def clock(self) -> Clock:
        clock = Clock()
        clock.advance(time.time())
        return clock

    async def test_withoutCacheEveryRequestAsks(self) -> None:
        """Without ``cacheConfig`` a revoked token is refused at once."""
        checker = self.makeChecker()
        token = self.server.issue("read")["access_token"]
        await checker.requestAvatarId(BearerToken(token))
        self.server.revoke(token)
        await self.refusedAs(UnauthorizedLogin, checker, token)

    async def test_keptUntilExp(self) -> None:
        """A cached answer is used until the token's ``exp``, then the endpoint is asked
        again (and now says inactive)."""
        clock = self.clock()
        checker = self.makeChecker(clock=clock, cacheConfig=CacheConfig())
        answer = self.server.issue("write")
        token = answer["access_token"]
        await checker.requestAvatarId(BearerToken(token))
        self.server.revoke(token)
        principal = await checker.requestAvatarId(BearerToken(token))
        self.assertEqual(principal.scopes, ("write",))
        exp = self.server.introspect(self.server.issue("read")["access_token"])["exp"]
        clock.advance(exp - clock.seconds() + 1)
        await self.refusedAs(UnauthorizedLogin, checker, token)

    async def test_defaultTokenExpTime(self) -> None:
        """An answer without ``exp`` is kept for ``defaultTokenExpTime`` seconds."""
        clock = self.clock()
        checker = self.makeChecker(clock=clock, cacheConfig={}, defaultTokenExpTime=60)
        token = self.server.issue("read", client="noexp-client")["access_token"]
        self.assertNotIn("exp", self.server.introspect(token))
        await checker.requestAvatarId(BearerToken(token))
        self.server.revoke(token)
        clock.advance(59)
        principal = await checker.requestAvatarId(BearerToken(token))
        self.assertEqual(principal.scopes, ("read",))
        clock.advance(1)
        await self.refusedAs(UnauthorizedLogin, checker, token)

    async def test_inactiveNotCached(self) -> None:
        """Refusals are not cached."""
        clock = self.clock()
        checker = self.makeChecker(clock=clock, cacheConfig={})
        await self.refusedAs(UnauthorizedLogin, checker, "unknown")
        await self.refusedAs(UnauthorizedLogin, checker, "unknown")


class IntrospectionBackendFailureTests(IntrospectionTestCase):
    """An endpoint that is down, hangs, refuses bws or answers garbage gives
    BackendUnavailable (503) within ``clientConfig.timeout``: never a login."""

    async def test_down(self) -> None:
        """Nothing listening: 503."""
        checker = self.makeChecker(url=f"https://127.0.0.1:{freePort()}/introspect")
        await self.refusedAs(BackendUnavailable, checker, "any")

    async def test_hangs(self) -> None:
        """An endpoint that accepts and never answers: 503 after the timeout."""
        checker = self.makeChecker(url=silentServer(self), client={"timeout": 0.5})
        await self.refusedAs(BackendUnavailable, checker, "any")

    async def test_hangsOverTls(self) -> None:
        """Silence where a TLS handshake was expected: 503 after the timeout."""
        url = silentServer(self).replace("http:", "https:")
        checker = self.makeChecker(url=url, client={"timeout": 0.5})
        await self.refusedAs(BackendUnavailable, checker, "any")

    async def test_untrustedCertificate(self) -> None:
        """A server certificate that does not chain to a trusted CA: 503."""
        checker = self.makeChecker(client={"secureSocket": None})
        await self.refusedAs(BackendUnavailable, checker, "any")

    async def test_wrongClientSecret(self) -> None:
        """The endpoint refusing bws's own credentials (401) is the store's failure: 503."""
        token = self.server.issue("read")["access_token"]
        checker = self.makeChecker(client={"clientSecret": "wrong"})
        await self.refusedAs(BackendUnavailable, checker, token)

    async def test_notAllowedToIntrospect(self) -> None:
        """A client the server does not let introspect gets ``active: false``: 401."""
        token = self.server.issue("read")["access_token"]
        checker = self.makeChecker(client={"clientId": "ws-client", "clientSecret": "ws-secret"})
        await self.refusedAs(UnauthorizedLogin, checker, token)

    async def test_garbage(self) -> None:
        """Answers that are not an RFC 7662 JSON object with a boolean ``active``: 503."""
        for status, body, contentType in [
            (200, b"<html>hello</html>", b"text/html"),
            (200, b"", b"application/json"),
            (200, b"[true]", b"application/json"),
            (200, b'{"active": "true"}', b"application/json"),
            (200, b'{"scope": "write"}', b"application/json"),
            (200, b'{"active": true, "scope": 7}', b"application/json"),
            (200, b"\xff\xfe", b"application/json"),
            (500, b'{"active": true}', b"application/json"),
            (302, b'{"active": true}', b"application/json"),
            (200, b'{"active": true, "pad": "' + b"x" * MAX_BODY + b'"}',
             b"application/json"),
        ]:
            checker = self.makeChecker(url=fixedServer(self, status, body, contentType))
            error = await self.refusedAs(BackendUnavailable, checker, "any")
            self.assertIn("unavailable", str(error))

    async def test_activeFromPlainServer(self) -> None:
        """The same peer answering a well-formed active answer lets the token in: the
        garbage cases above fail for their content, not for the peer."""
        body = json.dumps({"active": True, "scope": "write", "sub": "u"}).encode()
        checker = self.makeChecker(url=fixedServer(self, 200, body))
        principal = await checker.requestAvatarId(BearerToken("any"))
        self.assertEqual((principal.userId, principal.scopes), ("u", ("write",)))
