# -*- test-case-name: tests.test_connection -*-
"""``Connection``: the end-agnostic core of one WebSocket connection (RFC 6455 §5-§7).

Both the server's :class:`~bws.server._caller.Caller` and the :class:`bws.Client` drive a
``Connection``. It holds the connection's state (:class:`State`), sends messages
(fragmented at ``maxFrameSize``, text cut only between characters), gives writers a
Deferred that respects the transport's flow control, runs the closing handshake with
its timer on an injected clock, and notices dead peers (keepalive pings, DESIGN §3.7,
batched on :class:`KeepaliveTicks`). It does no I/O of its own: frames go out through a
:class:`FrameWriter` (the Autobahn adapter in :mod:`bws._autobahn`), and what arrives is
reported to its :class:`ConnectionHandler` (the server's service runner, or the client).
"""

from __future__ import annotations

import enum
import itertools
import math
import os
from typing import Any, Protocol
from weakref import WeakKeyDictionary

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IDelayedCall, IPushProducer, IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from bws._fields import seconds
from bws._frames import utf8Cut
from bws.closeframe import isValidCloseCode
from bws.errors import ConnectionClosureError, CorruptedFrameError, Error

__all__ = ["Connection", "State", "FrameWriter", "ConnectionHandler", "closeTimeout",
           "closeOutcome", "CLOSE_NO_STATUS", "CLOSE_ABNORMAL", "KEEPALIVE_PREFIX",
           "KeepaliveTicks"]

#: The status a close frame without a code reports (RFC 6455 §7.1.5).
CLOSE_NO_STATUS = 1005
#: The status of a connection that ended without a close frame (RFC 6455 §7.1.5).
CLOSE_ABNORMAL = 1006
#: Seconds to wait for the peer's close after bws failed the connection (1002/1007/1009):
#: the byte stream is out of step, so the peer's close may never be recognised.
FAILED_CLOSE_TIMEOUT = 1.0
#: Longest timeout ``close`` accepts (the reference refuses absurd values).
MAX_TIMEOUT = 2**31 - 1

OP_TEXT = 0x1
OP_BINARY = 0x2
OP_PING = 0x9
OP_PONG = 0xA

_ids = itertools.count(1)
_idPrefix = os.urandom(4).hex()

#: Every keepalive ping's payload starts with this (then a counter, in hex): the pongs
#: that answer them are recognised and kept from ``onPong``. Unique to the process, so a
#: service's own ping cannot be taken for one.
KEEPALIVE_PREFIX = f"bws-keepalive-{_idPrefix}-".encode("ascii")
_pings = itertools.count(1)
#: The close a keepalive ping that went unanswered ends with (RFC 6455 §7.4.1: 1011, the
#: code the ``websockets`` library sends in the same case, with the same reason).
KEEPALIVE_CLOSE = (1011, "keepalive ping timeout")
#: A keepalive check runs at most this many seconds late, and at most 1/16 of its delay
#: late: checks due that close together share one DelayedCall (:class:`KeepaliveTicks`).
KEEPALIVE_SLACK = 1.0

# What the keepalive of a connection waits for (``Connection._keepalivePhase``).
_WAITING = 0  # the interval to pass, listening for the peer meanwhile
_PINGED = 1  # the pong (or anything else from the peer) after a keepalive ping
_EXPIRED = 2  # nothing came: the connection was closed 1011


def newConnectionId() -> str:
    """A process-unique, stable id for one connection."""
    return f"{_idPrefix}-{next(_ids):x}"


def closeOutcome(connection: Connection) -> tuple[int, str, bool | None]:
    """How a connection's closing handshake began, for its log line and metrics:
    ``(code, reason, local)``.

    ``local`` is True when this end sent the first close frame (``code`` and ``reason`` are
    then that frame's; 1005 for a close without a code), False when the peer did (its
    frame's), and None when no close frame went either way (1006, RFC 6455 §7.1.5).
    """
    sent = connection.localClose
    if sent is not None:
        code, reason = sent
        return (CLOSE_NO_STATUS if code is None else code), reason, True
    status = connection.closeStatus
    if status is not None and status != CLOSE_ABNORMAL:
        return status, connection.closeReason, False
    return CLOSE_ABNORMAL, "", None


def closeTimeout(timeout: Any) -> float:
    """Validate a ``close`` timeout: decimal seconds >= 0, or -1 for "wait forever".

    :raise bws.Error: ``Invalid timeout value: ...`` for anything else.
    """
    try:
        value = seconds(timeout)
    except (TypeError, ValueError, ArithmeticError):
        raise Error(f"Invalid timeout value: {timeout}") from None
    if value == -1:
        return value
    if value < 0 or value > MAX_TIMEOUT or value != value:
        raise Error(f"Invalid timeout value: {timeout}")
    return value


class State(enum.Enum):
    """Where a connection is in its life (RFC 6455 §4, §7)."""

    #: The opening handshake has not completed.
    CONNECTING = "connecting"
    OPEN = "open"
    #: We sent a close frame first; the peer's answer is awaited.
    CLOSE_SENT = "close sent"
    #: The peer's close frame was delivered; our answer is still to go.
    CLOSE_RECEIVED = "close received"
    #: Both close frames went, or the TCP connection is gone.
    CLOSED = "closed"


class FrameWriter(Protocol):
    """What a :class:`Connection` writes through (implemented by the Autobahn adapter)."""

    def writeWhole(self, first: int, payload: bytes) -> None:
        """One whole frame; ``first`` is the header's first byte (FIN|RSV|opcode)."""

    def writeFrame(self, opcode: int, payload: bytes, fin: bool, rsv: int) -> None:
        """One frame of a fragmented message, or a control frame."""

    def writeEncoded(self, frame: bytes) -> None:
        """Bytes of whole frames encoded by the caller, written as they are."""

    def compress(self, payload: bytes) -> bytes:
        """A whole message deflated (RFC 7692 §7.2.1), when compression was negotiated."""

    def writeClose(self, code: int | None, reason: bytes | None, isReply: bool) -> None:
        """A close frame: ours first (``isReply`` false) or the answer to the peer's."""

    def pauseReading(self) -> None:
        """Stop reading from the transport."""

    def resumeReading(self) -> None:
        """Read from the transport again."""

    def loseConnection(self) -> None:
        """Close TCP once what was written is sent."""

    def abortConnection(self) -> None:
        """Drop TCP now."""


class ConnectionHandler(Protocol):
    """Who a :class:`Connection` reports to: the server's runner, or the client."""

    def closeReceived(self, code: int, reason: str) -> None:
        """The peer started the closing handshake (its close frame was well-formed).

        The handler answers with :meth:`Connection.answerClose` when it is ready.
        """

    def pingReceived(self, payload: bytes) -> None:
        """A ping arrived (answer it with a pong, or let a service do so)."""

    def pongReceived(self, payload: bytes) -> None:
        """A pong arrived (not one answering a keepalive ping: those stay in the core)."""

    def failed(self, error: Error) -> None:
        """bws failed the connection (1002/1007/1009 sent) because of ``error``."""

    def opened(self) -> None:
        """The opening handshake completed."""

    def messageReceived(self, payload: bytes, isBinary: bool, text: str | None = None) -> None:
        """A whole message arrived (``text``: its decoded form, when already decoded)."""

    def connectionLost(self, abnormal: bool) -> None:
        """TCP is gone; ``abnormal`` when the peer vanished (1006): no close frame went
        either way, or the keepalive found it dead."""


class KeepaliveTicks:
    """The keepalive checks of every connection on one clock, batched into ticks.

    An idle connection is what a server keeps by the thousand, and a DelayedCall costs
    about 450 bytes: checks due within :data:`KEEPALIVE_SLACK` (and 1/16 of their delay)
    of each other share one DelayedCall, and a connection costs one set entry. Nothing is
    pending once no connection waits for a check (a test's reactor stays clean).
    """

    __slots__ = ("ticks", "__weakref__")

    def __init__(self) -> None:
        #: When a tick fires (a time of the clock) -> the connections due, its DelayedCall.
        self.ticks: dict[float, tuple[set[Connection], IDelayedCall]] = {}

    def add(self, connection: Connection, delay: float) -> float:
        """Check ``connection`` in ``delay`` (> 0) seconds, a little late at most: the tick."""
        clock = connection.clock
        now = clock.seconds()
        step = min(KEEPALIVE_SLACK, delay / 16)
        tick = math.ceil((now + delay) / step) * step
        entry = self.ticks.get(tick)
        if entry is None:
            self.ticks[tick] = ({connection}, clock.callLater(max(0.0, tick - now),
                                                              self._fire, tick))
        else:
            entry[0].add(connection)
        return tick

    def remove(self, connection: Connection, tick: float) -> None:
        """Forget the check of ``connection`` due at ``tick``."""
        entry = self.ticks.get(tick)
        if entry is None:
            return
        due, call = entry
        due.discard(connection)
        if not due:
            del self.ticks[tick]
            if call.active():
                call.cancel()

    def _fire(self, tick: float) -> None:
        entry = self.ticks.pop(tick, None)
        if entry is None:
            return
        for connection in entry[0]:
            connection._keepaliveAt = None
            try:
                connection.keepaliveCheck()
            except Exception:
                Connection.log.failure("Keepalive check failed on connection {id}",
                                       id=connection.connectionId)


_keepaliveTicks: WeakKeyDictionary[IReactorTime, KeepaliveTicks] = WeakKeyDictionary()


def keepaliveTicks(clock: IReactorTime) -> KeepaliveTicks:
    """The :class:`KeepaliveTicks` of ``clock`` (one per clock, made when first needed)."""
    ticks = _keepaliveTicks.get(clock)
    if ticks is None:
        ticks = _keepaliveTicks[clock] = KeepaliveTicks()
    return ticks


@implementer(IPushProducer)
class Connection:
    """One WebSocket connection's state, sending, flow control and closing handshake.

    :ivar state: a :class:`State`.
    :ivar connectionId: a string unique to this connection in this process.
    :ivar attributes: per-connection values of ``setAttribute`` / ``getAttribute``, or
        None before the first.
    :ivar subProtocol: the subprotocol agreed in the opening handshake, or ``None``.
    :ivar compressed: whether permessage-deflate was agreed (RFC 7692).
    :ivar closeStatus: the code of the peer's close frame (1005 without one, 1006 when
        none came), once known.
    :ivar closeReason: the reason of the peer's close frame.
    :ivar failure: the error bws failed the connection with, if it did.
    :ivar heard: set (by the adapter, on every read) when bytes came from the peer since
        the keepalive last looked: any of them proves the peer alive.
    :ivar pingInterval: decimal seconds of silence from the peer before a keepalive ping;
        0 when keepalive is off (see :meth:`startKeepalive`).
    :ivar pingTimeout: decimal seconds a keepalive ping waits for an answer; 0 never closes.
    """

    log = Logger()

    __slots__ = ("clock", "writer", "handler", "maxFrameSize", "closureTimeout", "dropWait",
                 "state", "connectionId", "attributes", "subProtocol", "compressed",
                 "closeStatus", "closeReason", "failure", "closeFrameReceived", "closeSent",
                 "heard", "pingInterval", "pingTimeout",
                 "_readPauses", "_writePaused", "_writeWaiters", "_closeWaiter", "_closeTimer",
                 "_dropTimer", "_lostWaiters", "_keepaliveAt", "_keepalivePhase",
                 "registry", "localClose", "__weakref__")

    def __init__(self, clock: IReactorTime, maxFrameSize: int, closureTimeout: float,
                 dropWait: float | None = None) -> None:
        """
        :param clock: times the close handshake.
        :param maxFrameSize: outbound messages are fragmented at this many bytes.
        :param closureTimeout: default decimal seconds ``close`` waits for the peer's
            close frame; -1 waits forever.
        :param dropWait: seconds to wait, after both close frames, for the peer to drop
            TCP before dropping it ourselves (a client, RFC 6455 §7.1.1); ``None`` when
            this end drops it itself (a server).
        """
        self.clock = clock
        self.writer: FrameWriter | None = None
        self.handler: ConnectionHandler | None = None
        self.maxFrameSize = maxFrameSize
        self.closureTimeout = closureTimeout
        self.dropWait = dropWait
        self.state = State.CONNECTING
        self.connectionId = newConnectionId()
        #: Made by the first ``setAttribute`` (most connections never have one).
        self.attributes: dict[str, Any] | None = None
        self.subProtocol: str | None = None
        self.compressed = False
        self.closeStatus: int | None = None
        self.closeReason = ""
        self.failure: Error | None = None
        #: A close frame came from the peer (as an answer or first).
        self.closeFrameReceived = False
        #: This end sent a close frame first (``close``, or a failure's 1002/1007/1009).
        self.closeSent = False
        self._readPauses: set[str] | None = None
        self._writePaused = False
        self._writeWaiters: list[Deferred[None]] | None = None
        self._closeWaiter: Deferred[None] | None = None
        self._closeTimer: IDelayedCall | None = None
        self._dropTimer: IDelayedCall | None = None
        self._lostWaiters: list[Deferred[None]] | None = None
        #: A set this connection belongs to while its TCP connection lasts (the listener's
        #: open connections); it leaves it by itself when TCP is gone.
        self.registry: set[Connection] | None = None
        #: The code and reason of the close frame this end sent first (``close``, or a
        #: failure's 1002/1007/1009); ``None`` when the peer closed first or none went.
        self.localClose: tuple[int | None, str] | None = None
        self.heard = False
        self.pingInterval = 0.0
        self.pingTimeout = 0.0
        #: The tick of the pending keepalive check, if one is pending.
        self._keepaliveAt: float | None = None
        self._keepalivePhase = _WAITING

    # -- opening ---------------------------------------------------------------------

    def opened(self, writer: FrameWriter, subProtocol: str | None, compressed: bool) -> None:
        """The opening handshake completed: frames may flow through ``writer``."""
        self.writer = writer
        self.subProtocol = subProtocol
        self.compressed = compressed
        self.state = State.OPEN
        if self.handler is not None:
            self.handler.opened()

    # -- flow control ----------------------------------------------------------------

    def pauseReading(self, why: str) -> None:
        """Stop reading from the transport until every reason given is lifted."""
        if not self._readPauses:
            if self.writer is not None and self.state is not State.CLOSED:
                self.writer.pauseReading()
            self._readPauses = set()
        self._readPauses.add(why)

    def resumeReading(self, why: str) -> None:
        """Lift one reason for not reading."""
        pauses = self._readPauses
        if not pauses:
            return
        pauses.discard(why)
        if not pauses and self.writer is not None and self.state is not State.CLOSED:
            self.writer.resumeReading()

    def pauseProducing(self) -> None:
        """The transport's buffer is full: hold writers, and stop reading meanwhile."""
        self._writePaused = True
        self.pauseReading("write")

    def resumeProducing(self) -> None:
        """The transport drained: release held writers."""
        self._writePaused = False
        self.heard = True  # the peer reads (TCP acknowledged our bytes): it is alive
        waiters, self._writeWaiters = self._writeWaiters, None
        for d in waiters or ():
            d.callback(None)
        if not self._writePaused:
            self.resumeReading("write")

    @property
    def writePaused(self) -> bool:
        """Whether the transport asked to slow down (its buffer is full) and has not
        drained since."""
        return self._writePaused

    def stopProducing(self) -> None:
        """The transport is going away; held writers fail in :meth:`connectionLost`."""

    def writeDone(self) -> Deferred[None]:
        """A Deferred that fires once the transport can take more data."""
        if not self._writePaused:
            return succeed(None)
        d: Deferred[None] = Deferred()
        if self._writeWaiters is None:
            self._writeWaiters = []
        self._writeWaiters.append(d)
        return d

    # -- sending -----------------------------------------------------------------------

    def writeRefusal(self, kind: str) -> Error | None:
        """Why a write of ``kind`` ("text", "binary", "control") must fail now, or None.

        Once this end has sent its close frame the answer is the reference's
        ``"Close frame already sent. Cannot push text data!"`` (``"... binary data."``),
        also after the handshake completed or TCP closed; when the peer closed first,
        ``"Connection already closed"``.
        """
        state = self.state
        if state is State.OPEN:
            return None
        if state is State.CLOSE_SENT or self.closeSent:
            text = "Cannot push text data!" if kind == "text" else f"Cannot push {kind} data."
            return ConnectionClosureError(f"Close frame already sent. {text}")
        return ConnectionClosureError("Connection already closed")

    def sendPayload(self, payload: bytes, isBinary: bool) -> None:
        """Send one message, fragmented at ``maxFrameSize`` (text on UTF-8 boundaries).

        The caller has checked that the connection is open.
        """
        writer = self.writer
        assert writer is not None
        limit = self.maxFrameSize
        if not self.compressed:
            if len(payload) <= limit:
                writer.writeWhole(0x82 if isBinary else 0x81, payload)  # the common case
                return
            self._sendFragments(payload, OP_BINARY if isBinary else OP_TEXT, 0, not isBinary)
            return
        payload = writer.compress(payload)
        if len(payload) <= limit:
            writer.writeWhole(0xC2 if isBinary else 0xC1, payload)
            return
        # Compressed bytes may be cut anywhere (RFC 7692 §6.1).
        self._sendFragments(payload, OP_BINARY if isBinary else OP_TEXT, 4, False)

    def sendEncoded(self, frame: bytes) -> None:
        """Write ``frame``, one whole unmasked frame encoded once for many connections
        (:func:`bws._frames.serverFrame`; a group broadcast). Server connections only:
        the caller has checked that the connection is open and not compressed, and that
        the payload fits in ``maxFrameSize``."""
        writer = self.writer
        assert writer is not None
        writer.writeEncoded(frame)

    def _sendFragments(self, payload: bytes, opcode: int, rsv: int, textCuts: bool) -> None:
        """Write ``payload`` as one message of frames no larger than ``maxFrameSize``."""
        writer = self.writer
        assert writer is not None
        limit = self.maxFrameSize
        n = len(payload)
        start = 0
        first = True
        while True:
            end = min(start + limit, n)
            if textCuts and end < n:
                end = utf8Cut(payload, end)
            fin = end >= n
            writer.writeFrame(opcode if first else 0, payload[start:end], fin,
                              rsv if first else 0)
            if fin:
                return
            first = False
            start = end

    def writeMessage(self, payload: bytes, isBinary: bool, kind: str) -> Deferred[None]:
        """Send a message; the Deferred fires when the transport took it (flow control).

        :raise ConnectionClosureError: (failed Deferred) the connection is closing or closed.
        """
        refusal = self.writeRefusal(kind)
        if refusal is not None:
            return fail(refusal)
        self.sendPayload(payload, isBinary)
        return self.writeDone()

    def writeControl(self, opcode: int, data: bytes, name: str) -> Deferred[None]:
        """Send a ping (9) or pong (10).

        :raise CorruptedFrameError: (failed Deferred) over 125 bytes (RFC 6455 §5.5).
        :raise ConnectionClosureError: (failed Deferred) closing or closed.
        """
        data = bytes(data)
        if len(data) > 125:
            return fail(CorruptedFrameError(
                f"invalid payload for {name} (payload length must be <= 125, was {len(data)})"))
        refusal = self.writeRefusal("control")
        if refusal is not None:
            return fail(refusal)
        assert self.writer is not None
        self.writer.writeFrame(opcode, data, True, 0)
        return self.writeDone()

    def pong(self, data: bytes) -> None:
        """Answer a ping now (RFC 6455 §5.5.3), if the connection still sends."""
        if self.state is State.OPEN and self.writer is not None:
            self.writer.writeFrame(OP_PONG, data, True, 0)

    def pongArrived(self, payload: bytes) -> None:
        """A pong arrived: the answer to a keepalive ping stays here; any other goes to the
        handler (a service's ``onPong``, a client's ``pingPongHandler``)."""
        if payload.startswith(KEEPALIVE_PREFIX):
            if self._keepalivePhase == _PINGED and self._keepaliveAt is not None:
                # Alive: the next ping comes after a whole interval of silence from now.
                self._unscheduleKeepalive()
                self.heard = False
                self._keepalivePhase = _WAITING
                self._keepaliveAt = keepaliveTicks(self.clock).add(self, self.pingInterval)
            return
        if self.handler is not None:
            self.handler.pongReceived(payload)

    # -- keepalive (DESIGN §3.7) -----------------------------------------------------------

    def startKeepalive(self, interval: float, timeout: float) -> None:
        """Ping the peer after ``interval`` seconds in which nothing came from it; close
        1011 when nothing comes within ``timeout`` seconds of the ping either.

        Any bytes from the peer prove it alive (so a busy connection is never pinged), and
        so does any pong: RFC 6455 §5.5.3 lets a peer answer only the latest of several
        pings, so the answer to a service's own ping counts too. A peer found dead is closed
        1011 "keepalive ping timeout" and dropped when it does not answer that close within
        the closure timeout, one second at most (it has already been silent for ``interval``
        + ``timeout``). Checks run on :class:`KeepaliveTicks`, up to ~1/16 of their delay
        (one second at most) late.

        :param interval: decimal seconds; 0 turns keepalive off.
        :param timeout: decimal seconds; 0 sends the pings but never closes (they still
            keep middleboxes from timing out an idle connection).
        """
        if interval <= 0 or self.state is not State.OPEN or self._keepaliveAt is not None:
            return
        self.pingInterval = interval
        self.pingTimeout = timeout
        self.heard = False
        self._keepalivePhase = _WAITING
        self._keepaliveAt = keepaliveTicks(self.clock).add(self, interval)

    def _unscheduleKeepalive(self) -> None:
        at, self._keepaliveAt = self._keepaliveAt, None
        if at is not None:
            keepaliveTicks(self.clock).remove(self, at)

    def keepaliveCheck(self) -> None:
        """The keepalive's time came: the peer was heard from, or it is pinged, or (when it
        was pinged already) it is closed 1011."""
        writer = self.writer
        if self.state is not State.OPEN or self.closeFrameReceived or writer is None:
            return  # closing: the closing handshake has its own timer
        pauses = self._readPauses
        if self.heard or (pauses and (len(pauses) > 1 or "write" not in pauses)):
            # Alive; or this end does not read (a service's backlog, onClose), which is not
            # the peer's doing. (Not reading because the peer does not read is: "write".)
            self.heard = False
            self._keepalivePhase = _WAITING
            self._keepaliveAt = keepaliveTicks(self.clock).add(self, self.pingInterval)
            return
        if self._keepalivePhase == _PINGED:
            self._keepaliveExpired()
            return
        writer.writeFrame(OP_PING, KEEPALIVE_PREFIX + b"%x" % next(_pings), True, 0)
        if self.pingTimeout > 0:
            self._keepalivePhase = _PINGED
            self._keepaliveAt = keepaliveTicks(self.clock).add(self, self.pingTimeout)
        else:
            self._keepaliveAt = keepaliveTicks(self.clock).add(self, self.pingInterval)

    def _keepaliveExpired(self) -> None:
        """No answer to the keepalive ping: close 1011, drop TCP if the close gets no answer
        within the closure timeout (one second at most)."""
        self._keepalivePhase = _EXPIRED
        wait = self.closureTimeout
        if not 0 < wait <= FAILED_CLOSE_TIMEOUT:
            wait = FAILED_CLOSE_TIMEOUT
        self.log.info("Connection {id}: no answer to a keepalive ping within {timeout} "
                      "seconds; closing 1011", id=self.connectionId, timeout=self.pingTimeout)
        code, reason = KEEPALIVE_CLOSE
        self.close(code, reason, wait).addErrback(lambda f: None)

    # -- closing -----------------------------------------------------------------------

    def close(self, statusCode: int | None, reason: str | None, timeout: Any) -> Deferred[None]:
        """Start the closing handshake (spec §3.2 ``close``, RFC 6455 §7.1.2).

        :param statusCode: 1000-1003, 1007-1011 or 3000-4999 (``isValidCloseCode``: the
            reference's range; 1012-1014 are only echoed), or None to send a close frame
            without a code.
        :param reason: at most 123 bytes of it are sent (cut between characters).
        :param timeout: decimal seconds to wait for the peer's close frame; ``None`` for
            the configured default; 0 sends the close without waiting; -1 waits forever.
        :return: fires when the peer's close frame arrives (at once with timeout 0).
        :raise ConnectionClosureError: (failed Deferred) an invalid code, a second close,
            a close after the connection closed, or no answer within ``timeout`` (then the
            TCP connection is dropped).
        """
        if statusCode is not None and (isinstance(statusCode, bool)
                                       or not isinstance(statusCode, int)
                                       or not isValidCloseCode(statusCode)):
            return fail(ConnectionClosureError(
                f"Failed to execute close. Invalid status code: {statusCode}"))
        try:
            wait = self.closureTimeout if timeout is None else closeTimeout(timeout)
        except Error as e:
            return fail(e)
        return self._startClose(statusCode, reason, wait)

    def _startClose(self, statusCode: int | None, reason: str | None,
                    wait: float) -> Deferred[None]:
        """:meth:`close` once its code and timeout are known to be good."""
        state = self.state
        if state is State.CLOSE_SENT or self.closeSent:
            return fail(ConnectionClosureError(
                "Close frame already sent. Cannot send close frame again."))
        if state is not State.OPEN and state is not State.CLOSE_RECEIVED:
            return fail(ConnectionClosureError("Connection already closed"))
        writer = self.writer
        assert writer is not None
        reasonBytes = None
        if reason:
            reasonBytes = reason.encode("utf-8")
            if len(reasonBytes) > 123:
                reasonBytes = reasonBytes[:utf8Cut(reasonBytes, 123)]
        elif statusCode is not None and reason is not None:
            reasonBytes = b""
        if state is State.CLOSE_RECEIVED or self.closeFrameReceived:
            # The peer closed first (we are inside onClose, or its close is queued behind
            # the callback that calls this): this close is the answer.
            self._answer(statusCode, reasonBytes)
            return succeed(None)
        self.state = State.CLOSE_SENT
        self.closeSent = True
        self.localClose = (statusCode, reasonBytes.decode("utf-8") if reasonBytes else "")
        d: Deferred[None] = Deferred()
        self._closeWaiter = d
        writer.writeClose(statusCode, reasonBytes, False)
        if wait == 0:
            # "Do not wait for the answer": the close goes out, then TCP is closed.
            self._closeWaiter = None
            d.callback(None)
            writer.loseConnection()
        elif wait > 0 and self.state is State.CLOSE_SENT:
            self._closeTimer = self.clock.callLater(wait, self._closeTimedOut, wait)
        return d

    def shed(self, reason: str) -> None:
        """Close 1013 Try Again Later: this server casts the peer off because it cannot
        keep up (a group member whose unsent broadcasts passed the group's limit).

        1013 is the IANA registry's code for "terminating the connection due to a
        temporary condition, e.g. it is overloaded and is casting off some of its clients"
        (RFC 6455 §7.4.2); :meth:`close` does not send it (the reference's range), bws
        does, here only. The peer has stopped reading, so its answer may never come: TCP
        is dropped after the closure timeout, one second at most.
        """
        if self.state is not State.OPEN or self.closeSent:
            return
        wait = self.closureTimeout
        if not 0 < wait <= FAILED_CLOSE_TIMEOUT:
            wait = FAILED_CLOSE_TIMEOUT
        self._startClose(1013, reason, wait).addErrback(lambda f: None)

    def _closeTimedOut(self, wait: float) -> None:
        self._closeTimer = None
        waiter, self._closeWaiter = self._closeWaiter, None
        shown = int(wait) if wait == int(wait) else wait
        if waiter is not None:
            waiter.errback(ConnectionClosureError(
                "Could not receive a WebSocket close frame from remote endpoint within "
                f"{shown} seconds"))
        if self.writer is not None:
            self.writer.abortConnection()

    def failed(self, error: Error, code: int | None = None) -> None:
        """bws sent a close frame with ``code`` (1002/1007/1009) because the peer broke the
        protocol."""
        if self.failure is not None:
            return
        self.failure = error
        if self.state is State.OPEN or self.state is State.CLOSE_RECEIVED:
            self.state = State.CLOSE_SENT
            self.closeSent = True
            if not self.closeFrameReceived:
                self.localClose = (code, str(error))
            wait = self.closureTimeout
            wait = FAILED_CLOSE_TIMEOUT if wait < 0 else min(wait, FAILED_CLOSE_TIMEOUT)
            self._closeTimer = self.clock.callLater(wait, self._closeTimedOut, wait)
            if self.handler is not None:
                self.handler.failed(error)

    def closeFrameArrived(self, code: int | None, reason: str) -> None:
        """The peer's (well-formed) close frame arrived: the answer to ours, or its own
        start of the closing handshake, which goes to the handler."""
        self.closeFrameReceived = True
        if self.state is State.CLOSE_SENT:
            self._closeAnswered()
            return
        if self.closeStatus is not None:
            return  # a second close frame from the peer: ignore it
        self.closeStatus = CLOSE_NO_STATUS if code is None else code
        self.closeReason = reason
        if self.handler is not None:
            self.handler.closeReceived(self.closeStatus, reason)

    def peerCloseDelivered(self) -> None:
        """The handler has taken the peer's close: data writes stop from now on."""
        if self.state is State.OPEN:
            self.state = State.CLOSE_RECEIVED

    def answerClose(self) -> None:
        """Answer the peer's close with the same code and reason (RFC 6455 §5.5.1)."""
        if self.state is State.OPEN or self.state is State.CLOSE_RECEIVED:
            code = None if self.closeStatus == CLOSE_NO_STATUS else self.closeStatus
            reason = self.closeReason.encode("utf-8")
            self._answer(code, reason[:utf8Cut(reason, 123)] if len(reason) > 123 else
                         reason or None)

    def _answer(self, code: int | None, reason: bytes | None) -> None:
        self.state = State.CLOSED
        assert self.writer is not None
        self.writer.writeClose(code, reason, True)
        self._bothClosed()

    def _closeAnswered(self) -> None:
        if self._closeTimer is not None and self._closeTimer.active():
            self._closeTimer.cancel()
        self._closeTimer = None
        self.state = State.CLOSED
        waiter, self._closeWaiter = self._closeWaiter, None
        if waiter is not None:
            waiter.callback(None)
        self._bothClosed()

    def _bothClosed(self) -> None:
        """Both close frames went: the server drops TCP; a client gives it time to.

        Reading resumes whatever paused it: closing TCP needs the peer's end of the stream
        read (over TLS, its close_notify), and a pause left in place would keep the
        connection open for ever.
        """
        if self.writer is None:
            return
        if self._readPauses:
            self._readPauses = None
            self.writer.resumeReading()
        if self.dropWait is None:
            self.writer.loseConnection()
        elif self._dropTimer is None:
            self._dropTimer = self.clock.callLater(self.dropWait, self._drop)

    def _drop(self) -> None:
        self._dropTimer = None
        if self.writer is not None:
            self.writer.abortConnection()

    def abort(self) -> None:
        """Drop TCP now, without a closing handshake."""
        if self.writer is not None and self.state is not State.CLOSED:
            self.writer.abortConnection()

    def whenLost(self) -> Deferred[None]:
        """A Deferred that fires once the TCP connection is gone."""
        d: Deferred[None] = Deferred()
        if self.writer is None and self.state is State.CLOSED:
            d.callback(None)
            return d
        if self._lostWaiters is None:
            self._lostWaiters = []
        self._lostWaiters.append(d)
        return d

    def connectionLost(self) -> None:
        """TCP is gone: fail what still waits, cancel the timers, tell the handler."""
        # A peer the keepalive found dead is reported as one that vanished (1006), even if
        # it answered the 1011 at the last moment: nobody on this end chose that close.
        abnormal = (self.state is State.OPEN and not self.closeFrameReceived) or \
            self._keepalivePhase == _EXPIRED
        self.state = State.CLOSED
        self._unscheduleKeepalive()
        for timer in (self._closeTimer, self._dropTimer):
            if timer is not None and timer.active():
                timer.cancel()
        self._closeTimer = self._dropTimer = None
        waiter, self._closeWaiter = self._closeWaiter, None
        if waiter is not None:
            if self.closeFrameReceived:
                waiter.callback(None)
            else:
                waiter.errback(ConnectionClosureError(
                    "Connection closed by remote endpoint without echoing a close frame"))
        writers, self._writeWaiters = self._writeWaiters, None
        for d in writers or ():
            d.errback(ConnectionClosureError("Connection closed before the message was sent"))
        if abnormal and self.closeStatus is None:
            self.closeStatus = CLOSE_ABNORMAL
        if self.handler is not None:
            self.handler.connectionLost(abnormal)
        self.writer = None
        if self.registry is not None:
            self.registry.discard(self)
            self.registry = None
        lost, self._lostWaiters = self._lostWaiters, None
        for d in lost or ():
            d.callback(None)
