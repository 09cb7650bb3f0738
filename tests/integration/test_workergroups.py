"""Groups with ``twistd bws --workers 2``: one room whose members sit on both workers.

With ``--broker`` (a real ``redis-server``) a broadcast reaches every member on both
workers exactly once; without it, only the members on the sender's worker, the limit
docs/workers.rst states. The service is docs/examples/chatroom.py's rooms whose members
also answer ``pid?`` (tests/integration/roomservice.py), so the test knows which worker
each member is on. Nothing waits on the clock: each step waits for a log line or a message.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from twisted.internet.defer import inlineCallbacks
from twisted.python import log
from twisted.trial.unittest import TestCase

import bws
from tests.integration.test_docs import freePort
from tests.integration.test_redisgroups import startRedis
from tests.integration.test_workers import Parent, ready, startParent

ROOM_SERVICE = "tests.integration.roomservice:PidRooms"
#: A worker's log line saying its broker is connected (the parent prefixes each one).
BROKER_CONNECTED = re.compile(r"\[worker (\d+) pid \d+\] .*group broker connected to redis://")
#: Members each worker must hold before a broadcast: both sides have a sender and others.
PER_WORKER = 2
#: Connections that may be opened to get PER_WORKER members on each worker (the kernel
#: hands each to whichever worker accepts first: usually a few suffice).
MAX_MEMBERS = 200


class WorkerGroupsTests(TestCase):
    """``twistd bws --workers 2 --service ... --path '/rooms/{room}'``, one room."""

    timeout = 180

    @inlineCallbacks
    def startRooms(self, *extra: str) -> Any:
        """Two workers serving the rooms; the room's URL and the workers' pids."""
        parent = startParent(self, "--workers", "2", "--port", "0", "--host", "127.0.0.1",
                             "--service", ROOM_SERVICE, "--path", "/rooms/{room}", *extra)
        url, pids = yield ready(parent)
        origin = re.match(r"ws://[^/]+", url)
        assert origin is not None, url
        return parent, origin.group(0) + "/rooms/lobby", set(pids.values())

    @inlineCallbacks
    def enter(self, url: str, name: str) -> Any:
        """A member of the room (it heard its own arrival, so it has joined) and the pid
        of the worker serving it."""
        client = yield bws.Client.connect(f"{url}?name={quote(name)}")
        self.addCleanup(lambda: client.close() if client.isOpen() else None)
        while (yield client.readMessage(dict)) != {"type": "joined", "name": name}:
            pass
        yield client.writeTextMessage("pid?")
        while (message := (yield client.readMessage(dict)))["type"] != "pid":
            pass
        return client, message["pid"]

    @inlineCallbacks
    def fill(self, url: str, pids: set[int]) -> Any:
        """Members enter until each worker holds PER_WORKER of them: ``{pid: [(name,
        client)...]}``."""
        members: dict[int, list[tuple[str, bws.Client]]] = {pid: [] for pid in pids}
        count = 0
        while min(len(held) for held in members.values()) < PER_WORKER:
            self.assertLess(count, MAX_MEMBERS, f"members per worker: {members}")
            count += 1
            name = f"m{count}"
            client, pid = yield self.enter(url, name)
            self.assertIn(pid, pids)
            members[pid].append((name, client))
        log.msg(f"members per worker: {[len(held) for held in members.values()]}")
        return members

    @inlineCallbacks
    def heard(self, client: bws.Client, until: set[tuple[str, str]]) -> Any:
        """Every ``(name, text)`` said that ``client`` hears until it has heard each one
        of ``until`` (arrivals and departures skipped)."""
        said: list[tuple[str, str]] = []
        while not until <= set(said):
            message = yield client.readMessage(dict)
            if message.get("type") == "message":
                said.append((message["name"], message["text"]))
        return said

    @inlineCallbacks
    def test_brokerReachesBothWorkersOnce(self) -> Any:
        """With --broker: a member on either worker says "hello"; every member, on both
        workers (the sender too), hears it. Then a member on each worker says a marker,
        and every member hears the two markers and nothing else: no "hello" twice,
        whichever way (its own worker, or back through Redis) a second copy would come.
        A copy through Redis would come before the marker from the other worker, which
        Redis relays after it."""
        redisPort = freePort()
        yield startRedis(self, redisPort)
        parent, url, pids = yield self.startRooms(
            "--broker", f"redis://127.0.0.1:{redisPort}/0")
        yield self.brokerConnected(parent)
        members = yield self.fill(url, pids)
        everyone = [client for held in members.values() for _, client in held]
        for pid in sorted(pids):
            sender, client = members[pid][0]
            yield client.writeTextMessage("hello")
            for member in everyone:
                self.assertEqual((yield self.heard(member, {(sender, "hello")})),
                                 [(sender, "hello")])
            markers = set()
            for held in members.values():
                name, marking = held[1]
                yield marking.writeTextMessage(f"after {sender}")
                markers.add((name, f"after {sender}"))
            for member in everyone:
                self.assertEqual(sorted((yield self.heard(member, markers))), sorted(markers))

    @inlineCallbacks
    def brokerConnected(self, parent: Parent) -> Any:
        """Wait until both workers logged their broker connected."""
        connected: set[str] = set()
        since = 0
        while len(connected) < 2:
            match = yield parent.waitFor(BROKER_CONNECTED, since)
            since = parent.lines.index(match.string) + 1
            connected.add(match.group(1))

    @inlineCallbacks
    def test_withoutBrokerOnlyTheSendersWorker(self) -> Any:
        """Without --broker (docs/workers.rst): "hello" from a member on one worker
        reaches that worker's members once, and none on the other worker, whose members
        hear a marker said on their own worker after it, and nothing before it."""
        parent, url, pids = yield self.startRooms()
        members = yield self.fill(url, pids)
        here, there = sorted(pids)
        sender, client = members[here][0]
        yield client.writeTextMessage("hello")
        yield client.writeTextMessage("end")
        for _, member in members[here]:
            self.assertEqual((yield self.heard(member, {(sender, "end")})),
                             [(sender, "hello"), (sender, "end")])
        otherSender, otherClient = members[there][0]
        yield otherClient.writeTextMessage("end")
        for _, member in members[there]:
            self.assertEqual((yield self.heard(member, {(otherSender, "end")})),
                             [(otherSender, "end")])
        self.assertNotIn("group broker", parent.log())
