# -*- test-case-name: tests.server.test_handshakefields -*-
"""The listener's handshake fields, in memory: requests it must refuse (two Host fields,
HTTP/1.0), and a 101 in which every field goes out once."""

from __future__ import annotations

from typing import Any

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

import bws
from bws.request import UpgradeRequest
from bws.testing.echo import EchoService
from tests.server.test_upgradebody import HEAD, Peer

END = b"\r\n"


class Adding:
    """An upgrade service whose ``get`` adds ``headers`` to the 101."""

    def __init__(self, *headers: tuple[str, str]) -> None:
        self.headers = headers

    def get(self, request: UpgradeRequest) -> EchoService:
        for name, value in self.headers:
            request.addResponseHeader(name, value)
        return EchoService()


def fields(answer: bytes, name: bytes) -> list[bytes]:
    """The values of header ``name`` (any case) in the head of ``answer``."""
    head = answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]
    return [line.split(b":", 1)[1].strip() for line in head
            if line.split(b":", 1)[0].strip().lower() == name.lower()]


class Listening:
    def listen(self, service: Any, subProtocols: tuple[str, ...] = (),
               **config: Any) -> bws.Listener:
        listener = bws.Listener(0, reactor=MemoryReactorClock(), host="127.0.0.1", **config)
        if subProtocols:
            bws.config.setServiceConfig(service, bws.WSServiceConfig(subProtocols=subProtocols))
        listener.attach(service, "/ws")
        listener.resource.accepting = True
        return listener


class RefusedRequestTests(Listening, SynchronousTestCase):
    """Requests RFC 9112 and RFC 6455 forbid get 400 and never a 101."""

    def test_twoHosts(self) -> None:
        """Two ``Host`` fields get 400 (RFC 9112 §3.2)."""
        site = self.listen(Adding()).site
        answer = Peer(site).send(HEAD + b"Host: other.example\r\n" + END)
        self.assertTrue(answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer)
        self.assertTrue(answer.endswith(b"\r\n\r\nDuplicated Host header"), answer)

    def test_twoHostsSameValue(self) -> None:
        """Two ``Host`` fields with one value are still two."""
        answer = Peer(self.listen(Adding()).site).send(HEAD + b"Host: x\r\n" + END)
        self.assertTrue(answer.startswith(b"HTTP/1.1 400 "), answer)

    def test_malformedHost(self) -> None:
        """A ``Host`` value that is not ``host[:port]`` gets 400."""
        request = HEAD.replace(b"Host: x", b"Host: a b/c") + END
        answer = Peer(self.listen(Adding()).site).send(request)
        self.assertTrue(answer.startswith(b"HTTP/1.1 400 "), answer)
        self.assertTrue(answer.endswith(b"Malformed Host header"), answer)

    def test_http10(self) -> None:
        """An HTTP/1.0 upgrade gets 400 (RFC 6455 §4.1), and the connection closes."""
        peer = Peer(self.listen(Adding()).site)
        answer = peer.send(HEAD.replace(b"HTTP/1.1", b"HTTP/1.0") + END)
        self.assertTrue(answer.startswith(b"HTTP/1.0 400 Bad Request\r\n"), answer)
        self.assertTrue(answer.endswith(b"WebSocket upgrades need HTTP/1.1 or later"), answer)
        self.assertTrue(peer.transport.disconnecting)

    def test_stillServing(self) -> None:
        """After the refusals a well-formed upgrade gets its 101."""
        site = self.listen(Adding()).site
        Peer(site).send(HEAD + b"Host: other.example\r\n" + END)
        Peer(site).send(HEAD.replace(b"HTTP/1.1", b"HTTP/1.0") + END)
        self.assertTrue(Peer(site).send(HEAD + END).startswith(b"HTTP/1.1 101 "))


class SwitchingProtocolsTests(Listening, SynchronousTestCase):
    """The 101: generated fields are replaced or refused, never sent twice."""

    def test_oneServer(self) -> None:
        """The 101 carries one ``Server``: the listener's."""
        answer = Peer(self.listen(Adding(), server="chat-server").site).send(HEAD + END)
        self.assertEqual(fields(answer, b"server"), [b"chat-server"])

    def test_serverReplaced(self) -> None:
        """A ``Server`` that ``get`` adds replaces the listener's."""
        answer = Peer(self.listen(Adding(("Server", "mine/1.0"))).site).send(HEAD + END)
        self.assertTrue(answer.startswith(b"HTTP/1.1 101 "), answer)
        self.assertEqual(fields(answer, b"server"), [b"mine/1.0"])

    def test_subProtocolAdded(self) -> None:
        """``get`` adding ``Sec-WebSocket-Protocol`` while ``subProtocols`` is set: the
        upgrade is refused (500, the ValueError logged), never a 101 with two values."""
        service = Adding(("Sec-WebSocket-Protocol", "chat"))
        site = self.listen(service, subProtocols=("chat",)).site
        answer = Peer(site).send(HEAD + b"Sec-WebSocket-Protocol: chat\r\n" + END)
        self.assertTrue(answer.startswith(b"HTTP/1.1 500 "), answer)
        [error] = self.flushLoggedErrors(ValueError)
        self.assertIn("Sec-WebSocket-Protocol is set by bws", str(error.value))

    def test_ownedFieldsAdded(self) -> None:
        """Every field bws writes in the 101 is refused the same way, in any case."""
        for name in ("sec-websocket-accept", "Sec-WebSocket-Extensions", "UPGRADE",
                     "Connection", "Content-Length", "Transfer-Encoding"):
            answer = Peer(self.listen(Adding((name, "1"))).site).send(HEAD + END)
            self.assertTrue(answer.startswith(b"HTTP/1.1 500 "), (name, answer))
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 6)

    def test_oneSubProtocol(self) -> None:
        """With ``subProtocols`` the 101 carries exactly one ``Sec-WebSocket-Protocol``."""
        site = self.listen(Adding(("X-Other", "1")), subProtocols=("chat",)).site
        answer = Peer(site).send(HEAD + b"Sec-WebSocket-Protocol: other, chat\r\n" + END)
        self.assertEqual(fields(answer, b"sec-websocket-protocol"), [b"chat"])
        for name in (b"upgrade", b"connection", b"sec-websocket-accept", b"x-other"):
            self.assertEqual(len(fields(answer, name)), 1, name)
