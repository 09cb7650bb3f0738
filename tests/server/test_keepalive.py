"""Server keepalive (DESIGN §3.7): dead peers are pinged, closed 1011 and dropped; on a Clock."""

from __future__ import annotations

import struct
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.python import usage
from twisted.test.iosim import FakeTransport, IOPump
from twisted.trial.unittest import SynchronousTestCase

import bws
import bws.testing
from bws._connection import KEEPALIVE_PREFIX, Connection, State, keepaliveTicks
from bws.config import serviceConfigOf, setServiceConfig
from bws.server._serving import BACKLOG
from bws.tap import Options


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


class Service:
    """A service that records its callbacks; ``wait`` makes ``onTextMessage`` wait."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.caller: Any = None
        self.pending: list[Deferred[None]] = []

    def onOpen(self, caller: Any) -> None:
        self.caller = caller

    async def onTextMessage(self, caller: Any, text: str) -> None:
        self.events.append(("text", text))
        if text == "wait":
            d: Deferred[None] = Deferred()
            self.pending.append(d)
            await d

    def onPong(self, caller: Any, data: bytes) -> None:
        self.events.append(("pong", data))

    def onClose(self, caller: Any, code: int, reason: str) -> None:
        self.events.append(("close", code, reason))


class Upgrade:
    def __init__(self, service: Any) -> None:
        self.service = service

    def get(self, request: Any) -> Any:
        return self.service


class Peer:
    """A client ``pingPongHandler``: records pings and answers them only if told to."""

    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.pings: list[bytes] = []

    def onPing(self, caller: Any, data: bytes) -> bytes | None:
        self.pings.append(data)
        return data if self.answer else None


class Served:
    """One in-memory connection: the client's keepalive off, so only the server's acts."""

    def __init__(self, answer: bool = True, compression: bool = True, **config: Any) -> None:
        self.service = Service()
        upgrade = Upgrade(self.service)
        setServiceConfig(upgrade, bws.WSServiceConfig(**config))
        self.peer = Peer(answer)
        self.conn = bws.testing.connect(
            upgrade, "/", pingInterval=0, pingPongHandler=self.peer,
            listenerConfig={"webSocketCompressionEnabled": compression})
        self.client = self.conn.client
        self.clock = self.conn.clock
        self.pump: IOPump = self.conn.listener.pumps[-1]
        (self.connection,) = self.conn.listener.listener.resource.connections

    @property
    def serverIO(self) -> FakeTransport:
        return self.pump.serverIO

    def unsent(self) -> list[tuple[int, bytes]]:
        """Frames the server wrote that the (stalled) peer has not read yet."""
        return frames(b"".join(self.serverIO.stream))

    def peerGone(self) -> None:
        """The peer is dead: what the server wrote is never read; TCP ends."""
        del self.serverIO.stream[:]
        self.conn.flush()


class DeadPeerTests(SynchronousTestCase):
    """A peer that reads nothing and answers nothing is closed 1011, then dropped."""

    def test_noPongCloses1011ThenDrops(self) -> None:
        """Silence for ``pingInterval``: a ping; no answer within ``pingTimeout``: a 1011
        close "keepalive ping timeout"; no answer to that within the (short) closure wait:
        TCP dropped, and ``onClose`` reports the vanished peer as 1006."""
        s = Served()
        s.clock.advance(19.9)
        self.assertEqual(s.unsent(), [])
        s.clock.advance(0.1)
        [(opcode, payload)] = s.unsent()
        self.assertEqual(opcode, 0x9)
        self.assertTrue(payload.startswith(KEEPALIVE_PREFIX))
        self.assertLessEqual(len(payload), 125)
        s.clock.advance(19.9)
        self.assertIs(s.connection.state, State.OPEN)
        s.clock.advance(0.1)
        self.assertEqual(s.unsent()[1:], [closeFrame(1011, "keepalive ping timeout")])
        self.assertIs(s.connection.state, State.CLOSE_SENT)
        s.clock.advance(0.9)
        self.assertFalse(s.serverIO.disconnecting)
        s.clock.advance(0.1)
        self.assertTrue(s.serverIO.disconnecting)
        s.peerGone()
        self.assertFalse(s.connection.closeFrameReceived)
        self.assertIs(s.connection.state, State.CLOSED)
        self.assertEqual(s.service.events, [("close", 1006, "Connection closed abnormally")])
        self.assertEqual(s.connection.closeStatus, 1006)
        self.assertEqual(s.clock.getDelayedCalls(), [])

    def test_closureTimeoutShorterThanASecond(self) -> None:
        """A ``connectionClosureTimeout`` under a second is the wait for the 1011's answer."""
        s = Served(connectionClosureTimeout=0.25)
        s.clock.advance(20)
        s.clock.advance(20)
        self.assertEqual(s.unsent()[-1], closeFrame(1011, "keepalive ping timeout"))
        s.clock.advance(0.25)
        self.assertTrue(s.serverIO.disconnecting)

    def test_closeAnsweredLateStillReported(self) -> None:
        """A peer that answers only the 1011 close is closed cleanly; the service still
        learns of it through ``onClose`` (1006: nobody on the server chose that close)."""
        s = Served()
        s.clock.advance(20)
        s.clock.advance(20)
        s.conn.flush()  # the peer reads the ping (unanswered) and the close (answered)
        self.assertEqual(s.peer.pings[0][:len(KEEPALIVE_PREFIX)], KEEPALIVE_PREFIX)
        read = s.client.readTextMessage()
        self.assertIs(s.connection.state, State.CLOSED)
        self.assertTrue(s.connection.closeFrameReceived)
        self.assertEqual(s.service.events, [("close", 1006, "Connection closed abnormally")])
        error = self.failureResultOf(read, bws.ConnectionClosureError).value
        self.assertIn("keepalive ping timeout", str(error))
        self.assertIn("1011", str(error))

    def test_peerThatNeverReads(self) -> None:
        """A peer whose window is full (the server stopped reading because it does not
        read: flow control) is still pinged, and closed when it does not answer."""
        s = Served()
        s.connection.pauseProducing()  # the transport's buffer is full
        s.clock.advance(20)
        s.clock.advance(20)
        self.assertEqual(s.unsent()[-1], closeFrame(1011, "keepalive ping timeout"))

    def test_drainingIsProofOfLife(self) -> None:
        """A peer that drains the server's buffer (TCP acknowledged our bytes) is alive."""
        s = Served()
        s.connection.pauseProducing()
        s.clock.advance(20)
        s.connection.resumeProducing()
        s.connection.pauseProducing()
        s.clock.advance(20)
        self.assertIs(s.connection.state, State.OPEN)
        self.assertEqual([op for op, _ in s.unsent()], [0x9])


class LivePeerTests(SynchronousTestCase):
    """A peer that answers, or talks, stays connected."""

    def test_pongInTimeStaysOpen(self) -> None:
        """The pong arrives within ``pingTimeout``: open, and the next ping comes only
        after another ``pingInterval`` of silence counted from the pong."""
        s = Served()
        s.conn.advance(20)
        self.assertEqual(len(s.peer.pings), 1)
        s.conn.advance(19.9)
        self.assertEqual(len(s.peer.pings), 1)
        s.conn.advance(0.1)
        self.assertEqual(len(s.peer.pings), 2)
        for _ in range(10):
            s.conn.advance(20)
        self.assertIs(s.connection.state, State.OPEN)
        self.assertEqual(len(set(s.peer.pings)), 12)  # a fresh payload each time
        self.assertTrue(s.client.isOpen())

    def test_keepalivePongsNotDispatched(self) -> None:
        """Pongs answering keepalive pings do not reach ``onPong``; pongs to the service's
        own pings do."""
        s = Served()
        s.conn.advance(20)
        s.service.caller.ping(b"mine")
        s.conn.flush()
        s.conn.advance(20)
        self.assertEqual(s.service.events, [("pong", b"mine")])
        self.assertEqual(s.peer.pings[1:], [b"mine"])  # its pong was proof of life too

    def test_trafficDefersPings(self) -> None:
        """Any message from the peer proves it alive: a busy connection is never pinged."""
        s = Served(answer=False)
        for n in range(20):
            s.client.writeTextMessage(str(n))
            s.conn.advance(10)
        self.assertEqual(s.peer.pings, [])
        self.assertIs(s.connection.state, State.OPEN)
        s.conn.advance(20)
        s.conn.advance(20)  # silence: pinged within two intervals
        self.assertEqual(len(s.peer.pings), 1)

    def test_trafficDefersPingsEveryPath(self) -> None:
        """Uncompressed whole frames (the fast path) and fragmented messages (Autobahn's
        parser) are proof of life too."""
        for compression in (False, True):
            s = Served(answer=False, compression=compression)
            self.assertEqual(s.connection.compressed, compression)
            for n in range(10):
                s.client.writeTextMessage(str(n) * 100_000)  # 2 frames of 64 KiB at most
                s.conn.advance(10)
                s.client.writeBinaryMessage(b"b")
                s.conn.advance(10)
            self.assertEqual(s.peer.pings, [])
            self.assertIs(s.connection.state, State.OPEN)

    def test_anyFrameAnswersThePing(self) -> None:
        """A frame that is not the pong (here a message) within ``pingTimeout`` answers the
        ping too (RFC 6455 §5.5.3 lets a peer answer only its latest ping)."""
        s = Served(answer=False)
        s.conn.advance(20)
        self.assertEqual(len(s.peer.pings), 1)
        s.conn.advance(10)
        s.client.writeTextMessage("here")
        s.conn.advance(10)
        self.assertIs(s.connection.state, State.OPEN)

    def test_ownBacklogIsNotThePeersFault(self) -> None:
        """While the server does not read (callbacks backlogged), it closes no one."""
        s = Served(answer=False)
        for _ in range(BACKLOG + 1):
            s.client.writeTextMessage("wait")
        s.conn.flush()
        for _ in range(10):
            s.clock.advance(20)
        self.assertIs(s.connection.state, State.OPEN)
        for d in s.service.pending:
            d.callback(None)
        s.conn.advance(20)
        s.conn.advance(20)
        s.conn.advance(20)
        self.assertIsNot(s.connection.state, State.OPEN)


class SettingsTests(SynchronousTestCase):
    """``pingInterval`` / ``pingTimeout``: defaults, 0, validation."""

    def test_defaults(self) -> None:
        """On by default: websockets' 20 s and 20 s."""
        config = bws.WSServiceConfig()
        self.assertEqual((config.pingInterval, config.pingTimeout), (20.0, 20.0))

    def test_decimalSeconds(self) -> None:
        """Decimal seconds, as the other durations: int, float, Decimal or numeric text."""
        config = bws.WSServiceConfig(pingInterval="2.5", pingTimeout=1)
        self.assertEqual((config.pingInterval, config.pingTimeout), (2.5, 1.0))

    def test_refused(self) -> None:
        """Negative, infinite, NaN or non-numeric values are refused, naming the field."""
        for field in ("pingInterval", "pingTimeout"):
            for value in (-1, -0.5, float("inf"), float("nan"), "soon", True):
                with self.assertRaises(bws.ConfigurationError) as raised:
                    bws.WSServiceConfig(**{field: value})
                self.assertTrue(str(raised.exception).startswith(f"WSServiceConfig.{field}: "),
                                str(raised.exception))

    def test_zeroIntervalTurnsItOff(self) -> None:
        """``pingInterval=0``: no ping, no timer, however long the silence."""
        s = Served(pingInterval=0)
        self.assertEqual(s.clock.getDelayedCalls(), [])
        s.clock.advance(10_000)
        self.assertEqual(s.unsent(), [])
        self.assertIs(s.connection.state, State.OPEN)

    def test_zeroTimeoutPingsWithoutClosing(self) -> None:
        """``pingTimeout=0``: pings go out after each silent interval; nothing closes."""
        s = Served(pingTimeout=0)
        for _ in range(5):
            s.clock.advance(20)
        self.assertEqual([op for op, _ in s.unsent()], [0x9] * 5)
        self.assertIs(s.connection.state, State.OPEN)

    def test_otherValues(self) -> None:
        """Other intervals and timeouts are kept to (here 5 s and 2 s)."""
        s = Served(pingInterval=5, pingTimeout=2)
        s.clock.advance(5)
        self.assertEqual([op for op, _ in s.unsent()], [0x9])
        s.clock.advance(2)
        self.assertEqual(s.unsent()[-1], closeFrame(1011, "keepalive ping timeout"))


class TickTests(SynchronousTestCase):
    """Keepalive checks share DelayedCalls (an idle connection's memory is what counts)."""

    def test_connectionsShareOneTimer(self) -> None:
        """Many connections opened together wait on one DelayedCall; none is left once
        they are gone."""
        listener = bws.testing.MemoryListener()
        listener.attach(Upgrade(Service()), "/")
        clients = [self.successResultOf(listener.connect("/", pingInterval=0))
                   for _ in range(50)]
        self.assertEqual(len(listener.clock.getDelayedCalls()), 1)
        for client in clients:
            client.close(1000)
        listener.flush()
        self.assertEqual(listener.clock.getDelayedCalls(), [])
        self.assertEqual(keepaliveTicks(listener.clock).ticks, {})

    def test_checkAtMostASecondLate(self) -> None:
        """A check due at a time that is not on a tick runs at most a second late."""
        clock = Clock()
        clock.advance(0.3)
        ticks = keepaliveTicks(clock)
        connection = Connection(clock, 1024, 1.0)
        self.assertEqual(ticks.add(connection, 20), 21.0)
        self.assertEqual(ticks.add(connection, 0.5), 0.8125)  # 1/16 of 0.5 s at most
        ticks.remove(connection, 21.0)
        ticks.remove(connection, 0.8125)
        self.assertEqual(clock.getDelayedCalls(), [])


class TwistdTests(SynchronousTestCase):
    """``twistd bws --ping-interval / --ping-timeout``."""

    def configOf(self, *args: str) -> bws.WSServiceConfig:
        options = Options()
        options.parseOptions(["--port", "0", *args])
        return serviceConfigOf(options["upgradeService"])

    def test_options(self) -> None:
        """Both options set the service's config, in decimal seconds."""
        config = self.configOf("--ping-interval", "5", "--ping-timeout", "2.5")
        self.assertEqual((config.pingInterval, config.pingTimeout), (5.0, 2.5))

    def test_defaultOn(self) -> None:
        """Without them the service keeps keepalive on (20 s / 20 s)."""
        config = self.configOf()
        self.assertEqual((config.pingInterval, config.pingTimeout), (20.0, 20.0))

    def test_zeroTurnsOff(self) -> None:
        """``--ping-interval 0`` turns keepalive off."""
        self.assertEqual(self.configOf("--ping-interval", "0").pingInterval, 0.0)

    def test_refused(self) -> None:
        """Negative, non-numeric and non-finite values are usage errors naming the option
        or the field."""
        cases = [
            (["--ping-interval", "-1"], "--ping-interval: must not be negative"),
            (["--ping-timeout", "x"], "--ping-timeout: expected a number"),
            (["--ping-interval", "inf"], "--ping-interval: must be a finite number"),
            (["--ping-timeout", "nan"], "--ping-timeout: must be a finite number"),
        ]
        for args, message in cases:
            with self.assertRaises(usage.UsageError) as raised:
                self.configOf(*args)
            self.assertIn(message, str(raised.exception))
