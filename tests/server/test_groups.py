"""Groups and broadcast in one process (``bws.Groups``), in memory on a clock.

The members are real ``bws.Client`` connections to a ``MemoryListener``. The server side
of each runs on :class:`FlowTransport`, an ``iosim`` transport with TCP's flow control:
it asks its producer to pause once more than ``bufferSize`` bytes wait, resumes it when
they drained, and its peer can stop reading (``stalled``) so that they pile up.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IProtocol, IProtocolFactory
from twisted.python.failure import Failure
from twisted.test.iosim import FakeTransport
from twisted.test.iosim import connect as iosimConnect
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

import bws
import bws._groups
from bws._connection import State
from bws.testing import MemoryListener


class FlowTransport(FakeTransport):  # type: ignore[misc]
    """A server transport that pauses its producer past ``bufferSize`` unsent bytes,
    like a TCP transport, and whose peer stops reading while ``stalled``."""

    bufferSize = 65536

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stalled = False
        self.paused = False

    def unsent(self) -> int:
        return sum(len(chunk) for chunk in self.stream)

    def write(self, data: bytes) -> None:
        super().write(data)
        if (self.producer is not None and self.streamingProducer and not self.paused
                and self.unsent() > self.bufferSize):
            self.paused = True
            self.producer.pauseProducing()

    def getOutBuffer(self) -> Any:
        if self.stalled:
            return None
        data = super().getOutBuffer()
        if self.paused and not self.stream and self.producer is not None:
            self.paused = False
            self.producer.resumeProducing()
        return data


class FlowListener(MemoryListener):
    """A ``MemoryListener`` whose server transports are :class:`FlowTransport`\\ s."""

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self.transports: list[FlowTransport] = []

    def _connector(self, factory: IProtocolFactory) -> Deferred[IProtocol | None]:
        port = next(self._ports)
        clientAddress = IPv4Address("TCP", "127.0.0.1", port)
        serverAddress = IPv4Address("TCP", "127.0.0.1", 9090)
        clientProto = factory.buildProtocol(serverAddress)
        serverProto = self.listener.site.buildProtocol(clientAddress)
        serverTransport = FlowTransport(serverProto, True, serverAddress, clientAddress)
        clientTransport = FakeTransport(clientProto, False, clientAddress, serverAddress)
        self.transports.append(serverTransport)
        self.pumps.append(iosimConnect(serverProto, serverTransport, clientProto,
                                       clientTransport, greet=False, clock=self.clock))
        return succeed(clientProto)


@implementer(bws.IService)
class Member:
    """Joins its room on open; every text it gets goes to the others in the room."""

    def __init__(self, room: str) -> None:
        self.room = room
        self.callers: list[Any] = []

    def onOpen(self, caller: Any) -> Deferred[None]:
        self.callers.append(caller)
        return caller.groups.join(self.room, caller)

    def onTextMessage(self, caller: Any, text: str) -> None:
        caller.groups.broadcast(self.room, text, exclude=caller)


@implementer(bws.IUpgradeService)
class Rooms:
    def __init__(self) -> None:
        self.members: list[Member] = []

    def get(self, request: Any, room: str) -> Member:
        member = Member(room)
        self.members.append(member)
        return member


class GroupsTestsMixin:
    """A listener serving :class:`Rooms` at ``/rooms/{room}``, and clients in rooms."""

    def setUp(self) -> None:
        self.memory = FlowListener()
        self.rooms = Rooms()
        self.memory.attach(self.rooms, "/rooms/{room}")
        self.groups = self.memory.listener.groups

    def join(self, room: str, **config: Any) -> tuple[bws.Client, Any]:
        """A client in ``room`` (no compression unless asked) and its server caller."""
        config.setdefault("webSocketCompressionEnabled", False)
        client = self.successResultOf(self.memory.connect(f"/rooms/{room}", **config))
        self.memory.flush()
        return client, self.rooms.members[-1].callers[-1]

    def received(self, client: bws.Client) -> list[Any]:
        """Every message that reached ``client`` since the last call (a read left
        waiting is kept for the next call)."""
        pending = self.__dict__.setdefault("_pendingReads", {})
        got = []
        while True:
            d = pending.pop(client, None) or client.readMessage()
            if not d.called:
                pending[client] = d
                return got
            got.append(self.successResultOf(d))


class MembershipTests(GroupsTestsMixin, SynchronousTestCase):
    """Joining, leaving, and leaving by closing or dropping."""

    def test_joinAndMembers(self) -> None:
        """Callers join their rooms; ``members``, ``groupsOf`` and ``names`` say so."""
        _, a = self.join("lobby")
        _, b = self.join("lobby")
        _, c = self.join("kitchen")
        self.assertEqual(self.groups.members("lobby"), [a, b])
        self.assertEqual(self.groups.members("kitchen"), [c])
        self.assertEqual(self.groups.groupsOf(a), frozenset({"lobby"}))
        self.assertEqual(sorted(self.groups.names()), ["kitchen", "lobby"])
        self.assertIs(a.groups, self.groups)

    def test_joinTwiceIsOnce(self) -> None:
        """Joining a group again changes nothing; one caller may be in several groups."""
        _, a = self.join("lobby")
        self.successResultOf(self.groups.join("lobby", a))
        self.successResultOf(self.groups.join("kitchen", a))
        self.assertEqual(self.groups.members("lobby"), [a])
        self.assertEqual(self.groups.groupsOf(a), frozenset({"lobby", "kitchen"}))

    def test_leave(self) -> None:
        """``leave`` removes the caller from one group, says whether it was in it, and
        an empty group is gone."""
        _, a = self.join("lobby")
        self.successResultOf(self.groups.join("kitchen", a))
        self.assertTrue(self.groups.leave("lobby", a))
        self.assertFalse(self.groups.leave("lobby", a))
        self.assertEqual(self.groups.names(), ["kitchen"])
        self.assertEqual(self.groups.leaveAll(a), frozenset({"kitchen"}))
        self.assertEqual(self.groups.names(), [])

    def test_closeRemoves(self) -> None:
        """A member whose connection closed is in no group any more."""
        client, a = self.join("lobby")
        _, b = self.join("lobby")
        self.successResultOf(self.groups.join("kitchen", a))
        client.close()
        self.memory.flush()
        self.assertEqual(self.groups.members("lobby"), [b])
        self.assertEqual(self.groups.names(), ["lobby"])
        self.assertEqual(self.groups.groupsOf(a), frozenset())

    def test_dropRemoves(self) -> None:
        """A member whose TCP connection dropped without a close is removed."""
        _, a = self.join("lobby")
        _, b = self.join("lobby")
        self.memory.transports[0].abortConnection()
        self.memory.flush()
        self.assertEqual(self.groups.members("lobby"), [b])

    def test_rejoinAfterLeavingWatchesOnce(self) -> None:
        """A caller that leaves and joins again many times is watched with one Deferred."""
        _, a = self.join("lobby")
        for _ in range(5):
            self.groups.leave("lobby", a)
            self.successResultOf(self.groups.join("lobby", a))
        self.assertEqual(len(a._connection._lostWaiters), 1)

    def test_joinWhileClosingFails(self) -> None:
        """A caller whose connection is closing cannot join."""
        _, a = self.join("lobby")
        a.close()
        self.failureResultOf(self.groups.join("kitchen", a), bws.ConnectionClosureError)
        self.assertEqual(self.groups.groupsOf(a), frozenset({"lobby"}))

    def test_badNames(self) -> None:
        """A group name is a non-empty str."""
        _, a = self.join("lobby")
        self.assertRaises(TypeError, self.groups.join, b"lobby", a)
        self.assertRaises(ValueError, self.groups.join, "", a)
        self.assertRaises(TypeError, self.groups.broadcast, 1, "hi")

    def test_maxBacklogChecked(self) -> None:
        """``maxBacklog`` is a positive number of bytes."""
        for bad in (0, -1, 1.5, True, "1"):
            error = self.assertRaises(bws.ConfigurationError, bws.Groups, maxBacklog=bad)
            self.assertIn("Groups.maxBacklog", str(error))


class BroadcastTests(GroupsTestsMixin, SynchronousTestCase):
    """What a broadcast sends, to whom, encoded how many times."""

    def test_textReachesOthers(self) -> None:
        """A member's text reaches every other member of its room, not itself, nor
        another room."""
        sender, _ = self.join("lobby")
        others = [self.join("lobby")[0] for _ in range(3)]
        elsewhere, _ = self.join("kitchen")
        sender.writeTextMessage("hello")
        self.memory.flush()
        for client in others:
            self.assertEqual(self.received(client), ["hello"])
        self.assertEqual(self.received(sender), [])
        self.assertEqual(self.received(elsewhere), [])

    def test_kinds(self) -> None:
        """str goes as text, bytes as binary, anything else as JSON text; the count is
        the members written to."""
        a, _ = self.join("lobby")
        b, _ = self.join("lobby")
        self.assertEqual(self.groups.broadcast("lobby", "t"), 2)
        self.assertEqual(self.groups.broadcast("lobby", b"\x00\xff"), 2)
        self.assertEqual(self.groups.broadcast("lobby", {"n": [1, 2]}), 2)
        self.assertEqual(self.groups.broadcast("nobody", "t"), 0)
        self.memory.flush()
        for client in (a, b):
            self.assertEqual(self.received(client), ["t", b"\x00\xff", '{"n":[1,2]}'])

    def test_encodedOnce(self) -> None:
        """JSON is serialized once and the frame built once, whatever the members."""
        calls = {"serialize": 0, "frame": 0}
        serialize, frame = bws._groups.serialize, bws._groups.serverFrame

        def countSerialize(value: Any) -> tuple[bytes, bool]:
            calls["serialize"] += 1
            return serialize(value)

        def countFrame(first: int, payload: bytes) -> bytes:
            calls["frame"] += 1
            return frame(first, payload)

        self.patch(bws._groups, "serialize", countSerialize)
        self.patch(bws._groups, "serverFrame", countFrame)
        clients = [self.join("lobby")[0] for _ in range(5)]
        self.assertEqual(self.groups.broadcast("lobby", {"a": 1}), 5)
        self.memory.flush()
        self.assertEqual(calls, {"serialize": 1, "frame": 1})
        for client in clients:
            self.assertEqual(self.received(client), ['{"a":1}'])

    def test_compressedAndFragmentedMembers(self) -> None:
        """A member that agreed permessage-deflate gets the message deflated for it; one
        whose frames are smaller gets it fragmented; the others get the shared frame."""
        plain, _ = self.join("lobby")
        deflated, caller = self.join("lobby", webSocketCompressionEnabled=True)
        self.assertTrue(caller._connection.compressed)
        fragmented, small = self.join("lobby")
        small._connection.maxFrameSize = 10
        text = "é" * 40
        self.assertEqual(self.groups.broadcast("lobby", text), 3)
        self.memory.flush()
        for client in (plain, deflated, fragmented):
            self.assertEqual(self.received(client), [text])

    def test_closingMembersSkipped(self) -> None:
        """A member whose connection is closing is not written to."""
        a, _ = self.join("lobby")
        _, closing = self.join("lobby")
        closing.close()
        self.assertEqual(self.groups.broadcast("lobby", "x"), 1)
        self.memory.flush()
        self.assertEqual(self.received(a), ["x"])


class SlowMemberTests(GroupsTestsMixin, SynchronousTestCase):
    """A member that stops reading: the others go on, its memory is bounded, it is
    closed 1013 past ``maxBacklog``."""

    MESSAGE = "x" * 10000

    def setUp(self) -> None:
        super().setUp()
        self.fast, _ = self.join("lobby")
        self.slow, self.slowCaller = self.join("lobby")
        self.slowTransport = self.memory.transports[1]
        self.slowTransport.stalled = True

    def test_othersKeepReceiving(self) -> None:
        """Broadcasts keep reaching the fast member while the slow one's transport is
        full; the slow one is cast off with 1013 once its backlog passes the limit, and
        its bytes never exceed the transport's buffer plus ``maxBacklog``."""
        limit = self.groups.maxBacklog
        count = (FlowTransport.bufferSize + limit) // len(self.MESSAGE) + 5
        largest = 0
        for i in range(count):
            self.groups.broadcast("lobby", self.MESSAGE)
            largest = max(largest, self.slowTransport.unsent())
            self.memory.flush()
            self.assertEqual(len(self.received(self.fast)), 1, i)
        self.assertLessEqual(largest, FlowTransport.bufferSize + limit + len(self.MESSAGE) + 16)
        self.assertEqual(self.groups.members("lobby"), [self.fast_caller()])
        self.assertIs(self.slowCaller._connection.state, State.CLOSE_SENT)
        self.assertEqual(self.slowCaller._connection.closeSent, True)
        # It never answers: TCP is dropped one second later.
        self.memory.advance(1)
        self.assertIs(self.slowCaller._connection.state, State.CLOSED)

    def fast_caller(self) -> Any:
        return self.rooms.members[0].callers[0]

    def test_closeCode(self) -> None:
        """The slow member, reading again, finds the messages written before the limit
        and then a close 1013 "too slow for group broadcasts"."""
        limit = self.groups.maxBacklog
        count = (FlowTransport.bufferSize + limit) // len(self.MESSAGE) + 5
        for _ in range(count):
            self.groups.broadcast("lobby", self.MESSAGE)
        self.slowTransport.stalled = False
        self.memory.flush()
        got = []
        while True:
            d = self.slow.readMessage()
            if d.called and not isinstance(d.result, Failure):
                got.append(self.successResultOf(d))
                continue
            break
        self.assertGreater(len(got), FlowTransport.bufferSize // len(self.MESSAGE))
        self.assertLess(len(got), count)
        failure = self.failureResultOf(d, bws.ConnectionClosureError)
        self.assertIn("1013", str(failure.value))
        self.assertIn(bws._groups.SHED_REASON, str(failure.value))

    def test_drainingResets(self) -> None:
        """A member that reads again before the limit starts from zero: it is kept."""
        limit = self.groups.maxBacklog
        rounds = (FlowTransport.bufferSize + limit) // len(self.MESSAGE) - 2
        for _ in range(3):
            for _ in range(rounds):
                self.groups.broadcast("lobby", self.MESSAGE)
            self.slowTransport.stalled = False
            self.memory.flush()
            self.assertEqual(len(self.received(self.slow)), rounds)
            self.slowTransport.stalled = True
        self.assertEqual(len(self.groups.members("lobby")), 2)

    def test_smallLimit(self) -> None:
        """``maxBacklog`` is the caller's to choose: a listener given ``Groups(maxBacklog=
        1)`` casts off a member at the first broadcast written while its transport is
        full."""
        groups = bws.Groups(maxBacklog=1)
        for member in self.rooms.members:
            for caller in member.callers:
                caller._groups = groups
                self.successResultOf(groups.join("lobby", caller))
        for _ in range(FlowTransport.bufferSize // len(self.MESSAGE) + 1):
            groups.broadcast("lobby", self.MESSAGE)
            self.memory.flush()
        self.assertTrue(self.slowCaller._connection.writePaused)
        self.assertEqual(len(groups.members("lobby")), 2)
        groups.broadcast("lobby", self.MESSAGE)
        self.assertEqual(len(groups.members("lobby")), 1)


@implementer(bws.IService)
class Announcer(Member):
    """Answers the sender first, then broadcasts to the whole room (the sender too)."""

    def onTextMessage(self, caller: Any, text: str) -> None:
        caller.writeMessage("ack " + text)
        caller.groups.broadcast(self.room, text)


class OrderTests(GroupsTestsMixin, SynchronousTestCase):
    """A broadcast made while its sender's message is handled keeps its place among the
    frames the sender's connection was written before it."""

    def test_replyThenBroadcast(self) -> None:
        """The sender gets its reply, then the broadcast, in the order they were made."""
        self.patch(Rooms, "get", lambda rooms, request, room: (
            rooms.members.append(Announcer(room)) or rooms.members[-1]))
        sender, _ = self.join("lobby")
        other, _ = self.join("lobby")
        sender.writeMessage("hi")
        self.memory.flush()
        self.assertEqual(self.received(sender), ["ack hi", "hi"])
        self.assertEqual(self.received(other), ["hi"])
