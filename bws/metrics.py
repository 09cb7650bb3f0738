# -*- test-case-name: tests.test_metrics -*-
"""Prometheus metrics of bws listeners, served by ``prometheus_client``'s Twisted resource.

``twistd bws --metrics tcp:9100:interface=127.0.0.1`` (or ``metrics = "..."`` in the
configuration file) serves them at ``/metrics``; a program does the same with
:class:`MetricsService`, or registers a :class:`ListenerCollector` in a registry of its own.
Needs the ``metrics`` extra (``pip install 'txbws[metrics]'``: ``prometheus_client``).

Nothing is counted per message through ``prometheus_client``: listeners keep plain integer
counters (:meth:`bws.Listener.enableStats`), and :class:`ListenerCollector` reads them when
Prometheus scrapes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.twisted import MetricsResource
from twisted.application import service
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IListeningPort
from twisted.internet.threads import blockingCallFromThread
from twisted.logger import Logger
from twisted.python import threadable
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import Site

from bws.server._listener import Listener
from bws.server._stats import TRAFFIC, Snapshot

__all__ = ["ListenerCollector", "MetricsService", "metricsRegistry", "metricsSite"]

#: The label values of each traffic counter (:data:`bws.server._stats.TRAFFIC`).
_LABELS = {
    "textIn": ("in", "text"), "binaryIn": ("in", "binary"),
    "textOut": ("out", "text"), "binaryOut": ("out", "binary"),
    "textBytesIn": ("in", "text"), "binaryBytesIn": ("in", "binary"),
    "textBytesOut": ("out", "text"), "binaryBytesOut": ("out", "binary"),
}


class ListenerCollector(Collector):
    """The metrics of some listeners, summed, read from their counters at each scrape.

    - ``bws_connections_open`` (gauge): WebSocket connections accepted and not yet gone;
    - ``bws_handshakes_total{status}``: upgrade requests answered, by HTTP status (101
      accepted; 400, 401, 403, 404, 413, 414, 426, 431, 500, 503... refused);
    - ``bws_messages_total{direction,type}``: whole data messages, ``direction`` ``in`` or
      ``out``, ``type`` ``text`` or ``binary``;
    - ``bws_message_bytes_total{direction,type}``: their payload bytes (inflated size when
      permessage-deflate is on; frame headers not counted);
    - ``bws_closes_total{code}``: connections ended, by the code of the close frame that
      began the closing handshake, whichever end sent it (1006: none was sent).

    Each listener is given :meth:`bws.Listener.enableStats` here. A scrape from another
    thread (``prometheus_client``'s Twisted resource runs in the reactor's thread pool)
    reads the counters in the reactor thread.
    """

    def __init__(self, listeners: Sequence[Listener], reactor: Any = None) -> None:
        if reactor is None:
            from twisted.internet import reactor as globalReactor

            reactor = globalReactor
        self.reactor = reactor
        self.listeners = list(listeners)
        for listener in self.listeners:
            listener.enableStats()

    def snapshots(self) -> list[Snapshot]:
        """Every listener's counts now (call in the reactor thread)."""
        return [s for s in (listener.stats() for listener in self.listeners) if s is not None]

    def _read(self) -> list[Snapshot]:
        if threadable.isInIOThread() or not self.reactor.running:
            return self.snapshots()
        result: list[Snapshot] = blockingCallFromThread(self.reactor, self.snapshots)
        return result

    def describe(self) -> Iterable[Metric]:
        """The metric families, without samples (so registering collects nothing)."""
        return self._families([])

    def collect(self) -> Iterable[Metric]:
        """The metric families with their values now."""
        return self._families(self._read())

    def _families(self, snapshots: list[Snapshot]) -> Iterator[Metric]:
        opened = GaugeMetricFamily(
            "bws_connections_open", "WebSocket connections accepted and not yet gone.")
        opened.add_metric([], sum(s.open for s in snapshots))
        yield opened
        yield _counter("bws_handshakes", "Upgrade requests answered, by HTTP status "
                                         "(101: accepted).", "status",
                       (s.handshakes for s in snapshots))
        traffic = [0] * len(TRAFFIC)
        for snapshot in snapshots:
            for i, n in enumerate(snapshot.traffic):
                traffic[i] += n
        messages = CounterMetricFamily("bws_messages", "Whole WebSocket data messages, by "
                                       "direction and type.", labels=["direction", "type"])
        sizes = CounterMetricFamily("bws_message_bytes", "Payload bytes of the data messages "
                                    "(inflated size), by direction and type.",
                                    labels=["direction", "type"])
        for name, value in zip(TRAFFIC, traffic, strict=True):
            (sizes if "Bytes" in name else messages).add_metric(list(_LABELS[name]), value)
        yield messages
        yield sizes
        yield _counter("bws_closes", "Connections ended, by the code of the close that began "
                                     "the closing handshake (1006: none).", "code",
                       (s.closes for s in snapshots))


def _counter(name: str, documentation: str, label: str,
             counts: Iterable[dict[int, int]]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=[label])
    total: dict[int, int] = {}
    for each in counts:
        for key, n in each.items():
            total[key] = total.get(key, 0) + n
    for key in sorted(total):
        family.add_metric([str(key)], total[key])
    return family


def metricsRegistry(listeners: Sequence[Listener], reactor: Any = None,
                    process: bool = True) -> CollectorRegistry:
    """A registry of its own (not ``prometheus_client``'s global one) with a
    :class:`ListenerCollector` of ``listeners`` and, when ``process``, the process's CPU,
    memory and file descriptors (``ProcessCollector``) and the Python version
    (``PlatformCollector``)."""
    registry = CollectorRegistry()
    registry.register(ListenerCollector(listeners, reactor))
    if process:
        from prometheus_client import PlatformCollector, ProcessCollector

        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
    return registry


def metricsSite(registry: CollectorRegistry) -> Site:
    """A ``Site`` answering ``GET /metrics`` with ``prometheus_client``'s Twisted resource
    (text format, or OpenMetrics when the scraper asks for it); 404 elsewhere."""
    root = Resource()
    root.putChild(b"metrics", MetricsResource(registry=registry))
    site = Site(root)
    site.noisy = False
    return site


class MetricsService(service.Service):
    """Serves the metrics of ``listeners`` at ``/metrics`` on a Twisted server endpoint.

    :param endpoint: e.g. ``"tcp:9100:interface=127.0.0.1"`` (Prometheus needs no TLS on
        loopback; any endpoint string works, ``ssl:`` included).
    :ivar registry: the :func:`metricsRegistry` served.
    :ivar port: the listening port, once :meth:`listen` bound it.
    """

    log = Logger()

    def __init__(self, endpoint: str, listeners: Sequence[Listener], reactor: Any = None
                 ) -> None:
        if reactor is None:
            from twisted.internet import reactor as globalReactor

            reactor = globalReactor
        self.reactor = reactor
        self.endpoint = endpoint
        self.registry = metricsRegistry(listeners, reactor)
        self.port: IListeningPort | None = None

    def listen(self) -> Deferred[IListeningPort]:
        """Bind the endpoint; fires with the port (fails when it cannot be bound)."""
        from twisted.internet.endpoints import serverFromString

        d = serverFromString(self.reactor, self.endpoint).listen(metricsSite(self.registry))

        def bound(port: IListeningPort) -> IListeningPort:
            self.port = port
            return port

        return d.addCallback(bound)

    def url(self) -> str:
        """``http://host:port/metrics`` of the bound port (or the endpoint string)."""
        address: Any = self.port.getHost() if self.port is not None else None
        host = getattr(address, "host", None)
        if host is None:
            return f"{self.endpoint} /metrics"
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{address.port}/metrics"

    def startService(self) -> None:
        super().startService()
        if self.port is None:
            self.listen().addErrback(self._failed)
        self.log.info("bws: metrics at {url}", url=self.url())

    def _failed(self, failure: Failure) -> None:
        self.log.failure("bws: cannot serve metrics on {endpoint}", failure,
                         endpoint=self.endpoint)

    def stopService(self) -> Deferred[None] | None:
        super().stopService()
        port, self.port = self.port, None
        if port is None:
            return None
        return port.stopListening()
