"""An echo service with Prometheus metrics, from a program: ws://127.0.0.1:9090/echo and
http://127.0.0.1:9100/metrics (or the ports given; 0 picks free ones)."""

import sys

from twisted.internet import reactor
from twisted.internet.defer import gatherResults

import bws
from bws.metrics import MetricsService
from bws.testing.echo import EchoUpgradeService


def main(port: int, metricsPort: int) -> None:
    listener = bws.Listener(port, host="127.0.0.1")
    listener.attach(EchoUpgradeService(), "/echo")
    # Counts every listener given (Listener.enableStats) in a registry of its own.
    metrics = MetricsService(f"tcp:{metricsPort}:interface=127.0.0.1", [listener])
    started = gatherResults([listener.start(), metrics.listen()])
    started.addCallback(lambda _: print(
        f"serving ws://127.0.0.1:{listener.listeningPort}/echo, metrics at {metrics.url()}",
        flush=True))
    reactor.run()


if __name__ == "__main__":
    ports = [int(p) for p in sys.argv[1:3]] or [9090, 9100]
    main(*ports)
