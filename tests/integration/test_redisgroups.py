"""Groups across processes over a real ``redis-server``: two ``twistd bws --broker``
processes serving docs/examples/chatroom.py, clients on each.

Redis and both servers are child processes on free loopback ports; every step waits for a
line a process prints (Redis' "Ready to accept connections", the broker's log lines) or for
a message, never on the wall clock. The Redis restart kills it with SIGKILL and starts it
again on the same port: both servers log the loss and the recovery, and broadcasts reach
every process again.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from typing import Any
from urllib.parse import quote

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.protocol import ProcessProtocol
from twisted.python.failure import Failure
from twisted.trial.unittest import SkipTest, TestCase

import bws
from tests.integration.test_docs import EXAMPLES, TWISTD, environment, freePort

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class Watched(ProcessProtocol):
    """A child process whose output lines can be waited for."""

    def __init__(self) -> None:
        self.output = ""
        self.waiting: list[tuple[re.Pattern[str], int, Deferred[str]]] = []
        self.ended: Deferred[None] = Deferred()
        self.done = False

    def outReceived(self, data: bytes) -> None:
        self.output += data.decode("utf-8", "replace")
        self._check()

    errReceived = outReceived

    def _check(self) -> None:
        for entry in list(self.waiting):
            pattern, start, d = entry
            match = pattern.search(self.output, start)
            if match:
                self.waiting.remove(entry)
                d.callback(match.group(0))

    def waitFor(self, pattern: str, start: int | None = None) -> Deferred[str]:
        """Fires with the first match of ``pattern`` in the output from ``start`` (the
        output so far, by default: a line still to come)."""
        d: Deferred[str] = Deferred()
        self.waiting.append((re.compile(pattern), len(self.output) if start is None
                             else start, d))
        self._check()
        return d

    def processEnded(self, reason: Failure) -> None:
        self.done = True
        for _, _, d in self.waiting:
            d.errback(AssertionError(f"the process ended first:\n{self.output}"))
        self.waiting = []
        self.ended.callback(None)


def spawnWatched(case: TestCase, args: list[str], path: str | None = None) -> tuple[Watched, Any]:
    """Start ``args`` as a child of ``case``'s test, killed in its cleanup."""
    watched = Watched()
    transport = reactor.spawnProcess(  # type: ignore[attr-defined]
        watched, args[0], args, env=environment(), path=path)

    def stop() -> Deferred[None]:
        if not watched.done:
            transport.signalProcess("KILL")
        return watched.ended

    case.addCleanup(stop)
    return watched, transport


@inlineCallbacks
def startRedis(case: TestCase, port: int) -> Any:
    """A redis-server on 127.0.0.1:``port`` (nothing saved), once it accepts connections.

    :raise SkipTest: redis-server is not installed.
    """
    if not os.access(REDIS_SERVER, os.X_OK):
        raise SkipTest(f"{REDIS_SERVER} is not installed (Debian package redis-server)")
    redis, transport = spawnWatched(
        case, [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no"])
    yield redis.waitFor(r"Ready to accept connections", 0)
    return redis, transport


class RedisGroupsTests(TestCase):
    """Two bws processes share chat rooms through Redis."""

    timeout = 120

    def spawn(self, args: list[str], path: str | None = None) -> tuple[Watched, Any]:
        return spawnWatched(self, args, path)

    def startRedis(self, port: int) -> Any:
        return startRedis(self, port)

    @inlineCallbacks
    def startBws(self, redisPort: int) -> Any:
        port = freePort()
        server, transport = self.spawn(
            [sys.executable, "-c", TWISTD, "-n", "--pidfile=", "bws", "--service",
             "chatroom:ChatRooms", "--path", "/rooms/{room}", "--port", str(port),
             "--host", "127.0.0.1", "--broker", f"redis://127.0.0.1:{redisPort}/0"],
            path=str(EXAMPLES))
        yield server.waitFor(r"group broker connected to redis://127\.0\.0\.1", 0)
        return server, f"ws://127.0.0.1:{port}/rooms/lobby"

    @inlineCallbacks
    def enter(self, url: str, name: str) -> Any:
        """A client in the room; it has heard its own arrival (so its process is
        subscribed to the room's channel)."""
        client = yield bws.Client.connect(f"{url}?name={quote(name)}")
        self.addCleanup(lambda: client.close() if client.isOpen() else None)
        while (yield client.readMessage(dict)) != {"type": "joined", "name": name}:
            pass
        return client

    @inlineCallbacks
    def hears(self, client: bws.Client, name: str, text: str) -> Any:
        """Wait until ``client`` hears ``name`` say ``text`` (other events are skipped)."""
        said = {"type": "message", "name": name, "text": text}
        while (yield client.readMessage(dict)) != said:
            pass

    @inlineCallbacks
    def test_broadcastReachesEveryProcessAndSurvivesARedisRestart(self) -> Any:
        """A message said on one process reaches the room's members on both; Redis killed
        and started again: both servers log the loss and "group broker reconnected;
        resubscribed to 1 groups", local delivery goes on meanwhile, and a message after
        the recovery reaches every process again."""
        redisPort = freePort()
        redis, redisTransport = yield self.startRedis(redisPort)
        one, urlOne = yield self.startBws(redisPort)
        two, urlTwo = yield self.startBws(redisPort)
        ann = yield self.enter(urlOne, "ann")
        bob = yield self.enter(urlTwo, "bob")
        cat = yield self.enter(urlTwo, "cat")
        yield ann.writeTextMessage("hello")
        for client in (ann, bob, cat):
            yield self.hears(client, "ann", "hello")

        marks = (len(one.output), len(two.output))
        redisTransport.signalProcess("KILL")
        yield redis.ended
        for server, mark in zip((one, two), marks, strict=True):
            yield server.waitFor(r"group broker lost its connection to redis://", mark)
        yield bob.writeTextMessage("while redis is down")
        for client in (bob, cat):
            yield self.hears(client, "bob", "while redis is down")

        redis, redisTransport = yield self.startRedis(redisPort)
        for server, mark in zip((one, two), marks, strict=True):
            yield server.waitFor(r"group broker reconnected; resubscribed to 1 groups", mark)
        yield cat.writeTextMessage("after the restart")
        for client in (ann, bob, cat):
            yield self.hears(client, "cat", "after the restart")
        yield ann.writeTextMessage("and back")
        for client in (ann, bob, cat):
            yield self.hears(client, "ann", "and back")
        for client in (ann, bob, cat):
            yield client.close()
        for server in (one, two):
            self.assertEqual(server.output.count("group broker lost its connection"), 1)
            self.assertEqual(server.output.count("group broker reconnected"), 1)
