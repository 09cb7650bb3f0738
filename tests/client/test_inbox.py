"""Tests for ``bws.client._inbox``: queued messages and pending reads, on a Clock."""

from __future__ import annotations

import dataclasses
from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from bws.binding import binderFor
from bws.client._inbox import QUEUE_MESSAGES, Inbox, ReadKind, bindMessage
from bws.errors import (
    ConnectionClosureError,
    PayloadBindingError,
    PayloadValidationError,
    ReadTimeoutError,
)


@dataclasses.dataclass
class Coord:
    x: int
    y: int


class InboxMixin:
    """Builds an inbox on a Clock that records pause and resume calls in ``flow``."""

    def makeInbox(self, readTimeout: float = -1, messageLimit: int = 1 << 20,
                  maxMessages: int = QUEUE_MESSAGES) -> Inbox:
        self.clock = Clock()
        self.flow: list[str] = []
        return Inbox(self.clock, readTimeout, messageLimit,
                     lambda: self.flow.append("pause"), lambda: self.flow.append("resume"),
                     maxMessages)


class ReadTests(InboxMixin, SynchronousTestCase):
    """Reads take messages in arrival order, whichever comes first."""

    def test_queuedMessageRead(self) -> None:
        """A message that arrived first is given to the next read, as ``str`` for text."""
        inbox = self.makeInbox()
        inbox.messageReceived("héllo".encode(), False)
        self.assertEqual(self.successResultOf(inbox.read(ReadKind.TEXT)), "héllo")
        self.assertEqual(inbox.queuedMessages, 0)

    def test_pendingReadGetsLaterMessage(self) -> None:
        """A read issued before the message waits for it."""
        inbox = self.makeInbox()
        d = inbox.read(ReadKind.BINARY)
        self.assertNoResult(d)
        self.assertEqual(inbox.pendingReads, 1)
        inbox.messageReceived(b"\x00", True)
        self.assertEqual(self.successResultOf(d), b"\x00")
        self.assertEqual(inbox.pendingReads, 0)

    def test_arrivalOrder(self) -> None:
        """Pending reads are served oldest first, queued messages oldest first."""
        inbox = self.makeInbox()
        first, second = inbox.read(ReadKind.ANY), inbox.read(ReadKind.ANY)
        inbox.messageReceived(b"a", False)
        inbox.messageReceived(b"b", True)
        inbox.messageReceived(b"c", False)
        self.assertEqual((self.successResultOf(first), self.successResultOf(second)), ("a", b"b"))
        self.assertEqual(self.successResultOf(inbox.read(ReadKind.ANY)), "c")

    def test_textReadOnBinaryKeepsMessage(self) -> None:
        """A text read finding a binary message fails naming both types; the message stays
        for the next read."""
        inbox = self.makeInbox()
        inbox.messageReceived(b"bin", True)
        f = self.failureResultOf(inbox.read(ReadKind.TEXT), PayloadBindingError)
        self.assertEqual(str(f.value), "data binding failed: expected a text message, got a "
                         "binary message (it stays queued: read it with readBinaryMessage() "
                         "or readMessage())")
        self.assertEqual(inbox.queuedMessages, 1)
        self.assertEqual(self.successResultOf(inbox.read(ReadKind.ANY)), b"bin")

    def test_binaryReadOnTextKeepsMessage(self) -> None:
        """A pending binary read fails when a text message arrives; a text read takes it."""
        inbox = self.makeInbox()
        d = inbox.read(ReadKind.BINARY)
        inbox.messageReceived(b"txt", False)
        f = self.failureResultOf(d, PayloadBindingError)
        self.assertIn("expected a binary message, got a text message", str(f.value))
        self.assertIn("readTextMessage()", str(f.value))
        self.assertEqual(self.successResultOf(inbox.read(ReadKind.TEXT)), "txt")


class BindingTests(InboxMixin, SynchronousTestCase):
    """A read with a binder gives the bound value; a failed binding consumes the message."""

    def readBound(self, payload: bytes, binder: Any) -> Any:
        """Queue ``payload`` as text and read it with ``binder``."""
        inbox = self.makeInbox()
        inbox.messageReceived(payload, False)
        return inbox.read(ReadKind.ANY, binder)

    def test_boundRead(self) -> None:
        """JSON text binds to the dataclass."""
        inbox = self.makeInbox()
        inbox.messageReceived(b'{"x": 1, "y": 2}', False)
        self.assertEqual(self.successResultOf(inbox.read(ReadKind.ANY, binderFor(Coord))),
                         Coord(1, 2))

    def test_bindingFailureConsumesMessage(self) -> None:
        """Text that does not bind fails the read with "data binding failed: ..." and is gone."""
        inbox = self.makeInbox()
        inbox.messageReceived(b"not json", False)
        inbox.messageReceived(b"next", False)
        f = self.failureResultOf(inbox.read(ReadKind.ANY, binderFor(Coord)), PayloadBindingError)
        self.assertTrue(str(f.value).startswith("data binding failed: "))
        self.assertEqual(self.successResultOf(inbox.read(ReadKind.TEXT)), "next")

    def test_binderErrorPassesThrough(self) -> None:
        """A binder's own PayloadBindingError (a validation failure) is not re-wrapped."""
        class Binder:
            def text(self, value: str) -> Any:
                raise PayloadValidationError("x: too small")

            def binary(self, value: bytes) -> Any:
                return value

        f = self.failureResultOf(self.readBound(b"1", Binder()), PayloadValidationError)
        self.assertEqual(str(f.value), "x: too small")

    def test_binderExceptionWrapped(self) -> None:
        """Any other exception from a binder becomes a PayloadBindingError."""
        class Binder:
            def text(self, value: str) -> Any:
                raise ValueError("nope")

            def binary(self, value: bytes) -> Any:
                return value

        f = self.failureResultOf(self.readBound(b"1", Binder()), PayloadBindingError)
        self.assertEqual(str(f.value), "data binding failed: nope")

    def test_bindMessageUnbound(self) -> None:
        """Without a binder text is decoded as UTF-8 and binary stays bytes."""
        self.assertEqual(bindMessage("é".encode(), False, None), "é")
        self.assertEqual(bindMessage(b"\xff", True, None), b"\xff")


class TimeoutTests(InboxMixin, SynchronousTestCase):
    """``readTimeout`` on the injected clock."""

    def test_readTimesOut(self) -> None:
        """A read with no message fails after ``readTimeout`` seconds; the next read works."""
        inbox = self.makeInbox(readTimeout=0.5)
        d = inbox.read(ReadKind.TEXT)
        self.clock.advance(0.4)
        self.assertNoResult(d)
        self.clock.advance(0.1)
        f = self.failureResultOf(d, ReadTimeoutError)
        self.assertEqual(str(f.value), "Read timed out")
        self.assertEqual(inbox.pendingReads, 0)
        inbox.messageReceived(b"again", False)
        self.assertEqual(self.successResultOf(inbox.read(ReadKind.TEXT)), "again")

    def test_timerCancelledOnMessage(self) -> None:
        """A read served in time leaves no timer on the clock."""
        inbox = self.makeInbox(readTimeout=5)
        d = inbox.read(ReadKind.TEXT)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        inbox.messageReceived(b"x", False)
        self.successResultOf(d)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_timerCancelledOnFailure(self) -> None:
        """A read failed for the wrong kind of message leaves no timer either."""
        inbox = self.makeInbox(readTimeout=5)
        inbox.messageReceived(b"x", True)
        self.failureResultOf(inbox.read(ReadKind.TEXT), PayloadBindingError)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_noTimeoutWaitsForever(self) -> None:
        """``readTimeout`` -1 (and 0) starts no timer."""
        for timeout in (-1, 0):
            inbox = self.makeInbox(readTimeout=timeout)
            inbox.read(ReadKind.ANY)
            self.assertEqual(self.clock.getDelayedCalls(), [])


class EndTests(InboxMixin, SynchronousTestCase):
    """How reads end when the connection does."""

    def test_endFailsPendingReads(self) -> None:
        """Every pending read fails with the end's error."""
        inbox = self.makeInbox(readTimeout=5)
        reads = [inbox.read(ReadKind.ANY) for _ in range(3)]
        error = ConnectionClosureError("bye: Status code: 4001")
        inbox.end(error)
        for d in reads:
            self.assertIs(self.failureResultOf(d, ConnectionClosureError).value, error)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertIs(inbox.endError, error)

    def test_queuedMessagesReadFirst(self) -> None:
        """Messages that arrived before the end are read first, then reads fail at once."""
        inbox = self.makeInbox()
        inbox.messageReceived(b"first", False)
        inbox.end(ConnectionClosureError("Connection closed"))
        self.assertEqual(self.successResultOf(inbox.read(ReadKind.TEXT)), "first")
        self.failureResultOf(inbox.read(ReadKind.TEXT), ConnectionClosureError)

    def test_endReplacesError(self) -> None:
        """A second end's error is the one later reads get."""
        inbox = self.makeInbox()
        inbox.end(ConnectionClosureError("one"))
        inbox.end(ConnectionClosureError("two"))
        f = self.failureResultOf(inbox.read(ReadKind.ANY), ConnectionClosureError)
        self.assertEqual(str(f.value), "two")

    def test_reopenWaitsAgain(self) -> None:
        """After ``reopen`` (a reconnect) reads wait for messages again."""
        inbox = self.makeInbox()
        inbox.end(ConnectionClosureError("dropped"))
        inbox.reopen()
        self.assertIsNone(inbox.endError)
        d = inbox.read(ReadKind.TEXT)
        self.assertNoResult(d)
        inbox.messageReceived(b"back", False)
        self.assertEqual(self.successResultOf(d), "back")

    def test_closeEndsReadsAtOnce(self) -> None:
        """``close`` fails pending reads with "Connection closed" and later reads with
        "Connection already closed"."""
        inbox = self.makeInbox(readTimeout=5)
        pending = inbox.read(ReadKind.ANY)
        inbox.close()
        f = self.failureResultOf(pending, ConnectionClosureError)
        self.assertEqual(str(f.value), "Connection closed")
        self.assertTrue(inbox.closed)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        f = self.failureResultOf(inbox.read(ReadKind.ANY), ConnectionClosureError)
        self.assertEqual(str(f.value), "Connection already closed")

    def test_closeIgnoresQueue(self) -> None:
        """After ``close`` a read fails even though a message is still queued."""
        inbox = self.makeInbox()
        inbox.messageReceived(b"left", False)
        inbox.close()
        f = self.failureResultOf(inbox.read(ReadKind.ANY), ConnectionClosureError)
        self.assertEqual(str(f.value), "Connection already closed")


class FlowControlTests(InboxMixin, SynchronousTestCase):
    """Reading pauses while the queue is full and resumes once reads make room."""

    def test_pauseAtMessageCount(self) -> None:
        """The ``maxMessages``-th queued message pauses reading; a read resumes it."""
        inbox = self.makeInbox(maxMessages=3)
        inbox.messageReceived(b"1", False)
        inbox.messageReceived(b"2", False)
        self.assertNotIn("pause", self.flow)
        inbox.messageReceived(b"3", False)
        self.assertEqual(self.flow[-1], "pause")
        self.successResultOf(inbox.read(ReadKind.ANY))
        self.assertEqual(self.flow[-1], "resume")

    def test_pauseAtByteLimit(self) -> None:
        """Queued bytes reaching ``messageLimit`` pause reading until a read takes some."""
        inbox = self.makeInbox(messageLimit=10)
        inbox.messageReceived(b"x" * 6, True)
        self.assertNotIn("pause", self.flow)
        inbox.messageReceived(b"x" * 4, True)
        self.assertEqual(self.flow[-1], "pause")
        self.successResultOf(inbox.read(ReadKind.BINARY))
        self.assertEqual(self.flow[-1], "resume")

    def test_fullQueueStaysPaused(self) -> None:
        """A queue still at the limit after a message arrives does not resume reading."""
        inbox = self.makeInbox(maxMessages=1)
        inbox.messageReceived(b"1", False)
        self.assertEqual(self.flow, ["pause"])
