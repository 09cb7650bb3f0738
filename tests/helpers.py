"""Shared test helpers: an upgrade service, WebSocket frames as bytes, and a raw peer in memory.

``RawPeer`` speaks bytes to a :class:`bws.testing.MemoryListener` over ``twisted.test.iosim``:
an upgrade request written by hand, frames built by :func:`frame`, the server's answer parsed
back. Bytes move on ``listener.flush()`` and time on ``listener.advance()``, as for a client.
"""

from __future__ import annotations

import os
import struct
from typing import Any

from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.python.failure import Failure
from zope.interface import implementer

import bws
from bws.testing import MemoryListener

#: The sample key of RFC 6455 §1.3.
KEY = "dGhlIHNhbXBsZSBub25jZQ=="

UPGRADE_REQUEST = ("GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{{extra}}\r\n")


@implementer(bws.IUpgradeService)
class Upgrade:
    """An upgrade service returning ``service`` (or what ``make`` builds) for every request."""

    def __init__(self, service: Any = None, make: Any = None) -> None:
        self.service = service
        self.make = make
        self.requests: list[Any] = []

    def get(self, request: Any) -> Any:
        self.requests.append(request)
        return self.make() if self.make is not None else self.service


class Recorder:
    """A service that records every callback it receives (and echoes messages)."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.caller: Any = None

    def onOpen(self, caller: Any) -> None:
        self.caller = caller
        self.events.append(("open",))

    def onTextMessage(self, caller: Any, text: str) -> str:
        self.events.append(("text", text))
        return text

    def onBinaryMessage(self, caller: Any, data: bytes) -> bytes:
        self.events.append(("binary", data))
        return data

    def onClose(self, caller: Any, statusCode: int, reason: str) -> None:
        self.events.append(("close", statusCode, reason))

    def onError(self, caller: Any, error: Exception) -> None:
        self.events.append(("error", error))


def frame(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0) -> bytes:
    """A masked client frame."""
    mask = os.urandom(4)
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    key = (mask * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
    return head + mask + masked


def parseFrame(data: bytes) -> tuple[tuple[int, bool, bytes], bytes] | None:
    """``((opcode, fin, payload), rest)`` of the first unmasked server frame in ``data``, or
    None while it is incomplete."""
    if len(data) < 2:
        return None
    b0, b1 = data[0], data[1]
    n = b1 & 0x7F
    start = 2
    if n == 126:
        if len(data) < 4:
            return None
        n = struct.unpack("!H", data[2:4])[0]
        start = 4
    elif n == 127:
        if len(data) < 10:
            return None
        n = struct.unpack("!Q", data[2:10])[0]
        start = 10
    if len(data) < start + n:
        return None
    return (b0 & 0x0F, bool(b0 & 0x80), data[start:start + n]), data[start + n:]


def closeCode(payload: bytes) -> int | None:
    """The status code of a close frame's payload (None when it carries none)."""
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None


def closePayload(code: int, reason: str = "") -> bytes:
    """A close frame's payload: status code, then the UTF-8 reason."""
    return struct.pack("!H", code) + reason.encode("utf-8")


class RawPeer(Protocol):
    """A peer writing raw bytes; what the server answers is kept in :attr:`received`.

    :ivar lostReason: the ``Failure`` the connection ended with, or None while it is open.
    """

    def __init__(self) -> None:
        self.received = b""
        self.lostReason: Failure | None = None

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.lostReason = reason

    def send(self, data: bytes) -> None:
        """Write bytes (they reach the server on the next flush)."""
        self.transport.write(data)  # type: ignore[union-attr]

    def sendUpgrade(self, path: str = "/", extra: str = "") -> None:
        """Write a WebSocket upgrade request for ``path`` with ``extra`` header lines."""
        self.send(UPGRADE_REQUEST.format(path=path, extra=extra).encode())

    def takeHead(self) -> bytes:
        """Consume and return the HTTP response head (through the blank line)."""
        head, separator, rest = self.received.partition(b"\r\n\r\n")
        if not separator:
            raise AssertionError(f"no complete HTTP head in {self.received[:200]!r}")
        self.received = rest
        return head + separator

    def takeFrames(self) -> list[tuple[int, bool, bytes]]:
        """Consume and return every complete server frame received so far."""
        frames = []
        while True:
            parsed = parseFrame(self.received)
            if parsed is None:
                return frames
            found, self.received = parsed
            frames.append(found)

    @property
    def disconnected(self) -> bool:
        return self.lostReason is not None


def rawConnect(listener: MemoryListener) -> RawPeer:
    """A :class:`RawPeer` connected to ``listener`` in memory (nothing sent yet)."""
    peer = RawPeer()
    listener._connector(Factory.forProtocol(lambda: peer))
    return peer


def rawUpgrade(listener: MemoryListener, path: str = "/", extra: str = "") -> RawPeer:
    """A :class:`RawPeer` whose upgrade succeeded (the 101 head is consumed)."""
    peer = rawConnect(listener)
    peer.sendUpgrade(path, extra)
    listener.flush()
    head = peer.takeHead()
    if not head.startswith(b"HTTP/1.1 101"):
        raise AssertionError(head.decode("latin-1"))
    return peer


def httpAnswer(listener: MemoryListener, request: bytes) -> bytes:
    """Everything the server answers to the raw ``request`` bytes, in memory."""
    peer = rawConnect(listener)
    peer.send(request)
    listener.flush()
    return peer.received
