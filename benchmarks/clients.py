"""Client round trips: one library's client in one process.

    python -m benchmarks.clients {bws|autobahn|websockets} --port PORT --server-pid PID
        [--warmup S] [--duration S] [--size BYTES] [--binary]

Sequential round trips of one message (32 B text by default; ``--size 1048576
--binary`` for 1 MiB binary) on one connection, written the way a user of each library
writes them; the figure is the client's CPU per round trip.  Every client is allowed
messages and frames of 16 MiB, so each sends a message as one frame.  Prints one JSON
object; exit status 3 (with ``{"skip": ...}``) means the client library is missing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from benchmarks.procstat import cpu_seconds

CLIENTS = ("autobahn", "websockets", "bws")
LIMIT = 16 * 2**20


def message(size: int, binary: bool) -> str | bytes:
    """What each round trip sends and expects back."""
    if binary:
        return bytes(range(256)) * (size // 256) + bytes(size % 256)
    return "x" * size


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


def check(reply, sent) -> None:
    if reply != sent:
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

    data = message(args.size, args.binary)
    write = "writeBinaryMessage" if args.binary else "writeTextMessage"
    read = "readBinaryMessage" if args.binary else "readTextMessage"

    async def main():
        client = await Client.connect(
            f"ws://127.0.0.1:{args.port}/", maxFrameSize=LIMIT, maxMessageSize=LIMIT
        )
        window = Window(args.server_pid, args.warmup, args.duration)
        send, receive = getattr(client, write), getattr(client, read)
        while True:
            await send(data)
            check(await receive(), data)
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
    data = message(args.size, args.binary)
    payload = data if args.binary else data.encode()

    async def main():
        from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
        from twisted.internet import reactor

        class RoundTrips(WebSocketClientProtocol):
            def onOpen(self):
                self.window = Window(args.server_pid, args.warmup, args.duration)
                self.sendMessage(payload, isBinary=args.binary)

            def onMessage(self, reply, isBinary):
                check(reply if isBinary else reply.decode(), data)  # a user decodes text
                if self.window.tick():
                    self.sendMessage(
                        payload if args.binary else data.encode(), isBinary=args.binary
                    )
                elif not finished.called:
                    finished.callback(self.window.result())
                    self.sendClose(1000)

            def onClose(self, wasClean, code, reason):
                if not finished.called:
                    finished.errback(RuntimeError(f"closed early: {code} {reason}"))

        factory = WebSocketClientFactory(f"ws://127.0.0.1:{args.port}/")
        factory.setProtocolOptions(maxFramePayloadSize=LIMIT, maxMessagePayloadSize=LIMIT)
        factory.protocol = RoundTrips
        reactor.connectTCP("127.0.0.1", args.port, factory)
        return await finished

    return run_on_twisted(main)


def run_websockets(args) -> dict:
    import asyncio

    from websockets.asyncio.client import connect

    data = message(args.size, args.binary)

    async def main():
        url = f"ws://127.0.0.1:{args.port}/"
        async with connect(url, compression=None, max_size=LIMIT) as ws:
            window = Window(args.server_pid, args.warmup, args.duration)
            while True:
                await ws.send(data)
                check(await ws.recv(), data)
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
    parser.add_argument("--size", type=int, default=32, help="bytes per message")
    parser.add_argument("--binary", action="store_true", help="binary, not text, messages")
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
