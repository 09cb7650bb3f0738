"""The client's ``Authorization`` header (REFERENCE §1.13): every ``auth`` value is used or
refused naming the field; Basic, Bearer and self-issued JWTs reach the server; failures are
``AuthError``s with the reference's messages; tokens are refreshed before they expire and
asked for again on reconnect."""

from __future__ import annotations

import base64
from typing import Any

import jwt
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

import bws
import bws.testing
from bws.auth._jwt import jwtChecker
from bws.auth.client import REFRESH_MARGIN, IssuedJwtAuth, authorizationSource
from bws.auth.credentials import BearerToken
from bws.auth.records import (
    BearerTokenConfig,
    CredentialsConfig,
    IClientAuth,
    JwtIssuerConfig,
    JwtValidatorConfig,
)
from tests.auth.keys import SECRET, certFile, ecKey, keyFile, keyStore, rsaKey

NOW = 1_700_000_000.0


class Recorder:
    """An upgrade service recording each upgrade request's Authorization headers."""

    def __init__(self) -> None:
        self.headers: list[list[str]] = []
        self.caller: bws.Caller | None = None

    def get(self, request: bws.UpgradeRequest) -> Any:
        self.headers.append(request.getHeaders("authorization"))
        recorder = self

        class Service:
            def onOpen(self, caller: bws.Caller) -> None:
                recorder.caller = caller

        return Service()


def sentHeader(case: SynchronousTestCase, **config: Any) -> str:
    """The one Authorization header a client with ``config`` sent."""
    service = Recorder()
    clock = MemoryReactorClock()
    clock.advance(NOW)
    bws.testing.connect(service, "/", clock=clock, **config)
    case.assertEqual(len(service.headers[0]), 1)
    return service.headers[0][0]


def connectFailure(case: SynchronousTestCase, **config: Any) -> BaseException:
    """The error of a client with ``config`` that cannot connect."""
    listener = bws.testing.MemoryListener()
    listener.attach(Recorder(), "/")
    d = listener.connect("/", **config)
    failure = case.failureResultOf(d)
    case.assertEqual(listener.pumps, [])  # nothing was sent
    return failure.value


class RefusedValueTests(SynchronousTestCase):
    """A value that is no client auth is refused before anything is sent."""

    def test_garbage(self) -> None:
        """A string, a number, an unknown mapping: ConfigurationError naming the field and
        the type only (a token passed by mistake is not echoed)."""
        for value in ("garbage", 42, {"user": "u"}, ["u", "p"], b"token"):
            error = connectFailure(self, auth=value)
            self.assertIsInstance(error, bws.ConfigurationError)
            self.assertIn("ClientConfiguration.auth", str(error))
            self.assertNotIn("garbage", str(error))

    def test_record(self) -> None:
        """``ClientConfiguration`` refuses it too, and a record's own fields are checked."""
        with self.assertRaises(bws.ConfigurationError):
            bws.ClientConfiguration(auth="garbage")
        with self.assertRaises(bws.ConfigurationError) as caught:
            bws.ClientConfiguration(auth={"username": 1, "password": "p"})
        self.assertIn("CredentialsConfig.username", str(caught.exception))


class BasicTests(SynchronousTestCase):
    """CredentialsConfig (or a ``{"username", "password"}`` mapping) sends Basic."""

    def test_record(self) -> None:
        """``Basic base64(username:password)`` in UTF-8; colons in the password are kept."""
        header = sentHeader(self, auth=CredentialsConfig("josé", "p:ss:wörd"))
        self.assertEqual(base64.b64decode(header.removeprefix("Basic ")).decode(),
                         "josé:p:ss:wörd")

    def test_mapping(self) -> None:
        """The mapping form is the same record."""
        self.assertEqual(sentHeader(self, auth={"username": "u", "password": "p"}),
                         "Basic dTpw")

    def test_replacesCustomHeader(self) -> None:
        """``auth`` wins over an Authorization in ``customHeaders``: one header is sent."""
        self.assertEqual(sentHeader(self, auth={"username": "u", "password": "p"},
                                    customHeaders={"authorization": "Bearer old"}),
                         "Basic dTpw")

    def test_empty(self) -> None:
        """An empty user name or password: the reference's AuthError."""
        for username, password in (("", "p"), ("u", "")):
            error = connectFailure(self, auth=CredentialsConfig(username, password))
            self.assertIsInstance(error, bws.AuthError)
            self.assertEqual(str(error), "Failed to enrich request with Basic Auth token. "
                                         "Username or password cannot be empty.")

    def test_colonOrControl(self) -> None:
        """A colon in the user name, or a control character anywhere, cannot be sent."""
        for username, password in (("a:b", "p"), ("a\r\nX-Evil: 1", "p"), ("a", "p\n")):
            error = connectFailure(self, auth=CredentialsConfig(username, password))
            self.assertIsInstance(error, bws.AuthError)
            self.assertTrue(str(error).startswith(
                "Failed to enrich request with Basic Auth token. "))


class BearerTests(SynchronousTestCase):
    """BearerTokenConfig (or ``{"token"}``) sends Bearer."""

    def test_token(self) -> None:
        """``Bearer <token>``."""
        self.assertEqual(sentHeader(self, auth=BearerTokenConfig("abc.def-_~+/=")),
                         "Bearer abc.def-_~+/=")
        self.assertEqual(sentHeader(self, auth={"token": "t"}), "Bearer t")

    def test_injection(self) -> None:
        """A token with CR/LF or spaces is refused: no header can be smuggled."""
        for value in ("a\r\nX-Evil: 1", "a b", "", "tök"):
            error = connectFailure(self, auth=BearerTokenConfig(value))
            self.assertIsInstance(error, bws.AuthError)


class IssuedJwtTests(SynchronousTestCase):
    """JwtIssuerConfig: a self-signed JWT the server's validator accepts."""

    def validate(self, header: str, signatureConfig: dict[str, Any],
                 **validator: Any) -> bws.Principal:
        """Check ``header``'s token with bws's own validator at NOW."""
        clock = Clock()
        clock.advance(NOW)
        checker = jwtChecker(JwtValidatorConfig(signatureConfig=signatureConfig, **validator),
                             clock)
        d = checker.requestAvatarId(BearerToken(header.removeprefix("Bearer ")))
        return self.successResultOf(d)  # type: ignore[no-any-return]

    def test_keyFile(self) -> None:
        """RS256 with a PEM key file: the claims and the kid the config names."""
        key = rsaKey()
        config = JwtIssuerConfig(username="alice", issuer="wso2", audience="ballerina",
                                 keyId="k1", jwtId="j1", customClaims={"scp": "write update"},
                                 expTime=600,
                                 signatureConfig={"config": {"keyFile": keyFile(self, key)}})
        header = sentHeader(self, auth=config)
        principal = self.validate(header, {"certFile": certFile(self, key)}, issuer="wso2",
                                  audience="ballerina", scopeKey="scp")
        self.assertEqual((principal.userId, principal.scopes), ("alice", ("write", "update")))
        self.assertEqual(principal.claims["exp"] - principal.claims["iat"], 600)
        self.assertEqual(principal.claims["iat"], int(NOW))
        self.assertEqual(principal.claims["jti"], "j1")
        self.assertEqual(jwt.get_unverified_header(header[7:])["kid"], "k1")

    def test_encryptedKeyAndEc(self) -> None:
        """An encrypted PEM key, and ES256 with a P-256 key."""
        key = ecKey()
        config = JwtIssuerConfig(username="bob", signatureConfig={
            "algorithm": "ES256", "config": {"keyFile": keyFile(self, key, "pw"),
                                             "keyPassword": "pw"}})
        header = sentHeader(self, auth=config)
        self.assertEqual(self.validate(header, {"certFile": certFile(self, key)}).userId, "bob")

    def test_keyStore(self) -> None:
        """A PKCS#12 key store and its alias."""
        key = rsaKey()
        path = keyStore(self, key, "signer", "changeit")
        config = {"username": "carol", "signatureConfig": {"config": {
            "keyStore": {"path": path, "password": "changeit"}, "keyAlias": "signer"}}}
        header = sentHeader(self, auth=config)
        self.assertEqual(self.validate(header, {"certFile": certFile(self, key)}).userId, "carol")

    def test_secret(self) -> None:
        """HS256 with a shared secret."""
        config = JwtIssuerConfig(username="dan", signatureConfig={"config": SECRET,
                                                                  "algorithm": "HS256"})
        header = sentHeader(self, auth=config)
        self.assertEqual(self.validate(header, {"secret": SECRET}).userId, "dan")

    def test_failures(self) -> None:
        """A missing file, a wrong alias, a key that does not fit: "... with JWT. <cause>"."""
        path = self.mktemp()
        store = keyStore(self, rsaKey(), "signer", "changeit")
        configs = [
            JwtIssuerConfig(signatureConfig={"config": {"keyFile": path}}),
            JwtIssuerConfig(signatureConfig={"config": {
                "keyStore": {"path": store, "password": "changeit"}, "keyAlias": "other"}}),
            JwtIssuerConfig(signatureConfig={"config": {
                "keyStore": {"path": store, "password": "wrong"}, "keyAlias": "signer"}}),
            JwtIssuerConfig(signatureConfig={"algorithm": "ES256",
                                             "config": {"keyFile": keyFile(self, rsaKey())}}),
        ]
        for config in configs:
            error = connectFailure(self, auth=config)
            self.assertIsInstance(error, bws.AuthError)
            self.assertTrue(str(error).startswith("Failed to enrich request with JWT. "),
                            str(error))
        self.assertIn(path, str(connectFailure(self, auth=configs[0])))

    def test_configChecked(self) -> None:
        """Algorithm and key kind must agree, none is no algorithm, secrets are long enough."""
        for signature in ({"algorithm": "none", "config": {"keyFile": "k"}},
                          {"algorithm": "HS256", "config": {"keyFile": "k"}},
                          {"algorithm": "RS256", "config": SECRET},
                          {"algorithm": "HS512", "config": "x" * 40},
                          {"config": "short"}):
            with self.assertRaises(bws.ConfigurationError):
                JwtIssuerConfig(signatureConfig=signature)

    def test_refreshedBeforeExpiry(self) -> None:
        """The token is kept until less than the margin is left, then issued anew."""
        source = IssuedJwtAuth(JwtIssuerConfig(expTime=300, signatureConfig={
            "config": SECRET, "algorithm": "HS256"}))
        clock = Clock()
        clock.advance(NOW)
        first = self.successResultOf(source.authorizationHeader(clock, None))
        clock.advance(300 - REFRESH_MARGIN - 1)
        self.assertEqual(self.successResultOf(source.authorizationHeader(clock, None)), first)
        clock.advance(1)
        self.assertNotEqual(self.successResultOf(source.authorizationHeader(clock, None)), first)
        self.assertEqual(source.issued, 2)

    def test_shortLifetime(self) -> None:
        """A token living less than twice the margin is refreshed at half its life."""
        source = IssuedJwtAuth(JwtIssuerConfig(expTime=10, signatureConfig={
            "config": SECRET, "algorithm": "HS256"}))
        clock = Clock()
        clock.advance(NOW)
        source.authorizationHeader(clock, None)
        clock.advance(4)
        source.authorizationHeader(clock, None)
        self.assertEqual(source.issued, 1)
        clock.advance(1)
        source.authorizationHeader(clock, None)
        self.assertEqual(source.issued, 2)


@implementer(IClientAuth)
class Counting:
    """A user-written source: a new token per call, or a failure."""

    def __init__(self, failure: Exception | None = None) -> None:
        self.calls = 0
        self.failure = failure

    def authorizationHeader(self, clock: Any, reactor: Any) -> Deferred[str]:
        self.calls += 1
        if self.failure is not None:
            return fail(self.failure)
        return succeed(f"Bearer token-{self.calls}")


class SourceTests(SynchronousTestCase):
    """User-written sources, and the header asked anew on each reconnect."""

    def test_userSource(self) -> None:
        """An ``IClientAuth`` provider is used as given."""
        source = Counting()
        self.assertIs(authorizationSource(source), source)
        self.assertEqual(sentHeader(self, auth=source), "Bearer token-1")

    def test_userSourceFailure(self) -> None:
        """A foreign exception from a source becomes an AuthError; a bws error is kept."""
        error = connectFailure(self, auth=Counting(RuntimeError("no token today")))
        self.assertIsInstance(error, bws.AuthError)
        self.assertIn("no token today", str(error))
        error = connectFailure(self, auth=Counting(bws.AuthError("mine")))
        self.assertEqual(str(error), "mine")

    def test_badHeaderValue(self) -> None:
        """A header value with CR/LF from a source is refused."""
        @implementer(IClientAuth)
        class Evil:
            def authorizationHeader(self, clock: Any, reactor: Any) -> Deferred[str]:
                return succeed("Bearer x\r\nX-Evil: 1")

        self.assertIsInstance(connectFailure(self, auth=Evil()), bws.AuthError)

    def test_askedOnReconnect(self) -> None:
        """After a drop, the reconnect's handshake carries a header asked for again."""
        source = Counting()
        service = Recorder()
        conn = bws.testing.connect(service, "/", auth=source, retryConfig={"interval": 1})
        assert service.caller is not None
        service.caller._connection.abort()  # type: ignore[attr-defined]
        conn.flush()
        d = conn.client.writeTextMessage("again")
        conn.advance(1)
        self.successResultOf(d)
        self.assertEqual(service.headers, [["Bearer token-1"], ["Bearer token-2"]])

    def test_authErrorNotRetried(self) -> None:
        """An AuthError is not an IO failure: no retry."""
        source = Counting(bws.AuthError("no"))
        listener = bws.testing.MemoryListener()
        listener.attach(Recorder(), "/")
        d = listener.connect("/", auth=source, retryConfig={"interval": 1})
        listener.advance(5)
        self.failureResultOf(d, bws.AuthError)
        self.assertEqual(source.calls, 1)
