"""What each scenario runs and which figures it reports.

A scenario names the driver (``loadgen`` for servers, ``clients`` for scenario 7), whether
servers accept compression, and the metrics derived from one raw measurement.  The first
metric of each scenario is the headline one; a metric may carry the issue's target for bws
(a ratio to a named peer), which the table marks ok or OVER.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

MB = 1e6  # "ms per MB" is per 10^6 bytes echoed (one direction)


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    compute: Callable[[dict], float]
    fmt: str = "{:,.1f}"
    ratio: bool = True  # False for diagnostics whose ratio means nothing (CPU %)
    #: The issue's goal for bws on this figure: (peer column, highest bws/peer ratio).
    target: tuple[str, float] | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    driver: str  # "loadgen" or "clients"
    metrics: tuple[Metric, ...]
    compression: bool = False
    subject: str = "server"  # what the columns compare: servers, or clients
    #: Client scenarios: the message sent and expected back.
    size: int = 32
    binary: bool = False


def _per(numerator: str, scale: float) -> Callable[[dict], float]:
    return lambda r: r[numerator] * scale / r["messages"]


def _per_mb(numerator: str) -> Callable[[dict], float]:
    return lambda r: r[numerator] * 1e3 * MB / r["bytes"]


def _rate(r: dict) -> float:
    return r["messages"] / r["wall_s"]


def _spread(r: dict) -> float:
    """How far the busiest or idlest worker is from an even share of the connections, in
    % of that share (0 for one process): ±20 % is the aim of ``--workers``."""
    counts = r.get("conns_per_worker") or []
    if len(counts) < 2 or not sum(counts):
        return 0.0
    mean = sum(counts) / len(counts)
    return 100 * max(abs(c - mean) for c in counts) / mean


def _util(key: str) -> Callable[[dict], float]:
    return lambda r: 100 * r[key] / r["wall_s"]


def _load_metrics(
    unit: str,
    rate: str = "msg/s",
    fmt: str = "{:,.1f}",
    target: tuple[str, float] | None = None,
    extra: tuple[Metric, ...] = (),
) -> tuple[Metric, ...]:
    """Server cost per unit first; then throughput, and how busy each side was.

    The load generator's own cost per unit shows its headroom in every run: it must stay
    well under the server's.  CPU % under 100 on the server means it waited on the
    network or the other CPU (or shared its CPU with other work).
    """
    if unit == "MB":
        server, client = _per_mb("server_cpu_s"), _per_mb("client_cpu_s")
        speed = Metric("wall_ms_mb", "wall ms/MB", _per_mb("wall_s"), fmt)
        label = "ms/MB"
    else:
        server, client = _per("server_cpu_s", 1e6), _per("client_cpu_s", 1e6)
        speed = Metric("rate", rate, _rate, "{:,.0f}")
        label = f"µs/{unit}"
    return (
        Metric("server_cpu", f"server CPU {label}", server, fmt, target=target),
        *extra,
        speed,
        Metric("server_util", "server CPU %", _util("server_cpu_s"), "{:.0f}", False),
        Metric("loadgen_cpu", f"loadgen CPU {label}", client, fmt, False),
        Metric("client_util", "loadgen CPU %", _util("client_cpu_s"), "{:.0f}", False),
    )


def _latency(key: str, label: str, target: tuple[str, float] | None = None) -> Metric:
    return Metric(key, label, lambda r: r.get(key, float("nan")), "{:,.0f}", target=target)


def _client_metrics(target: tuple[str, float]) -> tuple[Metric, ...]:
    return (
        Metric("client_cpu", "client CPU µs/rt", _per("client_cpu_s", 1e6), target=target),
        Metric("rate", "rt/s", _rate, "{:,.0f}"),
        Metric("server_cpu_us", "server CPU µs/rt", _per("server_cpu_s", 1e6), ratio=False),
    )


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "text32",
            "32 B text, 128 in flight, 1 connection",
            "loadgen",
            _load_metrics("msg"),
        ),
        Scenario(
            "rr1",
            "1 connection, request/response (32 B text), 1 in flight",
            "loadgen",
            _load_metrics(
                "msg",
                target=("twisted-tcp", 1.15),
                extra=(
                    _latency("p99_us", "p99 round trip µs", ("twisted-tcp", 1.0)),
                    _latency("p50_us", "p50 round trip µs"),
                ),
            ),
        ),
        Scenario(
            "bin1k",
            "1 KiB binary, 128 in flight, 1 connection",
            "loadgen",
            _load_metrics("msg"),  # target: bws's own text32 figure (docs/benchmarks.rst)
        ),
        Scenario(
            "rr100",
            "100 connections, request/response (32 B text)",
            "loadgen",
            (
                *_load_metrics("msg", target=("aiohttp", 1.0)),
                Metric("conn_spread", "worker conns ±%", _spread, "{:.0f}", False),
            ),
        ),
        Scenario(
            "bin1m",
            "1 MiB binary, 4 in flight, 1 connection",
            "loadgen",
            _load_metrics("MB", fmt="{:.2f}", target=("websockets", 1.0)),
        ),
        Scenario(
            "handshake",
            "connect + upgrade + 1 echo + close, 16 at a time",
            "loadgen",
            _load_metrics("conn", rate="conn/s", fmt="{:,.0f}", target=("aiohttp", 1.0)),
        ),
        Scenario(
            "idle",
            "idle connections: server RSS growth",
            "loadgen",
            (
                Metric(
                    "kb_conn",
                    "KB/conn (RSS)",
                    lambda r: (r["rss_after"] - r["rss_before"]) / r["connections"] / 1024,
                    target=("autobahn", 1.0),
                ),
            ),
        ),
        Scenario(
            "deflate",
            "permessage-deflate, 1 KiB JSON text, 32 in flight",
            "loadgen",
            _load_metrics("msg", target=("aiohttp", 1.0)),
            compression=True,
        ),
        Scenario(
            "dmem",
            "permessage-deflate: server RSS growth per connection after one message each",
            "loadgen",
            (
                Metric(
                    "kb_conn",
                    "KB/conn (RSS)",
                    lambda r: (r["rss_after"] - r["rss_before"]) / r["connections"] / 1024,
                ),
            ),
            compression=True,
        ),
        Scenario(
            "client",
            "client round trips, 32 B text, 1 in flight",
            "clients",
            _client_metrics(("websockets", 1.0)),
            subject="client",
        ),
        Scenario(
            "client1m",
            "client round trips, 1 MiB binary, 1 in flight",
            "clients",
            _client_metrics(("websockets", 1.0)),
            subject="client",
            size=2**20,
            binary=True,
        ),
    )
}
