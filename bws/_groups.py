# -*- test-case-name: tests.server.test_groups -*-
"""``Groups``: named groups of connections (rooms) and broadcast to them, in one process
or, with a broker, across processes and hosts (DESIGN §3.7).

A service adds its :class:`~bws.Caller` to a group and broadcasts text, binary or JSON to
it. The message is encoded once (JSON serialized, text UTF-8 encoded, the frame built) and
the same bytes are written to every member. Members leave by themselves when their
connection closes or drops. A member that does not read cannot hold the others back, nor
grow the server's memory: see :class:`Groups` for the limit and what happens past it.

With a :class:`GroupBroker` (:class:`bws.RedisBroker`) a broadcast is delivered to this
process's members at once and published for the other processes, each of which delivers
it to its own members; a process never delivers its own messages twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol
from weakref import WeakSet

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger

from bws._connection import Connection, State
from bws._frames import serverFrame
from bws.binding import serialize
from bws.errors import Error

if TYPE_CHECKING:
    from bws.server._caller import Caller

__all__ = ["Groups", "GroupBroker", "DEFAULT_MAX_BACKLOG", "SHED_REASON"]

#: Bytes of broadcasts a member may have waiting while its transport asks to slow down
#: (on top of the transport's own buffer, 64 KiB for TCP) before it is closed 1013.
DEFAULT_MAX_BACKLOG = 256 * 1024
#: The reason of the 1013 close a member that cannot keep up gets.
SHED_REASON = "too slow for group broadcasts"

#: What a broker hands back for delivery: the group, the payload, whether it is binary.
Deliver = Callable[[str, bytes, bool], None]


class GroupBroker(Protocol):
    """What carries broadcasts between processes (:class:`bws.RedisBroker`).

    The broker delivers only the messages other processes published: the ones of this
    process were delivered locally already.
    """

    def attach(self, deliver: Deliver) -> None:
        """Deliver messages from other processes through ``deliver``."""

    def subscribe(self, group: str) -> Deferred[None]:
        """Receive ``group``'s messages from now on; fires when the subscription holds
        (at once while the broker is disconnected: it subscribes when it reconnects)."""

    def unsubscribe(self, group: str) -> None:
        """Stop receiving ``group``'s messages."""

    def publish(self, group: str, payload: bytes, isBinary: bool) -> None:
        """Send a message to ``group``'s members in the other processes (dropped while
        the broker is disconnected)."""


class _Member:
    """One connection's memberships and the broadcasts it has waiting."""

    __slots__ = ("caller", "connection", "groups", "backlog", "draining")

    def __init__(self, caller: Caller, connection: Connection) -> None:
        self.caller = caller
        self.connection = connection
        self.groups: set[str] = set()
        #: Bytes of broadcasts written while the transport asked to slow down.
        self.backlog = 0
        #: Waiting for the transport to drain (a ``writeDone`` Deferred is pending).
        self.draining = False


class Groups:
    """Named groups of connections, and broadcast to them.

    One ``Groups`` serves a :class:`bws.Listener` (``listener.groups``; every listener of
    ``twistd bws`` shares one); a service reaches it as ``caller.groups``::

        def onOpen(self, caller):
            return caller.groups.join("lobby", caller)

        def onTextMessage(self, caller, text):
            caller.groups.broadcast("lobby", text, exclude=caller)

    **A member that cannot keep up.** Broadcasts never wait for a member: each one is
    written at once to every member's transport. While a member's transport asks to slow
    down (its peer stopped reading and the transport holds 64 KiB or more), the bytes of
    the broadcasts written to it are counted; once they would pass ``maxBacklog`` the
    member is removed from every group and closed **1013 Try Again Later** (its TCP
    connection dropped if it does not answer within one second). A member that drains
    starts from zero again. So memory per member stays under the transport's buffer plus
    ``maxBacklog``, and the others never wait.

    1013 rather than dropping messages silently: a member that missed messages would show
    a wrong room without knowing it, while a close tells it to reconnect (a client with
    ``retryConfig`` does) and fetch the state again. 1013 rather than 1008 (Policy
    Violation, RFC 6455 §7.4.1: about a message the endpoint *received*) or 1011
    (Internal Error, an unexpected condition): the IANA registry (RFC 6455 §7.4.2) defines
    1013 as "the server is terminating the connection due to a temporary condition, e.g.
    it is overloaded and is casting off some of its clients".

    :ivar maxBacklog: bytes; see above.
    :ivar broker: the :class:`GroupBroker` that carries broadcasts to other processes, or
        ``None`` (this process only).
    """

    log = Logger()

    def __init__(self, *, maxBacklog: int = DEFAULT_MAX_BACKLOG,
                 broker: GroupBroker | None = None) -> None:
        """
        :param maxBacklog: bytes of broadcasts a member may have waiting (> 0; default
            256 KiB). Keep it above a few of your largest broadcasts: one larger than it,
            sent while a member's transport is full, closes that member.
        :param broker: carries broadcasts to the groups' members in other processes.
        :raise bws.ConfigurationError: ``Groups.maxBacklog`` not a positive integer.
        """
        from bws.errors import ConfigurationError

        if isinstance(maxBacklog, bool) or not isinstance(maxBacklog, int) or maxBacklog <= 0:
            raise ConfigurationError(
                f"Groups.maxBacklog: must be a positive number of bytes, got {maxBacklog!r}")
        self.maxBacklog = maxBacklog
        self.broker = broker
        self._groups: dict[str, dict[Caller, None]] = {}
        self._members: dict[Caller, _Member] = {}
        #: Connections whose loss is watched (one ``whenLost`` each, however often they
        #: join and leave).
        self._watched: WeakSet[Connection] = WeakSet()
        #: The broker's subscriptions not confirmed yet: later joins wait for them too.
        self._subscribing: dict[str, Deferred[None]] = {}
        if broker is not None:
            broker.attach(self._deliverRemote)

    # -- membership ------------------------------------------------------------------

    def join(self, group: str, caller: Caller) -> Deferred[None]:
        """Add ``caller`` to ``group`` (made when its first member joins).

        :param group: any non-empty string.
        :return: fires once broadcasts to ``group`` from every process reach ``caller``
            (at once without a broker, or while the broker is disconnected). Returned
            from ``onOpen``, the first message waits for it.
        :raise TypeError: (raised) ``group`` is not a string.
        :raise ValueError: (raised) ``group`` is empty.
        :raise bws.ConnectionClosureError: (failed Deferred) the connection is closing or
            closed; it joins nothing.
        """
        _checkName(group)
        connection = caller._connection
        refusal = connection.writeRefusal("text")
        if refusal is not None:
            return _failed(refusal)
        member = self._members.get(caller)
        if member is None:
            member = self._members[caller] = _Member(caller, connection)
            if connection not in self._watched:
                self._watched.add(connection)
                connection.whenLost().addCallback(self._lost, caller)
        if group in member.groups:
            return succeed(None)
        member.groups.add(group)
        members = self._groups.get(group)
        if members is None:
            members = self._groups[group] = {}
            members[caller] = None
            if self.broker is not None:
                subscribing = self.broker.subscribe(group)
                if not subscribing.called:
                    self._subscribing[group] = subscribing
                    subscribing.addBoth(self._subscribed, group, subscribing)
                return _follow(subscribing)
            return succeed(None)
        members[caller] = None
        pending = self._subscribing.get(group)
        return _follow(pending) if pending is not None else succeed(None)

    def _subscribed(self, result: Any, group: str, subscribing: Deferred[None]) -> Any:
        if self._subscribing.get(group) is subscribing:
            del self._subscribing[group]
        return result

    def leave(self, group: str, caller: Caller) -> bool:
        """Remove ``caller`` from ``group``; whether it was a member."""
        member = self._members.get(caller)
        if member is None or group not in member.groups:
            return False
        self._remove(member, group)
        if not member.groups:
            del self._members[caller]
        return True

    def leaveAll(self, caller: Caller) -> frozenset[str]:
        """Remove ``caller`` from every group; the groups it was in."""
        member = self._members.pop(caller, None)
        if member is None:
            return frozenset()
        left = frozenset(member.groups)
        for group in left:
            self._remove(member, group)
        return left

    def _remove(self, member: _Member, group: str) -> None:
        member.groups.discard(group)
        members = self._groups.get(group)
        if members is None:
            return
        members.pop(member.caller, None)
        if not members:
            del self._groups[group]
            if self.broker is not None:
                self.broker.unsubscribe(group)

    def _lost(self, _: None, caller: Caller) -> None:
        self.leaveAll(caller)

    def members(self, group: str) -> list[Caller]:
        """The callers in ``group`` in this process, in the order they joined."""
        return list(self._groups.get(group, ()))

    def groupsOf(self, caller: Caller) -> frozenset[str]:
        """The groups ``caller`` is in."""
        member = self._members.get(caller)
        return frozenset(member.groups) if member is not None else frozenset()

    def names(self) -> list[str]:
        """The groups with at least one member in this process."""
        return list(self._groups)

    # -- broadcast -------------------------------------------------------------------

    def broadcast(self, group: str, message: Any, *, exclude: Caller | None = None) -> int:
        """Send ``message`` to every member of ``group``, here and (with a broker) in
        every other process.

        ``str`` goes as a text message, ``bytes`` as binary, anything else as JSON text
        (the rules of ``Caller.writeMessage``: :func:`bws.binding.serialize`), encoded once
        for all members. Nothing waits: members that cannot keep up are closed 1013 (see
        the class). Members whose connection is closing are skipped. Each member gets the messages in the order of the calls, its own
        writes (``caller.writeMessage``) included.

        :param exclude: a member not to send to (the sender, usually).
        :return: the number of members of this process it was written to.
        :raise TypeError: (raised) ``message`` cannot be expressed as JSON; ``group`` is
            not a string.
        """
        _checkName(group)
        if type(message) is str:
            payload, isBinary = message.encode("utf-8"), False
        elif isinstance(message, (bytes, bytearray, memoryview)):
            payload, isBinary = bytes(message), True
        else:
            payload, isBinary = serialize(message)
        if self.broker is not None:
            self.broker.publish(group, payload, isBinary)
        return self._deliver(group, payload, isBinary, exclude)

    def _deliverRemote(self, group: str, payload: bytes, isBinary: bool) -> None:
        """A broadcast another process published."""
        self._deliver(group, payload, isBinary, None)

    def _deliver(self, group: str, payload: bytes, isBinary: bool,
                 exclude: Caller | None) -> int:
        members = self._groups.get(group)
        if not members:
            return 0
        first = 0x82 if isBinary else 0x81
        frame: bytes | None = None
        size = len(payload)
        sent = 0
        shed: list[_Member] = []
        allMembers = self._members
        for caller in list(members):  # a write may end a connection, which leaves
            if caller is exclude:
                continue
            member = allMembers.get(caller)
            if member is None:
                continue
            connection = member.connection
            if connection.state is not State.OPEN:
                continue
            if connection.writePaused:
                member.backlog += size
                if member.backlog > self.maxBacklog:
                    shed.append(member)
                    continue
                if not member.draining:
                    member.draining = True
                    connection.writeDone().addBoth(_drained, member)
            if connection.compressed or size > connection.maxFrameSize:
                # Deflated per member (each has its own compression context), or cut into
                # this member's frames.
                connection.sendPayload(payload, isBinary)
            else:
                if frame is None:
                    frame = serverFrame(first, payload)
                connection.sendEncoded(frame)
            caller._runner.noteActivity()
            sent += 1
        for member in shed:
            self._shed(member)
        return sent

    def _shed(self, member: _Member) -> None:
        connection = member.connection
        self.log.info("Connection {id} cannot keep up with group broadcasts ({backlog} bytes "
                      "waiting, limit {limit}); closing 1013", id=connection.connectionId,
                      backlog=member.backlog, limit=self.maxBacklog)
        self.leaveAll(member.caller)
        connection.shed(SHED_REASON)


def _drained(result: Any, member: _Member) -> None:
    """The member's transport drained (or its connection is gone): count from zero."""
    member.backlog = 0
    member.draining = False


def _follow(d: Deferred[None]) -> Deferred[None]:
    """A Deferred that fires (with None) when ``d`` does, leaving ``d``'s result alone."""
    follower: Deferred[None] = Deferred()

    def fire(result: Any) -> Any:
        follower.callback(None)
        return result

    d.addBoth(fire)
    return follower


def _checkName(group: Any) -> None:
    if type(group) is not str:
        raise TypeError(f"a group name must be a str, got {type(group).__name__}")
    if not group:
        raise ValueError("a group name must not be empty")


def _failed(error: Error) -> Deferred[None]:
    d: Deferred[None] = Deferred()
    d.errback(error)
    return d
