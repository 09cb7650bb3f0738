# -*- test-case-name: tests.integration.test_handshakewire -*-
"""The handshake's bytes on a real socket: requests the listener refuses, a body it never
reads or stores, a 101 the ``websockets`` client accepts, and the request head bws's client
writes, as a ``websockets`` server reads it."""

from __future__ import annotations

import socket
import ssl
import tempfile
import threading
from typing import Any

import websockets.sync.server as wsserver
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

import bws
from bws.client import Client
from bws.request import UpgradeRequest
from bws.testing.echo import EchoService, EchoUpgradeService
from bws.tls import CertKey, ListenerSecureSocket
from tests.integration.helpers import ListenerMixin, inThread
from tests.tls.test_tls import _pki

HEAD = ("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")


def complete(answer: bytes) -> bool:
    """Whether ``answer`` holds a whole response: its head and ``Content-Length`` bytes."""
    head, sep, body = answer.partition(b"\r\n\r\n")
    lengths = [int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
               if line.lower().startswith(b"content-length:")]
    return bool(sep) and len(body) >= (lengths[0] if lengths else 0)


def exchange(port: int, request: bytes, stream: int = 0,
             context: ssl.SSLContext | None = None) -> bytes:
    """Send ``request`` and, at the same time, up to ``stream`` more bytes while the server
    lets us (over TLS with ``context``); the server's answer."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    if context is not None:
        s = context.wrap_socket(s, server_hostname="localhost")

    def pour() -> None:
        sent = 0
        try:
            while sent < stream:
                sent += s.send(b"x" * 65536)
        except OSError:
            pass  # the server closed: the rest of the body is not wanted

    try:
        s.sendall(request)
        writer = threading.Thread(target=pour)
        writer.start()
        answer = b""
        try:
            while not complete(answer) and (chunk := s.recv(65536)):
                answer += chunk
        finally:
            writer.join(10)
        return answer
    finally:
        s.close()


class Adding:
    """An upgrade service whose ``get`` adds ``headers`` to the 101."""

    def __init__(self, *headers: tuple[str, str]) -> None:
        self.headers = headers

    def get(self, request: UpgradeRequest) -> EchoService:
        for name, value in self.headers:
            request.addResponseHeader(name, value)
        return EchoService()


class ListenerRefusalTests(ListenerMixin, TestCase):
    """Raw requests the listener must refuse; it keeps serving well-behaved peers."""

    def setUp(self) -> None:
        self.spooled: list[Any] = []
        original = tempfile.TemporaryFile

        def recording(*args: Any, **kwargs: Any) -> Any:
            self.spooled.append(args)
            return original(*args, **kwargs)

        self.patch(tempfile, "TemporaryFile", recording)  # type: ignore[attr-defined]
        return self.startListener(EchoUpgradeService())  # type: ignore[no-any-return]

    @inlineCallbacks
    def assertStillServing(self) -> Any:
        def client() -> str:
            with connect(self.url()) as ws:
                ws.send("still here")
                return str(ws.recv(timeout=5))

        self.assertEqual((yield inThread(client)), "still here")

    @inlineCallbacks
    def refused(self, request: str, body: bytes = b"", stream: int = 0) -> Any:
        answer = yield inThread(exchange, self.port, request.encode("latin-1") + body, stream)
        self.assertEqual(self.spooled, [])
        yield self.assertStillServing()
        return answer

    @inlineCallbacks
    def test_twoHosts(self) -> Any:
        """Two ``Host`` fields get 400 (RFC 9112 §3.2)."""
        answer = yield self.refused(HEAD + "Host: chat.example\r\n\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 400 "), answer)

    @inlineCallbacks
    def test_http10(self) -> Any:
        """An HTTP/1.0 upgrade request gets 400 (RFC 6455 §4.1)."""
        answer = yield self.refused(HEAD.replace("HTTP/1.1", "HTTP/1.0") + "\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.0 400 "), answer)

    @inlineCallbacks
    def test_contentLength(self) -> Any:
        """``Content-Length: 10`` plus ten bytes gets 400, not 101."""
        answer = yield self.refused(HEAD + "Content-Length: 10\r\n\r\n", b"0123456789")
        self.assertTrue(answer.startswith(b"HTTP/1.1 400 "), answer)
        self.assertTrue(answer.endswith(b"\r\n\r\nAn upgrade request has no body"), answer)

    @inlineCallbacks
    def test_chunked(self) -> Any:
        """``Transfer-Encoding: chunked`` gets 400, and no temporary file is made."""
        answer = yield self.refused(HEAD + "Transfer-Encoding: chunked\r\n\r\n",
                                    b"5\r\nhello\r\n0\r\n\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 400 "), answer)

    @inlineCallbacks
    def test_hugeBody(self) -> Any:
        """``Content-Length: 1000000000`` and a stream of bytes: the 400 arrives, the server
        closes, and nothing reaches the disk."""
        answer = yield self.refused(HEAD + "Content-Length: 1000000000\r\n\r\n", b"",
                                    stream=64 << 20)
        self.assertTrue(answer.startswith(b"HTTP/1.1 400 "), answer)


class TlsBodyTests(ListenerMixin, TestCase):
    """Over TLS the body is refused the same way."""

    @inlineCallbacks
    def test_bodyRefused(self) -> Any:
        """``Content-Length: 10`` and ten bytes over TLS get 400; a stream of bytes too."""
        spooled: list[Any] = []
        self.patch(tempfile, "TemporaryFile",  # type: ignore[attr-defined]
                   lambda *a, **k: spooled.append(a))
        listener = yield self.startListener(
            EchoUpgradeService(), secureSocket=ListenerSecureSocket(
                key=CertKey(_pki().server.cert, _pki().server.key)))
        gone: list[Deferred[None]] = []
        build = listener.site.buildProtocol

        def buildProtocol(addr: Any) -> Any:
            protocol = build(addr)
            lost = protocol.connectionLost
            closed: Deferred[None] = Deferred()
            gone.append(closed)

            def connectionLost(reason: Any) -> None:
                lost(reason)
                closed.callback(None)

            protocol.connectionLost = connectionLost
            return protocol

        self.patch(listener.site, "buildProtocol", buildProtocol)
        context = ssl.create_default_context(cafile=_pki().ca)
        for extra, body, stream in [("Content-Length: 10", b"0123456789", 0),
                                    ("Transfer-Encoding: chunked", b"", 8 << 20)]:
            answer = yield inThread(exchange, self.port,
                                    f"{HEAD}{extra}\r\n\r\n".encode() + body, stream, context)
            self.assertTrue(answer.startswith(b"HTTP/1.1 400 "), (extra, answer))
            yield gone[-1]  # the server closes its side too (TLS waits for the peer's close)
        self.assertEqual(spooled, [])


class SwitchingProtocolsTests(ListenerMixin, TestCase):
    """The 101 as the ``websockets`` client reads it."""

    @inlineCallbacks
    def test_subProtocolNotDuplicated(self) -> Any:
        """``get`` adding ``Sec-WebSocket-Protocol`` while ``subProtocols`` is set: the
        client gets a 500 refusal, not a 101 with two values."""
        upgrade = Adding(("Sec-WebSocket-Protocol", "chat"))
        bws.config.setServiceConfig(upgrade, bws.WSServiceConfig(subProtocols=["chat"]))
        yield self.startListener(upgrade)

        def client() -> int:
            try:
                with connect(self.url(), subprotocols=["chat"]):  # type: ignore[list-item]
                    return 101
            except InvalidStatus as e:
                return int(e.response.status_code)

        self.assertEqual((yield inThread(client)), 500)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)

    @inlineCallbacks
    def test_subProtocolOnce(self) -> Any:
        """With ``subProtocols`` and other added headers the client opens on the chosen
        subprotocol, reading one ``Server`` (the one ``get`` added)."""
        upgrade = Adding(("Server", "chat-server/1"), ("X-Room", "1"))
        bws.config.setServiceConfig(upgrade, bws.WSServiceConfig(subProtocols=["chat"]))
        yield self.startListener(upgrade)

        def client() -> tuple[Any, list[str]]:
            with connect(self.url(), subprotocols=["chat"]) as ws:  # type: ignore[list-item]
                assert ws.response is not None
                return ws.subprotocol, ws.response.headers.get_all("Server")

        self.assertEqual((yield inThread(client)), ("chat", ["chat-server/1"]))


class WebsocketsServer:
    """A ``websockets`` sync server in a thread that records each request it upgrades."""

    def __init__(self) -> None:
        self.requests: list[Any] = []

        def handler(ws: Any) -> None:
            self.requests.append(ws.request)
            for message in ws:
                ws.send(message)

        self.server = wsserver.serve(handler, "127.0.0.1", 0)
        self.port = self.server.socket.getsockname()[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(5)


class ClientHeadTests(TestCase):
    """bws's client, against a ``websockets`` server: the target it sends is encoded and
    each header goes out once."""

    def setUp(self) -> None:
        self.server = WebsocketsServer()
        self.addCleanup(deferToThread, self.server.stop)

    @inlineCallbacks
    def request(self, path: str, **config: Any) -> Any:
        client = yield Client.connect(f"ws://127.0.0.1:{self.server.port}{path}", **config)
        yield client.writeTextMessage("ping")
        self.assertEqual((yield client.readTextMessage()), "ping")
        yield client.close(timeout=5)
        return self.server.requests[-1]

    @inlineCallbacks
    def test_utf8Target(self) -> Any:
        """``/ws/user/albanø?q=é`` goes out as ``/ws/user/alban%C3%B8?q=%C3%A9``."""
        request = yield self.request("/ws/user/albanø?q=é")
        self.assertEqual(request.path, "/ws/user/alban%C3%B8?q=%C3%A9")

    @inlineCallbacks
    def test_spaceInPath(self) -> Any:
        """``/chat room`` goes out as ``/chat%20room``: one request line of three fields."""
        request = yield self.request("/chat room")
        self.assertEqual(request.path, "/chat%20room")

    @inlineCallbacks
    def test_customHost(self) -> Any:
        """``customHeaders`` Host and User-Agent replace the generated ones."""
        request = yield self.request("/", customHeaders={"Host": "chat.example",
                                                         "User-Agent": "my-app/2"})
        self.assertEqual(request.headers.get_all("Host"), ["chat.example"])
        self.assertEqual(request.headers.get_all("User-Agent"), ["my-app/2"])

    @inlineCallbacks
    def test_defaultHost(self) -> Any:
        """Without ``customHeaders`` one generated Host goes out, with the URL's port."""
        request = yield self.request("/")
        self.assertEqual(request.headers.get_all("Host"), [f"127.0.0.1:{self.server.port}"])


class ClientToListenerTests(ListenerMixin, TestCase):
    """bws's client and listener over TCP: the listener decodes what the client encoded."""

    @inlineCallbacks
    def test_pathParamAndQuery(self) -> Any:
        """A path parameter and a query value arrive decoded."""
        seen: list[tuple[str, str | None]] = []

        class Recording:
            def get(self, request: UpgradeRequest, name: str) -> EchoService:
                seen.append((name, request.getQueryParam("q")))
                return EchoService()

        yield self.startListener(Recording(), "/ws/user/{name}")
        client = yield Client.connect(self.url("/ws/user/albanø?q=é"))
        yield client.close(timeout=5)
        self.assertEqual(seen, [("albanø", "é")])
