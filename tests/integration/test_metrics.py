"""Prometheus metrics over HTTP: a real listener with metrics, real clients, ``/metrics``
fetched with treq and read with ``prometheus_client``'s parser."""

from __future__ import annotations

import re
import socket
import sys
from typing import Any

import treq
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults, inlineCallbacks
from twisted.internet.threads import deferToThread
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import TestCase

import bws
from bws.errors import UpgradeError
from bws.metrics import MetricsService
from tests.integration.helpers import ListenerMixin
from tests.integration.test_twistd import (
    ROOT,
    SERVING,
    TWISTD,
    Twistd,
    echo,
    environment,
)


@bws.serviceConfig(maxFrameSize=1000)
class Echo:
    """Echoes text and binary (frames of 1000 bytes at most); ``/closed`` refuses the
    upgrade (400)."""

    def get(self, request: Any) -> Any:
        if request.path == "/closed":
            raise UpgradeError("room is closed")
        return self

    def onTextMessage(self, caller: Any, text: str) -> str:
        return text

    def onBinaryMessage(self, caller: Any, data: bytes) -> bytes:
        return data


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape: (name, sorted labels) -> value."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


class MetricsOverHttpTests(ListenerMixin, TestCase):
    """``MetricsService`` on a loopback port, scraped as Prometheus scrapes."""

    timeout = 60

    @inlineCallbacks
    def startMetrics(self) -> Any:
        metrics = MetricsService("tcp:0:interface=127.0.0.1", [self.listener], reactor)
        port = yield metrics.listen()
        self.addCleanup(port.stopListening)
        self.metricsUrl = metrics.url()
        self.assertRegex(self.metricsUrl, r"^http://127\.0\.0\.1:\d+/metrics$")

    @inlineCallbacks
    def scrape(self) -> Any:
        response = yield treq.get(self.metricsUrl, persistent=False)
        self.assertEqual(response.code, 200)
        text = yield response.text()
        return samples(text)

    @inlineCallbacks
    def test_scrape(self) -> Any:
        """Handshakes by status, messages and payload bytes by direction and type (through
        both frame paths, and inflated with permessage-deflate), connections open, and
        closes by code, as ``/metrics`` says them."""
        yield self.startListener(Echo(), "*")
        yield self.startMetrics()
        deflated = yield bws.Client.connect(self.url("/a"))
        yield deflated.writeTextMessage("hello")
        yield deflated.writeBinaryMessage(b"\x00\x01\x02")
        self.assertEqual((yield deflated.readTextMessage()), "hello")
        self.assertEqual((yield deflated.readBinaryMessage()), b"\x00\x01\x02")
        # Fragmented at 1000 bytes, without compression: Autobahn's parser, not the fast path.
        plain = yield bws.Client.connect(self.url("/b"), maxFrameSize=1000,
                                         webSocketCompressionEnabled=False)
        yield plain.writeTextMessage("x" * 2500)
        self.assertEqual(len((yield plain.readTextMessage())), 2500)
        for path in ("/closed", "/closed?why"):
            yield self.assertFailure(bws.Client.connect(self.url(path)),
                                     bws.InvalidHandshakeError)
        now = yield self.scrape()
        self.assertEqual(now[("bws_connections_open", ())], 2)
        self.assertEqual(now[("bws_handshakes_total", (("status", "101"),))], 2)
        self.assertEqual(now[("bws_handshakes_total", (("status", "400"),))], 2)
        for direction in ("in", "out"):
            key = (("direction", direction), ("type", "text"))
            self.assertEqual(now[("bws_messages_total", key)], 2)
            self.assertEqual(now[("bws_message_bytes_total", key)], 2505)
            key = (("direction", direction), ("type", "binary"))
            self.assertEqual(now[("bws_messages_total", key)], 1)
            self.assertEqual(now[("bws_message_bytes_total", key)], 3)
        self.assertNotIn(("bws_closes_total", (("code", "1000"),)), now)

        gone = [c.whenLost() for c in self.listener.resource.connections]
        yield deflated.close(1000, "done")
        yield plain.close(4001, "bye")
        yield gatherResults(gone)
        after = yield self.scrape()
        self.assertEqual(after[("bws_connections_open", ())], 0)
        self.assertEqual(after[("bws_closes_total", (("code", "1000"),))], 1)
        self.assertEqual(after[("bws_closes_total", (("code", "4001"),))], 1)
        # The counts of ended connections are kept.
        key = (("direction", "in"), ("type", "text"))
        self.assertEqual(after[("bws_message_bytes_total", key)], 2505)
        self.assertIn(("process_open_fds", ()), after)

    @inlineCallbacks
    def test_otherPaths(self) -> Any:
        """Only ``/metrics`` answers."""
        yield self.startListener(Echo())
        yield self.startMetrics()
        response = yield treq.get(self.metricsUrl.replace("/metrics", "/"), persistent=False)
        self.assertEqual(response.code, 404)
        yield response.text()


METRICS_LINE = re.compile(r"bws: metrics at (http://\S+/metrics)")


class TwistdMetrics(Twistd):
    """A running ``twistd bws --metrics``: ``ready`` fires with the service's URL and the
    metrics URL, once both are logged."""

    def outReceived(self, data: bytes) -> None:
        self.output += data.decode("utf-8", "replace")
        served = SERVING.findall(self.output)
        metrics = METRICS_LINE.findall(self.output)
        if served and metrics and not self.ready.called:
            self.ready.callback([served[0][1], metrics[0]])

    errReceived = outReceived


class TwistdMetricsTests(TestCase):
    """``twistd -n bws --metrics ENDPOINT`` as a user runs it."""

    @inlineCallbacks
    def test_twistdServesMetrics(self) -> Any:
        """The start-up log gives the metrics URL; a scrape after an echo counts it."""
        process = TwistdMetrics(1)
        transport = reactor.spawnProcess(  # type: ignore[attr-defined]
            process, sys.executable,
            [sys.executable, *TWISTD, "--port", "0", "--host", "127.0.0.1",
             "--metrics", "tcp:0:interface=127.0.0.1"], env=environment(), path=str(ROOT))

        def stop() -> Deferred[None]:
            if not process.ended.called:
                transport.signalProcess("TERM")
            return process.ended

        self.addCleanup(stop)
        url, metricsUrl = yield process.ready
        self.assertEqual((yield deferToThread(echo, url, "hello")), "hello")
        response = yield treq.get(metricsUrl, persistent=False)
        found = samples((yield response.text()))
        self.assertEqual(found[("bws_handshakes_total", (("status", "101"),))], 1)
        key = (("direction", "in"), ("type", "text"))
        self.assertEqual(found[("bws_messages_total", key)], 1)
        self.assertEqual(found[("bws_message_bytes_total", key)], 5)

    @inlineCallbacks
    def test_metricsPortTaken(self) -> Any:
        """A metrics port already taken: exit 1 with one line naming --metrics."""
        taken = socket.socket()
        self.addCleanup(taken.close)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out, err, code = yield getProcessOutputAndValue(
            sys.executable, [*TWISTD, "--port", "0", "--host", "127.0.0.1", "--metrics",
                             f"tcp:{port}:interface=127.0.0.1"], env=environment(),
            path=str(ROOT))
        output = (out + err).decode("utf-8", "replace").strip()
        self.assertEqual(code, 1, output)
        self.assertEqual(output.splitlines(), [
            f"twistd bws: cannot listen on --metrics tcp:{port}:interface=127.0.0.1: "
            "Address already in use"])
