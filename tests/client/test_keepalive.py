"""Client keepalive (DESIGN §3.7): a dead server is pinged, closed 1011 and dropped; on a Clock."""

from __future__ import annotations

import struct
from typing import Any

from twisted.test.iosim import FakeTransport, IOPump
from twisted.trial.unittest import SynchronousTestCase

import bws
import bws.testing
from bws._connection import KEEPALIVE_PREFIX, State
from bws.config import setServiceConfig


def frames(data: bytes) -> list[tuple[int, bytes]]:
    """The ``(opcode, payload)`` of each whole frame in ``data`` (masked or not)."""
    out = []
    pos = 0
    while pos + 2 <= len(data):
        opcode = data[pos] & 0x0F
        masked = data[pos + 1] & 0x80
        length = data[pos + 1] & 0x7F
        pos += 2
        if length == 126:
            (length,) = struct.unpack("!H", data[pos:pos + 2])
            pos += 2
        elif length == 127:
            (length,) = struct.unpack("!Q", data[pos:pos + 8])
            pos += 8
        mask = data[pos:pos + 4] if masked else b"\0\0\0\0"
        pos += 4 if masked else 0
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(data[pos:pos + length]))
        pos += length
        out.append((opcode, payload))
    return out


def closeFrame(code: int, reason: str) -> tuple[int, bytes]:
    return (0x8, struct.pack("!H", code) + reason.encode("utf-8"))


class Server:
    """A server service that answers pings only if told to, and records what it gets."""

    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.caller: Any = None
        self.pings: list[bytes] = []
        self.closes: list[tuple[int, str]] = []

    def onOpen(self, caller: Any) -> None:
        self.caller = caller

    def onTextMessage(self, caller: Any, text: str) -> str:
        return text

    def onPing(self, caller: Any, data: bytes) -> bytes | None:
        self.pings.append(data)
        return data if self.answer else None

    def onClose(self, caller: Any, code: int, reason: str) -> None:
        self.closes.append((code, reason))


class Upgrade:
    def __init__(self, service: Any) -> None:
        self.service = service

    def get(self, request: Any) -> Any:
        return self.service


class PongHandler:
    """A ``pingPongHandler`` that records pongs."""

    def __init__(self) -> None:
        self.pongs: list[bytes] = []

    def onPong(self, caller: Any, data: bytes) -> None:
        self.pongs.append(data)


class Connected:
    """One in-memory connection: the server's keepalive off, so only the client's acts."""

    def __init__(self, answer: bool = True, listener: bws.testing.MemoryListener | None = None,
                 **config: Any) -> None:
        self.server = Server(answer)
        if listener is None:
            listener = bws.testing.MemoryListener()
            upgrade = Upgrade(self.server)
            setServiceConfig(upgrade, bws.WSServiceConfig(pingInterval=0))
            listener.attach(upgrade, "/")
        self.listener = listener
        self.pongs = PongHandler()
        config.setdefault("pingPongHandler", self.pongs)
        self.client: bws.Client = self.successResultOf(listener.connect("/", **config))
        self.clock = listener.clock
        self.pump: IOPump = listener.pumps[-1]

    def successResultOf(self, d: Any) -> Any:
        results: list[Any] = []
        d.addBoth(results.append)
        assert results and not hasattr(results[0], "raiseException"), results
        return results[0]

    @property
    def connection(self) -> Any:
        return self.client.connection

    @property
    def clientIO(self) -> FakeTransport:
        return self.pump.clientIO

    def unsent(self) -> list[tuple[int, bytes]]:
        """Frames the client wrote that the (stalled) server has not read yet."""
        return frames(b"".join(self.clientIO.stream))

    def advance(self, seconds: float) -> None:
        self.listener.advance(seconds)

    def serverGone(self) -> None:
        """The server is dead: what the client wrote is never read; TCP ends."""
        del self.clientIO.stream[:]
        self.listener.flush()


class DeadServerTests(SynchronousTestCase):
    """A server that answers nothing is closed 1011, then dropped."""

    def test_noPongCloses1011ThenDrops(self) -> None:
        """Silence for ``pingInterval``: a ping; no answer within ``pingTimeout``: a 1011
        close "keepalive ping timeout"; no answer to that within a second: TCP dropped,
        and a pending read ends as for a server that vanished (1006)."""
        c = Connected()
        read = c.client.readTextMessage()
        c.clock.advance(19.9)
        self.assertEqual(c.unsent(), [])
        c.clock.advance(0.1)
        [(opcode, payload)] = c.unsent()
        self.assertEqual(opcode, 0x9)
        self.assertTrue(payload.startswith(KEEPALIVE_PREFIX))
        c.clock.advance(19.9)
        self.assertIs(c.connection.state, State.OPEN)
        c.clock.advance(0.1)
        self.assertEqual(c.unsent()[1:], [closeFrame(1011, "keepalive ping timeout")])
        self.assertIs(c.connection.state, State.CLOSE_SENT)
        c.clock.advance(0.9)
        self.assertFalse(c.clientIO.disconnecting)
        c.clock.advance(0.1)
        self.assertTrue(c.clientIO.disconnecting)
        c.serverGone()
        self.assertFalse(c.client.isOpen())
        error = self.failureResultOf(read, bws.ConnectionClosureError).value
        self.assertEqual(str(error), "Connection closed Status code: 1006")
        self.assertEqual(c.clock.getDelayedCalls(), [])

    def test_closeReachesTheServer(self) -> None:
        """A server that reads but never answers pings gets the 1011 close and its reason."""
        c = Connected()
        c.clock.advance(20)
        c.clock.advance(20)
        c.listener.flush()
        self.assertEqual(c.server.closes, [(1011, "keepalive ping timeout")])
        self.assertFalse(c.client.isOpen())

    def test_retryConfigReconnects(self) -> None:
        """With ``retryConfig`` a read pending when the keepalive dropped the server is
        served by a new connection."""
        c = Connected(retryConfig=bws.RetryConfig(interval=1, maxCount=3))
        first = c.connection
        read = c.client.readTextMessage()
        c.clock.advance(20)
        c.clock.advance(20)
        c.clock.advance(1)
        c.serverGone()
        c.advance(1)
        self.assertIsNot(c.client.connection, first)
        self.assertTrue(c.client.isOpen())
        c.client.writeTextMessage("again")
        c.listener.flush()
        self.assertEqual(self.successResultOf(read), "again")

    def test_serverThatNeverReads(self) -> None:
        """A server whose window is full is still pinged, and closed when it does not
        answer."""
        c = Connected()
        c.connection.pauseProducing()
        c.clock.advance(20)
        c.clock.advance(20)
        self.assertEqual(c.unsent()[-1], closeFrame(1011, "keepalive ping timeout"))


class LiveServerTests(SynchronousTestCase):
    """A server that answers, or talks, stays connected."""

    def test_pongInTimeStaysOpen(self) -> None:
        """The pong arrives within ``pingTimeout``: open, pinged again only after another
        silent ``pingInterval``; the keepalive pongs never reach ``onPong``."""
        c = Connected()
        c.advance(20)
        self.assertEqual(len(c.server.pings), 1)
        self.assertTrue(c.server.pings[0].startswith(KEEPALIVE_PREFIX))
        c.advance(19.9)
        self.assertEqual(len(c.server.pings), 1)
        c.advance(0.1)
        for _ in range(10):
            c.advance(20)
        self.assertEqual(len(set(c.server.pings)), 12)
        self.assertTrue(c.client.isOpen())
        self.assertEqual(c.pongs.pongs, [])

    def test_ownPingsStillAnswered(self) -> None:
        """``client.ping`` still gets its pong to ``onPong``; that pong counts as life."""
        c = Connected()
        c.advance(20)
        c.client.ping(b"mine")
        c.listener.flush()
        self.assertEqual(c.pongs.pongs, [b"mine"])
        c.advance(20)
        self.assertEqual(c.server.pings[1:], [b"mine"])

    def test_trafficDefersPings(self) -> None:
        """Any message from the server proves it alive: a busy connection is never pinged."""
        c = Connected(answer=False)
        for n in range(20):
            c.server.caller.writeTextMessage(str(n))
            c.advance(10)
        self.assertEqual(c.server.pings, [])
        self.assertTrue(c.client.isOpen())

    def test_unreadMessagesAreNotDeath(self) -> None:
        """While the client holds unread messages and stopped reading (its queue is full),
        it closes no one."""
        c = Connected(answer=False)
        for n in range(1000):
            c.server.caller.writeTextMessage(str(n))
        c.listener.flush()
        self.assertTrue(c.connection._readPauses)  # the client stopped reading
        for _ in range(10):
            c.clock.advance(20)
        self.assertIs(c.connection.state, State.OPEN)


class SettingsTests(SynchronousTestCase):
    """``pingInterval`` / ``pingTimeout`` of ``ClientConfiguration``."""

    def test_defaults(self) -> None:
        """On by default: websockets' 20 s and 20 s."""
        config = bws.ClientConfiguration()
        self.assertEqual((config.pingInterval, config.pingTimeout), (20.0, 20.0))

    def test_refused(self) -> None:
        """Negative, infinite, NaN or non-numeric values are refused, naming the field."""
        for field in ("pingInterval", "pingTimeout"):
            for value in (-1, float("-inf"), float("inf"), float("nan"), "later"):
                with self.assertRaises(bws.ConfigurationError) as raised:
                    bws.ClientConfiguration(**{field: value})
                self.assertTrue(
                    str(raised.exception).startswith(f"ClientConfiguration.{field}: "),
                    str(raised.exception))

    def test_refusedAtConnect(self) -> None:
        """``Client.connect`` fails with the same error."""
        listener = bws.testing.MemoryListener()
        listener.attach(Upgrade(Server(True)), "/")
        f = self.failureResultOf(listener.connect("/", pingTimeout=-2), bws.ConfigurationError)
        self.assertIn("ClientConfiguration.pingTimeout", str(f.value))

    def test_zeroIntervalTurnsItOff(self) -> None:
        """``pingInterval=0``: no ping, no timer, however long the silence."""
        c = Connected(pingInterval=0)
        self.assertEqual(c.clock.getDelayedCalls(), [])
        c.clock.advance(10_000)
        self.assertEqual(c.unsent(), [])
        self.assertTrue(c.client.isOpen())

    def test_zeroTimeoutPingsWithoutClosing(self) -> None:
        """``pingTimeout=0``: pings go out after each silent interval; nothing closes."""
        c = Connected(pingTimeout=0)
        for _ in range(5):
            c.clock.advance(20)
        self.assertEqual([op for op, _ in c.unsent()], [0x9] * 5)
        self.assertIs(c.connection.state, State.OPEN)

    def test_decimalSeconds(self) -> None:
        """Decimal seconds: here a ping after 2.5 s, a close 0.5 s later."""
        c = Connected(pingInterval="2.5", pingTimeout=0.5)
        c.clock.advance(2.5)
        self.assertEqual([op for op, _ in c.unsent()], [0x9])
        c.clock.advance(0.5)
        self.assertEqual(c.unsent()[-1], closeFrame(1011, "keepalive ping timeout"))
