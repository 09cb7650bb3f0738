"""A bws client refused on a loopback socket, by bws's own Listener (``UpgradeError``) and by
the ``websockets`` server: the server's reason (the refusal's body) is in the
``InvalidHandshakeError`` and its ``response``."""

from __future__ import annotations

import http
import threading
from typing import Any

import websockets.sync.server as wsserver
from twisted.internet import reactor as globalReactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

import bws


class WebsocketsRefusalTests(TestCase):
    """``websockets``' ``process_request`` refusals, as a bws client sees them."""

    timeout = 20

    def serve(self, status: http.HTTPStatus, body: str) -> int:
        def refuse(connection: Any, request: Any) -> Any:
            return connection.respond(status, body)

        server = wsserver.serve(lambda ws: None, "127.0.0.1", 0, process_request=refuse)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()

        def stop() -> None:
            server.shutdown()
            thread.join(5)

        self.addCleanup(deferToThread, stop)
        return int(server.socket.getsockname()[1])

    @inlineCallbacks
    def test_reasonInError(self) -> Any:
        """A 403 with body ``room is closed\\n``: the message ends with the reason, the
        response keeps the body's bytes."""
        port = self.serve(http.HTTPStatus.FORBIDDEN, "room is closed\n")
        error = yield self.assertFailure(
            bws.Client.connect(f"ws://127.0.0.1:{port}/", handShakeTimeout=10),
            bws.InvalidHandshakeError)
        self.assertEqual(str(error),
                         "Invalid handshake response getStatus: 403 Forbidden: room is closed")
        self.assertEqual(error.response.statusCode, 403)
        self.assertEqual(error.response.body, b"room is closed\n")

    @inlineCallbacks
    def test_serviceUnavailable(self) -> Any:
        """A 503 with a longer reason arrives whole."""
        reason = "maintenance until 14:00 UTC; " * 20
        port = self.serve(http.HTTPStatus.SERVICE_UNAVAILABLE, reason)
        error = yield self.assertFailure(
            bws.Client.connect(f"ws://127.0.0.1:{port}/", handShakeTimeout=10),
            bws.InvalidHandshakeError)
        self.assertEqual(error.response.body, reason.encode())
        self.assertTrue(str(error).startswith(
            "Invalid handshake response getStatus: 503 Service Unavailable: maintenance"))


class BwsListenerRefusalTests(TestCase):
    """``UpgradeError("room is closed")`` raised in ``get`` of a service on a bws Listener."""

    timeout = 20

    @inlineCallbacks
    def test_reasonInError(self) -> Any:
        """The client's error ends with the reason; its response is the 400 with that body."""
        class Closed:
            def get(self, request: Any) -> Any:
                raise bws.UpgradeError("room is closed")

        listener = bws.Listener(0, host="127.0.0.1", reactor=globalReactor)
        listener.attach(Closed(), "/room")
        yield listener.start()
        self.addCleanup(listener.immediateStop)
        error = yield self.assertFailure(
            bws.Client.connect(f"ws://127.0.0.1:{listener.listeningPort}/room",
                               handShakeTimeout=10),
            bws.InvalidHandshakeError)
        self.assertEqual(str(error), "Invalid handshake response getStatus: 400 Bad Request: "
                                     "room is closed")
        self.assertEqual(error.response.statusCode, 400)
        self.assertEqual(error.response.body, b"room is closed")
