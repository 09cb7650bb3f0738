"""Broadcast fan-out: one message to a group of 1,000 members, server CPU per delivered
message, local group against a Redis-backed group, in the same run.

    python -m benchmarks.broadcast [--members 1000] [--messages 200] [--rounds 3]
        [--variants local naive redis workers] [--smoke] [--json out.json]
    python -m benchmarks.broadcast --serve PORT [--broker URL] [--naive]   (a server)

Variants, each with fresh server processes, in an order rotated round by round:

- ``local``: one bws process, every member in one ``bws.Groups`` group; the sender's
  message is broadcast (as JSON) to the 999 others.
- ``naive``: the same fan-out written by hand, ``caller.writeMessage`` per member (JSON
  serialized and framed once per member): what ``Groups`` saves.
- ``redis``: two bws processes with a ``RedisBroker`` on one real ``redis-server``, half of
  the members on each; the sender is on the first. Server CPU is both processes' (Redis'
  own is reported beside it).
- ``workers``: ``twistd bws --workers 2 --broker URL`` on the same kind of Redis, serving
  the same service (:func:`workerRoom`); the members spread over the two workers as the
  kernel hands their connections out (the count on each is reported). Server CPU is the
  whole process tree's: the parent and both workers.

The members are picows connections (C parser, uvloop) in this process, which counts every
message each receives; the run ends when every member has all of them. Server processes
run on one CPU, this process and Redis on the other (``taskset``), as in benchmarks.run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchmarks.procstat import connections_per_process, cpu_seconds, tree_cpu_seconds

ROOT = Path(__file__).resolve().parent.parent
REDIS = shutil.which("redis-server")
VARIANTS = ("local", "naive", "redis", "workers")
#: The variants that need a redis-server.
REDIS_VARIANTS = ("redis", "workers")
#: Bytes of broadcasts a member may have waiting before it is closed 1013: more than a
#: run ever queues, so no member is shed.
MAX_BACKLOG = 16 * 2**20
#: Worker processes of the ``workers`` variant.
WORKERS = 2
CONNECT_BATCH = 25


# -- the server ----------------------------------------------------------------------------


def roomService(naive: bool):
    """The service every server variant runs at ``/room``: every member joins the group
    ``room``; a text from a member is broadcast to the others as ``{"from": id, "text":
    text}`` (``naive``: written to each member by hand)."""
    from zope.interface import implementer

    import bws

    members: dict[object, None] = {}

    @implementer(bws.IService)
    class Member:
        async def onOpen(self, caller):
            if naive:
                members[caller] = None
            else:
                await caller.groups.join("room", caller)
            return "joined"

        def onTextMessage(self, caller, text: str) -> None:
            message = {"from": caller.connectionId, "text": text}
            if naive:
                for member in members:
                    if member is not caller:
                        member.writeMessage(message)
            else:
                caller.groups.broadcast("room", message, exclude=caller)

        def onClose(self, caller, code: int, reason: str) -> None:
            members.pop(caller, None)

    @implementer(bws.IUpgradeService)
    @bws.serviceConfig(maxFrameSize=65536)
    class Room:
        def get(self, request):
            return Member()

    return Room()


def workerRoom():
    """``--service benchmarks.broadcast:workerRoom`` for ``twistd bws --workers``."""
    return roomService(naive=False)


def serve(port: int, broker: str | None, naive: bool) -> None:
    """A bws listener at ws://127.0.0.1:PORT/room serving :func:`roomService`."""
    from twisted.internet import epollreactor

    epollreactor.install()
    from twisted.internet import reactor

    import bws

    redis = bws.RedisBroker(broker) if broker else None
    groups = bws.Groups(broker=redis, maxBacklog=MAX_BACKLOG)
    listener = bws.Listener(port, host="127.0.0.1", groups=groups, reactor=reactor,
                            webSocketCompressionEnabled=False)
    listener.attach(roomService(naive), "/room")
    ready = listener.start()
    if redis is not None:
        redis.startService()
        ready.addCallback(lambda _: redis.whenConnected())
    ready.addCallback(lambda _: print("READY", flush=True))
    reactor.run()


# -- the members -------------------------------------------------------------------------


async def drive(ports: list[int], members: int, messages: int, text: str,
                serverPids: list[int], redisPid: int | None, tree: bool = False) -> dict:
    """Connect ``members`` (spread over ``ports``), have the first one send ``messages``
    texts, wait until every other member got all of them; CPU seconds of each side.

    ``tree``: each server pid is a ``twistd bws --workers`` parent, measured with all its
    workers; the members each worker holds are counted too."""
    from picows import WSListener, WSMsgType, ws_connect

    loop = asyncio.get_running_loop()
    everyone = loop.create_future()
    joinedAll = loop.create_future()
    state = {"joined": 0, "done": 0, "delivered": 0}
    expected = members - 1

    class Member(WSListener):
        def __init__(self) -> None:
            self.got = 0
            self.joined = False

        def on_ws_frame(self, transport, frame):
            if frame.msg_type != WSMsgType.TEXT:
                return
            if not self.joined:
                self.joined = True
                state["joined"] += 1
                if state["joined"] == members and not joinedAll.done():
                    joinedAll.set_result(None)
                return
            self.got += 1
            state["delivered"] += 1
            if self.got == messages:
                state["done"] += 1
                if state["done"] == expected and not everyone.done():
                    everyone.set_result(None)

    clients = []
    for start in range(0, members, CONNECT_BATCH):
        batch = [ws_connect(Member, f"ws://127.0.0.1:{ports[i % len(ports)]}/room")
                 for i in range(start, min(start + CONNECT_BATCH, members))]
        clients.extend(await asyncio.gather(*batch))
    await asyncio.wait_for(joinedAll, 60)
    sender = clients[0][0]
    serverCpu = tree_cpu_seconds if tree else cpu_seconds
    spread = connections_per_process(serverPids[0], ports[0]) if tree else []
    before = [serverCpu(pid) for pid in serverPids]
    redisBefore = cpu_seconds(redisPid) if redisPid else 0.0
    clientBefore = cpu_seconds()
    t0 = time.perf_counter()
    for _ in range(messages):
        sender.send(WSMsgType.TEXT, text.encode())
    await asyncio.wait_for(everyone, 300)
    wall = time.perf_counter() - t0
    each = [serverCpu(pid) - b for pid, b in zip(serverPids, before, strict=True)]
    result = {
        "server_cpu_each_s": each, "members_per_process": spread,
        "members": members, "messages": messages, "delivered": state["delivered"],
        "wall_s": wall, "server_cpu_s": sum(each),
        "redis_cpu_s": (cpu_seconds(redisPid) - redisBefore) if redisPid else 0.0,
        "client_cpu_s": cpu_seconds() - clientBefore,
    }
    for transport, _ in clients:
        transport.disconnect()
    return result


# -- the run -------------------------------------------------------------------------------


def freePort() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(cpu: int | None) -> list[str]:
    taskset = shutil.which("taskset")
    if cpu is None or taskset is None or len(os.sched_getaffinity(0)) < 2:
        return []
    return [taskset, "-c", str(cpu)]


def waitForLine(proc: subprocess.Popen, word: bytes, timeout: float = 60) -> None:
    waitForLines(proc, {re.escape(word): 1}, timeout)


def waitForLines(proc: subprocess.Popen, needed: dict[bytes, int],
                 timeout: float = 60) -> None:
    """Read ``proc``'s output until each pattern of ``needed`` matched that many lines."""
    assert proc.stdout is not None
    left = {re.compile(pattern): count for pattern, count in needed.items()}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        for pattern in left:
            if pattern.search(line):
                left[pattern] -= 1
        if not any(count > 0 for count in left.values()):
            return
        if not line and proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with status {proc.returncode}")
    raise RuntimeError(f"{proc.args}: not every line of {needed} within {timeout} s")


def drain(proc: subprocess.Popen) -> None:
    """Read (and drop) the rest of ``proc``'s output in a thread, so a process that goes
    on logging (``twistd``) never blocks on a full pipe."""
    assert proc.stdout is not None
    stream = proc.stdout
    threading.Thread(target=lambda: stream.read(), daemon=True).start()


class Processes:
    """Child processes, stopped on exit."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(self, cmd: list[str], ready: bytes | dict[bytes, int]) -> subprocess.Popen:
        """Start ``cmd`` and wait until it printed ``ready`` (or, a dict, each pattern's
        number of lines)."""
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        self.procs.append(proc)
        if isinstance(ready, bytes):
            waitForLine(proc, ready)
        else:
            waitForLines(proc, ready)
        drain(proc)
        return proc

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def measure(variant: str, members: int, messages: int, serverCpu: int | None,
            otherCpu: int | None) -> dict:
    server = [sys.executable, "-m", "benchmarks.broadcast", "--serve"]
    with Processes() as procs:
        redisPid = None
        if variant in REDIS_VARIANTS:
            redisPort = freePort()
            redis = procs.start(pinned(otherCpu) + [
                REDIS, "--port", str(redisPort), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no"], b"Ready to accept connections")
            redisPid = redis.pid
            url = f"redis://127.0.0.1:{redisPort}/0"
        if variant == "redis":
            ports = [freePort(), freePort()]
            pids = [procs.start(pinned(serverCpu) + server + [str(p), "--broker", url],
                                b"READY").pid for p in ports]
        elif variant == "workers":
            # Both workers on the server CPU, as both processes of ``redis`` are.
            ports = [freePort()]
            pids = [procs.start(pinned(serverCpu) + [
                sys.executable, "-c", "from twisted.scripts.twistd import run; run()", "-n",
                "--pidfile=", "bws", "--workers", str(WORKERS), "--broker", url,
                "--service", "benchmarks.broadcast:workerRoom", "--path", "/room",
                "--port", str(ports[0]), "--host", "127.0.0.1", "--no-compression",
                "--group-max-backlog", str(MAX_BACKLOG)],
                {rb"\[worker \d+ pid \d+\] bws: serving ": WORKERS,
                 rb"\[worker \d+ pid \d+\] .*group broker connected": WORKERS}).pid]
        else:
            ports = [freePort()]
            extra = ["--naive"] if variant == "naive" else []
            pids = [procs.start(pinned(serverCpu) + server + [str(ports[0])] + extra,
                                b"READY").pid]
        text = "x" * 64
        try:
            from uvloop import run as runLoop
        except ImportError:
            runLoop = asyncio.run
        result = runLoop(drive(ports, members, messages, text, pids, redisPid,
                               tree=variant == "workers"))
    result["variant"] = variant
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", type=int, metavar="PORT")
    parser.add_argument("--broker")
    parser.add_argument("--naive", action="store_true")
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--smoke", action="store_true", help="one short round (CI)")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    if args.serve is not None:
        serve(args.serve, args.broker, args.naive)
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    if args.smoke:
        args.members, args.messages, args.rounds = 50, 10, 1
    variants = [v for v in args.variants if v not in REDIS_VARIANTS or REDIS]
    if len(variants) < len(args.variants):
        print("redis-server not found: the redis and workers variants are skipped",
              file=sys.stderr)
    cpus = sorted(os.sched_getaffinity(0))
    serverCpu, otherCpu = (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)
    if otherCpu is not None:
        os.sched_setaffinity(0, {otherCpu})
    results: dict[str, list[dict]] = {v: [] for v in variants}
    for round in range(args.rounds):
        order = variants[round % len(variants):] + variants[:round % len(variants)]
        for variant in order:
            r = measure(variant, args.members, args.messages, serverCpu, otherCpu)
            assert r["delivered"] == args.messages * (args.members - 1), r
            results[variant].append(r)
            spread = r["members_per_process"]
            print(f"round {round + 1} {variant}: "
                  f"{r['server_cpu_s'] * 1e6 / r['delivered']:.2f} µs server CPU/delivery"
                  + (f", members per worker {'/'.join(map(str, spread))}" if spread else ""),
                  file=sys.stderr, flush=True)
    print(f"{args.members} members, {args.messages} messages of 64 B text broadcast as "
          f"JSON (~110 B) by one member to the others; medians of {args.rounds} rounds")
    print(f"{'variant':8} {'server CPU µs/delivery':>23} {'deliveries/s':>13} "
          f"{'redis CPU µs/delivery':>22} {'members CPU µs/delivery':>24}")
    for variant, rs in results.items():
        def med(key: str, rs: list[dict] = rs) -> float:
            return statistics.median(r[key] * 1e6 / r["delivered"] for r in rs)

        rate = statistics.median(r["delivered"] / r["wall_s"] for r in rs)
        print(f"{variant:8} {med('server_cpu_s'):>23.2f} {rate:>13,.0f} "
              f"{med('redis_cpu_s'):>22.2f} {med('client_cpu_s'):>24.2f}")
    for variant, rs in results.items():
        if any(r["members_per_process"] for r in rs):
            print(f"{variant}: members per worker, round by round: "
                  + ", ".join("/".join(map(str, r["members_per_process"])) for r in rs))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
