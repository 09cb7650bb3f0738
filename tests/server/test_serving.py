"""Tests for ``bws.server._serving``: one callback at a time, control frames never held."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

import bws
import bws.testing
from bws._connection import State
from bws.server._serving import BACKLOG


class Recorder:
    """A service that records what reaches it and answers as told."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.pending: list[Deferred[None]] = []
        self.closing: Deferred[None] | None = None
        self.closeArgs: tuple[Any, ...] = (1000, "bye", 5)

    async def onTextMessage(self, caller: Any, text: str) -> None:
        self.events.append(("text", text))
        if text == "close":
            self.closing = caller.close(*self.closeArgs)
            await self.closing
            self.events.append("closed")
        elif text == "wait":
            d: Deferred[None] = Deferred()
            self.pending.append(d)
            await d
            self.events.append("waited")

    def onClose(self, caller: Any, statusCode: int, reason: str) -> None:
        self.events.append(("close", statusCode, reason))


class Upgrade:
    def __init__(self, service: Any) -> None:
        self.service = service

    def get(self, request: Any) -> Any:
        return self.service


class PongRecorder:
    """A client ``pingPongHandler`` that records pongs."""

    def __init__(self) -> None:
        self.pongs: list[bytes] = []

    def onPong(self, caller: Any, data: bytes) -> None:
        self.pongs.append(data)


def serverConnection(conn: bws.testing.MemoryConnection) -> Any:
    """The server side's ``Connection`` of an in-memory connection."""
    (connection,) = conn.listener.listener.resource.connections
    return connection


class CloseInsideCallbackTests(SynchronousTestCase):
    """A callback may await its own close: the peer's answer is read while it waits."""

    def test_closeAwaitedInCallbackFiresOnAnswer(self) -> None:
        """``await caller.close(1000, "bye", timeout=5)`` inside ``onTextMessage`` fires
        as soon as the peer's close arrives, with no time passing and no timer left."""
        service = Recorder()
        conn = bws.testing.connect(Upgrade(service))
        conn.client.writeTextMessage("close")
        conn.flush()
        self.assertEqual(service.events, [("text", "close"), "closed"])
        assert service.closing is not None
        self.successResultOf(service.closing)
        self.assertEqual(conn.clock.getDelayedCalls(), [])

    def test_closeWithoutWaitingStillSends(self) -> None:
        """``close(1001, "going", timeout=0)`` sends the close frame (the peer reads 1001
        and the reason) and fires at once, without waiting for the answer."""
        service = Recorder()
        service.closeArgs = (1001, "going", 0)
        conn = bws.testing.connect(Upgrade(service))
        read = conn.client.readTextMessage()
        conn.client.writeTextMessage("close")
        conn.flush()
        self.assertEqual(service.events, [("text", "close"), "closed"])
        error = self.failureResultOf(read, bws.ConnectionClosureError).value
        self.assertEqual(str(error), "going: Status code: 1001")

    def test_closeCodeZeroTimeoutNormal(self) -> None:
        """``close(1000, timeout=0)`` reaches the peer as 1000 too."""
        service = Recorder()
        service.closeArgs = (1000, None, 0)
        conn = bws.testing.connect(Upgrade(service))
        read = conn.client.readTextMessage()
        conn.client.writeTextMessage("close")
        conn.flush()
        error = self.failureResultOf(read, bws.ConnectionClosureError).value
        self.assertIn("Status code: 1000", str(error))


class PendingCallbackTests(SynchronousTestCase):
    """While a callback waits, control frames are handled and data messages queue."""

    def test_pingAnsweredWhileCallbackPending(self) -> None:
        """A ping is answered while ``onTextMessage`` still waits."""
        service = Recorder()
        pongs = PongRecorder()
        conn = bws.testing.connect(Upgrade(service), pingPongHandler=pongs)
        conn.client.writeTextMessage("wait")
        conn.flush()
        conn.client.ping(b"are you there")
        conn.flush()
        self.assertEqual(pongs.pongs, [b"are you there"])
        self.assertEqual(service.events, [("text", "wait")])

    def test_nextMessageWaitsForPendingCallback(self) -> None:
        """A data message that arrives while a callback waits is dispatched after it."""
        service = Recorder()
        conn = bws.testing.connect(Upgrade(service))
        conn.client.writeTextMessage("wait")
        conn.client.writeTextMessage("second")
        conn.flush()
        self.assertEqual(service.events, [("text", "wait")])
        service.pending[0].callback(None)
        self.assertEqual(service.events, [("text", "wait"), "waited", ("text", "second")])

    def test_peerCloseAfterPendingCallback(self) -> None:
        """The peer's close reaches ``onClose`` after the pending callback, and the answer
        follows ``onClose``."""
        service = Recorder()
        conn = bws.testing.connect(Upgrade(service))
        conn.client.writeTextMessage("wait")
        conn.flush()
        closed = conn.client.close(4001, "done")
        conn.flush()
        self.assertEqual(service.events, [("text", "wait")])
        self.assertNoResult(closed)
        service.pending[0].callback(None)
        conn.flush()
        self.assertEqual(service.events,
                         [("text", "wait"), "waited", ("close", 4001, "done")])
        self.successResultOf(closed)

    def test_backlogPausesReading(self) -> None:
        """Reading pauses once ``BACKLOG`` callbacks wait behind a pending one, and
        resumes when they have run."""
        service = Recorder()
        conn = bws.testing.connect(Upgrade(service))
        connection = serverConnection(conn)
        conn.client.writeTextMessage("wait")
        conn.flush()
        for i in range(BACKLOG):
            conn.client.writeTextMessage(str(i))
        conn.flush()
        self.assertIn("backlog", connection._readPauses)
        service.pending[0].callback(None)
        self.assertNotIn("backlog", connection._readPauses or set())
        self.assertEqual(service.events[-1], ("text", str(BACKLOG - 1)))
        self.assertIs(connection.state, State.OPEN)
