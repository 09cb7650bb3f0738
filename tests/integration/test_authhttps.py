"""The auth stores' one HTTP client (bws/auth/_https.py) against twisted.web on loopback:
answers whatever their status, redirects never followed, a bounded body, verified TLS, one
failure type; and the JWKS fetch built on it."""

from __future__ import annotations

import json
from typing import Any

import trustme
from twisted.cred.error import UnauthorizedLogin
from twisted.internet import reactor
from twisted.trial.unittest import TestCase
from twisted.web.resource import Resource
from twisted.web.server import Site

import bws
from bws.auth._https import MAX_BODY, Answer, HttpsFailure, request
from bws.auth._jwt import jwtChecker
from bws.auth.credentials import BackendUnavailable, BearerToken
from bws.auth.records import JwtValidatorConfig
from bws.tls import ClientSecureSocket
from tests.auth.keys import publicJwk, rsaKey, token
from tests.integration.test_jwks import JwksResource, claims, listen


class Fixed(Resource):
    """Answers every request with ``status``, ``body`` and ``headers``; counts requests."""

    isLeaf = True

    def __init__(self, status: int, body: bytes, headers: dict[bytes, bytes] | None = None,
                 ) -> None:
        super().__init__()
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.requests: list[tuple[bytes, bytes]] = []

    def render(self, request: Any) -> bytes:
        self.requests.append((request.method, request.content.read()))
        request.setResponseCode(self.status)
        for name, value in self.headers.items():
            request.setHeader(name, value)
        return self.body


class HttpClientTests(TestCase):
    def serve(self, resource: Resource) -> str:
        site = Site(resource)
        site.noisy = False
        port = reactor.listenTCP(0, site, interface="127.0.0.1")  # type: ignore[attr-defined]
        self.addCleanup(port.stopListening)
        return f"http://127.0.0.1:{port.getHost().port}/x"

    def call(self, url: str, **kwargs: Any) -> Any:
        kwargs.setdefault("headers", {})
        return request(reactor, reactor, kwargs.pop("method", "GET"), url, secureSocket=None,
                       timeout=kwargs.pop("timeout", 5), **kwargs)

    async def test_anyStatusIsAnAnswer(self) -> None:
        """A 500 with a JSON object is an answer: its status, body and decoded object."""
        url = self.serve(Fixed(500, b'{"error": "x"}'))
        answer = await self.call(url)
        self.assertEqual(answer, Answer(500, b'{"error": "x"}', {"error": "x"}))

    async def test_jsonObjectsOnly(self) -> None:
        """Bodies that are not a UTF-8 JSON object decode to None."""
        for body in [b"[1]", b"nope", b"\xff", b""]:
            answer = await self.call(self.serve(Fixed(200, body)))
            self.assertIsNone(answer.json, body)

    async def test_bodySent(self) -> None:
        """A POST carries its body."""
        resource = Fixed(200, b"{}")
        await self.call(self.serve(resource), method="POST", body=b"a=1")
        self.assertEqual(resource.requests, [(b"POST", b"a=1")])

    async def test_redirectNotFollowed(self) -> None:
        """A 302 is the answer; its Location is never asked."""
        target = Fixed(200, b"{}")
        redirect = Fixed(302, b"", {b"location": self.serve(target).encode()})
        answer = await self.call(self.serve(redirect))
        self.assertEqual(answer.status, 302)
        self.assertEqual(target.requests, [])

    async def test_bodyBounded(self) -> None:
        """A body over MAX_BODY bytes is a failure naming the bound."""
        url = self.serve(Fixed(200, b"x" * (MAX_BODY + 1)))
        with self.assertRaises(HttpsFailure) as caught:
            await self.call(url)
        self.assertIn(str(MAX_BODY), str(caught.exception))

    async def test_untrustedTls(self) -> None:
        """An https endpoint whose certificate the client's CAs do not sign: a failure."""
        port = listen(Fixed(200, b"{}"), trustme.CA())
        self.addCleanup(port.stopListening)
        url = f"https://127.0.0.1:{port.getHost().port}/x"
        with self.assertRaises(HttpsFailure) as caught:
            await self.call(url)
        self.assertIn("cannot call", str(caught.exception))

    async def test_trustedTls(self) -> None:
        """The same endpoint with its CA in the ClientSecureSocket answers."""
        ca = trustme.CA()
        caFile = self.mktemp()
        ca.cert_pem.write_to_path(caFile)
        port = listen(Fixed(200, b'{"ok": true}'), ca)
        self.addCleanup(port.stopListening)
        answer = await request(reactor, reactor, "GET", f"https://127.0.0.1:{port.getHost().port}/x",
                               secureSocket=ClientSecureSocket(cert=caFile), timeout=5,
                               headers={})
        self.assertEqual(answer.json, {"ok": True})


class JwksFetchTests(TestCase):
    def setUp(self) -> None:
        self.ca = trustme.CA()
        self.caFile = self.mktemp()
        self.ca.cert_pem.write_to_path(self.caFile)
        self.key = rsaKey()

    def url(self, resource: Resource) -> str:
        port = listen(resource, self.ca)
        self.addCleanup(port.stopListening)
        return f"https://127.0.0.1:{port.getHost().port}/jwks"

    def checker(self, url: str) -> Any:
        return jwtChecker(JwtValidatorConfig(
            signatureConfig={"jwksConfig": {"url": url, "cert": self.caFile}}), reactor)

    async def outcome(self, url: str) -> Any:
        try:
            return await self.checker(url).requestAvatarId(
                BearerToken(token(self.key, claims(), headers={"kid": "k1"})))
        except UnauthorizedLogin as e:
            return type(e)

    async def test_redirectNotFollowed(self) -> None:
        """A JWKS URL answering a redirect to a good key set is a 503; the key set is never
        asked."""
        good = JwksResource({"keys": [publicJwk(self.key, "k1")]})
        url = self.url(Fixed(302, b"", {b"location": self.url(good).encode()}))
        self.assertIs(await self.outcome(url), BackendUnavailable)
        self.assertEqual(good.paths, [])

    async def test_notOk(self) -> None:
        """A status other than 200, even with a key set, is a 503."""
        body = json.dumps({"keys": [publicJwk(self.key, "k1")]}).encode()
        self.assertIs(await self.outcome(self.url(Fixed(500, body))), BackendUnavailable)

    async def test_tooLarge(self) -> None:
        """A key set larger than MAX_BODY is a 503."""
        jwks = {"keys": [publicJwk(self.key, "k1")], "pad": "x" * MAX_BODY}
        self.assertIs(await self.outcome(self.url(JwksResource(jwks))), BackendUnavailable)

    def test_caFileReadWhenBuilt(self) -> None:
        """A CA file that cannot be read fails when the checker is built, naming it."""
        self.caFile = self.mktemp()
        with self.assertRaises(bws.ConfigurationError) as caught:
            self.checker("https://127.0.0.1:1/jwks")
        self.assertIn(self.caFile, str(caught.exception))
