# -*- test-case-name: tests.client.test_inbox -*-
"""The client's inbox: messages waiting to be read, reads waiting for messages.

Messages are taken in arrival order. A ``TEXT`` read finding a binary message at the head
of the queue (or a ``BINARY`` read finding text) fails with
:class:`~bws.errors.PayloadBindingError` and leaves the message queued for the next read.
Once the connection has ended (:meth:`Inbox.end`), reads take what is still queued and then
fail with the end's error; after :meth:`Inbox.close` every read fails at once.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, fail
from twisted.internet.interfaces import IDelayedCall, IReactorTime

from bws.errors import ConnectionClosureError, Error, PayloadBindingError, ReadTimeoutError

if TYPE_CHECKING:
    from bws.binding import Binder

__all__ = ["Inbox", "ReadKind", "QUEUE_MESSAGES"]

#: Reading from the socket pauses while this many messages wait to be read.
QUEUE_MESSAGES = 256


class ReadKind(enum.Enum):
    """Which messages a read takes."""

    TEXT = "text"  # readTextMessage: a binary message at the head fails the read
    BINARY = "binary"  # readBinaryMessage: a text message at the head fails the read
    ANY = "any"  # readMessage: either


class _Read:
    """One pending read: what it takes, how it binds, its Deferred and its timer."""

    __slots__ = ("kind", "binder", "deferred", "timer")

    def __init__(self, kind: ReadKind, binder: Binder | None) -> None:
        self.kind = kind
        self.binder = binder
        self.deferred: Deferred[Any] = Deferred()
        self.timer: IDelayedCall | None = None


def bindMessage(payload: bytes, isBinary: bool, binder: Binder | None) -> Any:
    """A message as a read gives it: ``bytes`` for binary, ``str`` for text, or the value
    ``binder`` makes of it.

    :raise PayloadBindingError: ``"data binding failed: ..."`` when ``binder`` (or UTF-8
        decoding for a bound text message) fails; the binder's own ``PayloadBindingError``
        passes as it is.
    :raise UnicodeDecodeError: an unbound text message is not UTF-8 (the protocol has
        already checked it, RFC 6455 §8.1).
    """
    if binder is None:
        return payload if isBinary else payload.decode("utf-8")
    try:
        if isBinary:
            return binder.binary(payload)
        return binder.text(payload.decode("utf-8"))
    except PayloadBindingError:
        raise
    except Exception as e:
        raise PayloadBindingError(f"data binding failed: {e}") from e


class Inbox:
    """Queued inbound messages and the reads waiting for them, on a clock.

    The connection tells it what arrived (:meth:`messageReceived`) and how the connection
    ended (:meth:`end`, :meth:`close`); the application asks for messages (:meth:`read`).
    When the queue holds ``maxMessages`` messages or ``messageLimit`` bytes the inbox calls
    ``pauseReading``; each time reads have taken messages and the queue is below both
    limits it calls ``resumeReading`` (which must ignore a resume without a pause).

    :ivar clock: times read timeouts.
    :ivar readTimeout: decimal seconds a read waits; 0 or less waits forever.
    :ivar messageLimit: queued bytes at which reading pauses.
    :ivar maxMessages: queued messages at which reading pauses.
    """

    def __init__(self, clock: IReactorTime, readTimeout: float, messageLimit: int,
                 pauseReading: Callable[[], None], resumeReading: Callable[[], None],
                 maxMessages: int = QUEUE_MESSAGES) -> None:
        self.clock = clock
        self.readTimeout = readTimeout
        self.messageLimit = messageLimit
        self.maxMessages = maxMessages
        self._pauseReading = pauseReading
        self._resumeReading = resumeReading
        self._queue: deque[tuple[bytes, bool]] = deque()
        self._queuedBytes = 0
        self._reads: deque[_Read] = deque()
        self._endError: Error | None = None
        self._closed = False

    # -- what the client sees ------------------------------------------------------

    @property
    def endError(self) -> Error | None:
        """Why reads end once the queue is empty; None while the connection is open."""
        return self._endError

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    @property
    def pendingReads(self) -> int:
        """How many reads wait for a message."""
        return len(self._reads)

    @property
    def queuedMessages(self) -> int:
        """How many messages wait to be read."""
        return len(self._queue)

    # -- events ------------------------------------------------------------------------

    def messageReceived(self, payload: bytes, isBinary: bool) -> None:
        """A whole message arrived: give it to the oldest read, or queue it."""
        self._queue.append((payload, isBinary))
        self._queuedBytes += len(payload)
        if len(self._queue) >= self.maxMessages or self._queuedBytes >= self.messageLimit:
            self._pauseReading()
        self._deliver()

    def end(self, error: Error) -> None:
        """The connection ended: once the queue is drained, pending and later reads fail
        with ``error`` (replacing an earlier end's error)."""
        self._endError = error
        self._deliver()

    def reopen(self) -> None:
        """A new connection replaces the ended one: reads wait for messages again."""
        self._endError = None

    def close(self) -> None:
        """The application closed the connection: pending reads fail at once with
        ``ConnectionClosureError("Connection closed")``, later reads with
        ``"Connection already closed"``; queued messages are no longer given out."""
        self._closed = True
        self._flushReads()

    # -- reading -------------------------------------------------------------------------

    def read(self, kind: ReadKind, binder: Binder | None = None) -> Deferred[Any]:
        """The next message that ``kind`` takes, bound by ``binder`` (see :func:`bindMessage`).

        :return: a Deferred firing with the message; failing with ``ReadTimeoutError("Read
            timed out")`` after ``readTimeout`` seconds, ``PayloadBindingError`` when the
            head message is of the other kind (it stays queued) or does not bind (it is
            consumed), or the error the connection ended with.
        """
        if self._closed:
            return fail(ConnectionClosureError("Connection already closed"))
        read = _Read(kind, binder)
        self._reads.append(read)
        if self.readTimeout > 0:
            read.timer = self.clock.callLater(self.readTimeout, self._readTimedOut, read)
        self._deliver()
        return read.deferred

    def _readTimedOut(self, read: _Read) -> None:
        read.timer = None
        if read in self._reads:
            self._reads.remove(read)
            read.deferred.errback(ReadTimeoutError("Read timed out"))

    @staticmethod
    def _finish(read: _Read) -> Deferred[Any]:
        if read.timer is not None and read.timer.active():
            read.timer.cancel()
        read.timer = None
        return read.deferred

    def _deliver(self) -> None:
        """Hand queued messages to pending reads, in order; end reads once ended."""
        reads, queue = self._reads, self._queue
        while reads and queue:
            read = reads.popleft()
            payload, isBinary = queue[0]
            if read.kind is ReadKind.TEXT and isBinary or \
                    read.kind is ReadKind.BINARY and not isBinary:
                wanted, got = ("text", "binary") if isBinary else ("binary", "text")
                other = "readBinaryMessage" if isBinary else "readTextMessage"
                self._finish(read).errback(PayloadBindingError(
                    f"data binding failed: expected a {wanted} message, got a {got} "
                    f"message (it stays queued: read it with {other}() or readMessage())"))
                continue
            queue.popleft()
            self._queuedBytes -= len(payload)
            try:
                value = bindMessage(payload, isBinary, read.binder)
            except Exception as e:
                self._finish(read).errback(e)
                continue
            self._finish(read).callback(value)
        if len(queue) < self.maxMessages and self._queuedBytes < self.messageLimit:
            self._resumeReading()
        if not queue:
            self._flushReads()

    def _flushReads(self) -> None:
        error = self._endError
        if self._closed:
            error = ConnectionClosureError("Connection closed")
        if error is None or self._queue and not self._closed:
            return
        reads, self._reads = self._reads, deque()
        for read in reads:
            self._finish(read).errback(error)
