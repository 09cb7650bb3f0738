"""Keepalive on real loopback sockets: a raw peer that never answers, ``websockets`` peers."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import struct
import threading
from typing import Any

import websockets.sync.client as wsclient
import websockets.sync.server as wsserver
from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

import bws
from bws._connection import KEEPALIVE_PREFIX
from bws.config import setServiceConfig

#: Short enough for a test: a dead peer is closed within a second.
FAST = {"pingInterval": 0.2, "pingTimeout": 0.2, "connectionClosureTimeout": 0.2}


class Service:
    def __init__(self) -> None:
        self.closed: Deferred[tuple[int, str]] = Deferred()

    def onTextMessage(self, caller: Any, text: str) -> str:
        return text

    def onClose(self, caller: Any, code: int, reason: str) -> None:
        self.closed.callback((code, reason))


class Upgrade:
    def __init__(self, service: Any, **config: Any) -> None:
        self.service = service
        setServiceConfig(self, bws.WSServiceConfig(**config))

    def get(self, request: Any) -> Any:
        return self.service


def silentPeer(port: int) -> bytes:
    """Upgrade, then read until the server hangs up, answering nothing: what came after
    the 101."""
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall((f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return rest


def frames(data: bytes) -> list[tuple[int, bytes]]:
    """``(opcode, payload)`` of short frames, masked (client) or not (server)."""
    out = []
    while len(data) >= 2:
        opcode = data[0] & 0x0F
        length = data[1] & 0x7F
        if data[1] & 0x80:
            mask = data[2:6]
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(data[6:6 + length]))
            data = data[6 + length:]
        else:
            payload = data[2:2 + length]
            data = data[2 + length:]
        out.append((opcode, payload))
    return out


class DeadServer(Protocol):
    """Answers the upgrade with a 101, then reads everything and answers nothing."""

    def connectionMade(self) -> None:
        self.buffer = b""
        self.upgraded = False
        self.lost: Deferred[bytes] = self.factory.lost  # type: ignore[attr-defined]

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded and b"\r\n\r\n" in self.buffer:
            head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            key = next(line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
                       if line.lower().startswith(b"sec-websocket-key:"))
            accept = base64.b64encode(hashlib.sha1(
                key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
            self.transport.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept
                                 + b"\r\n\r\n")
            self.upgraded = True

    def connectionLost(self, reason: Any) -> None:
        self.lost.callback(self.buffer)


class ServerTests(TestCase):
    """A bws server's keepalive against peers it did not write."""

    timeout = 20

    @inlineCallbacks
    def listen(self, upgrade: Any) -> Any:
        listener = bws.Listener(0, host="127.0.0.1")
        listener.attach(upgrade, "/")
        yield listener.start()
        self.addCleanup(listener.immediateStop)
        return listener.listeningPort

    @inlineCallbacks
    def test_silentPeerClosed1011(self) -> Any:
        """A peer that answers nothing gets a ping, then a 1011 close "keepalive ping
        timeout", then the server drops TCP; ``onClose`` reports 1006."""
        service = Service()
        port = yield self.listen(Upgrade(service, **FAST))
        received = yield deferToThread(silentPeer, port)
        got = frames(received)
        self.assertEqual(got[0][0], 0x9)
        self.assertTrue(got[0][1].startswith(KEEPALIVE_PREFIX))
        self.assertEqual(got[-1], (0x8, struct.pack("!H", 1011) + b"keepalive ping timeout"))
        self.assertEqual((yield service.closed), (1006, "Connection closed abnormally"))

    @inlineCallbacks
    def test_websocketsClientAnswers(self) -> Any:
        """The ``websockets`` client answers the keepalive pings: after many intervals of
        silence the connection still echoes."""
        port = yield self.listen(Upgrade(Service(), **FAST))

        def peer() -> str:
            with wsclient.connect(f"ws://127.0.0.1:{port}/", ping_interval=None) as ws:
                try:
                    ws.recv(timeout=1.5)
                except TimeoutError:
                    pass
                ws.send("still here")
                return str(ws.recv(timeout=5))

        self.assertEqual((yield deferToThread(peer)), "still here")


class ClientTests(TestCase):
    """A bws client's keepalive against the ``websockets`` server."""

    timeout = 20

    def serve(self, **options: Any) -> int:
        def handler(ws: Any) -> None:
            for message in ws:
                ws.send(message)

        server = wsserver.serve(handler, "127.0.0.1", 0, ping_interval=None, **options)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()

        def stop() -> None:
            server.shutdown()
            thread.join(5)

        self.addCleanup(deferToThread, stop)
        return int(server.socket.getsockname()[1])

    @inlineCallbacks
    def test_websocketsServerAnswers(self) -> Any:
        """The ``websockets`` server answers the client's keepalive pings: after many
        intervals of silence the connection still echoes."""
        port = self.serve()
        client = yield bws.Client.connect(f"ws://127.0.0.1:{port}/", pingInterval=0.2,
                                          pingTimeout=0.2, readTimeout=1.5)
        self.addCleanup(client.close, 1000)
        yield self.assertFailure(client.readTextMessage(), bws.ReadTimeoutError)
        self.assertTrue(client.isOpen())
        yield client.writeTextMessage("still here")
        self.assertEqual((yield client.readTextMessage()), "still here")

    @inlineCallbacks
    def test_deadServerClosed1011(self) -> Any:
        """A server that answers nothing gets a ping, then a 1011 close "keepalive ping
        timeout", then the client drops TCP; a pending read ends with 1006."""
        factory = Factory.forProtocol(DeadServer)
        factory.lost = Deferred()  # type: ignore[attr-defined]
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")  # type: ignore[attr-defined]
        self.addCleanup(port.stopListening)
        client = yield bws.Client.connect(f"ws://127.0.0.1:{port.getHost().port}/",
                                          pingInterval=0.2, pingTimeout=0.2)
        read = client.readTextMessage()
        received = yield factory.lost  # type: ignore[attr-defined]
        got = frames(received)
        self.assertEqual(got[0][0], 0x9)
        self.assertTrue(got[0][1].startswith(KEEPALIVE_PREFIX))
        self.assertEqual(got[-1], (0x8, struct.pack("!H", 1011) + b"keepalive ping timeout"))
        error = yield self.assertFailure(read, bws.ConnectionClosureError)
        self.assertEqual(str(error), "Connection closed Status code: 1006")
