"""How evenly a burst of connections spreads over two bws worker processes.

    python -m benchmarks.balance [--runs 8] [--connections 100]

For each run, two fresh processes serve the bws echo on one port, and the load generator
opens ``--connections`` connections in its batches of 25 (as ``rr100`` does); the
connections each process then holds are counted from /proc. Two ways of sharing the port
are compared, run after run:

* ``shared``: one listening socket, bound once and adopted by both processes
  (``AdoptedStreamServerEndpoint``), as ``twistd bws --workers`` does: the kernel queues
  connections on the one socket and whichever process calls ``accept`` first takes them;
* ``reuseport``: one socket per process with ``SO_REUSEPORT``: the kernel picks the
  socket by a hash of the connection's addresses when the SYN arrives.

Each line prints the counts, largest first, and the spread (how far the busier process is
from an even share, in % of that share). See docs/benchmarks.rst.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys

from benchmarks import loadgen
from benchmarks.procstat import connections_per_process

MODES = ("shared", "reuseport")


def serve(mode: str, port: int, shared: socket.socket, ready: int) -> None:
    """In a forked child: the bws echo on the shared socket or a SO_REUSEPORT one."""
    from twisted.internet import reactor
    from twisted.internet.endpoints import AdoptedStreamServerEndpoint

    import bws
    from bws.testing.echo import EchoUpgradeService

    if mode == "reuseport":
        own = socket.socket()
        own.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        own.bind(("127.0.0.1", port))
        own.listen(100)
        own.setblocking(False)
        fd = os.dup(own.fileno())
    else:
        fd = os.dup(shared.fileno())
    listener = bws.Listener(AdoptedStreamServerEndpoint(reactor, fd, socket.AF_INET))
    listener.attach(EchoUpgradeService(), "*")
    listener.start().addCallback(lambda _: os.write(ready, b"."))
    reactor.run()


def once(mode: str, connections: int) -> list[int]:
    """One run: two fresh processes, one burst; the connections each one holds."""
    # Reserves the port (bound, with SO_REUSEPORT so the children may bind it too); it
    # listens only when it is the shared socket.
    base = socket.socket()
    base.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    base.bind(("127.0.0.1", 0))
    port = base.getsockname()[1]
    if mode == "shared":
        base.listen(100)
        base.setblocking(False)
    readyRead, readyWrite = os.pipe()
    pids = []
    try:
        for _ in range(2):
            pid = os.fork()
            if pid == 0:
                try:
                    os.close(readyRead)
                    serve(mode, port, base, readyWrite)
                finally:
                    os._exit(0)
            pids.append(pid)
        for _ in pids:
            os.read(readyRead, 1)

        async def burst() -> list[int]:
            counter = loadgen.Counter()
            frame = loadgen.client_frame(loadgen.OP_TEXT, b"x")
            drivers = await loadgen.open_drivers(
                port, connections, lambda: loadgen.EchoDriver(counter, frame, b"x", 1))
            counts = connections_per_process(os.getpid(), port)
            await loadgen.close_all(drivers)
            return counts

        return loadgen.run_loop(burst())
    finally:
        for pid in pids:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(readyRead)
        os.close(readyWrite)
        base.close()


def spread(counts: list[int]) -> float:
    mean = sum(counts) / len(counts)
    return 100 * max(abs(c - mean) for c in counts) / mean


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--connections", type=int, default=100)
    args = parser.parse_args(argv)
    within = dict.fromkeys(MODES, 0)
    for run in range(args.runs):
        for mode in MODES:  # alternated, so a busy minute hits both alike
            counts = measured(mode, args.connections)
            within[mode] += spread(counts) <= 20
            print(f"[{run + 1}/{args.runs}] {mode:9} {counts}  ±{spread(counts):.0f} %",
                  flush=True)
    for mode in MODES:
        print(f"{mode}: {within[mode]} of {args.runs} runs within ±20 %")


def measured(mode: str, connections: int) -> list[int]:
    counts = once(mode, connections)
    if len(counts) != 2 or sum(counts) != connections:
        sys.exit(f"{mode}: counted {counts} for {connections} connections")
    return counts


if __name__ == "__main__":
    main()
