# -*- test-case-name: tests.test_connection -*-
"""What both ends of a bws connection share: sending, flow control, closing, attributes.

:class:`ChannelMixin` sits in front of an Autobahn protocol class (server or client) and
gives ``Caller`` and ``Client`` the spec's semantics: messages fragmented at
``maxFrameSize`` (text on UTF-8 boundaries), write Deferreds that respect the transport's
flow control, the close handshake with the reference's error messages and a timer of
bws's own clock (Autobahn's timers are switched off), and protocol errors turned into
``bws`` errors.
"""

from __future__ import annotations

import itertools
import os
import struct
from collections import deque
from typing import Any

from autobahn.exception import PayloadCorruptError, PayloadExceededError
from autobahn.websocket.protocol import TrafficStats as _TrafficStats
from autobahn.websocket.protocol import WebSocketProtocol
from autobahn.websocket.utf8validator import Utf8Validator
from autobahn.websocket.xormasker import create_xor_masker
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IDelayedCall, IPushProducer, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from bws._fields import seconds
from bws.closeframe import isValidCloseCode
from bws.errors import (
    ConnectionClosureError,
    CorruptedFrameError,
    Error,
    InvalidContinuationFrameError,
    PayloadTooLargeError,
)

__all__ = ["ChannelMixin", "STATE_OPEN", "STATE_CLOSING", "STATE_CLOSED"]

STATE_OPEN = WebSocketProtocol.STATE_OPEN
STATE_CLOSING = WebSocketProtocol.STATE_CLOSING
STATE_CLOSED = WebSocketProtocol.STATE_CLOSED
CLOSE_NO_STATUS = 1005
CLOSE_ABNORMAL = 1006
#: Seconds to wait for the peer's close after bws failed the connection (1002/1007/1009).
FAILED_CLOSE_TIMEOUT = 1.0
#: Longest timeout accepted by ``close`` (the reference refuses absurd values).
MAX_TIMEOUT = 2**31 - 1

_ids = itertools.count(1)
_idPrefix = os.urandom(4).hex()


def newConnectionId() -> str:
    """A process-unique, stable id for one connection."""
    return f"{_idPrefix}-{next(_ids):x}"


def closeTimeout(timeout: Any) -> float:
    """Validate a ``close`` timeout: seconds >= 0, or -1 for "wait forever"."""
    try:
        value = seconds(timeout)
    except (TypeError, ValueError, ArithmeticError):
        raise Error(f"Invalid timeout value: {timeout}") from None
    if value == -1:
        return value
    if value < 0 or value > MAX_TIMEOUT or value != value:
        raise Error(f"Invalid timeout value: {timeout}")
    return value


_HEADER16 = struct.Struct("!BBH").pack
_HEADER64 = struct.Struct("!BBQ").pack


#: Frames at least this long are collected here while they arrive (else Autobahn's).
COLLECT_FROM = 16384


class _PendingFrame:
    """A large data frame whose payload is still arriving."""

    __slots__ = ("first", "mask", "length", "chunks", "have")

    def __init__(self, first: int, mask: bytes, length: int, chunks: list[bytes],
                 have: int) -> None:
        self.first = first
        self.mask = mask
        self.length = length
        self.chunks = chunks
        self.have = have


def _unmask(payload: bytes, mask: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte ``mask``: a big-integer XOR for small payloads,
    Autobahn's vectorised C masker for large ones."""
    n = len(payload)
    if not n:
        return b""
    if n > 2048:
        return create_xor_masker(mask, n).process(payload)  # type: ignore[no-any-return]
    key = mask * ((n + 3) >> 2)
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key[:n], "little")).to_bytes(
        n, "little")


def utf8Cut(payload: bytes, end: int) -> int:
    """The largest index <= ``end`` that does not split a UTF-8 sequence."""
    start = end
    while end > 0 and (payload[end] & 0xC0) == 0x80:
        end -= 1
    return end if end > 0 else start


def initAutobahnState(proto: Any) -> None:
    """Autobahn's per-connection set-up (``WebSocketProtocol._connectionMade``), minus its
    debug log line, which pretty-prints every option on every connection even when debug
    logging is off (a third of a handshake's CPU in profiles)."""
    factory = proto.factory
    for name in proto.CONFIG_ATTRS:
        if not hasattr(proto, name):
            setattr(proto, name, getattr(factory, name))
    proto._perMessageCompress = None
    proto.trackedTimings = None
    proto.trafficStats = _TrafficStats()
    proto.state = WebSocketProtocol.STATE_CONNECTING
    proto.send_state = WebSocketProtocol.SEND_STATE_GROUND
    proto.data = b""
    proto.send_queue = ()  # made a deque only if Autobahn ever queues (sync/chopped writes)
    proto.triggered = False
    proto.utf8validator = Utf8Validator()
    proto.wasMaxFramePayloadSizeExceeded = False
    proto.wasMaxMessagePayloadSizeExceeded = False
    proto.closedByMe = False
    proto.failedByMe = False
    proto.droppedByMe = False
    proto.wasClean = False
    proto.wasNotCleanReason = None
    proto.wasServerConnectionDropTimeout = False
    proto.wasOpenHandshakeTimeout = False
    proto.wasCloseHandshakeTimeout = False
    proto.wasServingFlashSocketPolicyFile = False
    proto.localCloseCode = None
    proto.localCloseReason = None
    proto.remoteCloseCode = None
    proto.remoteCloseReason = None
    if not factory.isServer:
        proto.serverConnectionDropTimeoutCall = None
    proto.openHandshakeTimeoutCall = None
    proto.closeHandshakeTimeoutCall = None
    proto.autoPingTimeoutCall = None
    proto.autoPingPending = None
    proto.autoPingPendingCall = None
    proto.autoPingPendingSeq = 0
    proto.autoPingPendingSent = None
    # bws sets openHandshakeTimeout to 0: its own deadlines cover the handshake.


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


@implementer(IPushProducer)
class ChannelMixin:
    """Mixed in before an Autobahn protocol; see the module docstring.

    Subclasses set ``clock``, ``maxFrameSize``, ``closureTimeout`` before the connection
    opens and override the ``channel*`` hooks.
    """

    #: bws's own log. ``log`` stays Autobahn's txaio logger, whose debug calls are no-ops
    #: below its level; a twisted ``Logger`` there would format and emit every one of them.
    bwsLog = Logger()
    clock: IReactorTime
    maxFrameSize: int = 65536
    #: Default seconds to wait for the peer's close (``connectionClosureTimeout``).
    closureTimeout: float = 60.0

    # Autobahn's attributes we read (declared for type checkers).
    state: int
    transport: Any
    closedByMe: bool
    wasClean: bool
    send_queue: Any
    _perMessageCompress: Any

    def channelInit(self) -> None:
        """Reset per-connection state; call from ``connectionMade``."""
        self.connectionId = newConnectionId()
        self.attributes: dict[str, Any] = {}
        self._readPauses: set[str] | None = None
        self._writePaused = False
        self._writeWaiters: list[Deferred[None]] = []
        self._closeWaiter: Deferred[None] | None = None
        self._closeTimer: IDelayedCall | None = None
        self._closeTimerSeconds: float | None = None
        self.closeFrameReceived = False
        self.closeStatus: int | None = None
        self.closeReason = ""
        self.failure: Error | None = None
        self._fragments = 0
        self._pending: _PendingFrame | None = None
        self._head = b""
        self.transport.registerProducer(self, True)

    # -- flow control --------------------------------------------------------------

    def pauseReading(self, why: str) -> None:
        """Stop reading from the socket until every reason is lifted."""
        if not self._readPauses:
            if self.transport is not None:
                self.transport.pauseProducing()
            self._readPauses = set()
        self._readPauses.add(why)

    def resumeReading(self, why: str) -> None:
        """Lift one reason for not reading."""
        pauses = self._readPauses
        if not pauses:
            return
        pauses.discard(why)
        if not pauses and self.transport is not None and self.state != STATE_CLOSED:
            self.transport.resumeProducing()

    def pauseProducing(self) -> None:
        """The transport's buffer is full: hold writers, and stop reading meanwhile."""
        self._writePaused = True
        self.pauseReading("write")

    def resumeProducing(self) -> None:
        """The transport drained: release held writers."""
        self._writePaused = False
        waiters, self._writeWaiters = self._writeWaiters, []
        for d in waiters:
            d.callback(None)
        if not self._writePaused:
            self.resumeReading("write")

    def stopProducing(self) -> None:
        """The transport is going away; held writers fail in ``channelLost``."""

    def writeDone(self) -> Deferred[None]:
        """A Deferred that fires once the transport can take more data."""
        if not self._writePaused:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._writeWaiters.append(d)
        return d

    # -- sending -----------------------------------------------------------------

    def writeRefusal(self, kind: str) -> Failure | None:
        """Why a data write must fail now, or None when it may go out."""
        state = self.state
        if state == STATE_OPEN and not self.closeFrameReceived:
            return None
        if state == STATE_CLOSING and self.closedByMe:
            text = "Cannot push text data!" if kind == "text" else f"Cannot push {kind} data."
            return Failure(ConnectionClosureError(f"Close frame already sent. {text}"))
        return Failure(ConnectionClosureError("Connection already closed"))

    def sendPayload(self, payload: bytes, isBinary: bool) -> None:
        """Send one message, fragmented at ``maxFrameSize`` (text on UTF-8 boundaries)."""
        limit = self.maxFrameSize
        compress = self._perMessageCompress
        if compress is None and len(payload) <= limit:
            if self.isServerSide:
                self.writeFrame(0x82 if isBinary else 0x81, payload)  # the common case
            else:
                self.sendFrame(opcode=2 if isBinary else 1, payload=payload)  # type: ignore[attr-defined]
            return
        rsv = 0
        if compress is not None:
            compress.start_compress_message()
            payload = compress.compress_message_data(payload) + compress.end_compress_message()
            rsv = 4
            if len(payload) <= limit and self.isServerSide:
                self.writeFrame(0xC2 if isBinary else 0xC1, payload)
                return
        # Compressed bytes may be cut anywhere; plain text only between characters.
        self.sendFragments(payload, 2 if isBinary else 1, rsv, not isBinary and rsv == 0)

    def writeFrame(self, first: int, payload: bytes) -> None:
        """One whole unmasked (server) frame, in one write: ``first`` is FIN|RSV|opcode."""
        n = len(payload)
        if n < 126:
            self.transport.write(bytes((first, n)) + payload)
        elif n < 65536:
            self.transport.write(_HEADER16(first, 126, n) + payload)
        else:
            self.transport.writeSequence((_HEADER64(first, 127, n), payload))

    def sendFragments(self, payload: bytes, opcode: int, rsv: int, textCuts: bool) -> None:
        """Write ``payload`` as one message of frames no larger than ``maxFrameSize``."""
        limit = self.maxFrameSize
        n = len(payload)
        start = 0
        first = True
        while True:
            end = min(start + limit, n)
            if textCuts and end < n:
                end = utf8Cut(payload, end)
            fin = end >= n
            self.sendFrame(  # type: ignore[attr-defined]
                opcode=opcode if first else 0, payload=payload[start:end], fin=fin,
                rsv=rsv if first else 0)
            if fin:
                return
            first = False
            start = end

    def sendData(self, data: bytes, sync: bool = False, chopsize: int | None = None) -> None:
        """Autobahn's single write path; writes straight to the transport (no stats)."""
        if sync or chopsize or self.send_queue:
            if not isinstance(self.send_queue, deque):
                self.send_queue = deque()
            super().sendData(data, sync, chopsize)  # type: ignore[misc]
        else:
            self.transport.write(data)

    def writeMessage(self, payload: bytes, isBinary: bool, kind: str) -> Deferred[None]:
        """Send a message and return the flow-control Deferred."""
        refusal = self.writeRefusal(kind)
        if refusal is not None:
            return fail(refusal)
        self.sendPayload(payload, isBinary)
        return self.writeDone()

    def writeControl(self, opcode: int, data: bytes, name: str) -> Deferred[None]:
        """Send a ping (9) or pong (10); payloads over 125 bytes are refused."""
        data = bytes(data)
        if len(data) > 125:
            return fail(CorruptedFrameError(
                f"invalid payload for {name} (payload length must be <= 125, was {len(data)})"))
        refusal = self.writeRefusal("control")
        if refusal is not None:
            return fail(refusal)
        self.sendFrame(opcode=opcode, payload=data)  # type: ignore[attr-defined]
        return self.writeDone()

    # -- closing -----------------------------------------------------------------

    def startClose(self, statusCode: int | None, reason: str | None,
                   timeout: Any) -> Deferred[None]:
        """``close()`` of the spec: validate, send the close frame, wait for the peer's."""
        if statusCode is not None and (isinstance(statusCode, bool)
                                       or not isinstance(statusCode, int)
                                       or not isValidCloseCode(statusCode)):
            return fail(ConnectionClosureError(
                f"Failed to execute close. Invalid status code: {statusCode}"))
        try:
            wait = self.closureTimeout if timeout is None else closeTimeout(timeout)
        except Error as e:
            return fail(e)
        if self.state == STATE_CLOSING and self.closedByMe:
            return fail(ConnectionClosureError(
                "Close frame already sent. Cannot send close frame again."))
        if self.state != STATE_OPEN:
            return fail(ConnectionClosureError("Connection already closed"))
        reasonBytes = None
        if reason:
            reasonBytes = reason.encode("utf-8")
            if len(reasonBytes) > 123:
                reasonBytes = reasonBytes[:utf8Cut(reasonBytes, 123)]
        elif statusCode is not None and reason is not None:
            reasonBytes = b""
        if self.closeFrameReceived:
            # The peer closed first (we are inside onClose): this close is the answer.
            self.sendCloseFrame(code=statusCode, reasonUtf8=reasonBytes, isReply=True)
            self.wasClean = True
            if self.isServerSide:
                self.dropConnection(abort=False)  # type: ignore[attr-defined]
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._closeWaiter = d
        self._closeTimerSeconds = wait
        self.sendCloseFrame(code=statusCode, reasonUtf8=reasonBytes, isReply=False)
        return d

    def sendCloseFrame(self, code: int | None = None, reasonUtf8: bytes | None = None,
                       isReply: bool = False) -> None:
        """Every close frame goes out here; a close we start arms bws's own timer."""
        super().sendCloseFrame(code, reasonUtf8, isReply)  # type: ignore[misc]
        if self.closedByMe and self._closeTimer is None and self.state == STATE_CLOSING:
            wait = self._closeTimerSeconds
            if wait is None:
                wait = self.closureTimeout
                if self.failure is not None:
                    # After a protocol error the byte stream is out of step: the peer's
                    # close may never be recognised, so do not hold the socket for long.
                    wait = FAILED_CLOSE_TIMEOUT if wait < 0 else min(wait, FAILED_CLOSE_TIMEOUT)
            if wait >= 0:
                self._closeTimer = self.clock.callLater(wait, self._closeTimedOut, wait)
        self.channelCloseSent()

    def _closeTimedOut(self, wait: float) -> None:
        self._closeTimer = None
        waiter, self._closeWaiter = self._closeWaiter, None
        shown = int(wait) if wait == int(wait) else wait
        if waiter is not None:
            waiter.errback(ConnectionClosureError(
                "Could not receive a WebSocket close frame from remote endpoint within "
                f"{shown} seconds"))
        if self.transport is not None:
            self.transport.abortConnection()

    def closeAnswered(self) -> None:
        """The peer answered our close frame."""
        if self._closeTimer is not None and self._closeTimer.active():
            self._closeTimer.cancel()
        self._closeTimer = None
        waiter, self._closeWaiter = self._closeWaiter, None
        if waiter is not None:
            waiter.callback(None)

    def onCloseFrame(self, code: int | None, reasonRaw: bytes | None) -> bool | None:
        """A close frame arrived: an answer to ours, or the peer closing."""
        answer = self.state == STATE_CLOSING
        self.closeFrameReceived = True
        result = self.channelCloseFrame(code, reasonRaw, answer)
        if answer:
            self.closeAnswered()
        return result

    def channelCloseFrame(self, code: int | None, reasonRaw: bytes | None,
                          answer: bool) -> bool | None:
        """Hook: by default, Autobahn's handling (echo, drop)."""
        return super().onCloseFrame(code, reasonRaw)  # type: ignore[misc]

    def channelCloseSent(self) -> None:
        """Hook: a close frame went out."""

    def channelLost(self) -> None:
        """Fail what still waits; call from ``connectionLost``."""
        if self._closeTimer is not None and self._closeTimer.active():
            self._closeTimer.cancel()
        self._closeTimer = None
        waiter, self._closeWaiter = self._closeWaiter, None
        if waiter is not None:
            if self.closeFrameReceived:
                waiter.callback(None)
            else:
                waiter.errback(ConnectionClosureError(
                    "Connection closed by remote endpoint without echoing a close frame"))
        writers, self._writeWaiters = self._writeWaiters, []
        for d in writers:
            d.errback(ConnectionClosureError("Connection closed before the message was sent"))

    # -- inbound: a fast path for whole frames ---------------------------------------

    def dataReceived(self, data: bytes) -> None:
        """Deliver complete, unfragmented data frames directly.

        Autobahn's parser handles everything else (control frames, fragments, partial small
        frames, anything malformed), so every check of RFC 6455 stays with it: a frame this
        path is not sure about is left to Autobahn, from its first byte on. A large frame
        still arriving is collected here and unmasked once, when complete.
        """
        if self._pending is not None:
            data = self._continueFrame(data)
            if not data:
                return
        if self._head:
            data = self._head + data
            self._head = b""
        if (self.state != STATE_OPEN or self.data  # type: ignore[attr-defined]
                or self.current_frame is not None  # type: ignore[attr-defined]
                or self.inside_message  # type: ignore[attr-defined]
                or not self.isServerSide):
            super().dataReceived(data)  # type: ignore[misc]
            return
        pos = 0
        end = len(data)
        limit = self.maxFrameSize
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
                    self._pending = _PendingFrame(first, data[start - 4:start], length,
                                                  [data[start:]], end - start)
                    pos = end
                else:
                    incomplete = True  # a small frame cut short: wait for the rest
                break
            pos = stop
            if not self._deliverFrame(first, _unmask(data[start:stop], data[start - 4:start])):
                incomplete = False
                break
        if pos < end:
            if incomplete and self.state == STATE_OPEN:
                self._head = data[pos:]  # at most a header and a frame under COLLECT_FROM
            else:
                super().dataReceived(data[pos:] if pos else data)  # type: ignore[misc]

    def _continueFrame(self, data: bytes) -> bytes:
        """Add to the large frame being collected; the bytes after it, once it is whole."""
        pending = self._pending
        assert pending is not None
        need = pending.length - pending.have
        if len(data) < need:
            pending.chunks.append(data)
            pending.have += len(data)
            return b""
        pending.chunks.append(data[:need])
        rest = data[need:]
        self._pending = None
        if self.state != STATE_OPEN or self.closeFrameReceived:
            return b""
        if not self._deliverFrame(pending.first, _unmask(b"".join(pending.chunks),
                                                         pending.mask)):
            if rest:
                super().dataReceived(rest)  # type: ignore[misc]
            return b""
        return rest

    def _deliverFrame(self, first: int, payload: bytes) -> bool:
        """Deliver one whole unmasked frame; False when reading this way must stop."""
        if first & 0x40:
            inflated = self._inflate(self._perMessageCompress, payload)
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
            self.deliverText(payload, text)
        else:
            self.onMessage(payload, True)  # type: ignore[attr-defined]
        return self.state == STATE_OPEN and not self.closeFrameReceived

    def _inflate(self, compress: Any, payload: bytes) -> bytes | None:
        """A whole compressed message, inflated within the message limit (RFC 7692)."""
        limit = self.maxMessagePayloadSize  # type: ignore[attr-defined]
        try:
            compress.start_decompress_message()
            inflated = compress.decompress_message_data(payload, max_output_len=limit or None)
            compress.end_decompress_message()
        except PayloadExceededError:
            self._max_message_size_exceeded(limit, limit, "message after decompression")
            return None
        except PayloadCorruptError as e:
            self._invalid_payload(f"received WebSocket message cannot be decompressed: {e}")
            return None
        return inflated  # type: ignore[no-any-return]

    def deliverText(self, payload: bytes, text: str) -> None:
        """A whole text message whose UTF-8 is already decoded (and so validated)."""
        self.onMessage(payload, False)  # type: ignore[attr-defined]

    @property
    def isServerSide(self) -> bool:
        return bool(self.factory.isServer)  # type: ignore[attr-defined]

    # -- inbound limits ------------------------------------------------------------

    def onMessageBegin(self, isBinary: bool) -> None:
        super().onMessageBegin(isBinary)  # type: ignore[misc]
        self._fragments = 0

    def onMessageFrameBegin(self, length: int) -> None:
        """Refuse at the frame header: a frame over ``maxFrameSize`` (1009, before its
        payload arrives), or one fragment too many (1009: a flood of tiny fragments)."""
        if not self.failedByMe:  # type: ignore[attr-defined]
            if length > self.maxFrameSize:
                self._max_message_size_exceeded(length, self.maxFrameSize, "frame")
                return
            self._fragments += 1
            if self._fragments > self.maxFragments:
                self.failure = PayloadTooLargeError(
                    f"Message of more than {self.maxFragments} fragments refused.")
                self._fail_connection(1009, str(self.failure))  # type: ignore[attr-defined]
                return
        super().onMessageFrameBegin(length)  # type: ignore[misc]

    @property
    def maxFragments(self) -> int:
        """Fragments allowed in one message: on average each must carry 64 bytes."""
        return max(1024, self.maxMessagePayloadSize // 64)  # type: ignore[attr-defined]

    # -- protocol errors (Autobahn's hooks), as bws errors -------------------------

    def _max_message_size_exceeded(self, msg_size: int, max_msg_size: int, reason: str) -> None:
        message = f"Max frame length of {max_msg_size} has been exceeded."
        if reason != "frame" and "message" in reason:
            message = f"Max message length of {max_msg_size} has been exceeded."
        self.failure = PayloadTooLargeError(message)
        self._fail_connection(1009, message)  # type: ignore[attr-defined]

    def _protocol_violation(self, reason: str) -> bool:
        if self.failure is None:
            kind = InvalidContinuationFrameError if "continuation" in reason else \
                CorruptedFrameError
            self.failure = kind(reason)
        return super()._protocol_violation(reason)  # type: ignore[misc]

    def _invalid_payload(self, reason: str) -> bool:
        if self.failure is None:
            self.failure = CorruptedFrameError(reason)
        return super()._invalid_payload(reason)  # type: ignore[misc]

