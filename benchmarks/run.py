"""Run the echo benchmarks and print medians with bws/Autobahn and bws/websockets ratios.

    python -m benchmarks.run [--rounds 5] [--duration 3] [--smoke]
        [--scenarios text32 rr100 ...] [--servers autobahn websockets bws] [--json out.json]

Every measurement gets a fresh server process pinned to one CPU, driven from another
CPU by the load generator (one process for the whole run) or, for scenario 7, a fresh
client process.  Within a round each server takes its turn on every scenario, in an
order rotated round by round, so slow drifts of a shared machine hit every server alike.
``--smoke`` (CI) runs each scenario once, briefly, reusing one server process per server.
See docs/benchmarks.rst.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from functools import partial
from importlib import metadata
from pathlib import Path

from benchmarks import report
from benchmarks.clients import CLIENTS
from benchmarks.scenarios import SCENARIOS
from benchmarks.servers import RAW_SCENARIOS, SERVERS, WORKER_SERVERS

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVERS = ("autobahn", "websockets", "aiohttp", "picows", "twisted-tcp", "bws")
START_TIMEOUT = 20.0
# benchmarks.servers prints READY for them (bws.testing.echo prints nothing)
SAYS_READY = {"autobahn", "websockets", "aiohttp", "picows", "twisted-tcp"}
#: Servers without permessage-deflate.
NO_DEFLATE = {"picows", "twisted-tcp"}
SKIP_EXIT = 3  # benchmarks.clients: the client library is missing


class Skip(Exception):
    """A server or client cannot run here (e.g. a bws piece not written yet)."""

    def __init__(self, what: str, why: str) -> None:
        super().__init__(why)
        self.what = what  # the server's name, or "client:NAME"


class Pinning:
    """Server on one CPU, load generator on another, when the machine has two to give."""

    def __init__(self, server_cpu: int | None, client_cpu: int | None) -> None:
        allowed = sorted(os.sched_getaffinity(0))
        self.enabled = len(allowed) >= 2
        if not self.enabled:
            self.server = self.client = None
            return
        self.server = allowed[0] if server_cpu is None else server_cpu
        self.client = allowed[1] if client_cpu is None else client_cpu
        self.taskset = shutil.which("taskset")
        # Keep this (mostly idle) orchestrator off the server's CPU too.
        os.sched_setaffinity(0, {self.client})

    def prefix(self, cpu: int | None) -> list[str]:
        if not self.enabled:
            return []
        return [self.taskset, "-c", str(cpu)] if self.taskset else []

    def preexec(self, cpu: int | None):
        if not self.enabled or self.taskset:
            return None
        return lambda: os.sched_setaffinity(0, {cpu})

    def describe(self) -> str:
        if not self.enabled:
            return "off (fewer than 2 CPUs available)"
        how = "taskset" if self.taskset else "sched_setaffinity"
        return f"server on CPU {self.server}, client on CPU {self.client} ({how})"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Server:
    """One echo server process, pinned; ``start`` returns once it listens."""

    def __init__(self, name: str, compression: bool, pinning: Pinning, logdir: Path) -> None:
        self.name, self.compression, self.pinning = name, compression, pinning
        self.port = free_port()
        self.log = logdir / f"{name}-{self.port}.log"

    def start(self) -> Server:
        cmd = [sys.executable, "-m", "benchmarks.servers", self.name, str(self.port)]
        if self.compression:
            cmd.append("--compression")
        pinned = self.name not in WORKER_SERVERS  # workers get every core
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                (self.pinning.prefix(self.pinning.server) if pinned else []) + cmd,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=self.pinning.preexec(self.pinning.server) if pinned else None,
            )
        # Workers start after their parent: give them longer on a busy machine.
        deadline = time.monotonic() + START_TIMEOUT * (3 if self.name in WORKER_SERVERS else 1)
        while time.monotonic() < deadline:
            if not self.alive:
                raise Skip(self.name, f"exited with status {self.proc.returncode}: {self.tail()}")
            if self.ready():
                return self
            time.sleep(0.05)
        self.stop()
        raise Skip(self.name, f"not listening after {START_TIMEOUT:.0f} s: {self.tail()}")

    def ready(self) -> bool:
        if self.name in SAYS_READY:
            return b"READY" in self.log.read_bytes()
        if self.name in WORKER_SERVERS:  # every worker serving, not just the parent bound
            serving = re.findall(rb"\[worker \d+ pid \d+\] bws: serving ", self.log.read_bytes())
            return len(serving) >= WORKER_SERVERS[self.name]
        return port_open(self.port)  # bws.testing.echo prints nothing when it listens

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.alive:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def tail(self) -> str:
        text = self.log.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-3:]) or "(no output)"


class ServerPool:
    """Hands out servers: a fresh process per measurement, or in ``--smoke`` one kept
    running while consecutive measurements want the same server (process start-up is
    most of a smoke run's time; a shared server is fine when no figure is kept).
    """

    def __init__(self, pinning: Pinning, logdir: Path, reuse: bool) -> None:
        self.pinning, self.logdir, self.reuse = pinning, logdir, reuse
        self.current: Server | None = None

    def get(self, name: str, compression: bool) -> Server:
        cur = self.current
        if cur and cur.alive and self.reuse and (cur.name, cur.compression) == (name, compression):
            return cur
        self.release(force=True)
        self.current = Server(name, compression, self.pinning, self.logdir).start()
        return self.current

    def __enter__(self) -> ServerPool:
        return self

    def __exit__(self, *exc) -> None:
        self.release(force=True)

    def release(self, force: bool = False) -> None:
        if self.current and (force or not self.reuse):
            self.current.stop()
            self.current = None


class LoadgenWorker:
    """The load generator, one process kept for the whole run on the client CPU."""

    def __init__(self, pinning: Pinning, logdir: Path) -> None:
        self.pinning, self.log = pinning, logdir / "loadgen.log"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> LoadgenWorker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def request(self, timeout: float, **request) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            cmd = [sys.executable, "-m", "benchmarks.loadgen", "--worker"]
            with open(self.log, "ab") as log:
                self.proc = subprocess.Popen(
                    self.pinning.prefix(self.pinning.client) + cmd,
                    cwd=ROOT,
                    text=True,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    preexec_fn=self.pinning.preexec(self.pinning.client),
                )
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        if not select.select([self.proc.stdout], [], [], timeout)[0]:
            self.close()
            raise RuntimeError(f"load generator gave no answer in {timeout:.0f} s")
        line = self.proc.stdout.readline()
        if not line:
            tail = self.log.read_text(errors="replace").strip()[-300:]
            raise RuntimeError(f"load generator died: {tail}")
        return json.loads(line)

    def close(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_client(client: str, scenario, srv: Server, args, pinning: Pinning, timeout: float) -> dict:
    """Client scenarios: a fresh process per client (a Twisted reactor cannot be restarted)."""
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.clients",
        client,
        "--port",
        str(srv.port),
        "--server-pid",
        str(srv.proc.pid),
        "--warmup",
        str(args.warmup),
        "--duration",
        str(args.duration),
        "--size",
        str(scenario.size),
    ]
    if scenario.binary:
        cmd.append("--binary")
    proc = subprocess.run(
        pinning.prefix(pinning.client) + cmd,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=pinning.preexec(pinning.client),
    )
    try:
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise RuntimeError(f"client gave no result: {proc.stderr.strip()[-300:]}") from None
    if proc.returncode == SKIP_EXIT:
        raise Skip(f"client:{client}", result["skip"])
    return result


def measure(
    pool: ServerPool,
    loadgen: LoadgenWorker,
    scenario,
    server: str,
    client: str | None,
    args,
    pinning: Pinning,
) -> dict:
    """One measurement: a server (fresh unless --smoke) driven once; the raw result."""
    timeout = args.warmup + args.duration + 120
    srv = pool.get(server, scenario.compression)
    try:
        if scenario.driver == "clients":
            result = run_client(client, scenario, srv, args, pinning, timeout)
        else:
            result = loadgen.request(
                timeout,
                scenario=scenario.name,
                port=srv.port,
                server_pid=srv.proc.pid,
                warmup=args.warmup,
                duration=args.duration,
                idle_conns=args.idle_conns,
                masked=server != "twisted-tcp",  # the raw echo sends the frames back as is
            )
    finally:
        pool.release()
    if "error" in result:
        raise RuntimeError(result["error"])
    return result


def rotated(items: list[str], by: int) -> list[str]:
    by %= len(items)
    return items[by:] + items[:by]


def environment(pinning: Pinning, args) -> dict:
    versions = {}
    for dist in ("twisted", "autobahn", "websockets", "picows", "uvloop", "bws"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    try:
        from autobahn.websocket import USES_NVX  # Autobahn's C UTF-8 validator and masker
    except ImportError:
        USES_NVX = None
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    models = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
    cpu = models[0] if models else platform.processor()
    return {
        "python": platform.python_version(),
        "versions": versions,
        "autobahn_nvx": USES_NVX,
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "pinning": pinning.describe(),
        "rounds": args.rounds,
        "duration": args.duration,
        "warmup": args.warmup,
        "idle_conns": args.idle_conns,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def raise_fd_limit() -> None:
    """Idle-memory scenario holds thousands of sockets; children inherit this limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=3.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=0.5, help="unmeasured seconds first")
    parser.add_argument("--idle-conns", type=int, default=1000, help="scenario 'idle'")
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--servers", nargs="+", choices=SERVERS, default=list(DEFAULT_SERVERS))
    parser.add_argument(
        "--clients", nargs="+", choices=CLIENTS, default=list(CLIENTS), help="client scenarios"
    )
    parser.add_argument(
        "--client-server",
        choices=SERVERS,
        default="picows",
        help="the one server the client scenarios talk to (default picows: the cheapest)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="every scenario for a fraction of a second, 1 round (CI)",
    )
    parser.add_argument("--json", type=Path, help="write samples and summary here")
    parser.add_argument("--server-cpu", type=int)
    parser.add_argument("--client-cpu", type=int)
    args = parser.parse_args(argv)
    if args.smoke:
        args.rounds, args.duration, args.warmup, args.idle_conns = 1, 0.2, 0.1, 20
    return args


def plan(args):
    """(round, scenario, server, client) in run order.

    Servers are interleaved within every round, their order rotated round by round so
    none always runs first.  ``--smoke`` keeps no figures, so it goes server by server
    instead, letting one server process serve all its scenarios.
    """
    servers = [s for s in SCENARIOS if SCENARIOS[s].driver != "clients"]
    clients = [s for s in args.scenarios if SCENARIOS[s].driver == "clients"]
    servers = [s for s in args.scenarios if s in servers]
    for rnd in range(args.rounds):
        if args.smoke:
            steps = [(sc, srv) for srv in args.servers for sc in servers]
            steps.sort(key=lambda step: SCENARIOS[step[0]].compression)  # one restart each
        else:
            steps = [(sc, srv) for sc in servers for srv in rotated(args.servers, rnd)]
        for name, server in steps:
            scenario = SCENARIOS[name]
            if scenario.compression and server in NO_DEFLATE:
                continue
            if server == "twisted-tcp" and name not in RAW_SCENARIOS:
                continue  # the raw echo only where bytes in, bytes out is the comparison
            yield rnd, scenario, server, None
        # The clients all talk to one server, in an order rotated round by round.
        for name in clients:
            for client in rotated(args.clients, rnd):
                yield rnd, SCENARIOS[name], args.client_server, client


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_fd_limit()
    pinning = Pinning(args.server_cpu, args.client_cpu)
    env = environment(pinning, args)
    log = partial(print, file=sys.stderr, flush=True)
    log(
        f"pinning: {env['pinning']}; {args.rounds} round(s) of {args.duration} s "
        f"(+{args.warmup} s warm-up)"
    )
    started = time.monotonic()
    samples, unavailable, failures = [], {}, 0

    with (
        tempfile.TemporaryDirectory(prefix="bws-bench-") as tmp,
        ServerPool(pinning, Path(tmp), reuse=args.smoke) as pool,
        LoadgenWorker(pinning, Path(tmp)) as loadgen,
    ):
        for rnd, scenario, server, client in plan(args):
            if server in unavailable or f"client:{client}" in unavailable:
                continue
            who = server if client is None else f"{client}→{server}"
            where = f"[{rnd + 1}/{args.rounds}] {scenario.name:9} {who:22}"
            sample = {"round": rnd, "scenario": scenario.name, "server": server, "client": client}
            try:
                raw = measure(pool, loadgen, scenario, server, client, args, pinning)
            except Skip as skip:
                unavailable[skip.what] = str(skip)
                log(f"SKIP {skip.what}: {skip} (skipped from now on)")
                continue
            except Exception as exc:
                failures += 1
                sample["error"] = f"{type(exc).__name__}: {exc}"
                samples.append(sample)
                log(f"{where} FAILED: {sample['error']}")
                continue
            sample["raw"] = raw
            sample["metrics"] = {m.key: m.compute(raw) for m in scenario.metrics}
            samples.append(sample)
            head = scenario.metrics[0]
            log(f"{where} {head.fmt.format(sample['metrics'][head.key]):>10} {head.label}")

    rows = report.summarize(samples)
    elapsed = time.monotonic() - started
    print()
    print(report.table(rows))
    for what, why in unavailable.items():
        print(f"skipped {what}: {why}")
    print(f"{len(samples)} measurement(s), {failures} failure(s), {elapsed:.0f} s")
    if args.json:
        summary = [{k: v for k, v in r.items() if k != "fmt"} for r in rows]
        args.json.write_text(
            json.dumps(
                {
                    "environment": env,
                    "elapsed_s": elapsed,
                    "samples": samples,
                    "summary": summary,
                    "skipped": unavailable,
                },
                indent=1,
            )
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
