"""What ``bws.Groups`` asks of its broker, the Redis broker's messages and URL, and the
``--broker``/``broker`` settings of ``twistd bws`` and its config file.

The Redis broker against a real ``redis-server`` is in tests/integration/test_redisgroups.py;
here the broker's own logic runs without a connection.
"""

from __future__ import annotations

import sys
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

import bws
from bws._redisbroker import RedisAddress, parseRedisUrl
from bws.configfile import ServerConfig
from bws.tap import Options, buildService
from tests.server.test_groups import GroupsTestsMixin
from tests.test_configfile import ECHO, PLAIN, ConfigFileMixin


class RecordingBroker:
    """A :class:`bws._groups.GroupBroker` that records what the groups ask of it."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.deliver: Any = None

    def attach(self, deliver: Any) -> None:
        self.deliver = deliver

    def subscribe(self, group: str) -> Deferred[None]:
        self.calls.append(("subscribe", group))
        return succeed(None)

    def unsubscribe(self, group: str) -> None:
        self.calls.append(("unsubscribe", group))

    def publish(self, group: str, payload: bytes, isBinary: bool) -> None:
        self.calls.append(("publish", group, payload, isBinary))


class GroupsWithBrokerTests(GroupsTestsMixin, SynchronousTestCase):
    """``Groups`` subscribes on a group's first member here, unsubscribes on its last,
    publishes each broadcast once, and delivers the broker's messages to its members."""

    def setUp(self) -> None:
        super().setUp()
        self.broker = RecordingBroker()
        self.groups = bws.Groups(broker=self.broker)
        self.memory.listener.resource.groups = self.groups

    def test_subscriptions(self) -> None:
        """One subscribe per group however many members; unsubscribe when the last
        member leaves or drops."""
        _, a = self.join("lobby")
        _, b = self.join("lobby")
        self.groups.leave("lobby", a)
        self.memory.transports[1].abortConnection()
        self.memory.flush()
        self.assertEqual(self.broker.calls, [("subscribe", "lobby"), ("unsubscribe", "lobby")])

    def test_publishOnce(self) -> None:
        """A broadcast is published once, encoded (JSON as text), even with no member
        here."""
        self.groups.broadcast("lobby", {"a": 1})
        self.groups.broadcast("lobby", b"\x01")
        self.assertEqual(self.broker.calls, [("publish", "lobby", b'{"a":1}', False),
                                             ("publish", "lobby", b"\x01", True)])

    def test_remoteDelivered(self) -> None:
        """A message from another process reaches every member here (none excluded) and
        is not published again."""
        clients = [self.join("lobby")[0] for _ in range(2)]
        self.broker.calls.clear()
        self.broker.deliver("lobby", b"from afar", False)
        self.broker.deliver("lobby", b"\x00", True)
        self.memory.flush()
        for client in clients:
            self.assertEqual(self.received(client), ["from afar", b"\x00"])
        self.assertEqual(self.broker.calls, [])


class RedisUrlTests(SynchronousTestCase):
    """``redis://`` URLs."""

    def test_parts(self) -> None:
        """Host, port, database, user and password are read; the defaults are port 6379
        and database 0."""
        self.assertEqual(parseRedisUrl("redis://127.0.0.1:6380/2"),
                         RedisAddress("127.0.0.1", 6380, 2))
        self.assertEqual(parseRedisUrl("redis://cache"), RedisAddress("cache"))
        address = parseRedisUrl("redis://me:s%40cret@[::1]/1")
        self.assertEqual((address.host, address.username, address.password, address.db),
                         ("::1", "me", "s@cret", 1))
        self.assertEqual(str(address), "redis://[::1]:6379/1")   # no password in logs

    def test_refused(self) -> None:
        """Other schemes, no host, a bad port or database, a query are refused."""
        for url in ("http://x", "redis://", "redis://x:99999", "redis://x/zero",
                    "redis://x/0?timeout=1", "rediss://x"):
            self.assertRaises(ValueError, parseRedisUrl, url)

    def test_brokerNamesTheField(self) -> None:
        """``RedisBroker`` refuses a bad URL naming ``RedisBroker.url``."""
        error = self.assertRaises(bws.ConfigurationError, bws.RedisBroker, "redis:/x")
        self.assertTrue(str(error).startswith("RedisBroker.url: "), str(error))


class RedisMessageTests(SynchronousTestCase):
    """What the Redis broker does with what arrives on its channels."""

    def setUp(self) -> None:
        self.broker = bws.RedisBroker("redis://127.0.0.1/0")
        self.delivered: list[tuple[str, bytes, bool]] = []
        self.broker.attach(lambda *args: self.delivered.append(args))

    def message(self, brokerId: bytes, kind: bytes, payload: bytes) -> bytes:
        return b"bws\x01" + brokerId + kind + payload

    def test_othersDelivered(self) -> None:
        """Another broker's text and binary messages are delivered to the group of the
        channel."""
        other = b"12345678"
        channel = self.broker.channel("lobby")
        self.assertEqual(channel, b"bws:group:lobby")
        self.broker.messageReceived(channel, self.message(other, b"t", "é".encode()))
        self.broker.messageReceived(channel, self.message(other, b"b", b"\xff"))
        self.assertEqual(self.delivered, [("lobby", "é".encode(), False),
                                          ("lobby", b"\xff", True)])

    def test_ownSkipped(self) -> None:
        """A message this broker published was delivered locally: it is not again."""
        self.broker.messageReceived(self.broker.channel("lobby"),
                                    self.message(self.broker.brokerId, b"t", b"x"))
        self.assertEqual(self.delivered, [])

    def test_foreignIgnored(self) -> None:
        """Messages no bws broker made (or text that is not UTF-8) are ignored, with one
        log line."""
        channel = self.broker.channel("lobby")
        for message in (b"hello", self.message(b"12345678", b"t", b"\xff"),
                        self.message(b"12345678", b"x", b"a")):
            self.broker.messageReceived(channel, message)
        self.assertEqual(self.delivered, [])
        self.assertEqual(self.broker._badMessages, 3)

    def test_publishWhileDisconnected(self) -> None:
        """Not connected, a broadcast is dropped and counted, never queued."""
        self.broker.publish("lobby", b"x", False)
        self.assertEqual(self.broker.dropped, 1)
        self.assertEqual(self.successResultOf(self.broker.subscribe("lobby")), None)


def hideTxredisapi(case: SynchronousTestCase) -> None:
    """Make ``import txredisapi`` fail for the test, as when it is not installed."""
    if "txredisapi" in sys.modules:
        case.addCleanup(sys.modules.__setitem__, "txredisapi", sys.modules["txredisapi"])
    else:
        case.addCleanup(sys.modules.pop, "txredisapi", None)
    sys.modules["txredisapi"] = None  # type: ignore[assignment]


class BrokerOptionTests(SynchronousTestCase):
    """``--broker`` and ``--group-max-backlog``."""

    def test_badBroker(self) -> None:
        """A URL that cannot be used stops twistd in one line naming ``--broker``."""
        error = self.assertRaises(usage.UsageError, Options().parseOptions,
                                  ["--broker", "http://x"])
        self.assertTrue(str(error).startswith("--broker: "), str(error))
        self.assertNotIn("\n", str(error))

    def test_txredisapiMissing(self) -> None:
        """Without txredisapi, ``--broker`` stops twistd in one line saying what to
        install, rather than with a traceback once the service starts."""
        hideTxredisapi(self)
        error = self.assertRaises(usage.UsageError, Options().parseOptions,
                                  ["--broker", "redis://127.0.0.1:6379/0"])
        self.assertEqual(str(error), "--broker: needs txredisapi, which is not installed: "
                                     "pip install 'txbws[redis]'")

    def test_badBacklog(self) -> None:
        """The backlog is a positive number of bytes."""
        for value in ("0", "-1", "x"):
            error = self.assertRaises(usage.UsageError, Options().parseOptions,
                                      ["--group-max-backlog", value])
            self.assertIn("--group-max-backlog", str(error))

    def test_sharedGroupsAndBroker(self) -> None:
        """Every listener shares one ``Groups``, whose broker is a child service."""
        options = Options()
        options.parseOptions(["--listen", "tcp:0:interface=127.0.0.1", "--listen",
                              "tcp:0:interface=127.0.0.2", "--broker",
                              "redis://127.0.0.1:6390/3", "--group-max-backlog", "1000"])
        service = buildService(options)
        (one, _), (two, _) = service.listeners
        self.assertIs(one.groups, two.groups)
        self.assertEqual(one.groups.maxBacklog, 1000)
        broker = one.groups.broker
        self.assertIsInstance(broker, bws.RedisBroker)
        self.assertIn(broker, list(service))
        self.assertEqual(str(broker.address), "redis://127.0.0.1:6390/3")

    def test_noBroker(self) -> None:
        """Without ``--broker`` the groups are this process's only."""
        options = Options()
        options.parseOptions([])
        service = buildService(options)
        [(listener, _)] = service.listeners
        self.assertIsNone(listener.groups.broker)
        self.assertEqual(listener.groups.maxBacklog, bws._groups.DEFAULT_MAX_BACKLOG)


class BrokerConfigFileTests(ConfigFileMixin, SynchronousTestCase):
    """``broker`` and ``groupMaxBacklog`` at the top of the config file."""

    def test_read(self) -> None:
        """Both keys reach the records."""
        server = self.load('broker = "redis://127.0.0.1:6379/0"\ngroupMaxBacklog = 4096\n'
                           + PLAIN + ECHO)
        self.assertIsInstance(server, ServerConfig)
        self.assertEqual((server.broker, server.groupMaxBacklog),
                         ("redis://127.0.0.1:6379/0", 4096))

    def test_txredisapiMissing(self) -> None:
        """Without txredisapi, ``broker`` is refused in one line saying what to install."""
        hideTxredisapi(self)
        self.assertEqual(self.refused('broker = "redis://127.0.0.1:6379/0"\n' + PLAIN + ECHO),
                         "bws.toml:broker: needs txredisapi, which is not installed: "
                         "pip install 'txbws[redis]'")

    def test_refused(self) -> None:
        """A bad value is named ``file:key``."""
        self.assertTrue(self.refused('broker = "redis:/"\n' + PLAIN + ECHO)
                        .startswith("bws.toml:broker: "))
        self.assertEqual(self.refused("groupMaxBacklog = 0\n" + PLAIN + ECHO),
                         "bws.toml:groupMaxBacklog: must be a positive number of bytes, got 0")


class SlowBroker(RecordingBroker):
    """Subscriptions that Redis has not confirmed yet."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[Deferred[None]] = []

    def subscribe(self, group: str) -> Deferred[None]:
        self.calls.append(("subscribe", group))
        d: Deferred[None] = Deferred()
        self.pending.append(d)
        return d


class PendingSubscriptionTests(GroupsTestsMixin, SynchronousTestCase):
    """Joins wait for the group's subscription, the first one and those after it."""

    def setUp(self) -> None:
        super().setUp()
        self.broker = SlowBroker()
        self.groups = bws.Groups(broker=self.broker)

    def test_laterJoinsWait(self) -> None:
        """A second member joining while the subscription is unconfirmed waits for it;
        both fire once it is, and a member joining after that does not wait."""
        callers = []
        for _ in range(3):
            _, caller = self.join("lobby")
            callers.append(caller)
        first = self.groups.join("lobby", callers[0])
        second = self.groups.join("lobby", callers[1])
        self.assertNoResult(first)
        self.assertNoResult(second)
        self.assertEqual(self.broker.calls, [("subscribe", "lobby")])
        self.broker.pending[0].callback(None)
        self.assertIsNone(self.successResultOf(first))
        self.assertIsNone(self.successResultOf(second))
        self.assertIsNone(self.successResultOf(self.groups.join("lobby", callers[2])))
