"""The listener's auth rules (REFERENCE §1.12) with user-written checkers: order, schemes,
scopes, 401/403/503, and the wiring into the upgrade before ``get``."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

from twisted.cred.checkers import ICredentialsChecker, InMemoryUsernamePasswordDatabaseDontUse
from twisted.cred.credentials import IUsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface import implementer

import bws
import bws.testing
from bws.auth._stores import CheckerCache, buildEntries
from bws.auth.credentials import BackendUnavailable, BearerToken, IBearerToken, UsernamePassword
from bws.auth.listener import authenticate, authRefusal, principalFrom, scopesOf
from bws.auth.records import CheckerWithScopes, FileUserStoreConfigWithScopes, listenerEntry
from tests.auth.conformance import CheckerConformanceMixin


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


@implementer(ICredentialsChecker)
class Scripted:
    """A user-written checker: answers each credential from a table, and records calls.

    :param answers: from the user name (Basic) or token (Bearer) to a principal, a user id,
        or an exception to fail with; anything else is ``UnauthorizedLogin``.
    """

    def __init__(self, interface: Any, answers: dict[str, Any]) -> None:
        self.credentialInterfaces = (interface,)
        self.answers = answers
        self.calls: list[str] = []

    def requestAvatarId(self, credentials: Any) -> Deferred[Any]:
        key = (credentials.username.decode() if IUsernamePassword.providedBy(credentials)
               else credentials.token)
        self.calls.append(key)
        answer = self.answers.get(key)
        if answer is None:
            return fail(UnauthorizedLogin())
        if isinstance(answer, Exception):
            return fail(answer)
        return succeed(answer)


def outcome(d: Deferred[bws.Principal]) -> Any:
    """The principal, or the failure's exception class, of a fired Deferred."""
    results: list[Any] = []
    d.addBoth(results.append)
    result = results[0]
    return result.type if hasattr(result, "type") else result


class RuleTests(SynchronousTestCase):
    """``authenticate`` applies the rules in order."""

    def test_missingHeader(self) -> None:
        """No header: 401, and no checker is asked."""
        checker = Scripted(IUsernamePassword, {"a": "a"})
        self.assertIs(outcome(authenticate(None, [CheckerWithScopes(checker)])), bws.AuthnError)
        self.assertEqual(checker.calls, [])

    def test_unknownSchemeOrMalformed(self) -> None:
        """Another scheme, or a malformed Basic value: 401."""
        entries = [CheckerWithScopes(Scripted(IUsernamePassword, {"a": "a"}))]
        for header in ("Digest a", "Basic", "Basic !!!", "Basic " +
                       base64.b64encode(b"nocolon").decode(), "Bearer", ""):
            self.assertIs(outcome(authenticate(header, entries)), bws.AuthnError, header)

    def test_schemeRouting(self) -> None:
        """Basic goes only to Basic checkers, Bearer only to Bearer checkers."""
        basicChecker = Scripted(IUsernamePassword, {"a": "a"})
        bearerChecker = Scripted(IBearerToken, {"t": "t-user"})
        entries = [CheckerWithScopes(bearerChecker), CheckerWithScopes(basicChecker)]
        self.assertEqual(outcome(authenticate(basic("a", "p"), entries)), bws.Principal("a"))
        self.assertEqual(outcome(authenticate("Bearer t", entries)), bws.Principal("t-user"))
        self.assertEqual((basicChecker.calls, bearerChecker.calls), (["a"], ["t"]))

    def test_schemeCaseInsensitive(self) -> None:
        """The scheme is matched in any case (RFC 9110 §11.1)."""
        entries = [CheckerWithScopes(Scripted(IBearerToken, {"t": "u"}))]
        self.assertEqual(outcome(authenticate("bEaReR t", entries)), bws.Principal("u"))

    def test_401MovesOn(self) -> None:
        """A refusal moves on to the next entry; the first success ends the search."""
        first = Scripted(IUsernamePassword, {})
        second = Scripted(IUsernamePassword, {"a": bws.Principal("a", ("x",))})
        third = Scripted(IUsernamePassword, {"a": "other"})
        entries = [CheckerWithScopes(c) for c in (first, second, third)]
        self.assertEqual(outcome(authenticate(basic("a", "p"), entries)).scopes, ("x",))
        self.assertEqual((first.calls, second.calls, third.calls), (["a"], ["a"], []))

    def test_403Stops(self) -> None:
        """A 403 is not retried with later entries."""
        first = Scripted(IUsernamePassword, {"a": bws.Principal("a", ("read",))})
        second = Scripted(IUsernamePassword, {"a": bws.Principal("a", ("write",))})
        entries = [CheckerWithScopes(first, "write"), CheckerWithScopes(second, "write")]
        self.assertIs(outcome(authenticate(basic("a", "p"), entries)), bws.AuthzError)
        self.assertEqual(second.calls, [])

    def test_anyOverlapPasses(self) -> None:
        """One required scope held is enough."""
        checker = Scripted(IUsernamePassword, {"a": bws.Principal("a", ("read", "update"))})
        entry = CheckerWithScopes(checker, ["write", "update"])
        self.assertEqual(outcome(authenticate(basic("a", "p"), [entry])).userId, "a")

    def test_spaceSeparatedScopes(self) -> None:
        """A scope string holding spaces counts as its words."""
        checker = Scripted(IBearerToken, {"t": bws.Principal("u", ("read write",))})
        got = outcome(authenticate("Bearer t", [CheckerWithScopes(checker, "write")]))
        self.assertEqual(got.scopes, ("read", "write"))

    def test_noScopesWhereRequired(self) -> None:
        """A principal without scopes (a plain user id) is refused where scopes are required."""
        checker = Scripted(IUsernamePassword, {"a": "a"})
        self.assertIs(outcome(authenticate(basic("a", "p"), [CheckerWithScopes(checker, "x")])),
                      bws.AuthzError)

    def test_unavailableIs503(self) -> None:
        """A store that cannot answer is a 503, never a pass..."""
        down = Scripted(IUsernamePassword, {"a": BackendUnavailable("down")})
        self.assertIs(outcome(authenticate(basic("a", "p"), [CheckerWithScopes(down)])),
                      BackendUnavailable)

    def test_unavailableThenSuccess(self) -> None:
        """... unless a later entry authenticates the request."""
        down = Scripted(IUsernamePassword, {"a": BackendUnavailable("down")})
        up = Scripted(IUsernamePassword, {"a": "a"})
        entries = [CheckerWithScopes(down), CheckerWithScopes(up)]
        self.assertEqual(outcome(authenticate(basic("a", "p"), entries)), bws.Principal("a"))

    def test_unavailableThenRefused(self) -> None:
        """A later refusal does not hide that a store was down: 503."""
        down = Scripted(IUsernamePassword, {"a": BackendUnavailable("down")})
        entries = [CheckerWithScopes(down), CheckerWithScopes(Scripted(IUsernamePassword, {}))]
        self.assertIs(outcome(authenticate(basic("a", "p"), entries)), BackendUnavailable)

    def test_brokenChecker(self) -> None:
        """A checker raising anything else fails the search (the glue answers 500)."""
        broken = Scripted(IUsernamePassword, {"a": RuntimeError("bug")})
        self.assertIs(outcome(authenticate(basic("a", "p"), [CheckerWithScopes(broken)])),
                      RuntimeError)
        strange = Scripted(IUsernamePassword, {"a": 42})
        self.assertIs(outcome(authenticate(basic("a", "p"), [CheckerWithScopes(strange)])),
                      TypeError)


class ValueTests(SynchronousTestCase):
    """The small conversions of the rules."""

    def test_scopesOf(self) -> None:
        """Claims as scope tuples: strings split on whitespace, lists flattened, else none."""
        self.assertEqual(scopesOf("a  b\tc"), ("a", "b", "c"))
        self.assertEqual(scopesOf(["a", "b c", 3]), ("a", "b", "c"))
        self.assertEqual(scopesOf(None), ())
        self.assertEqual(scopesOf({"a": 1}), ())

    def test_principalFrom(self) -> None:
        """Avatar ids: a Principal, or a str/bytes user id with no scopes."""
        self.assertEqual(principalFrom(b"caf\xc3\xa9"), bws.Principal("café"))
        self.assertEqual(principalFrom("u"), bws.Principal("u"))
        p = bws.Principal("u", ("a",), {"k": 1})
        self.assertIs(principalFrom(p), p)
        with self.assertRaises(TypeError):
            principalFrom(())

    def test_challenges(self) -> None:
        """401 names each scheme the entries take; a refused token gets invalid_token."""
        entries = [CheckerWithScopes(Scripted(IUsernamePassword, {})),
                   CheckerWithScopes(Scripted(IBearerToken, {}))]
        refusal = authRefusal(bws.AuthnError(), entries, None)
        assert refusal is not None
        self.assertEqual(refusal.status, 401)
        self.assertEqual(dict(refusal.headers)["WWW-Authenticate"],
                         'Basic realm="bws", charset="UTF-8", Bearer realm="bws"')
        refusal = authRefusal(bws.AuthnError(), entries, "Bearer bad")
        assert refusal is not None
        self.assertIn('error="invalid_token"', dict(refusal.headers)["WWW-Authenticate"])

    def test_refusals(self) -> None:
        """403 (with insufficient_scope for a token), 503, and None for a broken checker."""
        entries = [CheckerWithScopes(Scripted(IBearerToken, {}))]
        forbidden = authRefusal(bws.AuthzError(), entries, "Bearer t")
        assert forbidden is not None
        self.assertEqual(forbidden.status, 403)
        self.assertIn("insufficient_scope", dict(forbidden.headers)["WWW-Authenticate"])
        basicForbidden = authRefusal(bws.AuthzError(), entries, basic("a", "b"))
        assert basicForbidden is not None
        self.assertEqual((basicForbidden.status, basicForbidden.headers), (403, ()))
        unavailable = authRefusal(BackendUnavailable(), entries, None)
        assert unavailable is not None
        self.assertEqual(unavailable.status, 503)
        self.assertIsNone(authRefusal(RuntimeError(), entries, None))


class EntryTests(SynchronousTestCase):
    """``WSServiceConfig.auth`` entries are records, checked when configured."""

    def test_bareChecker(self) -> None:
        """A bare checker is an entry with no scopes."""
        checker = InMemoryUsernamePasswordDatabaseDontUse(a=b"b")
        config = bws.WSServiceConfig(auth=[checker])
        assert config.auth is not None
        self.assertEqual(config.auth, (CheckerWithScopes(checker),))

    def test_mapping(self) -> None:
        """The reference's mapping form becomes the record."""
        entry = listenerEntry({"fileUserStoreConfig": {"path": "u.toml"}, "scopes": "write"})
        self.assertEqual(entry, FileUserStoreConfigWithScopes({"path": "u.toml"}, ("write",)))

    def test_garbageRefused(self) -> None:
        """Anything else is refused naming the field and index."""
        for entry, words in ((42, "got int"), ("garbage", "got str"),
                             ({"nothing": 1}, "exactly one of"),
                             ({"fileUserStoreConfig": {}, "jwtValidatorConfig": {}},
                              "exactly one of")):
            with self.assertRaises(bws.ConfigurationError) as caught:
                bws.WSServiceConfig(auth=[InMemoryUsernamePasswordDatabaseDontUse(), entry])
            self.assertIn("WSServiceConfig.auth[1]", str(caught.exception))
            self.assertIn(words, str(caught.exception))

    def test_scopesChecked(self) -> None:
        """Scopes are names: none empty, none holding whitespace, at least one."""
        checker = InMemoryUsernamePasswordDatabaseDontUse()
        for scopes in ([], [""], ["write update"], [3], 3):
            with self.assertRaises(bws.ConfigurationError) as caught:
                CheckerWithScopes(checker, scopes)
            self.assertIn("CheckerWithScopes.scopes", str(caught.exception))

    def test_notAChecker(self) -> None:
        """``CheckerWithScopes`` needs an ``ICredentialsChecker``."""
        with self.assertRaises(bws.ConfigurationError) as caught:
            CheckerWithScopes(object())
        self.assertIn("CheckerWithScopes.checker", str(caught.exception))

    def test_checkersCachedPerRecord(self) -> None:
        """Two services with equal records share one checker (handlers cached per config)."""
        path = self.mktemp()
        with open(path, "w") as f:
            f.write('[[users]]\nusername = "a"\npassword = "p"\n')
        cache = CheckerCache()
        first = buildEntries([FileUserStoreConfigWithScopes({"path": path})], None, cache)
        second = buildEntries([FileUserStoreConfigWithScopes({"path": path}, "x")], None, cache)
        third = buildEntries([FileUserStoreConfigWithScopes({"path": path})], None, cache)
        self.assertIs(first[0].checker, third[0].checker)
        self.assertEqual(second[0].scopes, ("x",))


class Echo:
    def onTextMessage(self, caller: bws.Caller, text: str) -> str:
        return repr(caller.principal)


def serviceWith(auth: list[Any], get: Any = None) -> Any:
    """An upgrade service with ``auth``; ``get(request, room)`` records what it saw."""

    @bws.serviceConfig(auth=auth)
    class Upgrade:
        def __init__(self) -> None:
            self.requests: list[bws.UpgradeRequest] = []

        def get(self, request: bws.UpgradeRequest, room: str) -> Echo:
            self.requests.append(request)
            return Echo()

    return Upgrade()


KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def rawRequest(headers: list[tuple[str, str]], path: str = "/?room=1") -> bytes:
    """An upgrade request's bytes with extra ``headers`` (repeats allowed)."""
    lines = [f"GET {path} HTTP/1.1", "Host: example.com", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Key: {KEY}", "Sec-WebSocket-Version: 13"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class UpgradeTests(SynchronousTestCase):
    """Authentication runs in the upgrade, before the parameters and ``get``."""

    def handshake(self, service: Any, path: str = "/?room=1", **config: Any) -> Any:
        """Connect in memory: the open client, or the refusal's ``HttpResponse``."""
        listener = self.listener = bws.testing.MemoryListener()
        listener.attach(service, "/")
        d = listener.connect(path, **config)
        listener.flush()
        results: list[Any] = []
        d.addBoth(results.append)
        if isinstance(results[0], Failure):
            results[0].trap(bws.InvalidHandshakeError)
            return results[0].value.response
        return results[0]

    def raw(self, service: Any, data: bytes) -> tuple[Any, StringTransport]:
        """Feed ``data`` to the listener's HTTP channel; the protocol and its transport."""
        listener = bws.testing.MemoryListener()
        listener.attach(service, "/")
        proto = listener.listener.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 4000))
        transport = StringTransport()
        proto.makeConnection(transport)
        proto.dataReceived(data)
        return proto, transport

    def test_principalOnRequestAndCaller(self) -> None:
        """The principal is on the upgrade request and the Caller."""
        checker = Scripted(IUsernamePassword, {"a": bws.Principal("a", ("s",), {"k": "v"})})
        service = serviceWith([checker])
        client = self.handshake(service, customHeaders={"Authorization": basic("a", "p")})
        self.assertEqual(service.requests[0].principal, bws.Principal("a", ("s",), {"k": "v"}))
        client.writeTextMessage("x")
        self.listener.flush()
        self.assertIn("userId='a'", self.successResultOf(client.readTextMessage()))

    def test_authBeforeParameters(self) -> None:
        """An unauthenticated request missing a parameter is a 401, not a 400."""
        service = serviceWith([Scripted(IUsernamePassword, {"a": "a"})])
        self.assertEqual(self.handshake(service, "/").statusCode, 401)
        response = self.handshake(service, "/", customHeaders={"Authorization": basic("a", "p")})
        self.assertEqual(response.statusCode, 400)

    def test_repeatedHeader(self) -> None:
        """Two Authorization headers are malformed: 401, even when each would pass."""
        checker = Scripted(IUsernamePassword, {"a": "a"})
        service = serviceWith([checker])
        _, transport = self.raw(service, rawRequest([("Authorization", basic("a", "p"))] * 2))
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 401 "))
        self.assertEqual((checker.calls, service.requests), ([], []))
        _, transport = self.raw(service, rawRequest([("Authorization", basic("a", "p"))]))
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 101 "))

    def test_refusalIsHttp(self) -> None:
        """A refusal is an HTTP answer with an empty body and the challenge."""
        service = serviceWith([Scripted(IUsernamePassword, {})])
        _, transport = self.raw(service, rawRequest([]))
        answer = transport.value()
        self.assertTrue(answer.startswith(b"HTTP/1.1 401 Unauthorized\r\n"))
        self.assertIn(b'WWW-Authenticate: Basic realm="bws", charset="UTF-8"\r\n', answer)
        self.assertTrue(answer.endswith(b"Content-Length: 0\r\n\r\n"))

    def test_unavailable503(self) -> None:
        """A store that cannot answer: 503 before the 101."""
        down = Scripted(IUsernamePassword, {"a": BackendUnavailable("LDAP down")})
        service = serviceWith([down])
        response = self.handshake(service, customHeaders={"Authorization": basic("a", "p")})
        self.assertEqual(response.statusCode, 503)
        self.assertEqual(service.requests, [])

    def test_broken500(self) -> None:
        """A broken checker: 500, logged."""
        service = serviceWith([Scripted(IUsernamePassword, {"a": RuntimeError("bug")})])
        response = self.handshake(service, customHeaders={"Authorization": basic("a", "p")})
        self.assertEqual(response.statusCode, 500)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_peerGoneDuringCheck(self) -> None:
        """A peer that leaves while its credentials are checked is not served."""
        pending: Deferred[Any] = Deferred()

        @implementer(ICredentialsChecker)
        class Slow:
            credentialInterfaces = (IUsernamePassword,)

            def requestAvatarId(self, credentials: Any) -> Deferred[Any]:
                return pending

        service = serviceWith([Slow()])
        proto, transport = self.raw(service, rawRequest([("Authorization", basic("a", "p"))]))
        self.assertEqual(transport.value(), b"")
        proto.connectionLost(Failure(ConnectionDone()))
        pending.callback("a")
        self.assertEqual((service.requests, transport.value()), ([], b""))


class UserCheckerConformanceTests(CheckerConformanceMixin, TestCase):
    """A user-written checker (Twisted's in-memory one) keeps the contract too."""

    def setUp(self) -> None:
        self.checker = InMemoryUsernamePasswordDatabaseDontUse(alice=b"a:b", bob=b"x")

    def goodCredentials(self) -> Iterable[tuple[Any, bws.Principal | str]]:
        yield UsernamePassword(b"alice", b"a:b"), "alice"
        yield UsernamePassword(b"bob", b"x"), "bob"

    def badCredentials(self) -> Iterable[Any]:
        yield UsernamePassword(b"alice", b"a")
        yield UsernamePassword(b"carol", b"x")


class BearerCheckerConformanceTests(CheckerConformanceMixin, TestCase):
    """A user-written Bearer checker answering principals keeps the contract."""

    def setUp(self) -> None:
        self.checker = Scripted(IBearerToken, {"t1": bws.Principal("u1", ("read", "write")),
                                               "t2": "u2"})

    def goodCredentials(self) -> Iterable[tuple[Any, bws.Principal | str]]:
        yield BearerToken("t1"), bws.Principal("u1", ("read", "write"))
        yield BearerToken("t2"), "u2"

    def badCredentials(self) -> Iterable[Any]:
        yield BearerToken("t3")
