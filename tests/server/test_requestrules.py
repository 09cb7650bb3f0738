# -*- test-case-name: tests.server.test_requestrules -*-
"""The upgrade request's HTTP rules as values (``bws.server._handshake``): one Host, HTTP/1.1
or later, no body; and the 101's fields that ``get`` may not add (``UpgradeRequest``)."""

from __future__ import annotations

from collections.abc import Sequence

from twisted.trial.unittest import SynchronousTestCase

from bws._http import SERVER_OWNED, validHost
from bws.config import RequestLimitConfigs
from bws.request import UpgradeRequest
from bws.server._handshake import (
    HAS_BODY,
    Accept,
    Reject,
    checkBody,
    checkHost,
    checkHttpVersion,
    checkUpgrade,
)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="

GOOD: tuple[tuple[str, str], ...] = (
    ("host", "example.com"),
    ("upgrade", "websocket"),
    ("connection", "Upgrade"),
    ("sec-websocket-key", KEY),
    ("sec-websocket-version", "13"),
)

OLD_HTTP = Reject(400, "WebSocket upgrades need HTTP/1.1 or later")
TWO_HOSTS = Reject(400, "Duplicated Host header")
BAD_HOST = Reject(400, "Malformed Host header")


def check(headers: Sequence[tuple[str, str]] = GOOD, *, method: str = "GET",
          version: str = "HTTP/1.1", limits: RequestLimitConfigs | None = None,
          subProtocols: Sequence[str] = ()) -> Accept | Reject:
    return checkUpgrade(method, b"/", headers, limits or RequestLimitConfigs(), None,
                        subProtocols, version)


class HttpVersionTests(SynchronousTestCase):
    """``checkHttpVersion``: RFC 6455 §4.1 needs HTTP/1.1 or later."""

    def test_current(self) -> None:
        """HTTP/1.1, and a later minor or major version, go on."""
        for version in ("HTTP/1.1", "HTTP/1.2", "HTTP/2.0"):
            self.assertIsNone(checkHttpVersion(version), version)

    def test_older(self) -> None:
        """HTTP/1.0 and HTTP/0.9 get 400 (not 505, which refuses a major version)."""
        self.assertEqual(checkHttpVersion("HTTP/1.0"), OLD_HTTP)
        self.assertEqual(checkHttpVersion("HTTP/0.9"), OLD_HTTP)

    def test_malformed(self) -> None:
        """A version that is not ``HTTP/<digit>.<digit>`` gets the same 400."""
        for version in ("", "HTTP/1", "http/1.1", "HTTP/1.10", "HTTP/x.y", "HTTPS/1.1"):
            self.assertEqual(checkHttpVersion(version), OLD_HTTP, version)

    def test_inCheckUpgrade(self) -> None:
        """``checkUpgrade`` refuses an HTTP/1.0 upgrade that is otherwise complete."""
        self.assertEqual(check(version="HTTP/1.0"), OLD_HTTP)
        self.assertIsInstance(check(version="HTTP/1.1"), Accept)

    def test_beforeMethod(self) -> None:
        """The HTTP version is checked before the method."""
        self.assertEqual(check(method="POST", version="HTTP/1.0"), OLD_HTTP)


class HostTests(SynchronousTestCase):
    """``checkHost``: exactly one well-formed Host (RFC 9112 §3.2)."""

    def test_two(self) -> None:
        """Two Host fields get 400, equal or not."""
        self.assertEqual(checkHost(["a.example", "b.example"]), TWO_HOSTS)
        self.assertEqual(checkHost(["a.example", "a.example"]), TWO_HOSTS)

    def test_twoInCheckUpgrade(self) -> None:
        """``checkUpgrade`` refuses a request carrying two Host fields."""
        self.assertEqual(check(GOOD + (("host", "evil.example"),)), TWO_HOSTS)

    def test_wellFormed(self) -> None:
        """A name, an IPv4 or bracketed IPv6 address, each with or without a port, goes on."""
        for value in ("example.com", "example.com:8080", "127.0.0.1", "127.0.0.1:9090",
                      "[::1]", "[::1]:443", "xn--bcher-kva.example", "a_b.example:"):
            self.assertIsNone(checkHost([value]), value)
            self.assertTrue(validHost(value), value)

    def test_malformed(self) -> None:
        """A value that is not ``host[:port]`` gets 400."""
        for value in ("a b", "a/b", "user@host", "host:port", "[::1", "::1", "a, b", "h:1:2",
                      "bücher.example"):
            self.assertEqual(checkHost([value]), BAD_HOST, value)

    def test_surroundingSpace(self) -> None:
        """Whitespace around the value is not part of it."""
        self.assertIsNone(checkHost([" example.com "]))


class BodyTests(SynchronousTestCase):
    """``checkBody``: an upgrade request announces no body."""

    def test_none(self) -> None:
        """No length fields, or ``Content-Length: 0``, go on."""
        self.assertIsNone(checkBody([], [], -1))
        self.assertIsNone(checkBody(["0"], [], -1))
        self.assertIsNone(checkBody(["0"], [], 0))

    def test_contentLength(self) -> None:
        """Any positive ``Content-Length`` gets 400, with or without a limit under it."""
        self.assertEqual(checkBody(["10"], [], -1), HAS_BODY)
        self.assertEqual(checkBody(["1"], [], 100), HAS_BODY)
        self.assertEqual(checkBody(["1000000000"], [], -1), HAS_BODY)

    def test_transferEncoding(self) -> None:
        """Any ``Transfer-Encoding`` gets 400 (RFC 9112 §6.3), chunked or not."""
        for value in ("chunked", "identity", "gzip, chunked"):
            self.assertEqual(checkBody([], [value], -1), HAS_BODY, value)
        self.assertEqual(checkBody(["0"], ["chunked"], -1), HAS_BODY)

    def test_overLimit(self) -> None:
        """A ``Content-Length`` over ``maxEntityBodySize`` keeps its 413."""
        self.assertEqual(checkBody(["11"], [], 10), Reject(413))
        self.assertEqual(checkBody(["10"], [], 10), HAS_BODY)

    def test_malformedLength(self) -> None:
        """A ``Content-Length`` that is not a number gets 400."""
        for value in ("ten", "-1", "1.5", ""):
            self.assertEqual(checkBody([value], [], -1), HAS_BODY, value)

    def test_inCheckUpgrade(self) -> None:
        """``checkUpgrade`` refuses a request that announces a body, before the method."""
        self.assertEqual(check(GOOD + (("content-length", "10"),)), HAS_BODY)
        self.assertEqual(check(GOOD + (("transfer-encoding", "chunked"),)), HAS_BODY)
        self.assertEqual(check(GOOD + (("content-length", "10"),), method="POST"), HAS_BODY)
        self.assertIsInstance(check(GOOD + (("content-length", "0"),)), Accept)


class ResponseHeaderTests(SynchronousTestCase):
    """``UpgradeRequest.addResponseHeader``: fields bws writes in the 101 are never added."""

    def request(self) -> UpgradeRequest:
        return UpgradeRequest("GET", "/", "/", GOOD, None, False)

    def test_ownedRefused(self) -> None:
        """Every field bws writes is refused in any case, the error naming it as given."""
        names = ["Sec-WebSocket-Protocol", "sec-websocket-accept", "SEC-WEBSOCKET-EXTENSIONS",
                 "Upgrade", "Connection", "Content-Length", "Transfer-Encoding"]
        self.assertEqual({n.lower() for n in names}, set(SERVER_OWNED))
        request = self.request()
        for name in names:
            e = self.assertRaises(ValueError, request.addResponseHeader, name, "x")
            self.assertTrue(str(e).startswith(f"{name} is set by bws ("), str(e))
        self.assertEqual(request.responseHeaders, [])

    def test_subProtocolHint(self) -> None:
        """Refusing Sec-WebSocket-Protocol points at ``WSServiceConfig.subProtocols``."""
        e = self.assertRaises(ValueError, self.request().addResponseHeader,
                              "Sec-WebSocket-Protocol", "chat")
        self.assertEqual(str(e), "Sec-WebSocket-Protocol is set by bws "
                                 "(WSServiceConfig.subProtocols chooses it)")

    def test_othersAdded(self) -> None:
        """Other fields, ``Server`` included, are added in order."""
        request = self.request()
        request.addResponseHeader("X-Some-Header", "yes")
        request.addResponseHeader("Server", "chat/1.0")
        self.assertEqual(request.responseHeaders,
                         [("X-Some-Header", "yes"), ("Server", "chat/1.0")])

    def test_malformed(self) -> None:
        """A name that is not a token, or a value with CR, LF or NUL, is refused."""
        request = self.request()
        for name, value in [("X Bad", "1"), ("X:Bad", "1"), ("", "1"), ("X-A", "a\r\nB: c"),
                            ("X-A", "a\nb"), ("X-A", "a\0b")]:
            self.assertRaises(ValueError, request.addResponseHeader, name, value)
        self.assertEqual(request.responseHeaders, [])
