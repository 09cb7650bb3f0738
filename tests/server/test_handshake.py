# -*- test-case-name: tests.server.test_handshake -*-
"""Tests for ``bws.server._handshake``: the upgrade request's checks, without a request."""

from __future__ import annotations

from collections.abc import Sequence

from twisted.trial.unittest import SynchronousTestCase

from bws.config import RequestLimitConfigs
from bws.errors import AuthnError, AuthzError, Error, UpgradeError
from bws.server._handshake import (
    INTERNAL_ERROR,
    NOT_FOUND,
    STOPPING,
    Accept,
    Reject,
    checkHost,
    checkKey,
    checkLimits,
    checkMethod,
    checkOrigin,
    checkUpgrade,
    checkUpgradeHeaders,
    checkVersion,
    chooseSubProtocol,
    limitsViolation,
    refusalFor,
)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3's sample nonce: 16 bytes

GOOD: tuple[tuple[str, str], ...] = (
    ("host", "example.com"),
    ("upgrade", "websocket"),
    ("connection", "Upgrade"),
    ("sec-websocket-key", KEY),
    ("sec-websocket-version", "13"),
)

UPGRADE_REQUIRED = Reject(426, "This service requires a WebSocket upgrade",
                          (("Upgrade", "websocket"), ("Connection", "Upgrade")))
BAD_VERSION = Reject(426, "Unsupported WebSocket version; use 13",
                     (("Sec-WebSocket-Version", "13"),))
BAD_KEY = Reject(400, "Missing, duplicated or malformed Sec-WebSocket-Key")
NO_HOST = Reject(400, "Missing Host header")
FORBIDDEN_ORIGIN = Reject(403, "Origin not allowed")
NOT_GET = Reject(405, "WebSocket upgrades use GET", (("Allow", "GET"),))


def without(name: str, headers: Sequence[tuple[str, str]] = GOOD) -> tuple[tuple[str, str], ...]:
    """``headers`` with every ``name`` field removed."""
    return tuple((n, v) for n, v in headers if n != name)


def replacing(name: str, *values: str) -> tuple[tuple[str, str], ...]:
    """The good headers with ``name``'s values replaced by ``values``."""
    return without(name) + tuple((name, v) for v in values)


def check(headers: Sequence[tuple[str, str]] = GOOD, *, method: str = "GET", uri: bytes = b"/",
          limits: RequestLimitConfigs | None = None,
          allowedOrigins: tuple[str, ...] | None = None,
          subProtocols: Sequence[str] = ()) -> Accept | Reject:
    return checkUpgrade(method, uri, headers, limits or RequestLimitConfigs(), allowedOrigins,
                        subProtocols)


class CheckUpgradeTests(SynchronousTestCase):
    """``checkUpgrade``: every rule, in the listener's order."""

    def test_accepted(self) -> None:
        """A well-formed upgrade is accepted with no subprotocol and the key it carried."""
        self.assertEqual(check(), Accept(None, (), KEY))

    def test_keyTrimmed(self) -> None:
        """The accepted key has surrounding whitespace removed."""
        decision = check(replacing("sec-websocket-key", f" {KEY} "))
        self.assertEqual(decision, Accept(None, (), KEY))

    def test_uriTooLong(self) -> None:
        """A request target longer than ``maxUriLength`` gets a 414 with no body."""
        limits = RequestLimitConfigs(maxUriLength=10)
        self.assertEqual(check(uri=b"/" + b"a" * 10, limits=limits), Reject(414))
        self.assertIsInstance(check(uri=b"/" + b"a" * 9, limits=limits), Accept)

    def test_headersTooLarge(self) -> None:
        """Header fields over ``maxHeaderSize`` bytes (name, ": " and value) get a 431."""
        size = sum(len(n) + 2 + len(v) for n, v in GOOD)
        self.assertEqual(check(limits=RequestLimitConfigs(maxHeaderSize=size - 1)), Reject(431))
        self.assertIsInstance(check(limits=RequestLimitConfigs(maxHeaderSize=size)), Accept)

    def test_tooManyHeaders(self) -> None:
        """More header fields than ``maxHeaderCount`` get a 431."""
        limits = RequestLimitConfigs(maxHeaderCount=len(GOOD))
        self.assertIsInstance(check(limits=limits), Accept)
        self.assertEqual(check(GOOD + (("x-a", "1"),), limits=limits), Reject(431))

    def test_limitsFirst(self) -> None:
        """The limits are checked before everything else."""
        limits = RequestLimitConfigs(maxUriLength=1)
        self.assertEqual(check((), method="POST", uri=b"/long", limits=limits), Reject(414))

    def test_methodNotGet(self) -> None:
        """A method other than GET gets a 405 that allows GET."""
        self.assertEqual(check(method="POST"), NOT_GET)
        self.assertEqual(check(method="get"), NOT_GET)

    def test_methodBeforeUpgradeHeaders(self) -> None:
        """The method is checked before the upgrade headers."""
        self.assertEqual(check((), method="HEAD"), NOT_GET)

    def test_upgradeMissing(self) -> None:
        """Without ``Upgrade: websocket`` the answer is 426 naming both headers."""
        self.assertEqual(check(without("upgrade")), UPGRADE_REQUIRED)
        self.assertEqual(check(replacing("upgrade", "h2c")), UPGRADE_REQUIRED)

    def test_connectionMissing(self) -> None:
        """Without ``Connection: Upgrade`` the answer is 426 naming both headers."""
        self.assertEqual(check(without("connection")), UPGRADE_REQUIRED)
        self.assertEqual(check(replacing("connection", "keep-alive")), UPGRADE_REQUIRED)

    def test_upgradeTokens(self) -> None:
        """Upgrade tokens are found in lists, in any case, across repeated fields."""
        headers = replacing("connection", "keep-alive", " UPGRADE ")
        headers = without("upgrade", headers) + (("upgrade", "h2c, WebSocket"),)
        self.assertIsInstance(check(headers), Accept)

    def test_versionMissing(self) -> None:
        """Without ``Sec-WebSocket-Version`` the answer is 426 naming version 13."""
        self.assertEqual(check(without("sec-websocket-version")), BAD_VERSION)

    def test_versionOther(self) -> None:
        """A version other than 13, or 13 sent twice, gets the same 426."""
        self.assertEqual(check(replacing("sec-websocket-version", "8")), BAD_VERSION)
        self.assertEqual(check(replacing("sec-websocket-version", "13", "13")), BAD_VERSION)
        self.assertEqual(check(replacing("sec-websocket-version", "13, 8")), BAD_VERSION)

    def test_versionBeforeKey(self) -> None:
        """The version is checked before the key."""
        headers = without("sec-websocket-key", replacing("sec-websocket-version", "8"))
        self.assertEqual(check(headers), BAD_VERSION)

    def test_keyMissing(self) -> None:
        """Without ``Sec-WebSocket-Key`` the answer is 400."""
        self.assertEqual(check(without("sec-websocket-key")), BAD_KEY)

    def test_keyRepeated(self) -> None:
        """Two ``Sec-WebSocket-Key`` fields get a 400."""
        self.assertEqual(check(replacing("sec-websocket-key", KEY, KEY)), BAD_KEY)

    def test_keyMalformed(self) -> None:
        """A key that is not base64, or not of 16 bytes, gets a 400."""
        for key in ("not base64!", "YWJj", KEY + "YWJj", "é" * 24):
            self.assertEqual(check(replacing("sec-websocket-key", key)), BAD_KEY, key)

    def test_keyBeforeHost(self) -> None:
        """The key is checked before ``Host``."""
        self.assertEqual(check(without("host", without("sec-websocket-key"))), BAD_KEY)

    def test_hostMissing(self) -> None:
        """Without ``Host`` the answer is 400."""
        self.assertEqual(check(without("host")), NO_HOST)

    def test_hostBeforeOrigin(self) -> None:
        """``Host`` is checked before the origin."""
        self.assertEqual(check(without("host"), allowedOrigins=("https://a.example",)), NO_HOST)

    def test_anyOrigin(self) -> None:
        """Without ``allowedOrigins`` any origin, or none, is accepted."""
        self.assertIsInstance(check(GOOD + (("origin", "https://evil.example"),)), Accept)
        self.assertIsInstance(check(), Accept)

    def test_originListed(self) -> None:
        """A listed origin is accepted whatever the case of its scheme and host."""
        headers = GOOD + (("origin", "HTTPS://APP.example:8443"),)
        self.assertIsInstance(check(headers, allowedOrigins=("https://app.example:8443",)),
                              Accept)

    def test_originRefused(self) -> None:
        """A foreign, missing, repeated or malformed origin gets a 403."""
        allowed = ("https://app.example",)
        for origins in [("https://evil.example",), (), ("https://app.example",) * 2,
                        ("null",), ("https://app.example/path",)]:
            headers = GOOD + tuple(("origin", o) for o in origins)
            self.assertEqual(check(headers, allowedOrigins=allowed), FORBIDDEN_ORIGIN, origins)

    def test_subProtocolChosen(self) -> None:
        """The peer's first offer the service supports is chosen; every offer is kept."""
        headers = GOOD + (("sec-websocket-protocol", "xml, chat"),
                          ("sec-websocket-protocol", "json"))
        decision = check(headers, subProtocols=("json", "chat"))
        self.assertEqual(decision, Accept("chat", ("xml", "chat", "json"), KEY))

    def test_subProtocolNone(self) -> None:
        """When no offer is supported the upgrade goes on without a subprotocol."""
        headers = GOOD + (("sec-websocket-protocol", "xml"),)
        self.assertEqual(check(headers, subProtocols=("chat",)), Accept(None, ("xml",), KEY))


class RuleTests(SynchronousTestCase):
    """The single rules, each on plain values."""

    def test_limitsViolation(self) -> None:
        """Counts over the limits give 414 for the target first, then 431."""
        limits = RequestLimitConfigs(maxUriLength=4, maxHeaderSize=10, maxHeaderCount=2)
        self.assertIsNone(limitsViolation(b"/abc", 10, 2, limits))
        self.assertEqual(limitsViolation(b"/abcd", 11, 3, limits), 414)
        self.assertEqual(limitsViolation(b"/", 11, 0, limits), 431)
        self.assertEqual(limitsViolation(b"/", 0, 3, limits), 431)

    def test_checkLimits(self) -> None:
        """Whole-request limits count every field's name, ``": "`` and value."""
        limits = RequestLimitConfigs(maxHeaderSize=5)
        self.assertIsNone(checkLimits(b"/", [("a", "b")], limits))
        self.assertEqual(checkLimits(b"/", [("a", "bcd")], limits), Reject(431))

    def test_checkMethod(self) -> None:
        """Only GET goes on."""
        self.assertIsNone(checkMethod("GET"))
        self.assertEqual(checkMethod("PUT"), NOT_GET)

    def test_checkUpgradeHeaders(self) -> None:
        """Both tokens are needed, each in its own header."""
        self.assertIsNone(checkUpgradeHeaders(["websocket"], ["upgrade"]))
        self.assertEqual(checkUpgradeHeaders(["upgrade"], ["websocket"]), UPGRADE_REQUIRED)

    def test_checkVersion(self) -> None:
        """Exactly one ``13`` goes on."""
        self.assertIsNone(checkVersion(["13"]))
        self.assertEqual(checkVersion([]), BAD_VERSION)

    def test_checkKey(self) -> None:
        """Exactly one key of 16 base64-encoded bytes goes on."""
        self.assertIsNone(checkKey([KEY]))
        self.assertEqual(checkKey(["AAAA"]), BAD_KEY)

    def test_checkHost(self) -> None:
        """Any ``Host`` value, even empty, goes on; none is refused."""
        self.assertIsNone(checkHost([""]))
        self.assertEqual(checkHost([]), NO_HOST)

    def test_checkOrigin(self) -> None:
        """``None`` allows every origin; a tuple allows only its members."""
        self.assertIsNone(checkOrigin([], None))
        self.assertIsNone(checkOrigin(["http://a.example:80"], ("http://a.example:80",)))
        self.assertEqual(checkOrigin(["http://a.example"], ("http://a.example:80",)),
                         FORBIDDEN_ORIGIN)

    def test_chooseSubProtocol(self) -> None:
        """The peer's preference order wins over the service's."""
        self.assertEqual(chooseSubProtocol(["b", "a"], ("a", "b")), "b")
        self.assertIsNone(chooseSubProtocol([], ("a",)))


class RefusalTests(SynchronousTestCase):
    """``refusalFor`` and the fixed answers around the checks."""

    def test_authn(self) -> None:
        """``AuthnError`` from ``get`` is a 401 with no body."""
        self.assertEqual(refusalFor(AuthnError("who?")), Reject(401))

    def test_authz(self) -> None:
        """``AuthzError`` from ``get`` is a 403 with no body."""
        self.assertEqual(refusalFor(AuthzError("no")), Reject(403))

    def test_upgradeError(self) -> None:
        """``UpgradeError`` from ``get`` is a 400 carrying its message."""
        self.assertEqual(refusalFor(UpgradeError("room is full")), Reject(400, "room is full"))

    def test_unexpected(self) -> None:
        """Any other error is the service's fault: no refusal is chosen for it."""
        self.assertIsNone(refusalFor(ValueError("bug")))
        self.assertIsNone(refusalFor(Error("bws, but not a refusal")))

    def test_fixedAnswers(self) -> None:
        """Stopping, unrouted and failed upgrades answer 503, 404 and 500 in plain text."""
        self.assertEqual(STOPPING, Reject(503, "The listener is stopping"))
        self.assertEqual(NOT_FOUND, Reject(404, "No service found to handle the service request"))
        self.assertEqual(INTERNAL_ERROR, Reject(500, "Internal server error"))
