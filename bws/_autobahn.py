# -*- test-case-name: tests.test_autobahn -*-
"""The one module that imports Autobahn: its protocols, reduced to telling a Connection
what happened.

Autobahn parses and writes RFC 6455 frames and negotiates permessage-deflate (RFC 7692).
:class:`ServerAdapter` and :class:`ClientAdapter` translate its callbacks into calls on a
:class:`~bws._connection.Connection` and its handler, implement the connection's
:class:`~bws._connection.FrameWriter`, set every Autobahn limit explicitly (DESIGN §4), and
keep bws's fast path for whole unfragmented frames (server side), which hands whole
messages to the handler without Autobahn's per-frame machinery.
"""

from __future__ import annotations

import base64
import os
import struct
import typing
import zlib
from collections import deque
from typing import Any, cast

from autobahn.exception import PayloadCorruptError, PayloadExceededError
from autobahn.twisted.util import peer2str
from autobahn.twisted.websocket import (
    WebSocketClientFactory,
    WebSocketClientProtocol,
    WebSocketServerFactory,
    WebSocketServerProtocol,
)
from autobahn.websocket.compress import PerMessageDeflate
from autobahn.websocket.protocol import TrafficStats, WebSocketProtocol
from autobahn.websocket.types import ConnectionResponse
from autobahn.websocket.utf8validator import Utf8Validator
from autobahn.websocket.xormasker import create_xor_masker
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IAddress, IProtocol, IReactorTime
from twisted.internet.main import CONNECTION_DONE, CONNECTION_LOST
from twisted.internet.protocol import connectionDone
from twisted.internet.tcp import Connection as TCPConnection
from twisted.python.failure import Failure

from bws._connection import Connection
from bws._deflate import (
    CLIENT_OFFER,
    Agreement,
    NegotiationError,
    acceptOffers,
    checkAnswer,
    deflatedBound,
)
from bws._frames import SMALL_UNMASK, unmaskSmall
from bws._http import HeadError, NotHttp, ResponseHead, refusalBodyLength
from bws.closeframe import closeFrameFault
from bws.config import ListenerConfiguration, RequestLimitConfigs, WSServiceConfig
from bws.errors import (
    CorruptedFrameError,
    Error,
    InvalidContinuationFrameError,
    PayloadTooLargeError,
)
from bws.request import HttpResponse, UpgradeRequest

__all__ = ["ServerAdapter", "ClientAdapter", "ClientFactory", "ClientAttempt",
           "ServerOptions", "serverFactory", "clientOptions", "autobahnLimits"]

STATE_CONNECTING = WebSocketProtocol.STATE_CONNECTING
STATE_OPEN = WebSocketProtocol.STATE_OPEN
STATE_CLOSING = WebSocketProtocol.STATE_CLOSING
STATE_CLOSED = WebSocketProtocol.STATE_CLOSED
_HEADER16 = struct.Struct("!BBH").pack
_HEADER64 = struct.Struct("!BBQ").pack
_NO_HEADERS: dict[str, Any] = {}

#: The bounds of a server's answer to the upgrade request: a bws listener's own defaults
#: for requests (a status line of 4096 bytes, 8192 bytes in 100 header fields).
RESPONSE_LIMITS: RequestLimitConfigs = RequestLimitConfigs()

#: Frames at least this long are collected by the fast path while they arrive (smaller
#: ones cut short by a read wait whole; anything else goes to Autobahn's parser).
COLLECT_FROM = 16384


try:  # Autobahn's NVX masker (cffi): XORs a buffer in place, keeping its position
    from _nvx_xormasker import ffi as _nvxFfi  # type: ignore[import-not-found]
    from _nvx_xormasker import lib as _nvxLib
except ImportError:  # Autobahn without its C extensions: large frames are unmasked whole
    _nvxFfi = _nvxLib = None


#: Payloads longer than this are unmasked by Autobahn's C masker in place, when it has
#: one (a copy in, a copy out, one C call); shorter ones by a big-integer XOR, whose cost
#: grows with the length (1 KiB: 2.5 times the C masker's).
C_UNMASK_FROM = 256


try:  # the C masking helper of the ``websockets`` package, when it is installed: one C
    # call, one copy, for any length (measured: a tenth of the big-integer XOR for 32 B)
    from websockets.speedups import apply_mask as _applyMask
except ImportError:
    _applyMask = None  # type: ignore[assignment]


def unmask(payload: bytes, mask: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte ``mask``: with the ``websockets`` package's C helper
    when it is installed; else a big-integer XOR for small payloads, Autobahn's
    vectorised C masker for larger ones."""
    if _applyMask is not None:
        return _applyMask(payload, mask)
    n = len(payload)
    if n > C_UNMASK_FROM and _nvxLib is not None:
        buffer = bytearray(payload)
        masker = _nvxLib.nvx_xormask_new(_nvxFfi.from_buffer(mask))
        try:
            _nvxLib.nvx_xormask_process(masker, _nvxFfi.from_buffer(buffer), n)
        finally:
            _nvxLib.nvx_xormask_free(masker)
        return bytes(buffer)
    if n > SMALL_UNMASK:
        return create_xor_masker(mask, n).process(payload)
    return unmaskSmall(payload, mask)



#: While a large frame arrives, the transport reads up to this many bytes at a time
#: (Twisted's default is 64 KiB: a 1 MiB frame would take 16 reactor turns).
LARGE_READ = 2**20
#: The buffer of the last large frame, if at most this long, is kept for the next one
#: (one per process): a fresh megabyte costs more in page faults than the copy into it.
SPARE_MAX = 4 * 2**20
#: How many such buffers are kept (one frame arriving, one leaving).
SPARES = 2
_spare: list[bytearray] = []


#: More pieces than this are joined before a direct send (Linux's IOV_MAX is 1024).
_GATHER_MAX = 64


def _asBytes(pieces: list[Any]) -> list[bytes]:
    """Twisted's transports take bytes only: a piece lent from a buffer is copied."""
    return [piece if type(piece) is bytes else bytes(piece) for piece in pieces]


def sendNow(transport: Any, pieces: list[Any]) -> None:
    """Write ``pieces`` in order: on plain TCP with nothing buffered, straight to the
    socket in one ``sendmsg`` (no reactor turn, no copy into Twisted's buffer), whatever
    the kernel does not take then through the transport, which buffers it and applies
    flow control; on anything else (TLS, a test transport, a busy buffer), through the
    transport. Pieces may be views of a buffer (:func:`_lendBuffer`): what the transport
    keeps of them is copied, so the buffer is free again when this returns."""
    if (isinstance(transport, TCPConnection) and not transport.TLS and transport.connected
            and not transport.disconnecting and not transport.dataBuffer
            and not transport._tempDataLen and not transport._writeDisconnected):
        if len(pieces) > _GATHER_MAX:
            pieces = [b"".join(pieces)]
        try:
            if len(pieces) == 1:
                sent = transport.socket.send(pieces[0])
            else:
                sent = transport.socket.sendmsg(pieces)
        except OSError:
            sent = 0  # EAGAIN, or an error Twisted finds and reports on its own write
        for i, piece in enumerate(pieces):
            if sent < len(piece):
                rest = pieces[i:]
                if sent:
                    rest[0] = piece[sent:]
                transport.writeSequence(_asBytes(rest))
                return
            sent -= len(piece)
        return
    transport.writeSequence(_asBytes(pieces))


def _lendBuffer(size: int) -> bytearray:
    """A buffer of at least ``size`` bytes: a spare one if there is one big enough (a fresh
    megabyte costs more in page faults than the copy into it); give it back with
    :func:`_returnBuffer` once nothing refers to it."""
    for i, buffer in enumerate(_spare):
        if len(buffer) >= size:
            return _spare.pop(i)
    return bytearray(size)


def _returnBuffer(buffer: bytearray) -> None:
    if len(buffer) <= SPARE_MAX and len(_spare) < SPARES:
        _spare.append(buffer)


def autobahnLimits(maxFrameSize: int, maxMessageSize: int) -> dict[str, Any]:
    """The Autobahn options both ends set explicitly (DESIGN §4): bws's limits, peers told
    why they were failed (no silent drops), and Autobahn's own timers off: bws runs the
    handshake deadline and the close wait on its own clock."""
    return {
        "maxFramePayloadSize": maxFrameSize,
        "maxMessagePayloadSize": maxMessageSize,
        "autoFragmentSize": 0,
        "failByDrop": False,
        "echoCloseCodeReason": True,
        "utf8validateIncoming": True,
        "openHandshakeTimeout": 0,
        "closeHandshakeTimeout": 0,
        "autoPingInterval": 0,
        "tcpNoDelay": True,
    }


#: Appended to a compressed message before it is inflated (RFC 7692 §7.2.2).
_TAIL = b"\x00\x00\xff\xff"
#: Messages are inflated with the largest window, which decodes a stream deflated with
#: any smaller one (its distances reach back no further than its own window, RFC 7692
#: §7.1.2), and so tolerates peers that round a promised window of 8 bits up to 9; unless
#: this end limited the peer's window to 9 bits or more: then with that window.
_INFLATE_BITS = 15
#: What bws compresses with, at most (a smaller window than agreed is always allowed,
#: RFC 7692 §7.1.2.1): 2 KiB of history and zlib's memory level 3 keep a connection's
#: compressor near 18 KiB instead of 256 KiB, with the same ratio on 1 KiB JSON messages
#: (docs/benchmarks.rst).
COMPRESS_BITS = 11
COMPRESS_MEM_LEVEL = 3


class _Deflate(PerMessageDeflate):
    """permessage-deflate for one connection (RFC 7692 §7.2), as agreed by
    :mod:`bws._deflate`: Autobahn's processor with bws's compressor settings and inflater.

    Inflating loses nothing at a DEFLATE stream's edges: a final block (BFINAL=1, §7.2.3.4)
    ends zlib's stream, so what follows it, in this message or the next, is inflated by a
    new inflater given the same LZ77 window (§7.2.2: the window carries over from message
    to message). Between messages no inflater is held either, only that window, as bytes
    (a message ends at a block boundary, §7.2.1): each message's inflater starts with it,
    so the window is always exact.

    ``limit`` bounds each message's inflated bytes, inclusively: exactly ``limit`` passes,
    one more raises ``PayloadExceededError``; Autobahn's own budget is not used.
    """

    def __init__(self, isServer: bool, agreement: Agreement, limit: int) -> None:
        super().__init__(isServer, agreement.serverNoContextTakeover,
                         agreement.clientNoContextTakeover,
                         agreement.serverMaxWindowBits or 0,
                         agreement.clientMaxWindowBits or 0, None, limit or None)
        if isServer:
            ownBits, self._ownResets = (agreement.serverMaxWindowBits,
                                        agreement.serverNoContextTakeover)
            peerBits, self._peerResets = (agreement.clientMaxWindowBits,
                                          agreement.clientNoContextTakeover)
        else:
            ownBits, self._ownResets = (agreement.clientMaxWindowBits,
                                        agreement.clientNoContextTakeover)
            peerBits, self._peerResets = (agreement.serverMaxWindowBits,
                                          agreement.serverNoContextTakeover)
        # zlib refuses an 8-bit window for raw deflate (deflateInit2, since 1.2.9). A 9-bit
        # window matching runs only (Z_RLE: every distance is 1) never reaches back
        # further than 8 bits allow, so a limit of 8 is honoured (RFC 7692 §7.1.2).
        self._deflateBits = max(min(ownBits or 15, COMPRESS_BITS), 9)
        self._strategy = zlib.Z_RLE if ownBits == 8 else zlib.Z_DEFAULT_STRATEGY
        self._inflateBits = peerBits if isServer and peerBits and peerBits >= 9 else \
            _INFLATE_BITS
        self._limit: int | None = limit if limit > 0 else None
        self._inflater: Any = None
        #: The LZ77 window a new inflater starts with (after a final block).
        self._window = b""
        #: The window the current inflater started with, when it started in this message.
        self._base: bytes | None = None
        #: The current inflater's output in this message.
        self._since: list[bytes] = []
        self._inflated = 0

    # -- compressing ----------------------------------------------------------------------

    def start_compress_message(self) -> None:
        if self._compressor is None:
            self._compressor = zlib.compressobj(
                zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -self._deflateBits,
                COMPRESS_MEM_LEVEL, self._strategy)

    def deflateMessage(self, payload: bytes) -> bytes:
        """A whole message deflated (RFC 7692 §7.2.1: sync-flushed, the empty block's four
        bytes cut)."""
        compressor = self._compressor
        if compressor is None:
            compressor = self._compressor = zlib.compressobj(
                zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -self._deflateBits,
                COMPRESS_MEM_LEVEL, self._strategy)
        data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
        if self._ownResets:
            self._compressor = None
        return data[:-4]

    def end_compress_message(self) -> bytes:
        data = cast(bytes, super().end_compress_message())
        if self._ownResets:
            self._compressor = None  # a new one for the next message: nothing held between
        return data

    # -- inflating ------------------------------------------------------------------------

    def inflateMessage(self, payload: bytes) -> bytes:
        """A whole compressed message (one frame), inflated.

        The common case in straight line: one inflater for the message, started with the
        window; a message holding a final block takes the general path instead (from its
        start: nothing was changed).
        """
        if self._inflater is None:
            window = b"" if self._peerResets else self._window
            bits = self._inflateBits
            inflater = zlib.decompressobj(-bits, zdict=window) if window else \
                zlib.decompressobj(-bits)
            limit = self._limit
            tail = b""
            try:
                if limit is None:
                    out = inflater.decompress(payload)
                else:
                    out = inflater.decompress(payload, limit + 1)
                    if len(out) > limit:
                        raise PayloadExceededError(
                            f"WebSocket message exceeds decompression limit ({limit})")
                if not inflater.eof:
                    tail = inflater.decompress(_TAIL)
            except zlib.error as e:
                raise PayloadCorruptError(f"invalid permessage-deflate data: {e}") from e
            if not inflater.eof:
                if tail:
                    raise PayloadCorruptError(
                        "invalid permessage-deflate data: the message does not end at a "
                        "block boundary (RFC 7692 §7.2.1)")
                if not self._peerResets:
                    size = 1 << bits
                    self._window = out[-size:] if len(out) >= size else \
                        window[len(out) - size:] + out
                return out
        self.start_decompress_message()
        inflated = self._inflate(payload)
        self.end_decompress_message()
        return inflated

    def start_decompress_message(self) -> None:
        if self._peerResets:
            self._inflater = None
            self._window = b""
        self._base = None  # a running inflater's history before this message is not kept
        self._inflated = 0

    def decompress_message_data(self, data: bytes, max_output_len: int | None = None) -> bytes:
        """A piece of a compressed message, inflated (``max_output_len`` is ignored: the
        message's budget is ``limit``)."""
        return self._inflate(data)

    def end_decompress_message(self) -> None:
        inflater = self._inflater
        if inflater is not None:  # None: the message ended with a final block
            try:
                tail = inflater.decompress(_TAIL)
            except zlib.error as e:
                raise PayloadCorruptError(f"invalid permessage-deflate data: {e}") from e
            if tail:
                raise PayloadCorruptError(
                    "invalid permessage-deflate data: the message does not end at a "
                    "block boundary (RFC 7692 §7.2.1)")
            if inflater.eof:
                self._streamEnded()
        if self._peerResets:  # the next message starts afresh: hold no inflater meanwhile
            self._inflater = None
            self._window = b""
        elif self._inflater is not None:
            # Between messages only the window matters (a message ends at a block
            # boundary, §7.2.1): keep it as bytes, not as a live inflater (~7 KiB more).
            self._streamEnded()
        self._since.clear()

    def _inflate(self, data: bytes) -> bytes:
        pieces: list[bytes] | None = None
        while True:
            inflater = self._inflater
            if inflater is None:
                window = self._window
                bits = self._inflateBits
                inflater = self._inflater = zlib.decompressobj(
                    -bits, zdict=window) if window else zlib.decompressobj(-bits)
                self._base = window
            limit = self._limit
            try:
                if limit is None:
                    out = inflater.decompress(data)
                else:
                    budget = limit - self._inflated
                    out = inflater.decompress(data, budget + 1)
                    if len(out) > budget:
                        raise PayloadExceededError(
                            f"WebSocket message exceeds decompression limit ({limit})")
            except zlib.error as e:
                raise PayloadCorruptError(f"invalid permessage-deflate data: {e}") from e
            self._inflated += len(out)
            if out:
                self._since.append(out)
            if not inflater.eof:
                if pieces is None:
                    return out
                pieces.append(out)
                return b"".join(pieces)
            # A final block ended the DEFLATE stream; what follows is a new one.
            if pieces is None:
                pieces = []
            pieces.append(out)
            data = inflater.unused_data
            self._streamEnded()
            if not data:
                return b"".join(pieces)

    def _streamEnded(self) -> None:
        """The current inflater reached a final block: the next bytes need a new one,
        started with the window as it stands (RFC 7692 §7.2.2)."""
        need = 1 << self._inflateBits
        parts: list[bytes] = []
        for piece in reversed(self._since):
            if len(piece) >= need:
                parts.append(piece[-need:])
                need = 0
                break
            parts.append(piece)
            need -= len(piece)
        base = self._base
        if need and base:
            parts.append(base[-need:])
        parts.reverse()
        self._window = b"".join(parts)
        self._since.clear()
        self._inflater = None


class _DeflateOffer:
    """The client's offer, as Autobahn writes it into the upgrade request."""

    def get_extension_string(self) -> str:
        return CLIENT_OFFER


class ServerOptions(WebSocketServerFactory):
    """Autobahn's server factory, as the options of one attachment.

    :ivar deflateEnabled: whether permessage-deflate offers are considered
        (``webSocketCompressionEnabled``; :meth:`ServerAdapter.acceptUpgrade`).
    """

    deflateEnabled = True
    _adapterClass: type[ServerAdapter] | None = None

    def buildAdapter(self, connection: Connection, subProtocol: str | None,
                     headers: dict[str, list[str]], request: UpgradeRequest) -> ServerAdapter:
        """The :class:`ServerAdapter` of one accepted connection. Its class (made once per
        factory) holds the factory's options as class attributes, where Autobahn would
        copy some 40 of them into every connection."""
        cls = self._adapterClass
        if cls is None:
            options = {name: getattr(self, name) for name in ServerAdapter.CONFIG_ATTRS}
            cls = self._adapterClass = type("ServerAdapter", (ServerAdapter,),
                                            {**options, "_configured": True,
                                             "__module__": ServerAdapter.__module__})
        proto = cls(connection, subProtocol, headers, request)
        proto.factory = self
        return proto


def serverFactory(config: WSServiceConfig, listenerConfig: ListenerConfiguration,
                  clock: IReactorTime) -> ServerOptions:
    """Autobahn's factory for one attachment, every limit set explicitly (DESIGN §4).

    It only carries options: the listener builds each :class:`ServerAdapter` itself.
    """
    # No Server header from Autobahn: the listener writes it into the 101's headers, so
    # that one added by ``get`` replaces it (``UpgradeRequest.addResponseHeader``).
    factory = ServerOptions(server="", reactor=clock)
    factory.setProtocolOptions(
        requireMaskedClientFrames=True,
        **autobahnLimits(config.maxFrameSize, config.messageLimit),
    )
    factory.deflateEnabled = listenerConfig.webSocketCompressionEnabled
    factory.trackTimings = False
    factory.logOctets = False
    factory.logFrames = False
    return factory


def clientOptions(maxFrameSize: int, maxMessageSize: int, compression: bool) -> dict[str, Any]:
    """The options of a client factory (``setProtocolOptions``), every limit explicit."""
    return {
        "maskClientFrames": True,
        "applyMask": True,
        "serverConnectionDropTimeout": 0,  # the Connection's dropWait, on bws's clock
        **autobahnLimits(maxFrameSize, maxMessageSize),
        # Autobahn writes the offer; bws judges the answer (ClientAdapter.processHandshake).
        "perMessageCompressionOffers": [_DeflateOffer()] if compression else [],
    }


class _Adapter(WebSocketProtocol):
    """What both ends' adapters share: the FrameWriter, limits, failures, close frames.

    Subclasses set :attr:`connection` before the transport connects.
    """

    connection: Connection
    transport: Any
    factory: Any
    # Autobahn's attributes bws reads, declared for type checkers.
    websocket_protocol_in_use: str | None
    maxMessagePayloadSize: int
    _perMessageCompress: Any
    _isMessageCompressed: bool
    frame_length: int
    frame_data: Any
    CONFIG_ATTRS: list[str]
    tcpNoDelay: bool

    # -- Autobahn's per-connection set-up -------------------------------------------------

    # Autobahn's per-connection state, as class defaults: a connection's own dict only gets
    # what changes (Autobahn's _connectionMade sets some 40 of these on every instance).
    trackedTimings: Any = None
    #: Autobahn counts traffic here on its slow paths; bws reads none of it (one per class).
    trafficStats = TrafficStats()
    state = WebSocketProtocol.STATE_CONNECTING
    send_state = WebSocketProtocol.SEND_STATE_GROUND
    data = b""
    send_queue: Any = ()  # made a deque only if Autobahn ever queues (sync/chopped writes)
    triggered = False
    wasMaxFramePayloadSizeExceeded = False
    wasMaxMessagePayloadSizeExceeded = False
    closedByMe = False
    failedByMe = False
    droppedByMe = False
    wasClean = False
    wasNotCleanReason: Any = None
    wasServerConnectionDropTimeout = False
    wasOpenHandshakeTimeout = False
    wasCloseHandshakeTimeout = False
    wasServingFlashSocketPolicyFile = False
    localCloseCode: Any = None
    localCloseReason: Any = None
    remoteCloseCode: Any = None
    remoteCloseReason: Any = None
    serverConnectionDropTimeoutCall: Any = None
    openHandshakeTimeoutCall: Any = None
    closeHandshakeTimeoutCall: Any = None
    autoPingTimeoutCall: Any = None
    autoPingPending: Any = None
    autoPingPendingCall: Any = None
    autoPingPendingSeq = 0
    autoPingPendingSent: Any = None
    _fragments = 0
    _perMessageCompress = None
    _utf8validator: Utf8Validator | None = None
    #: Whether the class carries the factory's options (ServerOptions.buildAdapter).
    _configured = False

    @property
    def utf8validator(self) -> Utf8Validator:  # type: ignore[override]  # made when used
        """Autobahn's validator for fragmented text, made when first needed."""
        validator = self._utf8validator
        if validator is None:
            validator = self._utf8validator = Utf8Validator()
        return validator

    _peer: str | None = None

    @property  # type: ignore[override]  # Autobahn assigns it in connectionMade
    def peer(self) -> str | None:
        """Autobahn's peer descriptor (``tcp4:127.0.0.1:52914``), made when first read (only
        Autobahn's log lines read it)."""
        peer = self._peer
        if peer is None and self.transport is not None:
            peer = self._peer = peer2str(self.transport)
        return peer

    @peer.setter
    def peer(self, value: str | None) -> None:
        self._peer = value

    def connectionMade(self) -> None:
        """Autobahn's Twisted ``connectionMade`` without what only its debug lines use (a
        TransportDetails and a peer string per connection, and two highlighted names made
        even when debug logging is off)."""
        try:
            self.transport.setTcpNoDelay(self.tcpNoDelay)
        except Exception:  # noqa: S110  # e.g. a UNIX socket or a test transport: no Nagle
            pass
        self._connectionMade()

    def _initState(self) -> None:
        """Autobahn's ``WebSocketProtocol._connectionMade`` minus its debug line, which
        pretty-prints every option on every connection even when debug logging is off (a
        third of a handshake's CPU in profiles), and minus the per-instance copies of the
        factory's options and of the initial state (class attributes here)."""
        if not self._configured:
            factory = self.factory
            for name in self.CONFIG_ATTRS:
                if not hasattr(self, name):
                    setattr(self, name, getattr(factory, name))
        self.transport.registerProducer(self.connection, True)

    def _opened(self) -> None:
        self.connection.opened(self, self.websocket_protocol_in_use,
                               self._perMessageCompress is not None)

    # -- FrameWriter ----------------------------------------------------------------------

    def writeWhole(self, first: int, payload: bytes) -> None:
        """One whole frame (through Autobahn's frame writer: it masks client frames)."""
        self.sendFrame(opcode=first & 0x0F, payload=payload, fin=True, rsv=(first >> 4) & 7)

    def writeFrame(self, opcode: int, payload: bytes, fin: bool, rsv: int) -> None:
        """One frame of a fragmented message, or a control frame."""
        self.sendFrame(opcode=opcode, payload=payload, fin=fin, rsv=rsv)

    def writeEncoded(self, frame: bytes) -> None:
        """Bytes of whole frames encoded by the caller (a group broadcast's, unmasked:
        server connections only). In order with the frames this connection wrote before:
        while it handles a read they are collected, and so is this one."""
        self._write(frame)

    def compress(self, payload: bytes) -> bytes:
        """A whole message deflated with the negotiated permessage-deflate (RFC 7692)."""
        return cast(bytes, self._perMessageCompress.deflateMessage(payload))

    def writeClose(self, code: int | None, reason: bytes | None, isReply: bool) -> None:
        """A close frame, ours first or the answer to the peer's."""
        self.sendCloseFrame(code=code, reasonUtf8=reason, isReply=isReply)
        if isReply:
            self.wasClean = True

    def pauseReading(self) -> None:
        if self.transport is not None:
            self.transport.pauseProducing()

    def resumeReading(self) -> None:
        if self.transport is not None and self.state != STATE_CLOSED:
            self.transport.resumeProducing()

    def loseConnection(self) -> None:
        self.dropConnection(abort=False)

    def abortConnection(self) -> None:
        if self.transport is not None:
            self.transport.abortConnection()

    # -- writing: one system call per read ------------------------------------------------

    #: While a read is handled, what is written meanwhile (frames, in order): sent together
    #: when the read is done (:func:`sendNow`), instead of one transport write each and a
    #: reactor turn before the socket sees them.
    _out: list[bytes] | None = None

    def _reading(self, data: bytes) -> None:
        """Handle one read (subclasses); writes made meanwhile are collected."""
        raise NotImplementedError

    def dataReceived(self, data: bytes) -> None:
        if self._out is not None:  # a read inside a read (a test feeding bytes back)
            self._reading(data)
            return
        self._out = []
        try:
            self._reading(data)
        finally:
            out, self._out = self._out, None
            if out and self.transport is not None:
                sendNow(self.transport, out)
            lent = self._lent
            if lent is not None:
                self._lent = None
                for buffer in lent:
                    _returnBuffer(buffer)

    #: Buffers lent to pieces of ``_out`` (given back once it is sent).
    _lent: list[bytearray] | None = None

    def _write(self, data: bytes) -> None:
        out = self._out
        if out is not None:
            out.append(data)
        else:
            self.transport.write(data)

    def _release(self) -> None:
        """What was collected goes to the transport now (before Autobahn writes by
        itself, or closes TCP); collecting goes on."""
        out = self._out
        if out:
            self.transport.writeSequence(_asBytes(out))
            out.clear()

    def sendData(self, data: bytes, sync: bool = False, chopsize: int | None = None) -> None:
        """Autobahn's single write path; writes straight to the transport (no stats)."""
        if sync or chopsize or self.send_queue:
            if not isinstance(self.send_queue, deque):
                self.send_queue = deque()
            self._release()
            super().sendData(data, sync, chopsize)
        else:
            self._write(data)

    def _closeConnection(self, abort: bool = False) -> None:
        """Autobahn closes TCP: what was written before goes first (unless aborted)."""
        if not abort and self.transport is not None:
            self._release()
        # Defined by Autobahn's Twisted protocol, after _Adapter in the adapters' MRO.
        super()._closeConnection(abort)  # type: ignore[misc]

    # -- control frames -------------------------------------------------------------------

    def onPing(self, payload: bytes) -> None:
        handler = self.connection.handler
        if handler is not None:
            handler.pingReceived(payload)

    def onPong(self, payload: bytes) -> None:
        self.connection.pongArrived(payload)

    def onCloseFrame(self, code: int | None, reasonRaw: bytes | None) -> bool | None:
        """A close frame arrived, checked by bws's one rule (:func:`closeFrameFault`), not
        by Autobahn's (whose list lacks 1014, and whose failure path resets TCP).

        - Open, well-formed: the peer starts the closing handshake; the handler decides
          when to answer.
        - Open, malformed (a code invalid on the wire, a reason that is not UTF-8): the
          connection is failed with 1002 / 1007 (RFC 6455 §7.1.7). The peer's close was
          its last frame, so with ours sent the closing handshake is over: TCP is closed
          once our close frame is flushed (the server now; a client after the server had
          time to close first, RFC 6455 §7.1.1), never reset under the close frame.
        - Closing: the answer to the close we sent (or to the one a failure sent, which is
          how a close frame refused at its header, e.g. a 1-byte payload, ends): the
          handshake is over, well-formed or not (we cannot send a second close).
        """
        state = self.state
        if state == STATE_CLOSED:
            return None  # TCP is already being dropped
        connection = self.connection
        if state == STATE_OPEN and connection.closeFrameReceived:
            # A second close frame while the first is being answered: nothing follows a
            # close (RFC 6455 §5.5.1), so it is ignored like the data frames after it.
            return None
        fault = closeFrameFault(code, reasonRaw)
        if state == STATE_OPEN:
            if fault is None:
                connection.closeFrameArrived(
                    code, reasonRaw.decode("utf-8") if reasonRaw else "")
                return None
            failCode, why = fault
            self._failWith(CorruptedFrameError(why), failCode, why)
        self.wasClean = True  # both close frames went: Autobahn logs no unclean drop
        connection.closeFrameArrived(
            code, reasonRaw.decode("utf-8", "replace") if reasonRaw and fault is None else "")
        return None

    # -- inbound limits and failures, as bws errors ---------------------------------------

    def onMessageBegin(self, isBinary: bool) -> None:
        super().onMessageBegin(isBinary)
        self._fragments = 0

    def onMessageFrameBegin(self, length: int) -> None:
        """Refuse at the frame header: a frame over ``maxFrameSize`` (1009, before its
        payload arrives), or one fragment too many (1009: a flood of tiny fragments).

        A compressed frame may exceed ``maxFrameSize`` on the wire by deflate's worst-case
        overhead (:func:`~bws._deflate.deflatedBound`), and its message's limit counts
        inflated bytes only (:class:`_Deflate`): Autobahn would count the compressed length
        here too, refusing a message of exactly the limit that did not compress.
        """
        compressed = self._isMessageCompressed
        if not self.failedByMe:
            limit = self.connection.maxFrameSize
            if length > (deflatedBound(limit) if compressed else limit):
                self._max_message_size_exceeded(length, limit, "frame")
                return
            self._fragments += 1
            if self._fragments > self.maxFragments:
                message = f"Message of more than {self.maxFragments} fragments refused."
                self._failWith(PayloadTooLargeError(message), 1009, message)
                return
        if compressed:
            self.frame_length = length
            self.frame_data = []
            return
        super().onMessageFrameBegin(length)

    @property
    def maxFragments(self) -> int:
        """Fragments allowed in one message: on average each must carry 64 bytes."""
        return max(1024, self.maxMessagePayloadSize // 64)

    def _failWith(self, error: Error, code: int, reason: str) -> None:
        """Fail the connection with ``code`` (Autobahn sends the close) and tell the core."""
        super()._fail_connection(code, reason)
        self.connection.failed(error, code)

    def _max_message_size_exceeded(self, msg_size: int, max_msg_size: int,
                                   reason: str) -> None:
        message = f"Max frame length of {max_msg_size} has been exceeded."
        if reason != "frame" and "message" in reason:
            message = f"Max message length of {max_msg_size} has been exceeded."
        self._failWith(PayloadTooLargeError(message), 1009, message)

    def _protocol_violation(self, reason: str) -> bool:
        kind = InvalidContinuationFrameError if "continuation" in reason else \
            CorruptedFrameError
        self._failWith(kind(reason), 1002, reason)
        return False  # read on: the peer's answer to our close is still to come

    def _invalid_payload(self, reason: str) -> bool:
        self._failWith(CorruptedFrameError(reason), 1007, reason)
        return False

    # -- inbound: whole frames, past Autobahn's parser -------------------------------------

    #: Delivers a whole message (the handler's ``messageReceived``, once open).
    _received: Any = None

    def _deliverFrame(self, first: int, payload: bytes) -> bool:
        """Deliver one whole unmasked frame; False when reading this way must stop."""
        if first & 0x40:
            inflated = self._inflate(payload)
            if inflated is None:
                return False  # refused (1009 / 1007): Autobahn reads on for the peer's close
            payload = inflated
            first &= 0x8F
        if first == 0x81:
            try:
                text = payload.decode("utf-8")
            except UnicodeDecodeError:
                self._invalid_payload("encountered invalid UTF-8 while processing text message")
                return False
            self._received(payload, False, text)
        else:
            self._received(payload, True, None)
        return self.state == STATE_OPEN and not self.connection.closeFrameReceived

    def _inflate(self, payload: bytes) -> bytes | None:
        """A whole compressed message, inflated within the message limit (RFC 7692)."""
        try:
            return cast(bytes, self._perMessageCompress.inflateMessage(payload))
        except PayloadExceededError:
            limit = self.maxMessagePayloadSize
            self._max_message_size_exceeded(limit, limit, "message after decompression")
            return None
        except PayloadCorruptError as e:
            self._invalid_payload(f"received WebSocket message cannot be decompressed: {e}")
            return None

    #: A large data frame still arriving (ServerAdapter._reading, ClientAdapter._readWhole).
    _pending: _PendingFrame | None = None

    def _continueFrame(self, data: bytes) -> bytes:
        """Add to the large frame being collected; the bytes after it, once it is whole."""
        pending = self._pending
        assert pending is not None
        need = pending.length - pending.have
        if len(data) < need:
            pending.add(data)
            return b""
        if data:
            pending.add(data[:need] if len(data) > need else data)
        rest = data[need:]
        self._pending = None
        transport = self.transport
        if isinstance(transport, TCPConnection):
            transport.__dict__.pop("bufferSize", None)  # Twisted's defaults again
            transport.__dict__.pop("doRead", None)
        if self.state != STATE_OPEN or self.connection.closeFrameReceived:
            return b""
        if not self._deliverFrame(pending.first, pending.payload()):
            if rest:
                self._dataReceived(rest)
            return b""
        return rest

    def _readLarge(self) -> Any:
        """The transport's ``doRead`` while a large frame arrives on plain TCP: the socket
        is read straight into the frame's buffer (no bytes object per read, no copy), at
        most up to the frame's end; the whole frame then goes the usual way. Returns
        what Twisted's ``doRead`` returns (None, or why the connection ended)."""
        pending = self._pending
        transport = self.transport
        if pending is None:  # finished or dropped meanwhile: Twisted's own reading again
            transport.__dict__.pop("doRead", None)
            return transport.doRead()
        try:
            n = transport.socket.recv_into(pending.rest())
        except BlockingIOError:
            return None
        except InterruptedError:
            return None
        except OSError:
            return CONNECTION_LOST
        if not n:
            return CONNECTION_DONE
        pending.unmaskRead(n)
        if pending.have == pending.length:
            self.dataReceived(b"")  # completes it (_continueFrame)
        return None


    # -- the end ---------------------------------------------------------------------------

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        try:
            # Defined by Autobahn's Twisted protocol, after _Adapter in the adapters' MRO.
            super().connectionLost(reason)  # type: ignore[misc]
        finally:
            self.connection.connectionLost()


class ServerAdapter(_Adapter, WebSocketServerProtocol):
    """Autobahn's server protocol for one accepted connection, built by the web glue after
    twisted.web parsed the upgrade request and bws accepted it (not by a factory)."""

    def __init__(self, connection: Connection, subProtocol: str | None,
                 headers: dict[str, list[str]], request: UpgradeRequest) -> None:
        super().__init__()
        self.connection = connection
        self.upgradeRequest = request
        self._subProtocol = subProtocol
        self._headers = headers
        self._received = _noMessage

    # What only the opening handshake needs, as class defaults once it is over.
    http_headers: Any = _NO_HEADERS
    http_request_data = b""
    http_request_host = ""
    http_request_params: Any = _NO_HEADERS
    http_request_path = ""
    http_request_uri = ""
    http_response_data: Any = None
    http_status_line = ""
    websocket_extensions: Any = ()
    websocket_extensions_in_use: Any = ()
    websocket_origin = ""
    websocket_protocols: Any = ()
    websocket_version = 13
    _wskey: Any = None
    _headers: Any = _NO_HEADERS
    _subProtocol: str | None = None
    _transport_details: Any = None
    current_frame: Any = None
    inside_message = False

    def _connectionMade(self) -> None:
        self._initState()
        self.factory.countConnections += 1

    def _connectionLost(self, reason: Any) -> None:
        """Autobahn's, without its debug line (whose arguments are made even when debug
        logging is off)."""
        WebSocketProtocol._connectionLost(self, reason)
        self.factory.countConnections -= 1

    def acceptUpgrade(self, key: str, offered: list[str]) -> None:
        """Answer 101 for a request twisted.web parsed and bws checked.

        Autobahn is given the values its own request parser would have found, then writes
        the answer (permessage-deflate negotiation included); parsing the request a second
        time would add nothing but cost.
        """
        request = self.upgradeRequest
        headers = {name: ", ".join(values) for name, values in request.headers.items()}
        self.http_request_data = b""
        self.http_status_line = f"{request.method} {request.uri} HTTP/1.1"
        self.http_headers = headers
        self.http_request_uri = request.uri
        self.http_request_path = request.path
        self.http_request_params = request.query
        self.http_request_host = headers.get("host", "")
        self.websocket_version = 13
        self.websocket_protocols = offered
        self.websocket_origin = headers.get("origin", "")
        # permessage-deflate is negotiated by bws (bws._deflate: offer by offer, never a
        # refusal) and Autobahn is given the result, not the offers.
        self.websocket_extensions = []
        offers = headers.get("sec-websocket-extensions")
        if offers and self.factory.deflateEnabled:
            agreement = acceptOffers([offers])
            if agreement is not None:
                self._perMessageCompress = _Deflate(True, agreement,
                                                    self.maxMessagePayloadSize)
                self._headers["Sec-WebSocket-Extensions"] = [agreement.responseHeader()]
        self._wskey = key
        self.succeedHandshake((self._subProtocol, self._headers))
        # Needed for the answer only (the request itself stays on ``upgradeRequest``): the
        # class's defaults stand in for them from now on.
        # A fresh dict: a dict never shrinks when entries leave it.
        self.__dict__ = {name: value for name, value in self.__dict__.items()
                         if name not in _HANDSHAKE_ONLY and not (
                             name in _DEFAULTED and value == _DEFAULTED[name])}

    def onOpen(self) -> None:
        self._opened()
        handler = self.connection.handler
        if handler is not None:
            self._received = handler.messageReceived

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self._received(payload, isBinary, None)

    def writeWhole(self, first: int, payload: bytes) -> None:
        """One whole unmasked (server) frame: ``first`` is FIN|RSV|opcode. A large one is
        written as header and payload, never joined (:func:`sendNow` gathers them)."""
        n = len(payload)
        if n < 126:
            self._write(bytes((first, n)) + payload)
        elif n < 65536:
            self._write(_HEADER16(first, 126, n) + payload)
        else:
            out = self._out
            if out is not None:
                out.append(_HEADER64(first, 127, n))
                out.append(payload)
            else:
                sendNow(self.transport, [_HEADER64(first, 127, n), payload])

    # -- inbound: a fast path for whole frames ---------------------------------------

    _head = b""

    def _reading(self, data: bytes) -> None:
        """Deliver complete, unfragmented data frames directly.

        Autobahn's parser handles everything else (control frames, fragments, partial small
        frames, anything malformed), so every check of RFC 6455 stays with it: a frame this
        path is not sure about is left to Autobahn, from its first byte on. A large frame
        still arriving is collected here and unmasked once, when complete.
        """
        self.connection.heard = True  # the keepalive's proof of life: one store per read
        if self._pending is not None:
            data = self._continueFrame(data)
            if not data:
                return
        if self._head:
            data = self._head + data
            self._head = b""
        if (self.state != STATE_OPEN or self.data or self.current_frame is not None
                or self.inside_message):
            self._dataReceived(data)
            return
        pos = 0
        end = len(data)
        limit = self.connection.maxFrameSize
        compress = self._perMessageCompress
        # ``incomplete``: the bytes left are the start of a frame this path takes, cut short
        # by the read; they wait here for the rest (any other bytes go to Autobahn).
        incomplete = False
        while True:
            if end - pos < 2:
                incomplete = True
                break
            first = data[pos]
            second = data[pos + 1]
            if second < 0x80 or not (first == 0x81 or first == 0x82 or (
                    compress is not None and (first == 0xC1 or first == 0xC2))):
                break  # not FIN + text/binary (RSV1 only when compression is on), or unmasked
            length = second & 0x7F
            start = pos + 6
            incomplete = True
            if end < start:
                break  # the header is cut short
            if length == 126:
                start = pos + 8
                if end < start:
                    break
                length = (data[pos + 2] << 8) | data[pos + 3]
                if length < 126:
                    incomplete = False
                    break  # not minimally encoded: Autobahn refuses it
            elif length == 127:
                start = pos + 14
                if end < start:
                    break
                length = int.from_bytes(data[pos + 2:pos + 10], "big")
                if length < 65536 or length >> 63:
                    incomplete = False
                    break  # not minimal, or the reserved top bit: Autobahn refuses it
            incomplete = False
            if length > limit:
                break  # Autobahn refuses it at the header (1009)
            stop = start + length
            if stop > end:
                if length >= COLLECT_FROM:
                    pending = self._pending = _PendingFrame(first, data[start - 4:start],
                                                            length)
                    pending.add(data[start:] if start else data)
                    transport = self.transport
                    if isinstance(transport, TCPConnection) and not transport.TLS:
                        if pending.inPlace:
                            transport.doRead = self._readLarge  # type: ignore[method-assign]
                        else:
                            transport.bufferSize = min(max(length - (end - start), 65536),
                                                       LARGE_READ)
                    pos = end
                else:
                    incomplete = True  # a small frame cut short: wait for the rest
                break
            pos = stop
            if not self._deliverFrame(first, unmask(data[start:stop], data[start - 4:start])):
                incomplete = False
                break
        if pos < end:
            if incomplete and self.state == STATE_OPEN:
                self._head = data[pos:]  # at most a header and a frame under COLLECT_FROM
            else:
                self._dataReceived(data[pos:] if pos else data)


#: ServerAdapter attributes dropped once the opening handshake is over (class defaults
#: stand in for them).
_HANDSHAKE_ONLY = ("http_headers", "http_request_data", "http_request_host",
                   "http_request_params", "http_request_path", "http_request_uri",
                   "http_response_data", "http_status_line", "websocket_extensions",
                   "websocket_origin", "websocket_protocols", "websocket_version", "_wskey",
                   "_headers", "_subProtocol", "_transport_details")


#: ServerAdapter attributes dropped after the handshake when they hold these values.
_DEFAULTED: dict[str, Any] = {"current_frame": None, "inside_message": False,
                              "websocket_extensions_in_use": []}


def _noMessage(payload: bytes, isBinary: bool, text: str | None) -> None:
    """Messages before the handshake completed go nowhere (none can arrive)."""


class _PendingFrame:
    """A large data frame whose payload is still arriving: each piece is copied into one
    buffer and unmasked there as it comes (Autobahn's C masker keeps its place between
    pieces), so the whole payload is copied once more, into bytes, when complete.
    Without Autobahn's C extensions the pieces are kept and unmasked at the end."""

    __slots__ = ("first", "mask", "length", "have", "_buffer", "_view", "_masker", "_chunks",
                 "_maskBuffer")

    def __init__(self, first: int, mask: bytes | None, length: int) -> None:
        self.first = first
        self.mask = mask
        self.length = length
        self.have = 0
        self._chunks: list[bytes] = []
        self._masker = None
        if _nvxLib is not None or mask is None:
            self._buffer = _lendBuffer(length)
            self._view = memoryview(self._buffer)[:length]
        if _nvxLib is not None and mask is not None:
            self._maskBuffer = _nvxFfi.new("uint8_t[4]", mask)
            self._masker = _nvxFfi.gc(_nvxLib.nvx_xormask_new(self._maskBuffer),
                                      _nvxLib.nvx_xormask_free)
            _nvxLib.nvx_xormask_set_impl(self._masker, 2)  # SSE2

    def add(self, piece: bytes) -> None:
        """The next bytes of the payload (at most what is still missing)."""
        n = len(piece)
        if not self.inPlace:
            self._chunks.append(piece)
        else:
            view = self._view[self.have:self.have + n]
            view[:] = piece
            if self._masker is not None:
                _nvxLib.nvx_xormask_process(self._masker,
                                            _nvxFfi.from_buffer("uint8_t[]", view), n)
        self.have += n

    @property
    def inPlace(self) -> bool:
        """Whether the payload is collected (and unmasked) in one buffer (:meth:`rest`,
        :meth:`unmaskRead`): unmasked frames always, masked ones with the C masker."""
        return self.mask is None or self._masker is not None

    def rest(self) -> memoryview:
        """The part of the buffer still to be filled (in place only)."""
        return self._view[self.have:]

    def unmaskRead(self, n: int) -> None:
        """``n`` more bytes were read into :meth:`rest`: unmask them there."""
        if self._masker is not None:
            view = self._view[self.have:self.have + n]
            _nvxLib.nvx_xormask_process(self._masker,
                                        _nvxFfi.from_buffer("uint8_t[]", view), n)
        self.have += n

    def payload(self) -> bytes:
        """The whole payload, unmasked."""
        if not self.inPlace:
            assert self.mask is not None
            return unmask(b"".join(self._chunks), self.mask)
        payload = bytes(self._view)
        self._view.release()
        if len(self._buffer) <= SPARE_MAX:
            _returnBuffer(self._buffer)
        return payload


class ClientAttempt(typing.Protocol):
    """What a :class:`ClientAdapter` reports the opening handshake to (``bws.client``)."""

    #: The attempt's protocol, once built (for diagnostics and tests).
    protocol: IProtocol | None

    def handshakeRefused(self, raw: bytes | None, reason: str, actualSubProtocol: str,
                         body: bytes = b"") -> None:
        """The server's answer is not a valid 101 (``body``: a refusal's body, if any)."""

    def subProtocolAccepted(self, raw: bytes | None, chosen: str | None) -> bool:
        """A 101 arrived: whether its subprotocol is acceptable."""

    def transportLost(self, reason: Failure) -> None:
        """TCP ended (before its connection reports it), with this reason."""


class ClientAdapter(_Adapter, WebSocketClientProtocol):  # type: ignore[misc]  # Autobahn's bases disagree
    """Autobahn's client protocol for one connection attempt.

    The server's answer to the upgrade request is collected here, within
    :data:`RESPONSE_LIMITS`, and handed to Autobahn once whole: Autobahn alone would buffer
    an answer without bound and search all of it again on every read. A refusal's body
    (its reason; ``Content-Length`` framed, at most ``bws._http.MAX_REFUSAL_BODY`` bytes)
    is collected too before the refusal is reported, unless the connection ends or the
    handshake deadline passes first (:meth:`finishRefusal`): then what arrived is kept.
    """

    def __init__(self, connection: Connection, attempt: ClientAttempt) -> None:
        super().__init__()
        self.connection = connection
        self.attempt = attempt
        self._response: ResponseHead | None = None
        #: While a refusal's body is awaited: the head's length and the body's.
        self._headEnd: int | None = None
        self._bodyWanted = 0
        self._body = b""

    def _connectionMade(self) -> None:
        self._initState()
        limits = RESPONSE_LIMITS
        self._response = ResponseHead(limits.maxUriLength, limits.maxHeaderSize,
                                      limits.maxHeaderCount)
        if self.factory.proxy is not None:
            self.startProxyConnect()
        else:
            self.startHandshake()

    def _reading(self, data: bytes) -> None:
        """Collect the answer's head (bounded, each byte searched once), then let Autobahn
        parse it; refuse at once an answer that is not HTTP or is over a limit. Any byte
        from the server is proof of life for the keepalive."""
        self.connection.heard = True
        response = self._response
        if response is None or self.state != STATE_CONNECTING:
            if self.state == STATE_OPEN:
                self._readWhole(data)
            else:
                self._dataReceived(data)
            return
        if self._headEnd is not None:
            response.buffer += data
            if len(response.buffer) >= self._headEnd + self._bodyWanted:
                self._handOver(response, self._headEnd, self._bodyWanted)
            return
        try:
            end = response.feed(data)
        except HeadError as e:
            self._response = None
            self.failHandshake(self._notHttp(e) if isinstance(e, NotHttp) else str(e))
            return
        if end is not None:
            wanted = refusalBodyLength(bytes(response.buffer[:end]))
            if len(response.buffer) < end + wanted:
                self._headEnd, self._bodyWanted = end, wanted
                return
            self._handOver(response, end, wanted)

    def _handOver(self, response: ResponseHead, end: int, bodyLength: int) -> None:
        """The head (and a refusal's body) arrived: Autobahn reads the answer."""
        self._response = self._headEnd = None
        self._body = bytes(response.buffer[end:end + bodyLength])
        self._dataReceived(bytes(response.buffer))

    def finishRefusal(self) -> None:
        """Report a refusal whose body is still arriving with the part that arrived (the
        handshake deadline passed, or the connection ended); otherwise do nothing."""
        response, end = self._response, self._headEnd
        if response is None or end is None:
            return
        self._response = self._headEnd = None
        self.attempt.handshakeRefused(bytes(response.buffer[:end]), "refused", "",
                                      bytes(response.buffer[end:end + self._bodyWanted]))

    def _notHttp(self, error: NotHttp) -> str:
        """Why an answer is not HTTP: a TLS record (RFC 8446 §5.1: 0x15 alert, 0x16
        handshake) on a plain connection means the URL should have been ``wss://``."""
        factory = self.factory
        if error.first[:1] in (b"\x15", b"\x16") and not factory.isSecure:
            return (f"the server at {factory.host}:{factory.port} speaks TLS "
                    f"(is it wss:// rather than ws://?)")
        return str(error)

    _answerJudged = False
    perMessageCompressionOffers: list[Any]

    def processHandshake(self) -> None:
        """Judge the extensions of a 101 (bws._deflate) before Autobahn reads the rest: an
        extension or parameter the client did not offer fails the handshake (RFC 6455 §9.1,
        RFC 7692 §5), and the agreed permessage-deflate is set up here."""
        if not self._answerJudged:
            end = self.data.find(b"\r\n\r\n")
            if end < 0:
                return
            self._answerJudged = True
            head = self.data[:end + 4]
            response = HttpResponse.parse(head)
            if response.statusCode == 101:
                try:
                    agreement = checkAnswer(response.getHeaders("sec-websocket-extensions"),
                                            bool(self.perMessageCompressionOffers))
                except NegotiationError as e:
                    self.http_response_data = head
                    self.failHandshake(str(e))
                    return
                if agreement is not None:
                    self._perMessageCompress = _Deflate(False, agreement,
                                                        self.maxMessagePayloadSize)
        super().processHandshake()

    def _parseExtensionsHeader(self, header: str, removeQuotes: bool = True) -> list[Any]:
        """None for Autobahn: the answer's extensions were judged in processHandshake."""
        return []

    def startHandshake(self) -> None:
        """Write the upgrade request (RFC 6455 §4.1); Autobahn reads the answer.

        bws writes the head itself so that each field goes out once: the factory's
        ``requestHeaders`` (``Host`` first, a user's ``Host`` or ``User-Agent`` in place of
        the default), then the WebSocket fields, which are bws's alone.
        """
        factory = self.factory
        self.websocket_key = base64.b64encode(os.urandom(16))
        lines = [f"GET {factory.requestTarget} HTTP/1.1"]
        lines += [f"{name}: {value}" for name, value in factory.requestHeaders]
        lines += ["Upgrade: websocket", "Connection: Upgrade",
                  f"Sec-WebSocket-Key: {self.websocket_key.decode('ascii')}",
                  "Sec-WebSocket-Version: 13"]
        if factory.protocols:
            lines.append(f"Sec-WebSocket-Protocol: {', '.join(factory.protocols)}")
        offers = [offer.get_extension_string() for offer in self.perMessageCompressionOffers]
        if offers:
            lines.append(f"Sec-WebSocket-Extensions: {', '.join(offers)}")
        self.http_request_data = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
        self.sendData(self.http_request_data)

    def failHandshake(self, reason: str) -> None:
        self.attempt.handshakeRefused(
            getattr(self, "http_response_data", None), reason,
            getattr(self, "http_headers", {}).get("sec-websocket-protocol", ""), self._body)
        super().failHandshake(reason)

    def _onConnect(self, response: ConnectionResponse) -> Deferred[None] | None:
        if not self.attempt.subProtocolAccepted(
                getattr(self, "http_response_data", None), response.protocol):
            self.dropConnection(abort=True)
            return Deferred()  # never fires: the connection is gone
        return None

    def onOpen(self) -> None:
        self._opened()
        handler = self.connection.handler
        self._received = _noMessage if handler is None else handler.messageReceived

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        handler = self.connection.handler
        if handler is not None:
            handler.messageReceived(payload, isBinary, None)

    _head = b""

    def _readWhole(self, data: bytes) -> None:
        """Deliver complete, unfragmented data frames from the server directly (they are
        unmasked: RFC 6455 §5.1), as the server does (:meth:`ServerAdapter._reading`), a
        large one collected while it arrives; anything else goes to Autobahn's parser from
        its first byte on, so every check of RFC 6455 stays with it."""
        if self._pending is not None:
            data = self._continueFrame(data)
            if not data:
                return
        if self._head:
            data = self._head + data
            self._head = b""
        if self.data or self.current_frame is not None or self.inside_message:
            self._dataReceived(data)
            return
        pos = 0
        end = len(data)
        limit = self.connection.maxFrameSize
        compress = self._perMessageCompress
        incomplete = False  # as in ServerAdapter._reading
        while True:
            if end - pos < 2:
                incomplete = True
                break
            first = data[pos]
            second = data[pos + 1]
            if second >= 0x80 or not (first == 0x81 or first == 0x82 or (
                    compress is not None and (first == 0xC1 or first == 0xC2))):
                break  # not FIN + text/binary (RSV1 only when compression is on), or masked
            length = second
            start = pos + 2
            incomplete = True
            if length == 126:
                start = pos + 4
                if end < start:
                    break
                length = (data[pos + 2] << 8) | data[pos + 3]
                if length < 126:
                    incomplete = False
                    break  # not minimally encoded: Autobahn refuses it
            elif length == 127:
                start = pos + 10
                if end < start:
                    break
                length = int.from_bytes(data[pos + 2:pos + 10], "big")
                if length < 65536 or length >> 63:
                    incomplete = False
                    break  # not minimal, or the reserved top bit: Autobahn refuses it
            incomplete = False
            if length > limit:
                break  # Autobahn refuses it at the header (1009)
            stop = start + length
            if stop > end:
                if length >= COLLECT_FROM:
                    pending = self._pending = _PendingFrame(first, None, length)
                    pending.add(data[start:] if start else data)
                    transport = self.transport
                    if isinstance(transport, TCPConnection) and not transport.TLS:
                        transport.doRead = self._readLarge
                    pos = end
                else:
                    incomplete = True  # a small frame cut short: wait for the rest
                break
            pos = stop
            if not self._deliverFrame(first, data[start:stop]):
                incomplete = False
                break
        if pos < end:
            if incomplete and self.state == STATE_OPEN:
                self._head = data[pos:]  # at most a header and a frame under COLLECT_FROM
            else:
                self._dataReceived(data[pos:] if pos else data)

    def writeWhole(self, first: int, payload: bytes) -> None:
        """One whole masked (client) frame, in one write: ``first`` is FIN|RSV|opcode; a
        fresh mask from the OS's entropy for each frame (RFC 6455 §5.3)."""
        n = len(payload)
        mask = os.urandom(4)
        if n < 126:
            self._write(bytes((first, 0x80 | n)) + mask + unmask(payload, mask))
        elif n < 65536:
            self._write(_HEADER16(first, 0xFE, n) + mask + unmask(payload, mask))
        elif _nvxLib is None:
            self._writeLarge([_HEADER64(first, 0xFF, n) + mask, unmask(payload, mask)], None)
        else:
            # Masked in a reused buffer (a fresh megabyte or two per frame cost more in
            # page faults than the masking itself), sent from there.
            buffer = _lendBuffer(n)
            view = memoryview(buffer)[:n]
            view[:] = payload
            masker = _nvxLib.nvx_xormask_new(_nvxFfi.from_buffer(mask))
            try:
                _nvxLib.nvx_xormask_process(masker, _nvxFfi.from_buffer("uint8_t[]", view), n)
            finally:
                _nvxLib.nvx_xormask_free(masker)
            self._writeLarge([_HEADER64(first, 0xFF, n) + mask, view], buffer)

    def _writeLarge(self, pieces: list[Any], buffer: bytearray | None) -> None:
        """Header and payload of a large frame; ``buffer``: what the payload is a view of,
        given back once sent (at the end of the read being handled, if one is)."""
        out = self._out
        if out is not None:
            out.extend(pieces)
            if buffer is not None:
                if self._lent is None:
                    self._lent = []
                self._lent.append(buffer)
            return
        sendNow(self.transport, pieces)
        if buffer is not None:
            _returnBuffer(buffer)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.finishRefusal()
        self.attempt.transportLost(reason)
        super().connectionLost(reason)


class ClientFactory(WebSocketClientFactory):
    """Builds the one :class:`ClientAdapter` of a connection attempt.

    :param resource: the request target (path and query, percent-encoded).
    :param headers: the upgrade request's ``(name, value)`` fields other than those bws
        writes itself (:data:`bws._http.CLIENT_OWNED`), ``Host`` first; a ``User-Agent``,
        ``Pragma`` or ``Cache-Control`` among them replaces the default one.
    :param subProtocols: offered in ``Sec-WebSocket-Protocol``.
    :param options: from :func:`clientOptions`.
    :param address: the server's ``(host, port, secure)``, for messages about it.
    """

    def __init__(self, resource: str, headers: list[tuple[str, str]], subProtocols: list[str],
                 options: dict[str, Any], clock: IReactorTime, connection: Connection,
                 attempt: ClientAttempt, address: tuple[str, int, bool]) -> None:
        super().__init__(protocols=subProtocols, reactor=clock)
        self.setProtocolOptions(**options)
        self.host, self.port, self.isSecure = address
        self.requestTarget = resource
        given = {name.lower() for name, _ in headers}
        defaults = [("User-Agent", self.useragent), ("Pragma", "no-cache"),
                    ("Cache-Control", "no-cache")]
        #: Every field of the request head but the WebSocket ones, each name once.
        self.requestHeaders = headers + [(n, v) for n, v in defaults if n.lower() not in given]
        self.trackTimings = False
        self.logOctets = False
        self.logFrames = False
        self.connection = connection
        self.attempt = attempt
        self.built: ClientAdapter | None = None

    def buildProtocol(self, addr: IAddress | None) -> ClientAdapter:
        proto = ClientAdapter(self.connection, self.attempt)
        proto.factory = self
        self.built = self.attempt.protocol = proto
        return proto
