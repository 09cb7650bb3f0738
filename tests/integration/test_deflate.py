# -*- test-case-name: tests.integration.test_deflate -*-
"""permessage-deflate windows of 8 bits against a ``websockets`` peer on loopback (RFC 7692
§7.1.2), both ends."""

from __future__ import annotations

import random
import threading
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.sync.client import connect
from websockets.sync.server import ServerConnection, serve

import bws
from bws.testing.echo import EchoUpgradeService

#: Text whose repeats are 600 bytes apart: a sender whose window is 8 bits (256 bytes)
#: cannot refer back to them, so an inflater with an 8-bit window fails if one did.
TEXT = random.Random(5).randbytes(300).hex() * 6


class ServerTests(TestCase):
    """A bws listener and a ``websockets`` client asking for small windows."""

    @inlineCallbacks
    def listen(self) -> Any:
        listener = bws.Listener(0, host="127.0.0.1", reactor=reactor)
        listener.attach(EchoUpgradeService(), "/")
        yield listener.start()
        self.addCleanup(listener.immediateStop)
        self.url = f"ws://127.0.0.1:{listener.listeningPort}/"

    def echo(self, factory: ClientPerMessageDeflateFactory) -> tuple[list[str], list[str]]:
        with connect(self.url, compression=None, extensions=[factory], open_timeout=5,
                     close_timeout=5) as ws:
            answers = []
            for _ in range(3):
                ws.send(TEXT)
                answers.append(str(ws.recv(timeout=5)))
            return [repr(e) for e in ws.protocol.extensions], answers

    @inlineCallbacks
    def test_serverWindowEight(self) -> Any:
        """``server_max_window_bits=8`` is accepted with that value: the client inflates
        every echo with an 8-bit window."""
        yield self.listen()
        extensions, answers = yield deferToThread(
            self.echo, ClientPerMessageDeflateFactory(server_max_window_bits=8))
        self.assertEqual(len(extensions), 1)
        self.assertIn("remote_max_window_bits=8", extensions[0])
        self.assertEqual(answers, [TEXT] * 3)

    @inlineCallbacks
    def test_clientWindowEightOffered(self) -> Any:
        """An offer of ``client_max_window_bits=8`` opens with compression, even from a
        client that then deflates with 9 bits (zlib cannot do 8): bws inflates with the
        largest window."""
        yield self.listen()
        factory = ClientPerMessageDeflateFactory(client_max_window_bits=9)
        factory.get_request_params = lambda: [  # type: ignore[method-assign]
            ("client_max_window_bits", "8")]
        extensions, answers = yield deferToThread(self.echo, factory)
        self.assertEqual(len(extensions), 1)
        self.assertIn("local_max_window_bits=9", extensions[0])
        self.assertEqual(answers, [TEXT] * 3)


class ClientTests(TestCase):
    """A bws client and a ``websockets`` server limiting the client's window to 8 bits."""

    def serve(self, factory: ServerPerMessageDeflateFactory) -> str:
        def handler(ws: ServerConnection) -> None:
            for message in ws:
                ws.send(message)

        server = serve(handler, "127.0.0.1", 0, compression=None, extensions=[factory])
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()

        def stop() -> None:
            server.shutdown()
            thread.join(5)

        self.addCleanup(deferToThread, stop)  # it waits for its connections' threads
        return f"ws://127.0.0.1:{server.socket.getsockname()[1]}/"

    @inlineCallbacks
    def test_clientWindowEight(self) -> Any:
        """``client_max_window_bits=8`` in the answer opens, and the server inflates the
        client's messages with an 8-bit window."""
        url = self.serve(ServerPerMessageDeflateFactory(client_max_window_bits=8))
        client = yield bws.Client.connect(url, handShakeTimeout=5)
        self.addCleanup(client.close, 1000, None, 5)
        header = client.getHttpResponse().getHeader("Sec-WebSocket-Extensions")
        self.assertEqual(header, "permessage-deflate; client_max_window_bits=8")
        for _ in range(3):
            yield client.writeTextMessage(TEXT)
            answer = yield client.readTextMessage()
            self.assertEqual(answer, TEXT)

    @inlineCallbacks
    def test_serverNoContextTakeover(self) -> Any:
        """A server that asks for no context takeover both ways, with small windows."""
        url = self.serve(ServerPerMessageDeflateFactory(
            server_no_context_takeover=True, client_no_context_takeover=True,
            server_max_window_bits=9, client_max_window_bits=8))
        client = yield bws.Client.connect(url, handShakeTimeout=5)
        self.addCleanup(client.close, 1000, None, 5)
        for _ in range(3):
            yield client.writeTextMessage(TEXT)
            answer = yield client.readTextMessage()
            self.assertEqual(answer, TEXT)
