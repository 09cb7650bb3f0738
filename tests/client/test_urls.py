# -*- test-case-name: tests.client.test_urls -*-
"""Client URLs are encoded as browsers encode them (WHATWG URL standard), or refused with
``Malformed URL`` before anything is sent; bws's server decodes them back."""

from __future__ import annotations

from typing import Any

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

import bws
from bws.client import Client, parseUrl
from bws.request import UpgradeRequest
from bws.testing import MemoryListener
from bws.testing.echo import EchoService
from tests.client.test_requesthead import Capture, lines, requestHead


class EncodingTests(SynchronousTestCase):
    """``parseUrl``: the request target and ``Host`` value a URL gives."""

    def assertTarget(self, url: str, resource: str, hostHeader: str | None = None) -> None:
        target = parseUrl(url)
        self.assertEqual(target.resource, resource, url)
        if hostHeader is not None:
            self.assertEqual(target.hostHeader, hostHeader, url)

    def test_utf8(self) -> None:
        """Non-ASCII path and query characters are UTF-8 percent-encoded."""
        self.assertTarget("ws://127.0.0.1:9090/ws/user/albanø?q=é",
                          "/ws/user/alban%C3%B8?q=%C3%A9", "127.0.0.1:9090")
        self.assertTarget("ws://h/日本?x=😀", "/%E6%97%A5%E6%9C%AC?x=%F0%9F%98%80")

    def test_space(self) -> None:
        """A space is ``%20`` in the path and in the query."""
        self.assertTarget("ws://127.0.0.1:9090/chat room", "/chat%20room")
        self.assertTarget("ws://h/a?b c", "/a?b%20c")

    def test_pathSet(self) -> None:
        """The path percent-encode set: ``" < > ^ ` { }`` are encoded, ``|`` is not."""
        self.assertTarget('ws://h/a"<>^`{}|', "/a%22%3C%3E%5E%60%7B%7D|")

    def test_querySet(self) -> None:
        """The special-query percent-encode set: ``" < > '`` are encoded, ``^ ` { }`` not."""
        self.assertTarget("ws://h/?a=\"<>'^`{}", "/?a=%22%3C%3E%27^`{}")

    def test_percentKept(self) -> None:
        """Sequences already percent-encoded are not encoded twice."""
        self.assertTarget("ws://h/a%20b?c=%C3%A9", "/a%20b?c=%C3%A9")

    def test_backslash(self) -> None:
        """A backslash before the query is a slash, as in browsers."""
        self.assertTarget("ws://h/a\\b", "/a/b")

    def test_emptyPath(self) -> None:
        """No path is ``/``; an empty query keeps its ``?``."""
        self.assertTarget("ws://h", "/", "h")
        self.assertTarget("ws://h?x=1", "/?x=1")
        self.assertTarget("ws://h/?", "/?")

    def test_hostHeader(self) -> None:
        """The default port is left out of ``Host``; IPv6 keeps its brackets; a non-ASCII
        name is IDNA-encoded, an ASCII one lower-cased."""
        self.assertTarget("ws://h:80/", "/", "h")
        self.assertTarget("wss://h:443/", "/", "h")
        self.assertTarget("ws://h:443/", "/", "h:443")
        self.assertTarget("ws://[::1]:9090/", "/", "[::1]:9090")
        self.assertTarget("ws://Bücher.Example/", "/", "xn--bcher-kva.example")
        self.assertTarget("ws://EXAMPLE.com/", "/", "example.com")
        self.assertEqual(parseUrl("ws://Bücher.Example/").host, "xn--bcher-kva.example")

    def test_requestLine(self) -> None:
        """The request line carries the encoded target and is three fields."""
        head = requestHead("ws://127.0.0.1:9090/chat room?who=albanø")
        self.assertEqual(lines(head)[0], b"GET /chat%20room?who=alban%C3%B8 HTTP/1.1")
        self.assertTrue(head.isascii())


class MalformedTests(SynchronousTestCase):
    """What cannot be written is refused before anything is sent."""

    def assertMalformed(self, url: str, detail: str) -> None:
        capture = Capture()
        d = Client.connect(url, reactor=MemoryReactorClock(), connector=capture)
        error = self.failureResultOf(d, bws.Error).value
        self.assertTrue(str(error).startswith("Malformed URL: "), str(error))
        self.assertIn(detail, str(error))
        self.assertEqual(capture.transports, [])

    def test_crlf(self) -> None:
        """CR or LF anywhere is refused, shown escaped."""
        self.assertMalformed("ws://h/a\r\nX-Injected: 1", "ws://h/a\\r\\nX-Injected: 1")
        self.assertMalformed("ws://h/?a=\n", "control characters are not allowed")

    def test_controls(self) -> None:
        """Other control characters (TAB, NUL, DEL) are refused too."""
        for url in ("ws://h/a\tb", "ws://h/\x00", "ws://h/\x7f", "ws://h\x1b/"):
            self.assertMalformed(url, "control characters are not allowed")

    def test_fragment(self) -> None:
        """A fragment, even empty, is refused (RFC 6455 §3)."""
        self.assertMalformed("ws://h/chat#top", "has no fragment")
        self.assertMalformed("ws://h/#", "has no fragment")

    def test_host(self) -> None:
        """A host with a space or another forbidden code point is refused."""
        self.assertMalformed("ws://foo bar.com/", "cannot be written")
        self.assertMalformed("ws://a|b/", "cannot be written")
        self.assertMalformed("ws://é..com/", "host:")


class Recording:
    """Records what ``get`` received."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str | None, str]] = []

    def get(self, request: UpgradeRequest, name: str) -> EchoService:
        self.seen.append((request.path, name, request.getQueryParam("q"), request.uri))
        return EchoService()


class ServerDecodingTests(SynchronousTestCase):
    """bws's listener routes the encoded target and decodes its parameters."""

    def connectTo(self, path: str, **config: Any) -> Recording:
        service = Recording()
        listener = MemoryListener()
        listener.attach(service, "/ws/user/{name}")
        self.successResultOf(listener.connect(path, **config))
        return service

    def test_pathParamAndQuery(self) -> None:
        """``/ws/user/albanø?q=é`` routes, and ``get`` sees ``albanø`` and ``é``."""
        service = self.connectTo("/ws/user/albanø?q=é")
        self.assertEqual(service.seen, [("/ws/user/alban%C3%B8", "albanø", "é",
                                         "/ws/user/alban%C3%B8?q=%C3%A9")])

    def test_space(self) -> None:
        """A space in a path parameter arrives as a space."""
        self.assertEqual(self.connectTo("/ws/user/chat room").seen[0][1], "chat room")
