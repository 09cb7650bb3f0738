"""Raw WebSocket peers in memory: bytes exactly as written, and whether TCP was reset.

A :class:`RawPeer` talks to a bws server (:func:`rawUpgrade`, on a
:class:`bws.testing.MemoryListener`), a :class:`RawServer` to a bws client
(:func:`rawServerClient`), over ``twisted.test.iosim``. Both ends use a
:class:`ResettableTransport`: its ``abortConnection`` is a TCP reset, so bytes written but not
yet moved are lost, as a real reset loses them, and the reset is recorded.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.defer import succeed
from twisted.internet.interfaces import IProtocolFactory
from twisted.internet.protocol import Protocol, connectionDone
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from twisted.test.iosim import FakeTransport, IOPump
from twisted.test.iosim import connect as iosimConnect

from bws.client import Client
from bws.testing import MemoryListener

#: The sample key of RFC 6455 §1.3.
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

UPGRADE_REQUEST = ("GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: " + KEY + "\r\n"
                   "Sec-WebSocket-Version: 13\r\n{extra}\r\n")

Frame = tuple[int, bool, bytes]


class ResettableTransport(FakeTransport):
    """An iosim transport whose ``abortConnection`` is a TCP reset: what was written and not
    yet delivered is discarded, and :attr:`aborted` records it."""

    aborted = False

    def abortConnection(self) -> None:
        self.aborted = True
        self.stream.clear()
        self.disconnecting = True


def frame(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0,
          masked: bool = True) -> bytes:
    """A frame as bytes: masked (a client's) unless ``masked`` is false (a server's)."""
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    bit = 0x80 if masked else 0
    n = len(payload)
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def parseFrame(data: bytes) -> tuple[Frame, bytes] | None:
    """``((opcode, fin, payload), rest)`` of the first frame in ``data`` (masked or not), or
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
    mask = b""
    if b1 & 0x80:
        mask = data[start:start + 4]
        start += 4
    if len(data) < start + n:
        return None
    payload = data[start:start + n]
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return (b0 & 0x0F, bool(b0 & 0x80), payload), data[start + n:]


def closePayload(code: int | None, reason: bytes = b"") -> bytes:
    """A close frame's payload: the status code (none for ``None``), then ``reason``."""
    return (b"" if code is None else struct.pack("!H", code)) + reason


def closeCode(payload: bytes) -> int | None:
    """The status code of a close frame's payload (None when it carries none)."""
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None


class RawPeer(Protocol):
    """A peer writing raw bytes; what the other end sends is kept in :attr:`received`.

    :ivar lostReason: the ``Failure`` the connection ended with, or None while it is open.
    :ivar transport: its :class:`ResettableTransport`.
    :ivar otherTransport: the bws end's :class:`ResettableTransport` (``aborted``: it reset).
    """

    masked = True
    otherTransport: ResettableTransport

    def __init__(self) -> None:
        self.received = b""
        self.lostReason: Failure | None = None

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.lostReason = reason

    def send(self, data: bytes) -> None:
        """Write bytes (they reach the other end on the next flush)."""
        self.transport.write(data)  # type: ignore[union-attr]

    def sendFrame(self, opcode: int, payload: bytes, fin: bool = True, rsv: int = 0) -> None:
        """Write one frame, masked as this end must (RFC 6455 §5.3)."""
        self.send(frame(opcode, payload, fin, rsv, self.masked))

    def sendClose(self, payload: bytes) -> None:
        """Write a close frame carrying ``payload`` as it is (well-formed or not)."""
        self.sendFrame(8, payload)

    def takeHead(self) -> bytes:
        """Consume and return the HTTP head at the start of what was received."""
        head, separator, rest = self.received.partition(b"\r\n\r\n")
        if not separator:
            raise AssertionError(f"no complete HTTP head in {self.received[:200]!r}")
        self.received = rest
        return head + separator

    def takeFrames(self) -> list[Frame]:
        """Consume and return every complete frame received so far."""
        frames = []
        while True:
            parsed = parseFrame(self.received)
            if parsed is None:
                return frames
            found, self.received = parsed
            frames.append(found)

    @property
    def disconnected(self) -> bool:
        """Whether TCP is gone."""
        return self.lostReason is not None

    @property
    def wasReset(self) -> bool:
        """Whether the bws end reset TCP (``abortConnection``) instead of closing it."""
        return self.otherTransport.aborted


def _pair(serverProto: Any, clientProto: Any, clock: MemoryReactorClock,
          port: int) -> tuple[ResettableTransport, ResettableTransport, IOPump]:
    clientAddress = IPv4Address("TCP", "127.0.0.1", port)
    serverAddress = IPv4Address("TCP", "127.0.0.1", 9090)
    serverTransport = ResettableTransport(serverProto, True, serverAddress, clientAddress)
    clientTransport = ResettableTransport(clientProto, False, clientAddress, serverAddress)
    pump = iosimConnect(serverProto, serverTransport, clientProto, clientTransport,
                        greet=False, clock=clock)
    return serverTransport, clientTransport, pump


def rawUpgrade(listener: MemoryListener, path: str = "/", extra: str = "") -> RawPeer:
    """A :class:`RawPeer` whose upgrade to ``listener`` succeeded (the 101 is consumed).

    :param extra: more request header lines, each ending ``\\r\\n``.
    """
    peer = RawPeer()
    serverProto = listener.listener.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
    serverTransport, _, pump = _pair(serverProto, peer, listener.clock,
                                     40000 + len(listener.pumps))
    peer.otherTransport = serverTransport
    listener.pumps.append(pump)
    peer.send(UPGRADE_REQUEST.format(path=path, extra=extra).encode())
    listener.flush()
    head = peer.takeHead()
    if not head.startswith(b"HTTP/1.1 101"):
        raise AssertionError(head.decode("latin-1"))
    return peer


class RawServer(RawPeer):
    """A server that answers any upgrade request 101 (with ``extensions``, if given), then
    writes raw unmasked frames."""

    masked = False

    def __init__(self, extensions: str | None = None) -> None:
        super().__init__()
        self.extensions = extensions
        self.request = b""
        self.upgraded = False

    def dataReceived(self, data: bytes) -> None:
        if self.upgraded:
            self.received += data
            return
        self.request += data
        head, separator, rest = self.request.partition(b"\r\n\r\n")
        if not separator:
            return
        key = next(line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
                   if line.lower().startswith(b"sec-websocket-key:"))
        accept = base64.b64encode(hashlib.sha1(key + GUID.encode()).digest()).decode()
        answer = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n")
        if self.extensions:
            answer += f"Sec-WebSocket-Extensions: {self.extensions}\r\n"
        self.upgraded = True
        self.send((answer + "\r\n").encode())
        self.received += rest


class RawServerConnection:
    """A bws :class:`~bws.client.Client` connected in memory to a :class:`RawServer`.

    :ivar client: the open client.
    :ivar server: the raw server.
    :ivar clock: the clock both use.
    """

    def __init__(self, client: Client, server: RawServer, pump: IOPump,
                 clock: MemoryReactorClock) -> None:
        self.client = client
        self.server = server
        self.pump = pump
        self.clock = clock

    def flush(self) -> None:
        """Move bytes both ways until nothing moves."""
        self.pump.flush()

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass, moving bytes before and after."""
        self.pump.flush()
        self.clock.advance(seconds)
        self.pump.flush()


def rawServerClient(extensions: str | None = None, **clientConfig: Any) -> RawServerConnection:
    """A bws client connected to a :class:`RawServer`, synchronously.

    :param extensions: the ``Sec-WebSocket-Extensions`` the server answers with.
    :param clientConfig: :class:`bws.ClientConfiguration` fields.
    """
    clock = MemoryReactorClock()
    server = RawServer(extensions)
    pumps: list[IOPump] = []

    def connector(factory: IProtocolFactory) -> Any:
        clientProto = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 9090))
        _, clientTransport, pump = _pair(server, clientProto, clock, 40000)
        server.otherTransport = clientTransport
        pumps.append(pump)
        return succeed(clientProto)

    d = Client.connect("ws://127.0.0.1:9090/", reactor=clock, connector=connector,
                       **clientConfig)
    pumps[0].flush()
    results: list[Any] = []
    d.addBoth(results.append)
    if not results or isinstance(results[0], Failure):
        raise AssertionError(f"the handshake did not complete: {results}")
    return RawServerConnection(results[0], server, pumps[0], clock)
