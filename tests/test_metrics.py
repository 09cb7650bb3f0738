"""Metrics: what a listener counts (off by default), the Prometheus collector over those
counts, and how ``twistd bws`` and the configuration file ask for them (in memory)."""

from __future__ import annotations

import sys
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

import bws
from bws._connection import Connection
from bws.config import ConfigurationError, setServiceConfig
from bws.configfile import checkListeners, checkMetrics
from bws.errors import InvalidHandshakeError
from bws.metrics import ListenerCollector, MetricsService, metricsRegistry
from bws.server._serving import ServiceRunner
from bws.server._stats import CountingConnection, CountingRunner
from bws.tap import Options, buildService
from bws.testing import MemoryListener
from tests.server.test_connectionlogs import Echo
from tests.test_configfile import ECHO, PLAIN, ConfigFileMixin


def scrape(registry: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample the registry exposes: (name, sorted labels) -> value."""
    found = {}
    text = generate_latest(registry).decode("utf-8")
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def traffic(direction: str, kind: str) -> tuple[tuple[str, str], ...]:
    return (("direction", direction), ("type", kind))


class StatsTests(SynchronousTestCase):
    """``Listener.enableStats`` and what it counts."""

    def listener(self, stats: bool = True, **serviceConfig: Any) -> MemoryListener:
        memory = MemoryListener()
        upgrade = Echo()
        if serviceConfig:
            setServiceConfig(upgrade, bws.WSServiceConfig(**serviceConfig))
        memory.attach(upgrade, "/room")
        if stats:
            memory.listener.enableStats()
        return memory

    def test_offByDefault(self) -> None:
        """Without ``enableStats`` nothing counts: plain connections and runners."""
        memory = self.listener(stats=False)
        client = self.successResultOf(memory.connect("/room"))
        [connection] = memory.listener.resource.connections
        self.assertIs(type(connection), Connection)
        self.assertIs(type(connection.handler), ServiceRunner)
        self.assertIsNone(memory.listener.stats())
        client.close()
        memory.flush()

    def test_counts(self) -> None:
        """Messages and payload bytes by direction and type, through the fast path
        (whole frames), Autobahn's parser (fragments) and permessage-deflate (inflated
        sizes); handshakes by status; open connections; closes by code."""
        memory = self.listener(maxFrameSize=100)
        stats = memory.listener.enableStats()
        self.assertIs(memory.listener.enableStats(), stats)
        deflated = self.successResultOf(memory.connect("/room"))
        plain = self.successResultOf(memory.connect(
            "/room", maxFrameSize=100, webSocketCompressionEnabled=False))
        [connection, _] = memory.listener.resource.connections
        self.assertIsInstance(connection, CountingConnection)
        self.assertIsInstance(connection.handler, CountingRunner)
        deflated.writeTextMessage("a" * 1000)  # compressed to a few bytes on the wire
        deflated.writeBinaryMessage(b"\x01\x02")
        plain.writeTextMessage("b" * 250)  # three frames
        plain.writeTextMessage("c")
        memory.flush()
        self.failureResultOf(memory.connect("/elsewhere"), InvalidHandshakeError)
        self.failureResultOf(memory.connect("/room/closed"), InvalidHandshakeError)
        now = memory.listener.stats()
        assert now is not None
        self.assertEqual(now.open, 2)
        self.assertEqual(now.handshakes, {101: 2, 404: 2})
        self.assertEqual(now.closes, {})
        # textIn, binaryIn, textBytesIn, binaryBytesIn, then the same out (echoed).
        self.assertEqual(now.traffic, (3, 1, 1251, 2) * 2)
        deflated.close(1001, "away")
        memory.flush()
        plain.writeTextMessage("bye")  # the service closes 4001
        memory.advance(3)
        now = memory.listener.stats()
        assert now is not None
        self.assertEqual(now.open, 0)
        self.assertEqual(now.closes, {1001: 1, 4001: 1})
        self.assertEqual(now.traffic, (4, 1, 1254, 2, 3, 1, 1251, 2))

    def test_dispatchCrash(self) -> None:
        """A crash inside dispatch closes 1011 and is logged, counting or not (the
        counting runner inlines ``ServiceRunner.messageReceived``)."""

        def crash(*args: Any) -> None:
            raise RuntimeError("dispatch broke")

        self.patch(ServiceRunner, "_deliver", crash)
        for stats in (False, True):
            memory = self.listener(stats=stats)
            client = self.successResultOf(memory.connect("/room"))
            read = client.readTextMessage()
            client.writeTextMessage("hi")
            memory.advance(3)
            self.assertIn("Status code: 1011", str(self.failureResultOf(read).value))
            self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertIsNotNone(memory.listener.stats())

    def test_collector(self) -> None:
        """The collector's families, summed over listeners, read at scrape time; each
        registry its own (no state shared between two)."""
        first, second = self.listener(stats=False), self.listener(stats=False)
        registry = metricsRegistry([first.listener, second.listener], first.clock,
                                   process=False)
        empty = scrape(metricsRegistry([self.listener().listener], process=False))
        self.assertEqual(empty[("bws_connections_open", ())], 0)
        self.assertEqual(empty[("bws_messages_total", traffic("in", "text"))], 0)
        client = self.successResultOf(first.connect("/room"))
        self.successResultOf(second.connect("/room")).writeBinaryMessage(b"xyz")
        client.writeTextMessage("hello")
        first.flush()
        second.flush()
        self.failureResultOf(second.connect("/no"), InvalidHandshakeError)
        found = scrape(registry)
        self.assertEqual(found[("bws_connections_open", ())], 2)
        self.assertEqual(found[("bws_handshakes_total", (("status", "101"),))], 2)
        self.assertEqual(found[("bws_handshakes_total", (("status", "404"),))], 1)
        self.assertEqual(found[("bws_messages_total", traffic("in", "text"))], 1)
        self.assertEqual(found[("bws_message_bytes_total", traffic("out", "binary"))], 3)
        client.close(4100, "done")
        first.flush()
        found = scrape(registry)
        self.assertEqual(found[("bws_closes_total", (("code", "4100"),))], 1)
        self.assertEqual(found[("bws_connections_open", ())], 1)
        self.assertEqual(scrape(metricsRegistry([self.listener().listener], process=False))
                         [("bws_connections_open", ())], 0)

    def test_describe(self) -> None:
        """Registering the collector reads no counters (``describe`` has no samples)."""
        collector = ListenerCollector([self.listener().listener])
        families = list(collector.describe())
        self.assertEqual([f.name for f in families],
                         ["bws_connections_open", "bws_handshakes", "bws_messages",
                          "bws_message_bytes", "bws_closes"])

    def test_service(self) -> None:
        """``MetricsService`` enables the listeners' counts and names its endpoint until
        it is bound."""
        memory = self.listener(stats=False)
        metrics = MetricsService("tcp:0:interface=127.0.0.1", [memory.listener], memory.clock)
        self.assertIsNotNone(memory.listener.stats())
        self.assertEqual(metrics.url(), "tcp:0:interface=127.0.0.1 /metrics")


class MissingLibraryTests(SynchronousTestCase):
    """Without prometheus_client, asking for metrics fails at start-up in one line."""

    def setUp(self) -> None:
        # None in sys.modules makes an import fail with ImportError, as a missing one does.
        for name in ("prometheus_client", "prometheus_client.twisted"):
            self.addCleanup(sys.modules.__setitem__, name, sys.modules[name])
            sys.modules[name] = None  # type: ignore[assignment]

    def test_check(self) -> None:
        error = self.assertRaises(ConfigurationError, checkMetrics, "tcp:9100", "--metrics x")
        self.assertEqual(str(error), "--metrics x: needs prometheus_client, which is not "
                                     "installed: pip install 'txbws[metrics]'")

    def test_option(self) -> None:
        error = self.assertRaises(usage.UsageError, Options().parseOptions,
                                  ["--metrics", "tcp:9100"])
        self.assertEqual(str(error), "--metrics tcp:9100: needs prometheus_client, which is "
                                     "not installed: pip install 'txbws[metrics]'")


class OptionTests(SynchronousTestCase):
    """``twistd bws --metrics ENDPOINT``."""

    def test_metrics(self) -> None:
        """The service gets a metrics service over its listeners; without the option it
        has none and the listeners count nothing."""
        options = Options()
        options.parseOptions(["--port", "0", "--metrics", "tcp:0:interface=127.0.0.1"])
        service = buildService(options)
        self.assertIsInstance(service.metrics, MetricsService)
        self.assertEqual(service.metrics.endpoint, "tcp:0:interface=127.0.0.1")
        [(listener, _)] = service.listeners
        self.assertIsNotNone(listener.stats())
        options = Options()
        options.parseOptions(["--port", "0"])
        service = buildService(options)
        self.assertIsNone(service.metrics)
        self.assertIsNone(service.listeners[0][0].stats())

    def test_badEndpoint(self) -> None:
        """An endpoint string that does not parse is refused in one line naming it."""
        error = self.assertRaises(usage.UsageError, Options().parseOptions,
                                  ["--metrics", "nosuch:9100"])
        self.assertTrue(str(error).startswith("--metrics nosuch:9100: "), str(error))
        self.assertEqual(len(str(error).splitlines()), 1)


class ConfigFileTests(ConfigFileMixin, SynchronousTestCase):
    """``metrics = "ENDPOINT"`` in the configuration file."""

    def test_metrics(self) -> None:
        server = self.load('metrics = "tcp:9100:interface=127.0.0.1"\n' + PLAIN + ECHO)
        assert server.metrics is not None
        self.assertEqual((server.metrics.endpoint, server.metrics.label),
                         ("tcp:9100:interface=127.0.0.1", "bws.toml:metrics"))
        self.assertIsNone(self.load(PLAIN + ECHO).metrics)

    def test_notAString(self) -> None:
        self.assertEqual(self.refused("metrics = 9100\n" + PLAIN + ECHO),
                         'bws.toml:metrics: must be a Twisted endpoint string such as '
                         '"tcp:9100:interface=127.0.0.1", got an integer')

    def test_badEndpoint(self) -> None:
        """The endpoint is parsed with the listeners' (``checkListeners``)."""
        server = self.load('metrics = "nosuch:1"\n' + PLAIN + ECHO)
        error = self.assertRaises(ConfigurationError, checkListeners, server)
        self.assertTrue(str(error).startswith("bws.toml:metrics: "), str(error))

    def test_optionWithConfigRefused(self) -> None:
        """``--metrics`` goes in the file when there is one."""
        path = self.write(PLAIN + ECHO)
        error = self.assertRaises(usage.UsageError, Options().parseOptions,
                                  ["--config", path, "--metrics", "tcp:9100"])
        self.assertIn("--metrics", str(error))
