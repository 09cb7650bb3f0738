"""Client round trips (scenario 7): one library's client in one process.

    python -m benchmarks.clients {bws|autobahn|websockets} --port PORT --server-pid PID
        [--warmup S] [--duration S]

Sequential round trips of a 32 B text message on one connection, written the way a user
of each library writes them; the figure is the client's CPU per round trip.  Prints one
JSON object; exit status 3 (with ``{"skip": ...}``) means the client library is missing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from benchmarks.procstat import cpu_seconds

TEXT = "x" * 32
CLIENTS = ("autobahn", "websockets", "bws")


class Unavailable(Exception):
    """The client under test cannot be imported (e.g. bws.Client has not landed yet)."""


class Window:
    """Counts round trips; snapshots CPU and time when the warm-up ends and at the end."""

    def __init__(self, server_pid: int, warmup: float, duration: float) -> None:
        self.pid = server_pid
        self.start_at = time.perf_counter() + warmup
        self.end_at = self.start_at + duration
        self.count = 0
        self.first = self.last = None

    def _snap(self, now: float):
        return now, self.count, cpu_seconds(), cpu_seconds(self.pid)

    def tick(self) -> bool:
        """Count one round trip; return False once the measured window is over."""
        self.count += 1
        now = time.perf_counter()
        if self.first is None:
            if now >= self.start_at:
                self.first = self._snap(now)
            return True
        if now >= self.end_at:
            self.last = self._snap(now)
            return False
        return True

    def result(self) -> dict:
        (t0, n0, c0, s0), (t1, n1, c1, s1) = self.first, self.last
        return {
            "messages": n1 - n0,
            "wall_s": t1 - t0,
            "client_cpu_s": c1 - c0,
            "server_cpu_s": s1 - s0,
        }


def check(reply) -> None:
    if reply != TEXT:
        raise RuntimeError(f"bad echo: {reply!r:.60}")


def run_on_twisted(make_coroutine):
    """Run ``make_coroutine()`` on the epoll reactor and return its result."""
    from twisted.internet import epollreactor

    epollreactor.install()
    from twisted.internet import reactor
    from twisted.internet.defer import Deferred

    outcome = []

    def start():
        d = Deferred.fromCoroutine(make_coroutine())
        d.addBoth(outcome.append)
        d.addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(start)
    reactor.run()
    if hasattr(outcome[0], "raiseException"):  # a Failure
        outcome[0].raiseException()
    return outcome[0]


def run_bws(args) -> dict:
    try:
        from bws import Client
    except ImportError as exc:
        raise Unavailable(f"bws.Client is not available yet ({exc})") from exc

    async def main():
        client = await Client.connect(f"ws://127.0.0.1:{args.port}/")
        window = Window(args.server_pid, args.warmup, args.duration)
        while True:
            await client.writeTextMessage(TEXT)
            check(await client.readTextMessage())
            if not window.tick():
                break
        closed = client.close()
        if closed is not None:
            await closed
        return window.result()

    return run_on_twisted(main)


def run_autobahn(args) -> dict:
    """Autobahn's idiomatic style: callbacks, the next request sent from onMessage."""
    from twisted.internet import defer

    finished = defer.Deferred()

    async def main():
        from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
        from twisted.internet import reactor

        class RoundTrips(WebSocketClientProtocol):
            def onOpen(self):
                self.window = Window(args.server_pid, args.warmup, args.duration)
                self.sendMessage(TEXT.encode(), isBinary=False)

            def onMessage(self, payload, isBinary):
                check(payload.decode())  # what a user does to get text back
                if self.window.tick():
                    self.sendMessage(TEXT.encode(), isBinary=False)
                elif not finished.called:
                    finished.callback(self.window.result())
                    self.sendClose(1000)

            def onClose(self, wasClean, code, reason):
                if not finished.called:
                    finished.errback(RuntimeError(f"closed early: {code} {reason}"))

        factory = WebSocketClientFactory(f"ws://127.0.0.1:{args.port}/")
        factory.protocol = RoundTrips
        reactor.connectTCP("127.0.0.1", args.port, factory)
        return await finished

    return run_on_twisted(main)


def run_websockets(args) -> dict:
    import asyncio

    from websockets.asyncio.client import connect

    async def main():
        async with connect(f"ws://127.0.0.1:{args.port}/", compression=None) as ws:
            window = Window(args.server_pid, args.warmup, args.duration)
            while True:
                await ws.send(TEXT)
                check(await ws.recv())
                if not window.tick():
                    break
        return window.result()

    return asyncio.run(main())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("client", choices=CLIENTS)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--duration", type=float, default=3.0)
    args = parser.parse_args(argv)
    try:
        result = globals()[f"run_{args.client}"](args)
    except Unavailable as exc:
        print(json.dumps({"skip": str(exc)}))
        sys.exit(3)
    except Exception as exc:  # reported to the harness, which decides what to do
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        sys.exit(1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
