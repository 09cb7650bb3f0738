# -*- test-case-name: tests.server.test_deflate -*-
"""permessage-deflate at the server (RFC 7692): offers judged one by one, nothing lost at a
DEFLATE stream's edges, limits counted in inflated bytes; raw frames in memory."""

from __future__ import annotations

import base64
import os
import random
import struct
import zlib
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.protocol import Protocol
from twisted.test.iosim import FakeTransport
from twisted.test.iosim import connect as iosimConnect
from twisted.trial.unittest import SynchronousTestCase

import bws
from bws._deflate import (
    Agreement,
    acceptOffers,
    deflatedBound,
    parseExtensions,
)
from bws.testing import MemoryListener

#: "Hello" ending with a final block (BFINAL=1), then an empty block's header: RFC 7692
#: §7.2.3.4, byte for byte.
HELLO_FINAL = bytes.fromhex("f348cdc9c9070000")
#: "Hello" as the usual sync-flushed block, trailer removed (RFC 7692 §7.2.3.1).
HELLO = bytes.fromhex("f248cdc9c90700")
TAIL = b"\x00\x00\xff\xff"


def deflate(data: bytes, bits: int = 15, strategy: int = zlib.Z_DEFAULT_STRATEGY) -> bytes:
    """``data`` as one compressed message: sync-flushed, trailer removed (RFC 7692 §7.2.1)."""
    c = zlib.compressobj(6, zlib.DEFLATED, -bits, 8, strategy)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(TAIL)
    return out[:-4]


def finished(data: bytes, zdict: bytes = b"") -> bytes:
    """``data`` as a whole DEFLATE stream ending with a final block (Z_FINISH), as senders
    that finish a stream per message make it; ``zdict`` presets the window."""
    c = zlib.compressobj(6, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY,
                         **({"zdict": zdict} if zdict else {}))
    return c.compress(data) + c.flush(zlib.Z_FINISH)


def incompressible(n: int, seed: int = 7) -> bytes:
    """``n`` random bytes (deflate makes them a few bytes longer)."""
    return random.Random(seed).randbytes(n)


def maskedFrame(first: int, payload: bytes, mask: bytes = b"\x37\xfa\x21\x3d") -> bytes:
    """A client frame: ``first`` is FIN|RSV|opcode."""
    n = len(payload)
    if n < 126:
        head = bytes((first, 0x80 | n))
    elif n < 65536:
        head = struct.pack("!BBH", first, 0xFE, n)
    else:
        head = struct.pack("!BBQ", first, 0xFF, n)
    key = (mask * (n // 4 + 1))[:n]
    return head + mask + bytes(a ^ b for a, b in zip(payload, key, strict=True))


class RawPeer(Protocol):
    """A client that writes raw bytes and parses the server's frames, in memory."""

    def __init__(self) -> None:
        self.received = b""
        self.head: str | None = None
        self.inflater = zlib.decompressobj(-15)

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        if self.head is None and b"\r\n\r\n" in self.received:
            head, _, self.received = self.received.partition(b"\r\n\r\n")
            self.head = head.decode("latin-1")

    @property
    def status(self) -> int:
        assert self.head is not None, "no answer"
        return int(self.head.split()[1])

    @property
    def extensions(self) -> str | None:
        """The answer's ``Sec-WebSocket-Extensions`` value, if any."""
        assert self.head is not None
        for line in self.head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "sec-websocket-extensions":
                return value.strip()
        return None

    def send(self, first: int, payload: bytes) -> None:
        assert self.transport is not None
        self.transport.write(maskedFrame(first, payload))

    def frames(self) -> list[tuple[int, bytes]]:
        """The whole frames received since the last call: (first byte, payload)."""
        out = []
        data, pos = self.received, 0
        while len(data) - pos >= 2:
            first, n, start = data[pos], data[pos + 1] & 0x7F, pos + 2
            if n == 126:
                n, start = struct.unpack("!H", data[start:start + 2])[0], start + 2
            elif n == 127:
                n, start = struct.unpack("!Q", data[start:start + 8])[0], start + 8
            if len(data) - start < n:
                break
            out.append((first, data[start:start + n]))
            pos = start + n
        self.received = data[pos:]
        return out

    def messages(self) -> list[tuple[int, bytes]]:
        """The received data messages, inflated (context taken over), and close frames."""
        out: list[tuple[int, bytes]] = []
        parts: list[bytes] = []
        opcode = 0
        compressed = False
        for first, payload in self.frames():
            if first & 0x0F >= 8:
                out.append((first & 0x0F, payload))
                continue
            if first & 0x0F:
                opcode, compressed, parts = first & 0x0F, bool(first & 0x40), []
            parts.append(payload)
            if first & 0x80:
                data = b"".join(parts)
                if compressed:
                    data = self.inflater.decompress(data + TAIL)
                out.append((opcode, data))
        return out


def closeCode(payload: bytes) -> int:
    return int(struct.unpack("!H", payload[:2])[0])


class Recorder:
    """A service recording every message, echoing each back."""

    def __init__(self) -> None:
        self.received: list[Any] = []

    def onTextMessage(self, caller: Any, text: str) -> str:
        self.received.append(text)
        return text

    def onBinaryMessage(self, caller: Any, data: bytes) -> bytes:
        self.received.append(data)
        return data


class Upgrade:
    def __init__(self, service: Any) -> None:
        self.service = service

    def get(self, request: Any) -> Any:
        return self.service


class ServerMixin:
    """A memory listener serving a :class:`Recorder`, and raw peers connected to it."""

    def serve(self, maxFrameSize: int = 65536, maxMessageSize: int = 0,
              **listenerConfig: Any) -> Recorder:
        self.recorder = Recorder()
        upgrade = Upgrade(self.recorder)
        bws.config.setServiceConfig(upgrade, bws.WSServiceConfig(
            maxFrameSize=maxFrameSize, maxMessageSize=maxMessageSize))
        self.memory = MemoryListener(**listenerConfig)
        self.memory.attach(upgrade, "/")
        self._ports = iter(range(41000, 42000))
        return self.recorder

    def connect(self, extensions: str | None) -> RawPeer:
        """A raw peer whose upgrade request offers ``extensions``; the answer is read."""
        peer = RawPeer()
        port = next(self._ports)
        clientAddress = IPv4Address("TCP", "127.0.0.1", port)
        serverAddress = IPv4Address("TCP", "127.0.0.1", 9090)
        server = self.memory.listener.site.buildProtocol(clientAddress)
        pump = iosimConnect(
            server, FakeTransport(server, True, serverAddress, clientAddress),
            peer, FakeTransport(peer, False, clientAddress, serverAddress),
            greet=False, clock=self.memory.clock)
        self.memory.pumps.append(pump)
        key = base64.b64encode(os.urandom(16)).decode()
        offer = f"Sec-WebSocket-Extensions: {extensions}\r\n" if extensions is not None else ""
        assert peer.transport is not None
        peer.transport.write(
            (f"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
             f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
             f"Sec-WebSocket-Version: 13\r\n{offer}\r\n").encode())
        self.memory.flush()
        return peer

    def flush(self) -> None:
        self.memory.flush()


# -- negotiation ---------------------------------------------------------------------------

class OfferParsingTests(SynchronousTestCase):
    """``bws._deflate.parseExtensions``: RFC 6455 §9.1's grammar, element by element."""

    def test_elementsAndParameters(self) -> None:
        """Names and parameter names are lower-cased; values are kept; empty elements go."""
        self.assertEqual(
            parseExtensions(["permessage-deflate; X_Custom=1, , Permessage-Deflate;a;b=c",
                             "x-other"]),
            [("permessage-deflate", [("x_custom", "1")]),
             ("permessage-deflate", [("a", None), ("b", "c")]), ("x-other", [])])

    def test_quotedValue(self) -> None:
        """A quoted value is unescaped, and must then be a token."""
        self.assertEqual(parseExtensions(['a; b="1\\0", c; d="x y", e']),
                         [("a", [("b", "10")]), None, ("e", [])])

    def test_malformedElementAlone(self) -> None:
        """An element breaking the grammar is None; the ones after it are still read, and
        a comma inside a quoted string does not end an element."""
        self.assertEqual(
            parseExtensions(['a; =1, b; c="x,y", d', "e;;", "f g, h", "i=1, j", 'k; l="m, n']),
            [None, None, ("d", []), None, None, ("h", []), None, ("j", []), None])


class AcceptOffersTests(SynchronousTestCase):
    """``bws._deflate.acceptOffers``: the first acceptable offer, each judged alone."""

    def test_clientWindowEightAccepted(self) -> None:
        """``client_max_window_bits=8`` is a valid hint: accepted, not answered."""
        agreement = acceptOffers(["permessage-deflate; client_max_window_bits=8"])
        self.assertEqual(agreement, Agreement())
        assert agreement is not None
        self.assertEqual(agreement.responseHeader(), "permessage-deflate")

    def test_unknownParameterDeclinesThatOfferOnly(self) -> None:
        """An offer with an unknown parameter is declined; the plain fallback is accepted."""
        self.assertEqual(
            acceptOffers(["permessage-deflate; x_custom=1, permessage-deflate"]), Agreement())

    def test_firstAcceptableWins(self) -> None:
        """The client's order of preference is kept (RFC 7692 §5)."""
        agreement = acceptOffers([
            "x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=10; server_no_context_takeover",
            "permessage-deflate"])
        self.assertEqual(agreement, Agreement(serverNoContextTakeover=True,
                                              serverMaxWindowBits=10))
        assert agreement is not None
        self.assertEqual(agreement.responseHeader(), "permessage-deflate; "
                         "server_no_context_takeover; server_max_window_bits=10")

    def test_serverWindowEightHonoured(self) -> None:
        """``server_max_window_bits=8`` is accepted and answered with the same value."""
        agreement = acceptOffers(['permessage-deflate; server_max_window_bits="8"'])
        assert agreement is not None
        self.assertEqual(agreement.responseHeader(),
                         "permessage-deflate; server_max_window_bits=8")

    def test_invalidOffersDeclined(self) -> None:
        """Each offer breaking RFC 7692 §7.1's rules is declined: no agreement, no error."""
        for offer in ["permessage-deflate; server_max_window_bits",
                      "permessage-deflate; server_max_window_bits=7",
                      "permessage-deflate; server_max_window_bits=16",
                      "permessage-deflate; server_max_window_bits=010",
                      "permessage-deflate; client_max_window_bits=9.5",
                      "permessage-deflate; client_max_window_bits=1; client_max_window_bits",
                      "permessage-deflate; server_no_context_takeover=1",
                      "permessage-deflate; client_no_context_takeover=true",
                      "permessage-deflate; x_custom",
                      "permessage-deflate; =", 'permessage-deflate; a="',
                      "x-webkit-deflate-frame", ""]:
            self.assertIsNone(acceptOffers([offer]), offer)

    def test_deflatedBound(self) -> None:
        """The wire allowance covers what zlib makes of incompressible bytes."""
        for n in (0, 1, 1000, 65536):
            for level in (1, 6, 9):
                for memLevel in (1, 8):
                    c = zlib.compressobj(level, zlib.DEFLATED, -15, memLevel)
                    out = c.compress(incompressible(n)) + c.flush(zlib.Z_SYNC_FLUSH)
                    self.assertLessEqual(len(out) - 4, deflatedBound(n))


class NegotiationTests(ServerMixin, SynchronousTestCase):
    """What the listener answers to offers: 101 always, compression when one is acceptable."""

    def test_clientWindowEight(self) -> None:
        """``permessage-deflate; client_max_window_bits=8`` gets 101 with compression; a
        message deflated with a window that small arrives."""
        recorder = self.serve()
        peer = self.connect("permessage-deflate; client_max_window_bits=8")
        self.assertEqual((peer.status, peer.extensions), (101, "permessage-deflate"))
        text = "abcdefgh" * 500
        peer.send(0xC1, deflate(text.encode(), bits=9, strategy=zlib.Z_RLE))
        self.flush()
        self.assertEqual(recorder.received, [text])
        self.assertEqual(peer.messages(), [(1, text.encode())])

    def test_unknownParameterThenFallback(self) -> None:
        """``permessage-deflate; x_custom=1, permessage-deflate``: the fallback is used."""
        recorder = self.serve()
        peer = self.connect("permessage-deflate; x_custom=1, permessage-deflate")
        self.assertEqual((peer.status, peer.extensions), (101, "permessage-deflate"))
        peer.send(0xC1, HELLO)
        self.flush()
        self.assertEqual(recorder.received, ["Hello"])

    def test_nothingAcceptable(self) -> None:
        """Offers bws cannot accept give 101 without the extension (never 400), and plain
        messages flow."""
        for offers in ["permessage-deflate; x_custom=1",
                       "permessage-deflate; server_max_window_bits=16, x-webkit-deflate-frame",
                       "permessage-deflate; =; ;", "foo, bar; baz"]:
            recorder = self.serve()
            peer = self.connect(offers)
            self.assertEqual((peer.status, peer.extensions), (101, None), offers)
            peer.send(0x81, b"plain")
            self.flush()
            self.assertEqual(recorder.received, ["plain"])
            self.assertEqual(peer.messages(), [(1, b"plain")])

    def test_serverWindowEight(self) -> None:
        """``server_max_window_bits=8`` is honoured: the server's messages inflate with an
        8-bit window, even with repeats further apart than 256 bytes."""
        recorder = self.serve()
        peer = self.connect("permessage-deflate; server_max_window_bits=8")
        self.assertEqual((peer.status, peer.extensions),
                         (101, "permessage-deflate; server_max_window_bits=8"))
        peer.inflater = zlib.decompressobj(-8)
        block = incompressible(300).hex()
        for _ in range(3):
            peer.send(0x81, (block * 4).encode())
        self.flush()
        self.assertEqual(len(recorder.received), 3)
        self.assertEqual(peer.messages(), [(1, (block * 4).encode())] * 3)

    def test_serverNoContextTakeover(self) -> None:
        """``server_no_context_takeover`` is answered and kept: each of the server's
        messages inflates alone."""
        self.serve()
        peer = self.connect("permessage-deflate; server_no_context_takeover")
        self.assertEqual(peer.extensions, "permessage-deflate; server_no_context_takeover")
        for _ in range(2):
            peer.send(0x81, b"Hello Hello")
        self.flush()
        frames = peer.frames()
        self.assertEqual(len(frames), 2)
        for first, payload in frames:
            self.assertEqual(first, 0xC1)
            self.assertEqual(zlib.decompressobj(-15).decompress(payload + TAIL), b"Hello Hello")

    def test_compressionDisabled(self) -> None:
        """A listener with compression off accepts no offer at all."""
        self.serve(webSocketCompressionEnabled=False)
        peer = self.connect("permessage-deflate")
        self.assertEqual((peer.status, peer.extensions), (101, None))


# -- the stream's edges ----------------------------------------------------------------------

class FinalBlockTests(ServerMixin, SynchronousTestCase):
    """Messages ending with a final DEFLATE block (RFC 7692 §7.2.3.4) lose nothing."""

    def connected(self) -> tuple[Recorder, RawPeer]:
        recorder = self.serve()
        peer = self.connect("permessage-deflate")
        self.assertEqual(peer.extensions, "permessage-deflate")
        return recorder, peer

    def test_twiceWholeFrames(self) -> None:
        """The RFC's "Hello" sent twice in whole frames (the fast path) arrives twice."""
        recorder, peer = self.connected()
        peer.send(0xC1, HELLO_FINAL)
        peer.send(0xC1, HELLO_FINAL)
        self.flush()
        self.assertEqual(recorder.received, ["Hello", "Hello"])

    def test_twiceFragmented(self) -> None:
        """The same bytes in two fragments each (Autobahn's path) arrive twice."""
        recorder, peer = self.connected()
        for _ in range(2):
            peer.send(0x41, HELLO_FINAL[:3])
            peer.send(0x80, HELLO_FINAL[3:])
        self.flush()
        self.assertEqual(recorder.received, ["Hello", "Hello"])

    def test_withoutPaddingByte(self) -> None:
        """A stream ending exactly at its final block (no empty block after it) works too,
        alternating with sync-flushed messages, on both paths."""
        recorder, peer = self.connected()
        bare = HELLO_FINAL[:-1]
        peer.send(0xC1, bare)
        peer.send(0xC1, bare)
        peer.send(0x41, bare[:2])
        peer.send(0x80, bare[2:])
        peer.send(0xC1, HELLO)
        self.flush()
        self.assertEqual(recorder.received, ["Hello"] * 4)

    def test_windowCarriesOver(self) -> None:
        """After a final block the LZ77 window carries over (RFC 7692 §7.2.2): a message
        referring back to the previous one inflates."""
        recorder, peer = self.connected()
        first = b"The quick brown fox jumps over the lazy dog. "
        peer.send(0xC2, finished(first))
        second = first + first
        peer.send(0xC2, finished(second, zdict=first))
        peer.send(0x42, finished(second, zdict=first + second)[:5])
        peer.send(0x80, finished(second, zdict=first + second)[5:])
        self.flush()
        self.assertEqual(recorder.received, [first, second, second])

    def test_streamsInOneMessage(self) -> None:
        """A message holding a finished stream and then more blocks is inflated whole."""
        recorder, peer = self.connected()
        head = finished(b"Hello, ")
        c = zlib.compressobj(6, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY,
                             zdict=b"Hello, ")
        rest = (c.compress(b"Hello, world") + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
        peer.send(0xC1, head + rest)
        peer.send(0x41, head + rest[:1])
        peer.send(0x80, rest[1:])
        self.flush()
        self.assertEqual(recorder.received, ["Hello, Hello, world"] * 2)

    def test_windowAcrossEndedStream(self) -> None:
        """A stream that began a message earlier and ended with a final block leaves the
        whole window, across messages (no inflater is held between messages, only its
        window): a reference back to the earlier message's bytes is inflated right.
        (Until issue 15 this window held the last message's bytes only, and this failed
        1007.)"""
        recorder, peer = self.connected()
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        peer.send(0xC1, (c.compress(b"Hello") + c.flush(zlib.Z_SYNC_FLUSH))[:-4])
        peer.send(0xC1, c.compress(b" there") + c.flush(zlib.Z_FINISH))
        peer.send(0xC1, finished(b"Hello there", zdict=b"Hello there"))
        self.flush()
        self.assertEqual(recorder.received, ["Hello", " there", "Hello there"])
        self.assertEqual([p for opcode, p in peer.messages() if opcode == 8], [])

    def test_wrongWindowFailsLoudly(self) -> None:
        """A reference further back than anything sent fails the connection 1007; it
        never yields wrong data."""
        recorder, peer = self.connected()
        peer.send(0xC1, finished(b"Hello"))
        peer.send(0xC1, finished(b"Hello there, world", zdict=b"x" * 30000 + b"Hello there"))
        self.flush()
        self.assertEqual(recorder.received, ["Hello"])
        close = [payload for opcode, payload in peer.messages() if opcode == 8]
        self.assertEqual([closeCode(p) for p in close], [1007])

    def test_tailWithDataRefused(self) -> None:
        """A message that does not end at a block boundary is refused (1007), not cut."""
        recorder, peer = self.connected()
        peer.send(0xC2, b"\x00\x04\x00\xfb\xff")  # a stored block of 4 bytes, none sent
        self.flush()
        self.assertEqual(recorder.received, [])
        close = [payload for opcode, payload in peer.messages() if opcode == 8]
        self.assertEqual([closeCode(p) for p in close], [1007])


# -- limits in inflated bytes ----------------------------------------------------------------

class InflatedLimitTests(ServerMixin, SynchronousTestCase):
    """The message limit counts inflated bytes, inclusively, however the message came."""

    def outcome(self, peer: RawPeer) -> list[Any]:
        self.flush()
        return [closeCode(payload) if opcode == 8 else len(payload)
                for opcode, payload in peer.messages()]

    def sendAll(self, peer: RawPeer, data: bytes, fragments: int, chunks: int = 1) -> None:
        """``data`` deflated as one message in ``fragments`` frames, the bytes written in
        ``chunks`` pieces with a flush between them."""
        wire = deflate(data)
        step = -(-len(wire) // fragments)
        frames = b""
        for i in range(fragments):
            first = (0x42 if i == 0 else 0x00) | (0x80 if i == fragments - 1 else 0)
            frames += maskedFrame(first, wire[i * step:(i + 1) * step])
        size = -(-len(frames) // chunks)
        assert peer.transport is not None
        for i in range(chunks):
            peer.transport.write(frames[i * size:(i + 1) * size])
            self.flush()

    def test_exactLimitPasses(self) -> None:
        """Exactly the limit passes, compressible or not, in one frame (fast path) or
        several (Autobahn's path)."""
        for data in (b"a" * 1000, incompressible(1000)):
            for fragments in (1, 2, 3):
                self.serve(maxFrameSize=1000, maxMessageSize=1000)
                peer = self.connect("permessage-deflate")
                self.sendAll(peer, data, fragments)
                self.assertEqual(self.recorder.received, [data], (data[:4], fragments))

    def test_overLimitRefused(self) -> None:
        """One byte over closes 1009, however it came, and nothing is delivered."""
        for data in (b"a" * 1001, incompressible(1001)):
            for fragments in (1, 2, 3):
                self.serve(maxFrameSize=1000, maxMessageSize=1000)
                peer = self.connect("permessage-deflate")
                self.sendAll(peer, data, fragments)
                self.assertEqual(self.recorder.received, [])
                self.assertEqual(self.outcome(peer), [1009], (data[:4], fragments))

    def test_limitAboveFrameSize(self) -> None:
        """With ``maxMessageSize`` above ``maxFrameSize``, the limit holds across frames
        arriving in pieces: exactly the limit passes, one more byte closes 1009."""
        for size, expected in ((100_000, [100_000]), (100_001, [1009])):
            for data in (b"ab" * (size // 2) + b"a" * (size % 2), incompressible(size)):
                self.serve(maxFrameSize=65536, maxMessageSize=100_000)
                peer = self.connect("permessage-deflate")
                self.sendAll(peer, data, fragments=3, chunks=7)
                self.assertEqual(self.outcome(peer), expected, (size, data[:4]))

    def test_largeFrameInPieces(self) -> None:
        """A whole compressed frame inflating to exactly the limit passes when it arrives
        in pieces (the fast path collects it)."""
        data = bytes(range(256)) * 400
        self.serve(maxFrameSize=len(data), maxMessageSize=len(data))
        peer = self.connect("permessage-deflate")
        self.sendAll(peer, data, fragments=1, chunks=5)
        self.assertEqual(self.outcome(peer), [len(data)])

    def test_frameLimitOnTheWire(self) -> None:
        """A compressed frame of ``maxFrameSize`` incompressible bytes is allowed its
        deflate overhead; a frame beyond that bound is refused at its header (1009)."""
        self.serve(maxFrameSize=1000, maxMessageSize=1000)
        peer = self.connect("permessage-deflate")
        peer.send(0xC2, deflate(incompressible(1000)))
        self.assertEqual(self.outcome(peer), [1000])
        peer.send(0xC2, b"\x00" * (deflatedBound(1000) + 1))
        self.assertEqual(self.outcome(peer), [1009])

    def test_uncompressedInclusive(self) -> None:
        """Without compression the same limit is inclusive both ways too."""
        for size, expected in ((1000, [1000]), (1001, [1009])):
            for fragments in (1, 2):
                self.serve(maxFrameSize=1000, maxMessageSize=1000)
                peer = self.connect(None)
                data = b"x" * size
                half = size // fragments
                if fragments == 1:
                    peer.send(0x82, data)
                else:
                    peer.send(0x02, data[:half])
                    peer.send(0x80, data[half:])
                self.assertEqual(self.outcome(peer), expected, (size, fragments))
