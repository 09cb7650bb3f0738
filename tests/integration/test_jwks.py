"""JWT validation against a JWKS endpoint served over TLS on loopback (twisted.web with
trustme certificates): keys fetched with verified TLS, rotation, a ``jku`` never followed,
an endpoint that is down, untrusted or hanging (503), and a listener end to end."""

from __future__ import annotations

import json
import time
from typing import Any

import trustme
from twisted.cred.error import UnauthorizedLogin
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.ssl import PrivateCertificate
from twisted.trial.unittest import TestCase
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

import bws
from bws.auth._jwt import jwtChecker
from bws.auth.credentials import BackendUnavailable, BearerToken
from bws.auth.records import JwtValidatorConfig, JwtValidatorConfigWithScopes
from tests.auth.keys import publicJwk, rsaKey, token


def claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"sub": "alice", "iss": "idp", "exp": now + 300, "scope": "write"}
    base.update(extra)
    return base


class JwksResource(Resource):
    """Serves a key set as JSON and records each request's path; ``hang`` leaves requests
    unanswered."""

    isLeaf = True

    def __init__(self, jwks: dict[str, Any]) -> None:
        super().__init__()
        self.jwks = jwks
        self.paths: list[bytes] = []
        self.hang = False
        self.pending: list[Any] = []

    def render_GET(self, request: Any) -> Any:
        self.paths.append(request.path)
        if self.hang:
            self.pending.append(request)
            return NOT_DONE_YET
        request.setHeader(b"content-type", b"application/json")
        return json.dumps(self.jwks).encode()


def listen(resource: Resource, ca: trustme.CA) -> Any:
    """Listen on loopback over TLS with a certificate for 127.0.0.1 from ``ca``."""
    issued = ca.issue_cert("127.0.0.1")
    identity = PrivateCertificate.loadPEM(
        issued.cert_chain_pems[0].bytes() + issued.private_key_pem.bytes())
    return reactor.listenSSL(0, Site(resource), identity.options(), interface="127.0.0.1")


class JwksTests(TestCase):
    """A validator whose keys come from a real HTTPS endpoint."""

    def setUp(self) -> None:
        self.ca = trustme.CA()
        self.caFile = self.mktemp()
        self.ca.cert_pem.write_to_path(self.caFile)
        self.key = rsaKey()
        self.resource = JwksResource({"keys": [publicJwk(self.key, "k1")]})
        self.port = self.serve(self.resource, self.ca)

    def serve(self, resource: Resource, ca: trustme.CA) -> int:
        """Serve ``resource`` over TLS with a certificate from ``ca``; the port number."""
        port = listen(resource, ca)
        self.addCleanup(port.stopListening)
        return int(port.getHost().port)

    def checker(self, port: int | None = None, **jwks: Any) -> Any:
        jwks.setdefault("cert", self.caFile)
        jwks.setdefault("url", f"https://127.0.0.1:{port or self.port}/jwks")
        return jwtChecker(JwtValidatorConfig(signatureConfig={"jwksConfig": jwks}), reactor)

    async def check(self, checker: Any, value: str) -> Any:
        try:
            return await checker.requestAvatarId(BearerToken(value))
        except UnauthorizedLogin as e:
            return type(e)

    def test_fetched(self) -> Deferred[Any]:
        """A token signed with a key of the set passes; the set was fetched once."""
        async def run() -> None:
            checker = self.checker()
            principal = await self.check(checker, token(self.key, claims(),
                                                        headers={"kid": "k1"}))
            self.assertEqual((principal.userId, principal.scopes), ("alice", ("write",)))
            await self.check(checker, token(self.key, claims(), headers={"kid": "k1"}))
            self.assertEqual(self.resource.paths, [b"/jwks"])

        return Deferred.fromCoroutine(run())

    def test_rotation(self) -> Deferred[Any]:
        """A new kid makes one refetch, which finds the rotated key."""
        async def run() -> None:
            checker = self.checker(minRefreshInterval=0)
            await self.check(checker, token(self.key, claims(), headers={"kid": "k1"}))
            newKey = rsaKey("rotated")
            self.resource.jwks = {"keys": [publicJwk(newKey, "k2")]}
            principal = await self.check(checker, token(newKey, claims(), headers={"kid": "k2"}))
            self.assertEqual(principal.userId, "alice")
            self.assertEqual(len(self.resource.paths), 2)

        return Deferred.fromCoroutine(run())

    def test_jkuNeverFollowed(self) -> Deferred[Any]:
        """A token naming another key set (jku) is checked against the configured one only:
        refused, and the other endpoint is never asked."""
        async def run() -> None:
            attacker = rsaKey("attacker")
            elsewhere = JwksResource({"keys": [publicJwk(attacker, "evil")]})
            otherPort = self.serve(elsewhere, self.ca)
            forged = token(attacker, claims(), headers={
                "kid": "evil", "jku": f"https://127.0.0.1:{otherPort}/jwks"})
            self.assertIs(await self.check(self.checker(), forged), UnauthorizedLogin)
            self.assertEqual(elsewhere.paths, [])

        return Deferred.fromCoroutine(run())

    def test_untrusted(self) -> Deferred[Any]:
        """An endpoint whose certificate is not from the trusted CA: 503."""
        async def run() -> None:
            otherCa = trustme.CA()
            self.port = self.serve(JwksResource({"keys": []}), otherCa)
            result = await self.check(self.checker(),
                                      token(self.key, claims(), headers={"kid": "k1"}))
            self.assertIs(result, BackendUnavailable)

        return Deferred.fromCoroutine(run())

    def test_down(self) -> Deferred[Any]:
        """An endpoint nobody listens on: 503."""
        async def run() -> None:
            port = listen(Resource(), self.ca)
            number = port.getHost().port
            await port.stopListening()
            checker = self.checker(port=number)
            result = await self.check(checker, token(self.key, claims(), headers={"kid": "k1"}))
            self.assertIs(result, BackendUnavailable)

        return Deferred.fromCoroutine(run())

    def test_hanging(self) -> Deferred[Any]:
        """An endpoint that never answers: 503 once the fetch's timeout passes."""
        async def run() -> None:
            self.resource.hang = True
            checker = self.checker(timeout=0.3)
            started = time.monotonic()
            result = await self.check(checker, token(self.key, claims(), headers={"kid": "k1"}))
            self.assertIs(result, BackendUnavailable)
            self.assertLess(time.monotonic() - started, 5)
            for request in self.resource.pending:
                if not request.finished and request.channel is not None:
                    request.channel.transport.loseConnection()

        return Deferred.fromCoroutine(run())


class ListenerEndToEndTests(TestCase):
    """A listener on loopback with a JWKS-backed validator, and a client with a token."""

    def test_upgrade(self) -> Deferred[Any]:
        """write passes (101); read is refused 403."""
        ca = trustme.CA()
        caFile = self.mktemp()
        ca.cert_pem.write_to_path(caFile)
        key = rsaKey()
        jwksPort = listen(JwksResource({"keys": [publicJwk(key, "k1")]}), ca)
        self.addCleanup(jwksPort.stopListening)
        url = f"https://127.0.0.1:{jwksPort.getHost().port}/jwks"

        class Echo:
            def onTextMessage(self, caller: bws.Caller, text: str) -> str:
                return text

        @bws.serviceConfig(auth=[JwtValidatorConfigWithScopes(
            {"issuer": "idp", "signatureConfig": {"jwksConfig": {"url": url, "cert": caFile}}},
            scopes="write")])
        class Upgrade:
            def get(self, request: bws.UpgradeRequest) -> Echo:
                return Echo()

        listener = bws.Listener(0, host="127.0.0.1")
        listener.attach(Upgrade(), "/")

        async def run() -> None:
            await listener.start()
            self.addCleanup(listener.immediateStop)
            wsUrl = f"ws://127.0.0.1:{listener.listeningPort}/"
            good = token(key, claims(), headers={"kid": "k1"})
            client = await bws.Client.connect(wsUrl, auth={"token": good})
            await client.writeTextMessage("hi")
            self.assertEqual(await client.readTextMessage(), "hi")
            await client.close()
            read = token(key, claims(scope="read"), headers={"kid": "k1"})
            with self.assertRaises(bws.InvalidHandshakeError) as caught:
                await bws.Client.connect(wsUrl, customHeaders={"Authorization": "Bearer " + read})
            self.assertIn("403", str(caught.exception))

        return Deferred.fromCoroutine(run())
