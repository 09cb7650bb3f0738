"""The JWT validator in memory: key sources, pinned algorithms, hostile tokens, time, the
JWKS cache on a Clock, and the reference's scenario (``scp`` write / read, a wrong issuer)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase, TestCase

import bws
import bws.testing
from bws.auth._jwt import JwksKeys, checkerFromString, jwtChecker, parseJwks
from bws.auth.credentials import BackendUnavailable, BearerToken
from bws.auth.records import JwksConfig, JwtValidatorConfig, JwtValidatorConfigWithScopes
from tests.auth.conformance import CheckerConformanceMixin
from tests.auth.keys import (
    SECRET,
    certFile,
    certificate,
    ecKey,
    publicJwk,
    rsaKey,
    token,
    trustStore,
    writeFile,
)

NOW = 1_700_000_000.0


def claims(**extra: Any) -> dict[str, Any]:
    """Claims valid at NOW for five minutes, from issuer ``wso2`` to audience ``ballerina``."""
    base: dict[str, Any] = {"sub": "alice", "iss": "wso2", "aud": "ballerina",
                            "iat": int(NOW), "exp": int(NOW) + 300}
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None}


def clockAt(when: float = NOW) -> Clock:
    clock = Clock()
    clock.advance(when)
    return clock


def resultOf(d: Deferred[Any]) -> Any:
    """The result or the failure's exception class of a fired Deferred."""
    results: list[Any] = []
    d.addBoth(results.append)
    result = results[0]
    return result.type if hasattr(result, "type") else result


class JwtConformanceTests(CheckerConformanceMixin, TestCase):
    """A certificate-verified validator keeps the checker contract, refusing every hostile
    token: alg none, HS256 signed with the RS public key, no exp, jku elsewhere, crit."""

    def setUp(self) -> None:
        self.key = rsaKey()
        config = JwtValidatorConfig(signatureConfig={"certFile": certFile(self, self.key)},
                                    issuer="wso2", audience=["ballerina", "other"])
        self.checker = jwtChecker(config, clockAt())

    def goodCredentials(self) -> Iterable[tuple[Any, bws.Principal | str]]:
        yield (BearerToken(token(self.key, claims(scope="write update"))),
               bws.Principal("alice", ("write", "update")))
        yield (BearerToken(token(self.key, claims(scope=["read"], aud=["x", "other"]))),
               bws.Principal("alice", ("read",)))
        yield BearerToken(token(self.key, claims(sub=None), "PS256")), ""

    def badCredentials(self) -> Iterable[Any]:
        key = self.key
        publicPem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)
        yield BearerToken("not-a-jwt")
        yield BearerToken(jwt.encode(claims(), None, algorithm="none"))  # alg: none
        yield BearerToken(_unsignedWithAlg(claims(), "none"))
        yield BearerToken(_hmacWith(publicPem, claims()))  # HS/RS confusion
        yield BearerToken(token(key, claims(exp=None)))  # no exp
        yield BearerToken(token(key, claims(exp="soon")))
        yield BearerToken(token(key, claims(exp=int(NOW) - 1)))  # expired
        yield BearerToken(token(key, claims(nbf=int(NOW) + 60)))  # not yet valid
        yield BearerToken(token(key, claims(iss="mallory")))
        yield BearerToken(token(key, claims(aud="elsewhere")))
        yield BearerToken(token(key, claims(aud=None)))
        yield BearerToken(token(rsaKey("attacker"), claims()))
        yield BearerToken(token(rsaKey("attacker"), claims(), headers={
            "jku": "https://attacker.example/jwks.json", "kid": "attacker"}))
        yield BearerToken(token(rsaKey("attacker"), claims(), headers={
            "x5u": "https://attacker.example/cert.pem"}))
        yield BearerToken(token(rsaKey("attacker"), claims(), headers={
            "jwk": publicJwk(rsaKey("attacker"), "attacker")}))
        yield BearerToken(token(key, claims(), headers={"crit": ["exp"], "exp": 1}))
        yield BearerToken(token(key, claims())[:-4] + "AAAA")  # signature altered


def _b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unsignedWithAlg(payload: dict[str, Any], alg: str) -> str:
    """A token with header ``alg`` and an empty signature, built by hand."""
    import json

    return (_b64(json.dumps({"alg": alg, "typ": "JWT"}).encode()) + "." +
            _b64(json.dumps(payload).encode()) + ".")


def _hmacWith(secret: bytes, payload: dict[str, Any]) -> str:
    """An HS256 token whose "secret" is ``secret`` (PyJWT refuses to make one with a PEM key,
    so it is built by hand, as an attacker would)."""
    import hashlib
    import hmac
    import json

    signing = (_b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." +
               _b64(json.dumps(payload).encode()))
    signature = hmac.new(secret, signing.encode("ascii"), hashlib.sha256).digest()
    return signing + "." + _b64(signature)


class KeySourceTests(SynchronousTestCase):
    """Each signature config, and the algorithms pinned to its key."""

    def check(self, signatureConfig: dict[str, Any], tokenValue: str,
              clock: Clock | None = None) -> Any:
        checker = jwtChecker(JwtValidatorConfig(signatureConfig=signatureConfig),
                             clock or clockAt())
        return resultOf(checker.requestAvatarId(BearerToken(tokenValue)))

    def test_secret(self) -> None:
        """An HMAC secret verifies HS256/384/512 tokens, nothing else."""
        self.assertEqual(self.check({"secret": SECRET},
                                    token(SECRET, claims(), "HS384")).userId, "alice")
        self.assertIs(self.check({"secret": SECRET}, token(rsaKey(), claims())),
                      UnauthorizedLogin)

    def test_ecCertificate(self) -> None:
        """A P-256 certificate verifies ES256 only."""
        key = ecKey()
        path = certFile(self, key)
        self.assertEqual(self.check({"certFile": path}, token(key, claims(), "ES256")).userId,
                         "alice")
        from cryptography.hazmat.primitives.asymmetric import ec

        p384 = ec.generate_private_key(ec.SECP384R1())
        self.assertIs(self.check({"certFile": path}, token(p384, claims(), "ES384")),
                      UnauthorizedLogin)

    def test_publicKeyFile(self) -> None:
        """A PEM public key file works as certFile."""
        key = rsaKey()
        path = writeFile(self, key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        self.assertEqual(self.check({"certFile": path}, token(key, claims())).userId, "alice")

    def test_trustStore(self) -> None:
        """The certificate named by certAlias in a PKCS#12 trust store."""
        signer, other = rsaKey(), rsaKey("other")
        path = trustStore(self, {"other": certificate(other), "signer": certificate(signer)},
                          "changeit")
        config = {"trustStoreConfig": {"trustStore": {"path": path, "password": "changeit"},
                                       "certAlias": "signer"}}
        self.assertEqual(self.check(config, token(signer, claims())).userId, "alice")
        self.assertIs(self.check(config, token(other, claims())), UnauthorizedLogin)

    def test_trustStoreAliasMissing(self) -> None:
        """An alias not in the store fails when built, listing those that are."""
        path = trustStore(self, {"a": certificate(rsaKey())}, "changeit")
        with self.assertRaises(bws.ConfigurationError) as caught:
            self.check({"trustStoreConfig": {"trustStore": {"path": path, "password": "changeit"},
                                             "certAlias": "b"}}, "")
        self.assertIn("'a'", str(caught.exception))

    def test_filesNamed(self) -> None:
        """A missing or wrong file fails when built, naming it."""
        missing = self.mktemp()
        with self.assertRaises(bws.ConfigurationError) as caught:
            self.check({"certFile": missing}, "")
        self.assertIn(missing, str(caught.exception))
        garbage = writeFile(self, b"not pem")
        with self.assertRaises(bws.ConfigurationError) as caught:
            self.check({"certFile": garbage}, "")
        self.assertIn(garbage, str(caught.exception))

    def test_expiredCertificate(self) -> None:
        """Once the verifying certificate has expired, its tokens are refused."""
        key = rsaKey()
        path = certFile(self, key, days=1)
        clock = clockAt(certificate(key, days=1).not_valid_after_utc.timestamp() + 10)
        self.assertIs(self.check({"certFile": path}, token(key, claims(
            iat=int(clock.seconds()), exp=int(clock.seconds()) + 60)), clock), UnauthorizedLogin)


class TimeTests(SynchronousTestCase):
    """exp and nbf on the listener's clock, with clockSkew of leeway."""

    def setUp(self) -> None:
        self.clock = clockAt()
        self.checker = jwtChecker(JwtValidatorConfig(signatureConfig={"secret": SECRET},
                                                     clockSkew=30), self.clock)

    def outcome(self, **extra: Any) -> Any:
        return resultOf(self.checker.requestAvatarId(
            BearerToken(token(SECRET, claims(**extra), "HS256"))))

    def test_skew(self) -> None:
        """Within the skew, a just-expired or almost-valid token passes; beyond it, not."""
        self.assertIsInstance(self.outcome(exp=int(NOW) - 20), bws.Principal)
        self.assertIs(self.outcome(exp=int(NOW) - 40), UnauthorizedLogin)
        self.assertIsInstance(self.outcome(nbf=int(NOW) + 20), bws.Principal)
        self.assertIs(self.outcome(nbf=int(NOW) + 40), UnauthorizedLogin)

    def test_expiresAsClockMoves(self) -> None:
        """The same token passes now and fails once the clock passes exp + skew."""
        value = BearerToken(token(SECRET, claims(), "HS256"))
        self.assertIsInstance(resultOf(self.checker.requestAvatarId(value)), bws.Principal)
        self.clock.advance(331)
        self.assertIs(resultOf(self.checker.requestAvatarId(value)), UnauthorizedLogin)

    def test_subjectChecked(self) -> None:
        """``username`` requires that ``sub``."""
        checker = jwtChecker(JwtValidatorConfig(signatureConfig={"secret": SECRET},
                                                username="bob"), self.clock)
        self.assertIs(resultOf(checker.requestAvatarId(
            BearerToken(token(SECRET, claims(), "HS256")))), UnauthorizedLogin)


class JwksKeysTests(SynchronousTestCase):
    """The JWKS cache: one fetch per TTL, a rate-limited refetch on an unknown kid, shared
    fetches, a stale key when the endpoint fails, 503 when it has none."""

    def setUp(self) -> None:
        self.clock = clockAt()
        self.key = rsaKey()
        self.jwks: Any = {"keys": [publicJwk(self.key, "k1")]}
        self.fetched: list[Deferred[Any]] = []
        self.auto = True
        self.keys = JwksKeys(JwksConfig("https://issuer.example/jwks", cacheTtl=600,
                                        minRefreshInterval=30), self.clock, self.fetch)

    def fetch(self) -> Deferred[Any]:
        if self.auto:
            return succeed(self.jwks) if not isinstance(self.jwks, Exception) else \
                fail(self.jwks)
        d: Deferred[Any] = Deferred()
        self.fetched.append(d)
        return d

    def keyFor(self, kid: Any) -> Any:
        return resultOf(self.keys.keyFor({"kid": kid}))

    def test_cached(self) -> None:
        """Keys are fetched once and used until the TTL passes."""
        self.assertEqual(self.keyFor("k1").algorithms[0], "RS256")
        self.keyFor("k1")
        self.clock.advance(599)
        self.keyFor("k1")
        self.assertEqual(self.keys.fetches, 1)
        self.clock.advance(2)
        self.keyFor("k1")
        self.assertEqual(self.keys.fetches, 2)

    def test_unknownKidRateLimited(self) -> None:
        """An unknown kid refetches, but not again within minRefreshInterval."""
        self.keyFor("k1")
        self.clock.advance(31)
        self.jwks = {"keys": [publicJwk(self.key, "k1"), publicJwk(rsaKey("b"), "k2")]}
        self.assertEqual(self.keyFor("k2").algorithms[0], "RS256")
        self.assertEqual(self.keys.fetches, 2)
        for _ in range(100):
            self.assertIs(self.keyFor("made-up"), UnauthorizedLogin)
        self.assertEqual(self.keys.fetches, 2)
        self.clock.advance(31)
        self.assertIs(self.keyFor("made-up"), UnauthorizedLogin)
        self.assertEqual(self.keys.fetches, 3)

    def test_sharedFetch(self) -> None:
        """Requests waiting for the key set share one fetch."""
        self.auto = False
        waiting = [self.keys.keyFor({"kid": "k1"}) for _ in range(5)]
        self.assertEqual(len(self.fetched), 1)
        self.fetched[0].callback(self.jwks)
        self.assertEqual({resultOf(d).algorithms for d in waiting}, {RSA})

    def test_noKid(self) -> None:
        """A token without kid is refused (the key is chosen by kid only)."""
        self.assertIs(self.keyFor(None), UnauthorizedLogin)
        self.assertEqual(self.keys.fetches, 0)

    def test_unavailable(self) -> None:
        """An endpoint that fails, with nothing cached: 503, not asked again at once."""
        self.jwks = ConnectionRefusedError("down")
        self.assertIs(self.keyFor("k1"), BackendUnavailable)
        self.assertIs(self.keyFor("k1"), BackendUnavailable)
        self.assertEqual(self.keys.fetches, 1)
        self.flushLoggedErrors()

    def test_garbageIsUnavailable(self) -> None:
        """An answer that is no key set: 503."""
        self.jwks = {"nope": 1}
        self.assertIs(self.keyFor("k1"), BackendUnavailable)

    def test_staleKeyWhenDown(self) -> None:
        """After the TTL, a failing endpoint leaves the cached key in use."""
        self.keyFor("k1")
        self.clock.advance(601)
        self.jwks = ConnectionRefusedError("down")
        self.assertEqual(self.keyFor("k1").algorithms[0], "RS256")
        self.assertEqual(self.keys.fetches, 2)

    def test_parse(self) -> None:
        """Symmetric, encryption and malformed keys are skipped; a JWK's alg narrows."""
        keys = parseJwks({"keys": [
            {"kty": "oct", "kid": "s", "k": "c2VjcmV0"},
            publicJwk(rsaKey(), "enc", use="enc"),
            publicJwk(rsaKey(), "ps", alg="PS384"),
            publicJwk(ecKey(), "ec"),
            {"kty": "RSA", "kid": "broken", "n": "AQ"},
            "nonsense",
        ]})
        assert keys is not None
        self.assertEqual(sorted(keys), ["ec", "ps"])
        self.assertEqual(keys["ps"].algorithms, ("PS384",))
        self.assertEqual(keys["ec"].algorithms, ("ES256",))
        self.assertIsNone(parseJwks([]))


RSA = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")


class ArgumentTests(SynchronousTestCase):
    """``--auth jwt:...`` arguments."""

    def test_parsed(self) -> None:
        """Keys map to the config; the secret comes from a file."""
        secretFile = writeFile(self, SECRET.encode() + b"\n")
        checker = checkerFromString(f"issuer=wso2,audience=a+b,clockSkew=5,scopeKey=scp,"
                                    f"secretFile={secretFile}")
        self.assertEqual((checker.config.issuer, checker.config.audience,
                          checker.config.clockSkew, checker.config.scopeKey),
                         ("wso2", ("a", "b"), 5.0, "scp"))
        self.assertEqual(checker.keys.key.key, SECRET.encode())  # type: ignore[union-attr]

    def test_refused(self) -> None:
        """Unknown keys, bare words and a second key source are refused."""
        for argstring in ("nope=1", "issuer", f"certFile={self.mktemp()}", "jwksCa=x",
                          "jwksUrl=http://insecure/jwks"):
            with self.assertRaises(bws.ConfigurationError):
                checkerFromString(argstring)


# -- the reference's scenario -------------------------------------------------------------


class Echo:
    def onTextMessage(self, caller: bws.Caller, text: str) -> str:
        assert caller.principal is not None
        return " ".join(caller.principal.scopes)


class ReferenceScenarioTests(SynchronousTestCase):
    """JWTs with ``scp`` write / read and a wrong issuer against a service requiring write."""

    def setUp(self) -> None:
        self.key = rsaKey()

        @bws.serviceConfig(auth=[JwtValidatorConfigWithScopes(
            jwtValidatorConfig={"issuer": "wso2", "audience": "ballerina", "scopeKey": "scp",
                                "signatureConfig": {"certFile": certFile(self, self.key)}},
            scopes=["write"])])
        class Upgrade:
            def get(self, request: bws.UpgradeRequest) -> Echo:
                return Echo()

        self.service = Upgrade()

    def status(self, header: str | None) -> int:
        clock = MemoryReactorClock()
        clock.advance(NOW)
        headers = {"Authorization": header} if header is not None else {}
        try:
            self.conn = bws.testing.connect(self.service, "/", clock=clock,
                                            customHeaders=headers)
        except bws.InvalidHandshakeError as e:
            assert e.response is not None
            self.response = e.response
            return e.response.statusCode
        return 101

    def test_write(self) -> None:
        """scp "write update": 101, the scopes on the Caller."""
        self.assertEqual(self.status("Bearer " + token(self.key, claims(scp="write update"))),
                         101)
        self.conn.client.writeTextMessage("x")
        self.conn.flush()
        self.assertEqual(self.successResultOf(self.conn.client.readTextMessage()),
                         "write update")

    def test_read(self) -> None:
        """scp read: 403 with a Bearer insufficient_scope challenge."""
        self.assertEqual(self.status("Bearer " + token(self.key, claims(scp="read"))), 403)
        self.assertIn("insufficient_scope", self.response.headers["www-authenticate"])

    def test_noScopeClaim(self) -> None:
        """No scp claim where write is required: 403."""
        self.assertEqual(self.status("Bearer " + token(self.key, claims())), 403)

    def test_wrongIssuer(self) -> None:
        """A wrong issuer: 401 with invalid_token."""
        self.assertEqual(self.status("Bearer " + token(self.key, claims(iss="x", scp="write"))),
                         401)
        self.assertEqual(self.response.headers["www-authenticate"],
                         'Bearer realm="bws", error="invalid_token"')

    def test_noToken(self) -> None:
        """No header: 401 with a Bearer challenge; Basic credentials: 401 too."""
        self.assertEqual(self.status(None), 401)
        self.assertEqual(self.response.headers["www-authenticate"], 'Bearer realm="bws"')
        self.assertEqual(self.status("Basic YTpi"), 401)
