"""Echo servers under test, one per process.

    python -m benchmarks.servers {autobahn|websockets|bws|bws-baseline|bws-w1|bws-w2|picows}
        PORT [--compression]

Each echoes text and binary messages on 127.0.0.1:PORT and prints ``READY`` once it
listens.  ``picows`` is not a contender: it is the near-zero-cost reference server used
to show that the load generator out-runs every real server (``docs/benchmarks.rst``).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys

# Large enough for the 1 MiB scenario, small enough to be a sane production limit.
MAX_MESSAGE = 16 * 2**20

SERVERS = ("autobahn", "websockets", "bws", "bws-baseline", "bws-w1", "bws-w2", "picows")

#: ``twistd bws --workers N``: one parent and N worker processes, left unpinned (the
#: workers need the machine's cores); the harness waits for every worker's start-up line.
WORKER_SERVERS = {"bws-w1": 1, "bws-w2": 2}


def _ready() -> None:
    print("READY", flush=True)


def run_autobahn(port: int, compression: bool) -> None:
    from twisted.internet import epollreactor

    epollreactor.install()
    from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
    from autobahn.websocket.compress import PerMessageDeflateOffer, PerMessageDeflateOfferAccept
    from twisted.internet import reactor

    class Echo(WebSocketServerProtocol):
        def onMessage(self, payload, isBinary):
            self.sendMessage(payload, isBinary)

    factory = WebSocketServerFactory(f"ws://127.0.0.1:{port}")
    factory.protocol = Echo
    # Autobahn's defaults except for an explicit size cap (its default is unlimited).
    factory.setProtocolOptions(
        maxFramePayloadSize=MAX_MESSAGE,
        maxMessagePayloadSize=MAX_MESSAGE,
        openHandshakeTimeout=10,
        closeHandshakeTimeout=2,
    )
    if compression:

        def accept(offers):
            for offer in offers:
                if isinstance(offer, PerMessageDeflateOffer):
                    return PerMessageDeflateOfferAccept(offer)
            return None

        factory.setProtocolOptions(perMessageCompressionAccept=accept)

    reactor.listenTCP(port, factory, interface="127.0.0.1")
    reactor.callWhenRunning(_ready)
    reactor.run()


def run_websockets(port: int, compression: bool) -> None:
    import asyncio

    from websockets.asyncio.server import serve
    from websockets.exceptions import ConnectionClosed

    async def echo(ws):
        try:
            async for message in ws:
                await ws.send(message)
        except ConnectionClosed:
            pass  # A client dropping mid-stream is normal under load; keep logs quiet.

    async def main():
        async with serve(
            echo,
            "127.0.0.1",
            port,
            compression="deflate" if compression else None,
            max_size=MAX_MESSAGE,
        ) as server:
            _ready()
            await server.serve_forever()

    # The stock asyncio loop: what a websockets user gets without extra choices.
    asyncio.run(main())


def run_bws(port: int, compression: bool) -> None:
    """Exec the bws echo server, so the measured PID is the bws process itself."""
    if importlib.util.find_spec("bws") is None:
        sys.exit("bws: package not importable")
    try:
        found = importlib.util.find_spec("bws.testing.echo") is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        sys.exit("bws: bws.testing.echo does not exist yet (the bws echo server)")
    argv = [sys.executable, "-m", "bws.testing.echo", "--port", str(port), "--host", "127.0.0.1"]
    argv += ["--max-frame-size", str(MAX_MESSAGE), "--max-message-size", str(MAX_MESSAGE)]
    if not compression:
        argv.append("--no-compression")
    # bws.testing.echo may not print READY; the harness also waits for the port to open.
    sys.stdout.flush()
    os.execv(sys.executable, argv)


def run_bws_baseline(port: int, compression: bool) -> None:
    """The same bws echo server from another checkout: ``$BWS_BASELINE`` names its directory
    (e.g. ``git worktree add /tmp/base HEAD~1``), so a change is measured against the
    commit before it in one run, on the same Python and dependencies."""
    base = os.environ.get("BWS_BASELINE")
    if not base or not os.path.isdir(os.path.join(base, "bws")):
        sys.exit("bws-baseline: set BWS_BASELINE to a checkout of bws (a directory with bws/)")
    os.chdir(base)
    os.environ["PYTHONPATH"] = base
    sys.path.insert(0, base)
    run_bws(port, compression)


def run_bws_workers(port: int, compression: bool, workers: int) -> None:
    """Exec ``twistd -n --pidfile= bws --workers N``: the measured PID is the parent, whose
    workers are its children (the harness measures the whole tree)."""
    argv = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()", "-n",
            "--pidfile=", "bws", "--workers", str(workers), "--port", str(port),
            "--host", "127.0.0.1", "--max-frame-size", str(MAX_MESSAGE),
            "--max-message-size", str(MAX_MESSAGE)]
    if not compression:
        argv.append("--no-compression")
    sys.stdout.flush()
    os.execv(sys.executable, argv)


def run_bws_w1(port: int, compression: bool) -> None:
    run_bws_workers(port, compression, 1)


def run_bws_w2(port: int, compression: bool) -> None:
    run_bws_workers(port, compression, 2)


def run_picows(port: int, compression: bool) -> None:
    from picows import WSListener, WSMsgType, ws_create_server

    from benchmarks.loadgen import run_loop

    if compression:
        sys.exit("picows: no permessage-deflate support")

    data_types = (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION)

    class Echo(WSListener):
        # Frame-level echo: the cheapest correct echo there is, for loadgen headroom.
        def on_ws_frame(self, transport, frame):
            if frame.msg_type in data_types:
                transport.send(frame.msg_type, frame.get_payload_as_memoryview(), frame.fin)
            elif frame.msg_type == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()

    async def main():
        server = await ws_create_server(
            lambda _request: Echo(), "127.0.0.1", port, max_frame_size=MAX_MESSAGE
        )
        _ready()
        await server.serve_forever()

    run_loop(main())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("server", choices=SERVERS)
    parser.add_argument("port", type=int)
    parser.add_argument("--compression", action="store_true", help="accept permessage-deflate")
    args = parser.parse_args(argv)
    runner = globals()[f"run_{args.server.replace('-', '_')}"]
    runner(args.port, args.compression)


if __name__ == "__main__":
    main()
