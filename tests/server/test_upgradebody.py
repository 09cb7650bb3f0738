# -*- test-case-name: tests.server.test_upgradebody -*-
"""An upgrade request never has a body: it is refused when the head ends, in memory, and no
byte of a body is read or stored (twisted.web's ``content`` is never made)."""

from __future__ import annotations

import tempfile
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial.unittest import SynchronousTestCase
from twisted.web import http, server
from twisted.web.resource import Resource

import bws
from bws.testing.echo import EchoUpgradeService

HEAD = (b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")
HAS_BODY = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Length: 30\r\nConnection: close\r\n\r\nAn upgrade request has no body")


class Peer:
    """One connection to ``site``, fed bytes by hand."""

    def __init__(self, site: server.Site) -> None:
        self.protocol = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        self.transport = StringTransport()
        self.protocol.makeConnection(self.transport)

    def send(self, data: bytes) -> bytes:
        """Deliver ``data``; everything answered so far."""
        self.protocol.dataReceived(data)
        return self.transport.value()

    @property
    def channel(self) -> http.HTTPChannel:
        return getattr(self.protocol, "_channel", self.protocol)


class NoDiskMixin:
    """Any temporary file twisted.web makes while a test runs fails the test."""

    def setUp(self) -> None:
        self.spooled: list[Any] = []

        def noTemporaryFile(*args: Any, **kwargs: Any) -> Any:
            self.spooled.append(args)
            raise AssertionError("twisted.web spooled a request body to disk")

        self.patch(tempfile, "TemporaryFile", noTemporaryFile)  # type: ignore[attr-defined]


class OwnSiteTests(NoDiskMixin, SynchronousTestCase):
    """On a listener's own port every request is refused a body."""

    def setUp(self) -> None:
        super().setUp()
        self.listener = self.listen()

    def listen(self, **config: Any) -> bws.Listener:
        listener = bws.Listener(0, reactor=MemoryReactorClock(), host="127.0.0.1", **config)
        listener.attach(EchoUpgradeService(), "/ws")
        listener.resource.accepting = True
        return listener

    def peer(self) -> Peer:
        return Peer(self.listener.site)

    def assertRefusedUnread(self, peer: Peer, answer: bytes, expected: bytes = HAS_BODY) -> None:
        self.assertEqual(answer, expected)
        self.assertTrue(peer.transport.disconnecting)
        self.assertEqual([r.content for r in peer.channel.requests], [None])
        self.assertEqual(self.spooled, [])

    def test_contentLengthWithBody(self) -> None:
        """``Content-Length: 10`` and ten bytes get 400; the ten bytes are not stored."""
        peer = self.peer()
        self.assertRefusedUnread(peer, peer.send(HEAD + b"Content-Length: 10\r\n\r\n0123456789"))

    def test_underLimit(self) -> None:
        """A body within ``maxEntityBodySize`` is refused all the same (400)."""
        self.listener = self.listen(requestLimits={"maxEntityBodySize": 100})
        peer = self.peer()
        self.assertRefusedUnread(peer, peer.send(HEAD + b"Content-Length: 10\r\n\r\n0123456789"))

    def test_contentLengthAlone(self) -> None:
        """The 400 goes out when the head ends, before any body byte arrives."""
        peer = self.peer()
        self.assertRefusedUnread(peer, peer.send(HEAD + b"Content-Length: 10\r\n\r\n"))

    def test_chunked(self) -> None:
        """``Transfer-Encoding: chunked`` gets 400, its chunks unread."""
        peer = self.peer()
        answer = peer.send(HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        self.assertRefusedUnread(peer, answer)

    def test_hugeStream(self) -> None:
        """``Content-Length: 1000000000`` and a stream of bytes: 400 at the head's end, and
        nothing after it is parsed or written to disk."""
        peer = self.peer()
        answer = peer.send(HEAD + b"Content-Length: 1000000000\r\n\r\n" + b"x" * 65536)
        for _ in range(64):
            self.assertEqual(peer.send(b"x" * 65536), answer)
        self.assertRefusedUnread(peer, answer)

    def test_overLimit(self) -> None:
        """A ``Content-Length`` over ``maxEntityBodySize`` keeps its 413, body unread."""
        self.listener = self.listen(requestLimits={"maxEntityBodySize": 100})
        peer = self.peer()
        answer = peer.send(HEAD + b"Content-Length: 101\r\n\r\n" + b"x" * 101)
        self.assertRefusedUnread(peer, answer, b"HTTP/1.1 413 Payload Too Large\r\n"
                                               b"Content-Length: 0\r\nConnection: close\r\n\r\n")

    def test_expectContinue(self) -> None:
        """A body announced with ``Expect: 100-continue`` gets the 400 and no 100."""
        peer = self.peer()
        answer = peer.send(HEAD + b"Content-Length: 10\r\nExpect: 100-continue\r\n\r\n")
        self.assertRefusedUnread(peer, answer)

    def test_bodyIsNotARequest(self) -> None:
        """A request smuggled in the body is never parsed: one answer, the 400."""
        peer = self.peer()
        smuggled = HEAD + b"\r\n"
        answer = peer.send(HEAD + b"Content-Length: %d\r\n\r\n" % len(smuggled) + smuggled)
        self.assertRefusedUnread(peer, answer)

    def test_plainRequestWithBody(self) -> None:
        """A request that is not an upgrade is refused a body too (this port serves none)."""
        peer = self.peer()
        answer = peer.send(b"POST /ws HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        self.assertRefusedUnread(peer, answer)

    def test_zeroLength(self) -> None:
        """``Content-Length: 0`` is no body: the upgrade goes on."""
        answer = self.peer().send(HEAD + b"Content-Length: 0\r\n\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 101 "), answer)

    def test_stillServing(self) -> None:
        """After a refused body the next connection upgrades."""
        self.peer().send(HEAD + b"Content-Length: 10\r\n\r\n0123456789")
        answer = self.peer().send(HEAD + b"\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 101 "), answer)


class Form(Resource):
    isLeaf = True

    def render_POST(self, request: server.Request) -> bytes:
        assert request.content is not None
        return b"got " + request.content.read()


class SharedSiteTests(NoDiskMixin, SynchronousTestCase):
    """On a shared ``Site``, WebSocket paths are refused a body; other resources take one."""

    def setUp(self) -> None:
        super().setUp()
        root = Resource()
        root.putChild(b"form", Form())
        self.site = server.Site(root, reactor=MemoryReactorClock())
        self.listener = bws.Listener(self.site, reactor=MemoryReactorClock())
        self.listener.attach(EchoUpgradeService(), "/ws")
        self.listener.resource.accepting = True

    def test_upgradeWithBody(self) -> None:
        """``Content-Length: 10`` and ten bytes to the WebSocket path get 400, unread."""
        peer = Peer(self.site)
        self.assertEqual(peer.send(HEAD + b"Content-Length: 10\r\n\r\n0123456789"), HAS_BODY)
        self.assertTrue(peer.transport.disconnecting)
        self.assertEqual([r.content for r in peer.channel.requests], [None])

    def test_chunkedUpgrade(self) -> None:
        """A chunked upgrade request gets 400 before twisted.web makes a temporary file."""
        peer = Peer(self.site)
        answer = peer.send(HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        self.assertEqual(answer, HAS_BODY)
        self.assertEqual(self.spooled, [])

    def test_otherResourceTakesBody(self) -> None:
        """A POST to the site's own resource still gets its body."""
        answer = Peer(self.site).send(
            b"POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        self.assertTrue(answer.startswith(b"HTTP/1.1 200 "), answer)
        self.assertTrue(answer.endswith(b"\r\n\r\ngot hello"), answer)

    def test_upgradeWithoutBody(self) -> None:
        """An upgrade without a body still switches protocols."""
        answer = Peer(self.site).send(HEAD + b"\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 101 "), answer)

    def test_requestClassKept(self) -> None:
        """The site's own request class stays in the guarded one's bases."""
        self.assertTrue(issubclass(self.site.requestFactory, server.Request))
        self.assertEqual(self.site.requestFactory.__name__, "Request")
