"""``bws.Client`` on loopback: against bws's own Listener and the independent ``websockets`` server.

Every wait is on an event the code fires: a Deferred of the client, or a ``threading.Event`` the
``websockets`` server sets, waited for off the reactor thread.
"""

from __future__ import annotations

import threading
from typing import Any

import websockets.sync.server as wsserver
from twisted.internet import reactor as globalReactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase
from websockets.exceptions import ConnectionClosed

import bws
from bws.client import Client
from bws.testing.echo import EchoUpgradeService


class LoopbackBwsTests(TestCase):
    """The client against bws's Listener on a real loopback socket."""

    @inlineCallbacks
    def setUp(self) -> Any:
        self.listener = bws.Listener(0, host="127.0.0.1", reactor=globalReactor)
        self.listener.attach(EchoUpgradeService(), "/echo")
        yield self.listener.start()
        self.addCleanup(self.listener.immediateStop)
        self.url = f"ws://127.0.0.1:{self.listener.listeningPort}/echo"

    @inlineCallbacks
    def test_echoAndClose(self) -> Any:
        """Text and binary echo, then a clean close."""
        client = yield Client.connect(self.url)
        yield client.writeTextMessage("hi")
        self.assertEqual((yield client.readTextMessage()), "hi")
        yield client.writeBinaryMessage(b"\xff")
        self.assertEqual((yield client.readBinaryMessage()), b"\xff")
        yield client.close(1000, "bye", timeout=5)
        self.assertFalse(client.isOpen())

    async def asyncEcho(self) -> str:
        client = await Client.connect(self.url)
        await client.writeTextMessage("async")
        text: str = await client.readTextMessage()
        await client.close(timeout=5)
        return text

    def test_asyncAwait(self) -> Any:
        """The client works from ``async def`` with ``await``."""
        d = Deferred.fromCoroutine(self.asyncEcho())
        return d.addCallback(self.assertEqual, "async")

    @inlineCallbacks
    def test_compressionNegotiated(self) -> Any:
        """permessage-deflate is offered and a large message survives it."""
        client = yield Client.connect(self.url, maxFrameSize=1000, maxMessageSize=1 << 20)
        header = client.getHttpResponse().getHeader("sec-websocket-extensions")
        self.assertIn("permessage-deflate", header)
        text = "é" * 30000
        yield client.writeTextMessage(text)
        self.assertEqual((yield client.readTextMessage()), text)
        yield client.close(timeout=5)

    @inlineCallbacks
    def test_refused(self) -> Any:
        """A refused connection without retries is a ConnectionError."""
        yield self.listener.immediateStop()
        with self.assertRaises(bws.ConnectionError):
            yield Client.connect(self.url)


class WebsocketsServer:
    """A ``websockets`` sync server in a thread; behaviour chosen by request path."""

    def __init__(self) -> None:
        self.connections = 0
        #: Set once a client answered the ping of ``/ping``.
        self.ponged = threading.Event()
        #: Set when the second connection opens (a client came back after a drop).
        self.reconnected = threading.Event()

        def handler(ws: Any) -> None:
            self.connections += 1
            if self.connections == 2:
                self.reconnected.set()
            try:
                serve(ws, ws.request.path)
            except ConnectionClosed:
                pass  # the client closed or dropped first: nothing left to say

        def serve(ws: Any, path: str) -> None:
            if path == "/headers":
                ws.send(ws.request.headers.get("Cookie", "") + "|"
                        + ws.request.headers.get("X-Test", ""))
                ws.recv()
            elif path == "/close":
                ws.close(4002, "server says bye")
            elif path == "/ping":
                pong = ws.ping(b"hello")
                answered = pong.wait(5)
                if answered:
                    self.ponged.set()
                ws.send("pong" if answered else "no pong")
                ws.recv()
            elif path == "/drop-once" and self.connections == 1:
                ws.recv()
                ws.socket.close()
            else:
                for message in ws:
                    ws.send(message)

        def processRequest(ws: Any, request: Any) -> Any:
            if request.path == "/forbidden":
                return ws.respond(403, "no\n")
            return None

        def processResponse(ws: Any, request: Any, response: Any) -> Any:
            if response.status_code == 101:
                response.headers["Set-Cookie"] = "sid=42; Path=/"
            return response

        def select(ws: Any, protocols: Any) -> Any:
            return "chat" if "chat" in protocols else None

        self.server = wsserver.serve(handler, "127.0.0.1", 0, process_request=processRequest,
                                     process_response=processResponse,
                                     select_subprotocol=select, subprotocols=["chat"])
        self.port = self.server.socket.getsockname()[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(5)


class InteropTests(TestCase):
    """The client against the independent ``websockets`` server."""

    def setUp(self) -> None:
        self.server = WebsocketsServer()
        # Stop it from a thread: it waits for connections the reactor must close.
        self.addCleanup(deferToThread, self.server.stop)

    @inlineCallbacks
    def test_echo(self) -> Any:
        """Text (fragmented at maxFrameSize) and binary messages echo."""
        client = yield Client.connect(self.server.url("/echo"), maxFrameSize=100,
                                      maxMessageSize=1 << 20)
        text = "ü€" * 1000
        yield client.writeTextMessage(text)
        self.assertEqual((yield client.readTextMessage()), text)
        yield client.writeBinaryMessage(b"\x00" * 500)
        self.assertEqual((yield client.readBinaryMessage()), b"\x00" * 500)
        yield client.close(timeout=5)

    @inlineCallbacks
    def test_subProtocol(self) -> Any:
        """The subprotocol websockets picks is reported."""
        client = yield Client.connect(self.server.url("/echo"), subProtocols=["chat"])
        self.assertEqual(client.getNegotiatedSubProtocol(), "chat")
        yield client.close(timeout=5)

    @inlineCallbacks
    def test_subProtocolMissing(self) -> Any:
        """No subprotocol picked fails the handshake."""
        with self.assertRaises(bws.InvalidHandshakeError) as e:
            yield Client.connect(self.server.url("/echo"), subProtocols=["xml"])
        self.assertEqual(str(e.exception),
                         "Invalid subprotocol. Actual: null. Expected one of: xml")

    @inlineCallbacks
    def test_headersAndCookies(self) -> Any:
        """Custom headers and cookies reach the server; its Set-Cookie is readable."""
        client = yield Client.connect(self.server.url("/headers"),
                                      customHeaders={"X-Test": "yes"},
                                      cookies=[("a", "1"), ("b", "2")])
        self.assertEqual((yield client.readTextMessage()), "a=1; b=2|yes")
        self.assertEqual(client.getHttpResponse().cookies, {"sid": "42"})
        yield client.close(timeout=5)

    @inlineCallbacks
    def test_forbidden(self) -> Any:
        """A 403 answer is an InvalidHandshakeError with the response attached."""
        with self.assertRaises(bws.InvalidHandshakeError) as e:
            yield Client.connect(self.server.url("/forbidden"), retryConfig={"interval": 0.01})
        self.assertIn("403", str(e.exception))
        self.assertEqual(e.exception.response.statusCode, 403)  # type: ignore[attr-defined]

    @inlineCallbacks
    def test_serverClose(self) -> Any:
        """A server close ends the pending read with its reason and code."""
        client = yield Client.connect(self.server.url("/close"))
        with self.assertRaises(bws.ConnectionClosureError) as e:
            yield client.readMessage()
        self.assertEqual(str(e.exception), "server says bye: Status code: 4002")

    @inlineCallbacks
    def test_autoPong(self) -> Any:
        """A ping from websockets is answered with no read pending."""
        client = yield Client.connect(self.server.url("/ping"))
        # No read is pending while the server waits for its pong.
        self.assertTrue((yield deferToThread(self.server.ponged.wait, 30)))
        self.assertEqual((yield client.readTextMessage()), "pong")
        yield client.close(timeout=5)

    @inlineCallbacks
    def test_dropRetried(self) -> Any:
        """A drop during a pending read reconnects and keeps waiting."""
        client = yield Client.connect(self.server.url("/drop-once"),
                                      retryConfig={"interval": 0.01})
        yield client.writeTextMessage("one")
        reading = client.readTextMessage()
        # The server drops the first connection after "one"; write once the client is back.
        self.assertTrue((yield deferToThread(self.server.reconnected.wait, 30)))
        yield client.writeTextMessage("two")
        self.assertEqual((yield reading), "two")
        yield client.close(timeout=5)
