# -*- test-case-name: tests.client.test_requesthead -*-
"""The client's upgrade request head, in memory: each field once, the user's ``Host``,
``User-Agent`` or ``Origin`` in place of the generated one, bws's own fields refused."""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IProtocol, IProtocolFactory
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial.unittest import SynchronousTestCase

import bws
from bws._http import CLIENT_OWNED
from bws.client import Client


class Capture:
    """A connector whose transport keeps what the client writes."""

    def __init__(self) -> None:
        self.transports: list[StringTransport] = []

    def __call__(self, factory: IProtocolFactory) -> Deferred[IProtocol | None]:
        protocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 9090))
        assert protocol is not None
        transport = StringTransport()
        protocol.makeConnection(transport)
        self.transports.append(transport)
        return succeed(protocol)

    @property
    def head(self) -> bytes:
        return self.transports[0].value()


def requestHead(url: str = "ws://127.0.0.1:9090/chat", **config: Any) -> bytes:
    """The head a client connecting to ``url`` with ``config`` writes."""
    capture = Capture()
    Client.connect(url, reactor=MemoryReactorClock(), connector=capture, **config)
    return capture.head


def lines(head: bytes) -> list[bytes]:
    return head.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


def fields(head: bytes, name: bytes) -> list[bytes]:
    """The values of field ``name`` (any case) in ``head``."""
    return [line.split(b":", 1)[1].strip() for line in lines(head)[1:]
            if line.split(b":", 1)[0].lower() == name.lower()]


class ReplacedTests(SynchronousTestCase):
    """``customHeaders`` replaces the generated ``Host``, ``User-Agent`` and ``Origin``."""

    def test_host(self) -> None:
        """``customHeaders={"Host": "chat.example"}``: one Host goes out, the user's, first."""
        head = requestHead(customHeaders={"Host": "chat.example"})
        self.assertEqual(fields(head, b"host"), [b"chat.example"])
        self.assertEqual(lines(head)[1], b"Host: chat.example")

    def test_hostAnyCase(self) -> None:
        """The name matches in any case."""
        head = requestHead(customHeaders={"hOST": "chat.example:8080"})
        self.assertEqual(fields(head, b"host"), [b"chat.example:8080"])

    def test_userAgent(self) -> None:
        """``User-Agent`` replaces the default one."""
        head = requestHead(customHeaders={"User-Agent": "my-app/2.0"})
        self.assertEqual(fields(head, b"user-agent"), [b"my-app/2.0"])

    def test_origin(self) -> None:
        """``Origin`` goes out once."""
        head = requestHead(customHeaders={"Origin": "https://app.example"})
        self.assertEqual(fields(head, b"origin"), [b"https://app.example"])

    def test_defaults(self) -> None:
        """Without ``customHeaders`` every field goes out once, ``Host`` first."""
        head = requestHead()
        self.assertEqual(lines(head)[0], b"GET /chat HTTP/1.1")
        self.assertEqual(lines(head)[1], b"Host: 127.0.0.1:9090")
        names = [line.split(b":", 1)[0].lower() for line in lines(head)[1:]]
        self.assertEqual(len(names), len(set(names)), names)
        for name in (b"upgrade", b"connection", b"sec-websocket-key", b"sec-websocket-version",
                     b"user-agent", b"sec-websocket-extensions"):
            self.assertEqual(len(fields(head, name)), 1, name)
        self.assertEqual(fields(head, b"sec-websocket-version"), [b"13"])

    def test_cookieJoined(self) -> None:
        """A ``Cookie`` of ``customHeaders`` and ``cookies`` go out as one field."""
        head = requestHead(customHeaders={"Cookie": "theme=dark"}, cookies=[("sid", "1")])
        self.assertEqual(fields(head, b"cookie"), [b"theme=dark; sid=1"])

    def test_otherFieldsKept(self) -> None:
        """Other custom fields go out once each, in order."""
        head = requestHead(customHeaders={"X-A": "1", "X-B": "2"})
        self.assertEqual((fields(head, b"x-a"), fields(head, b"x-b")), ([b"1"], [b"2"]))

    def test_subProtocolsOnce(self) -> None:
        """``subProtocols`` are offered in one ``Sec-WebSocket-Protocol`` field."""
        head = requestHead(subProtocols=["chat", "xml"])
        self.assertEqual(fields(head, b"sec-websocket-protocol"), [b"chat, xml"])


class RefusedTests(SynchronousTestCase):
    """Fields bws writes itself, and malformed fields, fail ``connect`` naming the field."""

    def refused(self, headers: dict[str, Any]) -> str:
        capture = Capture()
        d = Client.connect("ws://127.0.0.1:9090/chat", reactor=MemoryReactorClock(),
                           connector=capture, customHeaders=headers)
        failure = self.failureResultOf(d, bws.ConfigurationError)
        self.assertEqual(capture.transports, [])  # nothing was sent
        return str(failure.value)

    def test_owned(self) -> None:
        """Each WebSocket or body field is refused, in any case, naming it."""
        for name in ("Sec-WebSocket-Key", "sec-websocket-version", "Sec-WebSocket-Extensions",
                     "Sec-WebSocket-Protocol", "Upgrade", "CONNECTION", "Content-Length",
                     "Transfer-Encoding"):
            message = self.refused({name: "x"})
            self.assertTrue(message.startswith(
                f"ClientConfiguration.customHeaders: {name} is set by bws ("), message)
        self.assertEqual(len(CLIENT_OWNED), 8)

    def test_subProtocolHint(self) -> None:
        """Refusing ``Sec-WebSocket-Protocol`` points at ``subProtocols``."""
        self.assertEqual(self.refused({"Sec-WebSocket-Protocol": "chat"}),
                         "ClientConfiguration.customHeaders: Sec-WebSocket-Protocol is set by "
                         "bws (set subProtocols instead)")

    def test_sameNameTwice(self) -> None:
        """One name given twice in different cases is refused."""
        self.assertIn("Host and host are the same header",
                      self.refused({"Host": "a.example", "host": "b.example"}))

    def test_malformed(self) -> None:
        """A name that is not a token, or a value with CR, LF or NUL, is refused."""
        self.assertIn("is not a token", self.refused({"X Bad": "1"}))
        self.assertIn("must not contain CR, LF or NUL",
                      self.refused({"X-A": "1\r\nHost: evil.example"}))
        self.assertIn("must be a str", self.refused({"X-A": 1}))


class CookieTests(SynchronousTestCase):
    """``cookies`` cannot add a field or a cookie: a bad one fails ``connect``."""

    def refused(self, cookies: list[Any]) -> str:
        capture = Capture()
        d = Client.connect("ws://127.0.0.1:9090/chat", reactor=MemoryReactorClock(),
                           connector=capture, cookies=cookies)
        failure = self.failureResultOf(d, bws.Error)
        self.assertEqual(capture.transports, [])  # nothing was sent
        return str(failure.value)

    def test_lineBreak(self) -> None:
        """A value with CR/LF (another header field) is refused."""
        self.assertTrue(self.refused([("sid", "1\r\nX-Injected: 1")]).startswith(
            "Invalid cookie: "))

    def test_semicolon(self) -> None:
        """A value with ``;`` (another cookie) is refused."""
        self.assertTrue(self.refused([("sid", "1; admin=1")]).startswith("Invalid cookie: "))

    def test_badName(self) -> None:
        """A missing name, or one that is not a token, is refused."""
        self.assertTrue(self.refused([{"value": "1"}]).startswith("Invalid cookie: "))
        self.assertTrue(self.refused([("a b", "1")]).startswith("Invalid cookie: "))
