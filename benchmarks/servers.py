"""Echo servers under test, one per process.

    python -m benchmarks.servers NAME PORT [--compression]

NAME is one of :data:`SERVERS`.  Each echoes text and binary messages on 127.0.0.1:PORT
and prints ``READY`` once it listens.  ``picows`` (Cython on uvloop) is the fastest
Python-hosted WebSocket server there is and also shows that the load generator out-runs
every other server; ``twisted-tcp`` is no WebSocket server at all but the floor of any
Twisted one: after a canned 101 it echoes raw bytes (``docs/benchmarks.rst``).  A peer
whose library is not installed exits with status 3 and a line saying so.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys

# Large enough for the 1 MiB scenario, small enough to be a sane production limit.
MAX_MESSAGE = 16 * 2**20

SERVERS = ("autobahn", "websockets", "aiohttp", "picows", "twisted-tcp", "bws", "bws-baseline",
           "bws-w1", "bws-w2")

#: ``twistd bws --workers N``: one parent and N worker processes, left unpinned (the
#: workers need the machine's cores); the harness waits for every worker's start-up line.
WORKER_SERVERS = {"bws-w1": 1, "bws-w2": 2}
#: Exit status of a server whose library is not installed (the harness skips it).
MISSING = 3
#: The scenarios the raw TCP echo takes part in: those where echoing the bytes of a
#: frame back is the same work as a WebSocket echo minus the WebSocket (no handshake, no
#: deflate, no 1 MiB reassembly, no idle bookkeeping to compare).
RAW_SCENARIOS = frozenset({"text32", "rr1", "rr100", "bin1k"})


def _require(module: str, server: str) -> None:
    if importlib.util.find_spec(module) is None:
        print(f"{server}: {module} is not installed (pip install -e .[bench])", flush=True)
        sys.exit(MISSING)


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
    _require("websockets", "websockets")
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


def run_aiohttp(port: int, compression: bool) -> None:
    _require("aiohttp", "aiohttp")
    import asyncio

    from aiohttp import WSMsgType, web

    async def echo(request):
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE, compress=compression)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type == WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        return ws

    async def main():
        app = web.Application()
        app.router.add_get("/", echo)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        _ready()
        await asyncio.Event().wait()

    # The stock asyncio loop, as for websockets: what an aiohttp user gets by default.
    asyncio.run(main())


def run_twisted_tcp(port: int, compression: bool) -> None:
    """The floor of a Twisted server: a canned 101, then every read written back as is.

    The load generator sends this server unmasked frames, so the echoed bytes are valid
    server frames; what is measured is one ``dataReceived`` and one ``write`` per read on
    Twisted's epoll reactor, nothing of WebSocket.
    """
    import base64
    import hashlib

    from twisted.internet import epollreactor

    epollreactor.install()
    from twisted.internet import reactor
    from twisted.internet.protocol import Factory, Protocol

    if compression:
        sys.exit("twisted-tcp: no WebSocket, no permessage-deflate")
    guid = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    class Echo(Protocol):
        head = b""

        def dataReceived(self, data):
            self.transport.write(data)

        def connectionMade(self):
            self.transport.setTcpNoDelay(True)  # as bws and Autobahn set it
            self.dataReceived = self.upgrade

        def upgrade(self, data):
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            key = next(
                line.split(b":", 1)[1].strip()
                for line in self.head[:end].split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key:")
            )
            accept = base64.b64encode(hashlib.sha1(key + guid).digest())
            self.transport.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            del self.dataReceived  # the class's echo from now on
            rest = self.head[end + 4 :]
            self.head = b""
            if rest:
                self.transport.write(rest)

    factory = Factory.forProtocol(Echo)
    reactor.listenTCP(port, factory, interface="127.0.0.1", backlog=1024)
    reactor.callWhenRunning(_ready)
    reactor.run()


def run_picows(port: int, compression: bool) -> None:
    _require("picows", "picows")
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
