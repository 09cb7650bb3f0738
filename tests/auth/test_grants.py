"""The client's OAuth2 grants against the authlib authorization server over TLS
(tests/auth/authserver.py): tokens fetched, cached on the clock, refreshed, and failures
worded as the reference words them."""

from __future__ import annotations

import time
from typing import Any

import jwt
from twisted.internet import reactor
from twisted.internet.defer import gatherResults
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase

from bws.auth._grants import (
    INFER_REFRESH_CONFIG,
    POST_BODY_BEARER,
    OAuth2ClientCredentialsGrantConfig,
    OAuth2JwtBearerGrantConfig,
    OAuth2PasswordGrantConfig,
    OAuth2RefreshConfig,
    OAuth2RefreshTokenGrantConfig,
)
from bws.errors import AuthError, ConfigurationError
from tests.auth.authserver import EXPIRES_IN, sharedAuthServer
from tests.auth.peers import silentServer
from tests.auth.slapd import freePort

PREFIX = "Failed to enrich request with OAuth2 token. "


class GrantRecordTests(SynchronousTestCase):
    """Grant records refuse what cannot work, naming the field."""

    def refused(self, field: str, make: Any) -> None:
        with self.assertRaises(ConfigurationError) as caught:
            make()
        self.assertIn(field, str(caught.exception))

    def test_required(self) -> None:
        """URLs, client credentials, user credentials and assertions are required."""
        self.refused("OAuth2ClientCredentialsGrantConfig.tokenUrl",
                     lambda: OAuth2ClientCredentialsGrantConfig(
                         tokenUrl="", clientId="a", clientSecret="b"))
        self.refused("OAuth2ClientCredentialsGrantConfig.clientSecret",
                     lambda: OAuth2ClientCredentialsGrantConfig(
                         tokenUrl="https://h/t", clientId="a", clientSecret=""))
        self.refused("OAuth2PasswordGrantConfig.password", lambda: OAuth2PasswordGrantConfig(
            tokenUrl="https://h/t", username="u", password=""))
        self.refused("OAuth2RefreshTokenGrantConfig.refreshToken",
                     lambda: OAuth2RefreshTokenGrantConfig(
                         refreshUrl="https://h/t", refreshToken="", clientId="a",
                         clientSecret="b"))
        self.refused("OAuth2JwtBearerGrantConfig.assertion", lambda: OAuth2JwtBearerGrantConfig(
            tokenUrl="https://h/t", assertion=""))

    def test_urls(self) -> None:
        """Token URLs are http(s)."""
        self.refused("OAuth2JwtBearerGrantConfig.tokenUrl", lambda: OAuth2JwtBearerGrantConfig(
            tokenUrl="ftp://h/t", assertion="x"))

    def test_secretNeedsId(self) -> None:
        """A client secret without a client id is refused."""
        self.refused("OAuth2PasswordGrantConfig.clientId", lambda: OAuth2PasswordGrantConfig(
            tokenUrl="https://h/t", username="u", password="p", clientSecret="s"))

    def test_credentialBearer(self) -> None:
        """``credentialBearer`` is one of the two spellings."""
        self.refused("OAuth2ClientCredentialsGrantConfig.credentialBearer",
                     lambda: OAuth2ClientCredentialsGrantConfig(
                         tokenUrl="https://h/t", clientId="a", clientSecret="b",
                         credentialBearer="HEADER"))

    def test_clientConfigAuthRefused(self) -> None:
        """Endpoint auth settings in a grant's clientConfig are refused, not ignored."""
        self.refused("OAuth2ClientCredentialsGrantConfig.clientConfig",
                     lambda: OAuth2ClientCredentialsGrantConfig(
                         tokenUrl="https://h/t", clientId="a", clientSecret="b",
                         clientConfig={"clientId": "x", "clientSecret": "y"}))

    def test_refreshConfig(self) -> None:
        """``refreshConfig`` is a record, a mapping of one, or INFER_REFRESH_CONFIG."""
        self.refused("OAuth2PasswordGrantConfig.refreshConfig", lambda: OAuth2PasswordGrantConfig(
            tokenUrl="https://h/t", username="u", password="p", refreshConfig="INFER"))
        grant = OAuth2PasswordGrantConfig(tokenUrl="https://h/t", username="u", password="p",
                                          refreshConfig={"refreshUrl": "https://h/r"})
        self.assertIsInstance(grant.refreshConfig, OAuth2RefreshConfig)

    def test_secretsNotInRepr(self) -> None:
        """Secrets and passwords stay out of repr (and so out of logs)."""
        grant = OAuth2PasswordGrantConfig(tokenUrl="https://h/t", username="u",
                                          password="hunter2", clientId="c", clientSecret="s3")
        self.assertNotIn("hunter2", repr(grant))
        self.assertNotIn("s3", repr(grant))

    def test_equalityIgnoresTokens(self) -> None:
        """Two grants with the same fields are equal whatever tokens each has cached."""
        make = lambda: OAuth2ClientCredentialsGrantConfig(  # noqa: E731
            tokenUrl="https://h/t", clientId="a", clientSecret="b")
        first, second = make(), make()
        first._cache.accessToken = "x"
        self.assertEqual(first, second)
        self.assertEqual(hash(first), hash(second))


class GrantTestCase(TestCase):
    def setUp(self) -> None:
        self.server = sharedAuthServer()
        self.clock = Clock()
        self.clock.advance(time.time())
        self.tokenUrl = f"{self.server.url}/token"
        self.tls = {"secureSocket": {"cert": self.server.caFile}}

    async def header(self, grant: Any) -> str:
        header: str = await grant.authorizationHeader(self.clock, reactor)
        self.assertTrue(header.startswith("Bearer "), header)
        return header

    def introspect(self, header: str) -> dict[str, Any]:
        return self.server.introspect(header.split(" ", 1)[1])

    async def failure(self, grant: Any) -> AuthError:
        try:
            header = await grant.authorizationHeader(self.clock, reactor)
        except AuthError as e:
            self.assertTrue(str(e).startswith(PREFIX), str(e))
            return e
        self.fail(f"got a token: {header}")


class ClientCredentialsTests(GrantTestCase):
    def grant(self, **overrides: Any) -> OAuth2ClientCredentialsGrantConfig:
        fields: dict[str, Any] = dict(tokenUrl=self.tokenUrl, clientId="ws-client",
                                      clientSecret="ws-secret", scopes=["write", "update"],
                                      clientConfig=self.tls)
        fields.update(overrides)
        return OAuth2ClientCredentialsGrantConfig(**fields)

    async def test_token(self) -> None:
        """The grant gives a Bearer token the server knows, with the scopes asked for."""
        answer = self.introspect(await self.header(self.grant()))
        self.assertEqual((answer["active"], answer["scope"], answer["gty"]),
                         (True, "write update", "client_credentials"))

    async def test_postBody(self) -> None:
        """POST_BODY_BEARER sends the client credentials in the body, and works too."""
        answer = self.introspect(await self.header(self.grant(credentialBearer=POST_BODY_BEARER,
                                                              scopes="read")))
        self.assertEqual(answer["scope"], "read")

    async def test_cachedUntilExpiry(self) -> None:
        """The token is reused until ``expires_in`` has passed, then another is fetched."""
        grant = self.grant()
        first = await self.header(grant)
        self.clock.advance(EXPIRES_IN - 1)
        self.assertEqual(await self.header(grant), first)
        self.clock.advance(1)
        second = await self.header(grant)
        self.assertNotEqual(second, first)
        self.assertTrue(self.introspect(second)["active"])

    async def test_clockSkew(self) -> None:
        """``clockSkew`` seconds before expiry the token is fetched again."""
        grant = self.grant(clockSkew=30)
        first = await self.header(grant)
        self.clock.advance(EXPIRES_IN - 30)
        self.assertNotEqual(await self.header(grant), first)

    async def test_invalidate(self) -> None:
        """``invalidate`` (after a server refused the token) makes the next call fetch."""
        grant = self.grant()
        first = await self.header(grant)
        grant.invalidate()
        self.assertNotEqual(await self.header(grant), first)

    async def test_concurrentCallsShareOneFetch(self) -> None:
        """Calls made while a fetch is in flight all get that fetch's token."""
        grant = self.grant()
        headers = await gatherResults([grant.authorizationHeader(self.clock, reactor)
                                       for _ in range(5)])
        self.assertEqual(len(set(headers)), 1)

    async def test_wrongSecret(self) -> None:
        """The server refusing the client: AuthError with the RFC 6749 §5.2 error."""
        error = await self.failure(self.grant(clientSecret="wrong"))
        self.assertIn("invalid_client", str(error))
        self.assertIn("401", str(error))

    async def test_unknownScope(self) -> None:
        """A scope the server does not have: AuthError ``invalid_scope``."""
        error = await self.failure(self.grant(scopes=["admin"]))
        self.assertIn("invalid_scope", str(error))

    async def test_endpointDown(self) -> None:
        """Nothing listening at ``tokenUrl``: AuthError saying it cannot be called."""
        error = await self.failure(self.grant(tokenUrl=f"https://127.0.0.1:{freePort()}/t"))
        self.assertIn("cannot call", str(error))

    async def test_endpointHangs(self) -> None:
        """A token endpoint that never answers: AuthError after ``clientConfig.timeout`` on
        the clock the caller gives."""
        grant = self.grant(tokenUrl=silentServer(self), clientConfig={"timeout": 0.5})
        pending = grant.authorizationHeader(self.clock, reactor)
        self.clock.advance(0.5)
        try:
            await pending
        except AuthError as e:
            self.assertEqual(str(e), f"{PREFIX}no answer from {grant.tokenUrl} within 0.5 s")
        else:
            self.fail("got a token")

    async def test_untrustedServer(self) -> None:
        """A token endpoint whose certificate is not trusted: AuthError, no token sent."""
        error = await self.failure(self.grant(clientConfig={}))
        self.assertIn("certificate verify failed", str(error))


class PasswordGrantTests(GrantTestCase):
    def grant(self, **overrides: Any) -> OAuth2PasswordGrantConfig:
        fields: dict[str, Any] = dict(tokenUrl=self.tokenUrl, username="alice",
                                      password="alice-pw", clientId="ws-client",
                                      clientSecret="ws-secret", scopes="read",
                                      clientConfig=self.tls)
        fields.update(overrides)
        return OAuth2PasswordGrantConfig(**fields)

    async def test_token(self) -> None:
        """The grant gives a token for the user."""
        answer = self.introspect(await self.header(self.grant()))
        self.assertEqual((answer["username"], answer["gty"]), ("alice", "password"))

    async def test_wrongPassword(self) -> None:
        """A refused password: AuthError with the server's 400 and its error."""
        error = await self.failure(self.grant(password="wrong"))
        self.assertIn("answered 400", str(error))

    async def test_noRefreshConfigAsksAgain(self) -> None:
        """Without ``refreshConfig`` an expired token is replaced by a new password grant."""
        grant = self.grant()
        await self.header(grant)
        self.clock.advance(EXPIRES_IN)
        self.assertEqual(self.introspect(await self.header(grant))["gty"], "password")

    async def test_inferredRefresh(self) -> None:
        """With INFER_REFRESH_CONFIG an expired token is refreshed at ``tokenUrl`` with the
        refresh token (RFC 6749 §6), the rotated refresh token is kept for the next time."""
        grant = self.grant(refreshConfig=INFER_REFRESH_CONFIG)
        await self.header(grant)
        for _ in range(2):
            self.clock.advance(EXPIRES_IN)
            answer = self.introspect(await self.header(grant))
            self.assertEqual((answer["gty"], answer["username"]), ("refresh_token", "alice"))

    async def test_refreshConfig(self) -> None:
        """An OAuth2RefreshConfig says where and how to refresh."""
        grant = self.grant(refreshConfig={"refreshUrl": self.tokenUrl, "scopes": "read",
                                          "credentialBearer": POST_BODY_BEARER,
                                          "clientConfig": self.tls})
        await self.header(grant)
        self.clock.advance(EXPIRES_IN)
        self.assertEqual(self.introspect(await self.header(grant))["gty"], "refresh_token")

    async def test_refusedRefreshFallsBack(self) -> None:
        """A refresh token the server no longer accepts: the grant asks with the password."""
        grant = self.grant(refreshConfig=INFER_REFRESH_CONFIG)
        await self.header(grant)
        assert grant._cache.refreshToken is not None
        self.server.revoke(grant._cache.refreshToken)
        self.clock.advance(EXPIRES_IN)
        self.assertEqual(self.introspect(await self.header(grant))["gty"], "password")


class RefreshTokenGrantTests(GrantTestCase):
    def refreshToken(self) -> str:
        answer = self.server.issue("read write", grant_type="password", username="alice",
                                   password="alice-pw")
        token: str = answer["refresh_token"]
        return token

    def grant(self, **overrides: Any) -> OAuth2RefreshTokenGrantConfig:
        fields: dict[str, Any] = dict(refreshUrl=self.tokenUrl, refreshToken=self.refreshToken(),
                                      clientId="ws-client", clientSecret="ws-secret",
                                      clientConfig=self.tls)
        fields.update(overrides)
        return OAuth2RefreshTokenGrantConfig(**fields)

    async def test_tokenAndRotation(self) -> None:
        """Tokens come from refreshes; the server's rotated refresh token is used next."""
        grant = self.grant(scopes="read")
        for _ in range(3):
            answer = self.introspect(await self.header(grant))
            self.assertEqual((answer["gty"], answer["scope"]), ("refresh_token", "read"))
            self.clock.advance(EXPIRES_IN)

    async def test_revokedRefreshToken(self) -> None:
        """A refresh token the server refuses: AuthError ``invalid_grant``."""
        token = self.refreshToken()
        self.server.revoke(token)
        error = await self.failure(self.grant(refreshToken=token))
        self.assertIn("invalid_grant", str(error))


class JwtBearerGrantTests(GrantTestCase):
    def assertion(self, **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": "ws-client", "sub": "alice", "aud": self.tokenUrl,
                   "iat": now, "exp": now + 600, **claims}
        return jwt.encode(payload, self.server.jwtKey, algorithm="RS256")

    def grant(self, **overrides: Any) -> OAuth2JwtBearerGrantConfig:
        fields: dict[str, Any] = dict(tokenUrl=self.tokenUrl, assertion=self.assertion(),
                                      scopes="write", clientConfig=self.tls)
        fields.update(overrides)
        return OAuth2JwtBearerGrantConfig(**fields)

    async def test_token(self) -> None:
        """A signed assertion (RFC 7523 §2.1) is exchanged for a token for its subject."""
        answer = self.introspect(await self.header(self.grant()))
        self.assertEqual((answer["username"], answer["scope"]), ("alice", "write"))
        self.assertTrue(answer["gty"].endswith("jwt-bearer"))

    async def test_withClientCredentials(self) -> None:
        """Client credentials may go along with the assertion."""
        grant = self.grant(clientId="ws-client", clientSecret="ws-secret")
        self.assertTrue(self.introspect(await self.header(grant))["active"])

    async def test_wrongAudience(self) -> None:
        """An assertion for another audience: AuthError ``invalid_grant``."""
        error = await self.failure(self.grant(assertion=self.assertion(aud="https://else/")))
        self.assertIn("invalid_grant", str(error))
