"""Integration helpers: a bws listener on loopback, and raw-socket peers run in threads.

Every wait is on an event: a thread's result (``inThread``), a socket's answer or its end of
file. Nothing sleeps. Socket timeouts (``BOUND``) are only bounds for a test gone wrong: they
are generous, so that a loaded machine running the suite in parallel does not reach them.
"""

from __future__ import annotations

import base64
import os
import socket
from typing import Any

from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.task import Clock
from twisted.internet.threads import deferToThread

import bws
from tests.helpers import closeCode

#: Seconds a socket operation may block before a test gives up on its peer.
BOUND = 30.0

__all__ = ["ListenerMixin", "inThread", "rawUpgrade", "httpRequest", "readFrame",
           "answeringCloseCode"]


class ListenerMixin:
    """Starts a bws ``Listener`` on 127.0.0.1:0 and stops it at cleanup.

    The listener's timers (upgrade deadline, close waits, idle) run on a ``Clock`` of the
    test, not on the wall clock: a loaded machine cannot make one fire in the middle of an
    exchange (a close wait that ends in an abort would reset the socket before the peer has
    read the close frame). Time itself is tested in memory, in ``tests.server``.
    """

    @inlineCallbacks
    def startListener(self, upgrade: Any, path: str = "/", clock: Any = None,
                      **config: Any) -> Any:
        self.clock = clock if clock is not None else Clock()
        listener = bws.Listener(0, host="127.0.0.1", clock=self.clock, **config)
        listener.attach(upgrade, path)
        yield listener.start()
        self.addCleanup(listener.immediateStop)  # type: ignore[attr-defined]
        self.listener = listener
        self.port = listener.listeningPort
        return listener

    def url(self, path: str = "/") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"


def inThread(fn: Any, *args: Any, **kwargs: Any) -> Deferred[Any]:
    """Run a blocking peer (websockets' sync client, a raw socket) off the reactor thread."""
    return deferToThread(fn, *args, **kwargs)


def rawUpgrade(port: int, path: str = "/", extra: str = "",
               timeout: float = BOUND) -> socket.socket:
    """A raw socket that has completed a WebSocket handshake (the 101 is consumed)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               f"Sec-WebSocket-Version: 13\r\n{extra}\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            raise ConnectionError("closed during handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(head.decode("latin-1"))
    return s


def httpRequest(port: int, request: bytes, timeout: float = BOUND) -> bytes:
    """Send raw request bytes; return the server's whole answer.

    The answer is whole at the end of its head for a 101 (the connection then belongs to
    WebSocket), once ``Content-Length`` bytes of body arrived, or when the server closes.
    """
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(request)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data:
                head, _, body = data.partition(b"\r\n\r\n")
                if head.startswith(b"HTTP/1.1 101"):
                    break
                length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")]
                if length and len(body) >= length[0]:
                    break
        return data
    finally:
        s.close()


def readFrame(s: socket.socket) -> tuple[int, bool, bytes]:
    """(opcode, fin, payload) of one unmasked server frame."""
    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = s.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    b0, b1 = exactly(2)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(exactly(2), "big")
    elif n == 127:
        n = int.from_bytes(exactly(8), "big")
    return b0 & 0x0F, bool(b0 & 0x80), exactly(n)


def answeringCloseCode(port: int, data: bytes, extra: str = "") -> int | None:
    """Upgrade, send ``data``, and return the close code of the server's answer (None if
    its first frame is not a close)."""
    s = rawUpgrade(port, extra=extra)
    try:
        try:
            s.sendall(data)
        except OSError:
            pass  # the server may refuse before it has read everything
        op, _, payload = readFrame(s)
        return closeCode(payload) if op == 8 else None
    finally:
        s.close()
