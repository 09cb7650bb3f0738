# -*- test-case-name: tests.client.test_deflate -*-
"""permessage-deflate at the client (RFC 7692): the server's answer judged against the
offer, nothing lost at a DEFLATE stream's edges, limits counted in inflated bytes; a raw
server in memory."""

from __future__ import annotations

import base64
import hashlib
import random
import struct
import zlib
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IProtocolFactory
from twisted.internet.protocol import Protocol
from twisted.internet.testing import MemoryReactorClock
from twisted.test.iosim import FakeTransport, IOPump
from twisted.test.iosim import connect as iosimConnect
from twisted.trial.unittest import SynchronousTestCase

from bws._deflate import CLIENT_OFFER, Agreement, NegotiationError, checkAnswer
from bws.client import Client
from bws.errors import InvalidHandshakeError

#: RFC 7692 §7.2.3.4's "Hello" ending with a final block, byte for byte.
HELLO_FINAL = bytes.fromhex("f348cdc9c9070000")
#: RFC 7692 §7.2.3.1's "Hello", sync-flushed, trailer removed.
HELLO = bytes.fromhex("f248cdc9c90700")
TAIL = b"\x00\x00\xff\xff"
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def deflate(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return (c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]


def frame(first: int, payload: bytes) -> bytes:
    """A server (unmasked) frame: ``first`` is FIN|RSV|opcode."""
    n = len(payload)
    if n < 126:
        return bytes((first, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", first, 126, n) + payload
    return struct.pack("!BBQ", first, 127, n) + payload


class RawServer(Protocol):
    """Answers the upgrade request with a 101 carrying ``extensions``, then sends ``frames``;
    records the client's request and unmasked frames."""

    def __init__(self, extensions: str | None, frames: list[bytes]) -> None:
        self.extensions = extensions
        self.toSend = frames
        self.request: str | None = None
        self.buffer = b""
        self.frames: list[tuple[int, bytes]] = []

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        if self.request is None:
            if b"\r\n\r\n" not in self.buffer:
                return
            head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            self.request = head.decode("latin-1")
            self.answer()
        self.parse()

    def requestHeader(self, name: str) -> str | None:
        assert self.request is not None
        for line in self.request.split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name:
                return value.strip()
        return None

    def answer(self) -> None:
        key = self.requestHeader("sec-websocket-key") or ""
        accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        ext = f"Sec-WebSocket-Extensions: {self.extensions}\r\n" \
            if self.extensions is not None else ""
        assert self.transport is not None
        self.transport.write(
            (f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
             f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n{ext}\r\n").encode()
            + b"".join(self.toSend))

    def parse(self) -> None:
        data = self.buffer
        while len(data) >= 6:
            first, n, start = data[0], data[1] & 0x7F, 2
            if n == 126:
                n, start = struct.unpack("!H", data[2:4])[0], 4
            elif n == 127:
                n, start = struct.unpack("!Q", data[2:10])[0], 10
            if len(data) < start + 4 + n:
                break
            mask = data[start:start + 4]
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(data[start + 4:start + 4 + n]))
            self.frames.append((first, payload))
            data = data[start + 4 + n:]
        self.buffer = data

    def closeCodes(self) -> list[int]:
        return [struct.unpack("!H", p[:2])[0] for f, p in self.frames if f & 0x0F == 8]


class ClientMixin:
    """Connects a ``bws.Client`` to a :class:`RawServer` in memory."""

    def start(self, extensions: str | None, frames: list[bytes] | None = None,
              **config: Any) -> Deferred[Client]:
        self.clock = MemoryReactorClock()
        self.server = RawServer(extensions, frames or [])
        self.pumps: list[IOPump] = []

        def connector(factory: IProtocolFactory) -> Deferred[Any]:
            clientAddress = IPv4Address("TCP", "127.0.0.1", 40000)
            serverAddress = IPv4Address("TCP", "127.0.0.1", 9090)
            proto = factory.buildProtocol(serverAddress)
            assert proto is not None
            self.pumps.append(iosimConnect(
                self.server, FakeTransport(self.server, True, serverAddress, clientAddress),
                proto, FakeTransport(proto, False, clientAddress, serverAddress),
                greet=False, clock=self.clock))
            return succeed(proto)

        d = Client.connect("ws://127.0.0.1:9090/", reactor=self.clock, connector=connector,
                           **config)
        self.flush()
        return d

    def flush(self) -> None:
        while any(pump.flush() for pump in list(self.pumps)):
            pass

    def opened(self, extensions: str | None, frames: list[bytes] | None = None,
               **config: Any) -> Client:
        client: Client = self.successResultOf(  # type: ignore[attr-defined]
            self.start(extensions, frames, **config))
        return client

    def refused(self, extensions: str | None, **config: Any) -> str:
        """The message of the handshake's ``InvalidHandshakeError``."""
        failure = self.failureResultOf(  # type: ignore[attr-defined]
            self.start(extensions, **config), InvalidHandshakeError)
        return str(failure.value)


class AnswerTests(SynchronousTestCase):
    """``bws._deflate.checkAnswer``: what a client accepts in the server's answer."""

    def test_accepted(self) -> None:
        """Every response parameter with a valid value, in any order."""
        self.assertIsNone(checkAnswer([], True))
        self.assertIsNone(checkAnswer([""], False))
        self.assertEqual(checkAnswer([CLIENT_OFFER.split(";")[0]], True), Agreement())
        self.assertEqual(
            checkAnswer(["permessage-deflate; client_max_window_bits=8; "
                         "server_max_window_bits=8; client_no_context_takeover; "
                         "server_no_context_takeover"], True),
            Agreement(True, True, 8, 8))

    def test_refused(self) -> None:
        """Anything the client did not offer, or did not allow, fails with a message
        naming the extension or parameter (RFC 6455 §9.1, RFC 7692 §5)."""
        cases = [
            (["permessage-deflate"], False, "extension 'permessage-deflate'"),
            (["x-webkit-deflate-frame"], True, "extension 'x-webkit-deflate-frame'"),
            (["permessage-deflate, permessage-deflate"], True, "more than once"),
            (["permessage-deflate", "permessage-deflate"], True, "more than once"),
            (["permessage-deflate; x_custom=1"], True, "parameter 'x_custom'"),
            (["permessage-deflate; client_max_window_bits"], True,
             "parameter 'client_max_window_bits'"),
            (["permessage-deflate; server_max_window_bits=16"], True,
             "parameter 'server_max_window_bits'"),
            (["permessage-deflate; server_max_window_bits=7"], True,
             "parameter 'server_max_window_bits'"),
            (["permessage-deflate; server_no_context_takeover=1"], True,
             "parameter 'server_no_context_takeover'"),
            (["permessage-deflate; server_no_context_takeover; server_no_context_takeover"],
             True, "parameter 'server_no_context_takeover' appears more than once"),
            (["permessage-deflate; ="], True, "malformed"),
        ]
        for values, offered, words in cases:
            with self.assertRaises(NegotiationError, msg=values) as caught:
                checkAnswer(values, offered)
            self.assertIn(words, str(caught.exception))


class HandshakeTests(ClientMixin, SynchronousTestCase):
    """The client's handshake with a server answering these extensions."""

    def test_offer(self) -> None:
        """With compression on, the client offers permessage-deflate; with it off, nothing."""
        self.opened(None)
        self.assertEqual(self.server.requestHeader("sec-websocket-extensions"), CLIENT_OFFER)
        self.opened(None, webSocketCompressionEnabled=False)
        self.assertIsNone(self.server.requestHeader("sec-websocket-extensions"))

    def test_serverWindowEight(self) -> None:
        """An answer with ``server_max_window_bits=8`` opens, and the server's compressed
        messages arrive."""
        client = self.opened("permessage-deflate; server_max_window_bits=8",
                             [frame(0xC1, HELLO)])
        self.assertEqual(self.successResultOf(client.readTextMessage()), "Hello")

    def test_clientWindowEight(self) -> None:
        """An answer with ``client_max_window_bits=8`` opens, and the client's messages
        inflate with an 8-bit window even when repeats are further apart than 256 bytes."""
        client = self.opened("permessage-deflate; client_max_window_bits=8")
        text = random.Random(3).randbytes(300).hex() * 4
        self.successResultOf(client.writeTextMessage(text))
        self.successResultOf(client.writeTextMessage(text))
        self.flush()
        inflater = zlib.decompressobj(-8)
        self.assertEqual([(f, inflater.decompress(p + TAIL)) for f, p in self.server.frames],
                         [(0xC1, text.encode())] * 2)

    def test_compressionOffAnsweredAnyway(self) -> None:
        """With compression off, an answer with permessage-deflate fails the handshake,
        naming the extension (RFC 6455 §9.1)."""
        message = self.refused("permessage-deflate", webSocketCompressionEnabled=False)
        self.assertIn("'permessage-deflate'", message)
        self.assertIn("did not offer", message)
        self.assertTrue(message.startswith("Invalid handshake response: "), message)

    def test_unofferedOrDisallowed(self) -> None:
        """Other extensions, and parameters the client did not allow, fail the handshake."""
        for answer, words in [
                ("x-webkit-deflate-frame", "'x-webkit-deflate-frame'"),
                ("permessage-deflate; x_custom=1", "'x_custom'"),
                ("permessage-deflate; client_max_window_bits", "'client_max_window_bits'"),
                ("permessage-deflate; server_max_window_bits=16", "'server_max_window_bits'"),
                ("permessage-deflate, permessage-deflate", "more than once")]:
            self.assertIn(words, self.refused(answer), answer)

    def test_refusalKeepsResponse(self) -> None:
        """The refused 101 is still reported as the response the server gave."""
        failure = self.failureResultOf(self.start("x-custom"), InvalidHandshakeError)
        response = failure.value.response
        assert response is not None
        self.assertEqual(response.statusCode, 101)
        self.assertEqual(response.getHeader("Sec-WebSocket-Extensions"), "x-custom")


class StreamEdgeTests(ClientMixin, SynchronousTestCase):
    """Messages from the server ending with a final block (RFC 7692 §7.2.3.4)."""

    def test_finalBlockTwice(self) -> None:
        """The RFC's "Hello" with a final block, sent twice, arrives twice."""
        client = self.opened("permessage-deflate",
                             [frame(0xC1, HELLO_FINAL), frame(0xC1, HELLO_FINAL),
                              frame(0x41, HELLO_FINAL[:2]), frame(0x80, HELLO_FINAL[2:]),
                              frame(0xC1, HELLO)])
        for _ in range(4):
            self.assertEqual(self.successResultOf(client.readTextMessage()), "Hello")

    def test_finalBlockNoContextTakeover(self) -> None:
        """With ``server_no_context_takeover`` too."""
        client = self.opened("permessage-deflate; server_no_context_takeover",
                             [frame(0xC1, HELLO_FINAL), frame(0xC1, HELLO_FINAL[:-1])])
        for _ in range(2):
            self.assertEqual(self.successResultOf(client.readTextMessage()), "Hello")


class InflatedLimitTests(ClientMixin, SynchronousTestCase):
    """The client's message limit counts inflated bytes, inclusively."""

    def messages(self, data: bytes, fragments: int) -> list[bytes]:
        wire = deflate(data)
        step = -(-len(wire) // fragments)
        out = []
        for i in range(fragments):
            first = (0x42 if i == 0 else 0) | (0x80 if i == fragments - 1 else 0)
            out.append(frame(first, wire[i * step:(i + 1) * step]))
        return out

    def test_exactLimitPasses(self) -> None:
        """Exactly the limit passes, compressible or not, in one frame or several."""
        for data in (b"a" * 1000, random.Random(1).randbytes(1000)):
            for fragments in (1, 2, 3):
                client = self.opened("permessage-deflate", self.messages(data, fragments),
                                     maxFrameSize=1000, maxMessageSize=1000)
                self.assertEqual(self.successResultOf(client.readBinaryMessage()), data)

    def test_overLimitRefused(self) -> None:
        """One byte over closes 1009 and is never delivered."""
        for data in (b"a" * 1001, random.Random(1).randbytes(1001)):
            for fragments in (1, 2, 3):
                client = self.opened("permessage-deflate", self.messages(data, fragments),
                                     maxFrameSize=1000, maxMessageSize=1000)
                self.assertEqual(self.server.closeCodes(), [1009], (data[:4], fragments))
                self.failureResultOf(client.readBinaryMessage())

    def test_limitAboveFrameSize(self) -> None:
        """``maxMessageSize`` above ``maxFrameSize``: the limit holds across frames."""
        for size, passes in ((100_000, True), (100_001, False)):
            data = random.Random(2).randbytes(size)
            client = self.opened("permessage-deflate", self.messages(data, 3),
                                 maxFrameSize=65536, maxMessageSize=100_000)
            if passes:
                self.assertEqual(self.successResultOf(client.readBinaryMessage()), data)
            else:
                self.assertEqual(self.server.closeCodes(), [1009])
