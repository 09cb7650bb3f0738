"""Load generator for the echo servers: picows (Cython) on uvloop, one process.

    python -m benchmarks.loadgen SCENARIO --port PORT --server-pid PID
        [--warmup S] [--duration S] [--idle-conns N]
    python -m benchmarks.loadgen --worker      (what benchmarks.run uses)

Prints one JSON object on stdout (one per request line with ``--worker``).  The load
generator has to cost far less per message than any server, or it would measure itself:
picows parses replies in C, and every request is a masked frame built once at start-up
and written with a plain transport write (one write per burst of replies), so a message
costs the client little more than a counter increment.  ``docs/benchmarks.rst`` shows
its headroom.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import time
import zlib
from functools import partial

from picows import WSListener, WSMsgType, ws_connect

from benchmarks.procstat import connections_per_process, cpu_seconds, rss_bytes, tree_cpu_seconds

try:
    from uvloop import run as run_loop
except ImportError:  # the stock loop works too; uvloop only makes the client cheaper
    run_loop = asyncio.run

OP_TEXT, OP_BINARY = 0x1, 0x2
DATA = (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION)
DEFLATE_TAIL = b"\x00\x00\xff\xff"
CONNECT_BATCH = 25  # below every server's listen backlog, so no SYN is dropped


def json_document(size: int = 1024) -> bytes:
    """A 1 KiB JSON body that compresses like real API traffic (about 4:1), not like zeros."""
    rows, i = [], 0
    while True:
        rows.append(
            {
                "id": 1000 + i,
                "user": f"user{i * 7919 % 997}",
                "active": i % 3 != 0,
                "score": round(i * 1.618 % 100, 3),
                "tags": ["alpha", "beta"][: i % 3],
            }
        )
        body = json.dumps({"items": rows}, separators=(",", ":")).encode()
        if len(body) > size:
            break
        i += 1
    body = json.dumps({"items": rows[:-1]}, separators=(",", ":")).encode()
    return body[:-1] + b" " * (size - len(body)) + b"}"


def client_frame(opcode: int, payload: bytes, rsv1: bool = False, masked: bool = True) -> bytes:
    """One complete, masked client frame (RFC 6455 section 5.2).

    ``masked=False`` only for the raw TCP echo (``twisted-tcp``), which sends the bytes
    back as they came: the picows client refuses masked frames from a server.
    """
    n = len(payload)
    first = 0x80 | (0x40 if rsv1 else 0) | opcode
    bit = 0x80 if masked else 0
    if n < 126:
        header = bytes([first, bit | n])
    elif n < 2**16:
        header = bytes([first, bit | 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([first, bit | 127]) + n.to_bytes(8, "big")
    if not masked:
        return header + payload
    mask = os.urandom(4)
    key = (mask * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
    return header + mask + masked


def deflate_message(payload: bytes) -> bytes:
    """permessage-deflate body compressed without context (RFC 7692 section 7.2.1).

    Without context takeover every copy compresses identically, so it is built once;
    such a body is valid whether or not the server keeps its own inflate context.
    """
    c = zlib.compressobj(wbits=-15)
    data = c.compress(payload) + c.flush(zlib.Z_SYNC_FLUSH)
    assert data.endswith(DEFLATE_TAIL)
    return data[: -len(DEFLATE_TAIL)]


class Counter:
    __slots__ = ("messages", "bytes", "writes", "latencies")

    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0
        self.writes = 0  # messages/writes = the burst size the exchange settled into
        #: Round-trip times in seconds (one in flight only), while the window is measured.
        self.latencies: list[float] | None = None


class EchoDriver(WSListener):
    """Keeps ``in_flight`` requests outstanding on one connection.

    Each complete echo is checked (length, and content of the first one) and answered by
    one new request; requests answering a burst of replies go out in one write.
    """

    def __init__(
        self,
        counter: Counter,
        frame: bytes,
        expect: bytes,
        in_flight: int,
        compressed: bool = False,
    ) -> None:
        self.counter, self.frame, self.expect = counter, frame, expect
        self.in_flight, self.compressed = in_flight, compressed
        self.inflate = zlib.decompressobj(wbits=-15) if compressed else None
        self.running, self.verified = False, False
        self.parts: list[bytes] = []
        self.size = 0
        self.owed = 0
        self.error: str | None = None
        self.ws = None
        self.write = None
        self.sentAt = 0.0  # when the request in flight went (one in flight: its latency)

    def on_ws_connected(self, transport):
        self.ws = transport
        self.write = transport.underlying_transport.write

    def start(self) -> None:
        self.running = True
        self.sentAt = time.perf_counter()
        self.write(self.frame * self.in_flight)

    def on_ws_frame(self, transport, frame):
        if frame.msg_type in DATA:
            if self.compressed or not self.verified:
                self.parts.append(frame.get_payload_as_bytes())
            self.size += frame.payload_size
            if frame.fin:
                self._message_done()
            if frame.last_in_buffer and self.owed and self.running:
                if self.in_flight == 1:
                    self.sentAt = time.perf_counter()
                self.write(self.frame * self.owed)
                self.owed = 0
                self.counter.writes += 1
        elif frame.msg_type == WSMsgType.CLOSE and self.running:
            self.fail(f"server closed: {frame.get_close_code()} {frame.get_close_reason()}")

    def _message_done(self) -> None:
        size = self.size
        if self.compressed:
            data = self.inflate.decompress(b"".join(self.parts) + DEFLATE_TAIL)
            size = len(data)
            self.parts.clear()
        elif not self.verified:
            data = b"".join(self.parts)
            self.parts.clear()
            self.verified = True
        else:
            data = None
        if size != len(self.expect) or (data is not None and data != self.expect):
            self.fail(f"bad echo: {size} bytes, expected {len(self.expect)}")
        self.size = 0
        latencies = self.counter.latencies
        if latencies is not None and self.in_flight == 1:
            latencies.append(time.perf_counter() - self.sentAt)
        self.counter.messages += 1
        self.counter.bytes += size
        self.owed += 1

    def fail(self, why: str) -> None:
        if self.error is None:
            self.error = why
        self.running = False

    def on_ws_disconnected(self, transport):
        if self.running:
            self.fail("server dropped the connection")


class OneShot(asyncio.Protocol):
    """Scenario 4 on a raw socket: upgrade, one echo, close, then wait for the server's FIN.

    picows's ``ws_connect`` costs the client about as much as a Python server spends on
    the whole connection, so this path sends pre-built bytes and only checks what it
    reads: the 101 status and accept key, the echo, and the server's close frame.
    """

    KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455's sample key: its accept value is known
    ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    PAYLOAD = b"x" * 32
    ECHO = bytes([0x81, len(PAYLOAD)]) + PAYLOAD  # what an unmasked server echo looks like

    def __init__(self, port: int, done: asyncio.Future) -> None:
        self.request = (
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {self.KEY}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        self.message = client_frame(OP_TEXT, self.PAYLOAD)
        self.close_frame = client_frame(0x8, (1000).to_bytes(2, "big"))
        self.done, self.buf, self.state = done, b"", "upgrade"

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data):
        self.buf += data
        if self.state == "upgrade" and b"\r\n\r\n" in self.buf:
            head, _, self.buf = self.buf.partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 101") or self.ACCEPT not in head:
                return self.fail(f"bad upgrade response: {head[:80]!r}")
            self.state = "echo"
            self.transport.write(self.message)
        if self.state == "echo" and len(self.buf) >= len(self.ECHO):
            if not self.buf.startswith(self.ECHO):
                return self.fail(f"bad echo: {self.buf[:40]!r}")
            self.buf = self.buf[len(self.ECHO) :]
            self.state = "closing"
            self.transport.write(self.close_frame)
        if self.state == "closing" and self.buf[:1] == b"\x88":
            self.state = "closed"  # the server's FIN follows; RFC 6455 has the server close TCP

    def fail(self, why: str) -> None:
        if not self.done.done():
            self.done.set_exception(RuntimeError(why))
        self.transport.abort()

    def connection_lost(self, exc):
        if not self.done.done():
            if self.state == "closed":
                self.done.set_result(None)
            else:
                self.done.set_exception(RuntimeError(f"connection lost in state {self.state}"))


class Window:
    """Counts, server CPU, client CPU and wall time at the edges of the measured window."""

    def __init__(self, counter: Counter, server_pid: int) -> None:
        self.counter, self.pid = counter, server_pid

    def snap(self) -> dict:
        c = self.counter
        return {
            "messages": c.messages,
            "bytes": c.bytes,
            "writes": c.writes,
            "wall_s": time.perf_counter(),
            "server_cpu_s": tree_cpu_seconds(self.pid),
            "client_cpu_s": cpu_seconds(),
        }

    async def measure(self, warmup: float, duration: float, latency: bool = False) -> dict:
        await asyncio.sleep(warmup)
        if latency:
            self.counter.latencies = []
        before = self.snap()
        await asyncio.sleep(duration)
        after = self.snap()
        out = {key: after[key] - before[key] for key in after}
        if latency:
            times = sorted(self.counter.latencies)
            self.counter.latencies = None
            if times:
                out["p50_us"] = times[len(times) // 2] * 1e6
                out["p99_us"] = times[min(len(times) - 1, int(len(times) * 0.99))] * 1e6
        return out


def url(port: int) -> str:
    return f"ws://127.0.0.1:{port}/"


async def open_drivers(port, count, make, **kwargs):
    """Open ``count`` connections, CONNECT_BATCH at a time."""
    out = []
    while len(out) < count:
        batch = min(CONNECT_BATCH, count - len(out))
        pairs = await asyncio.gather(*(ws_connect(make, url(port), **kwargs) for _ in range(batch)))
        out.extend(listener for _transport, listener in pairs)
    return out


async def close_all(drivers) -> None:
    for d in drivers:
        d.running = False
        d.ws.send_close()
        d.ws.disconnect()
    await asyncio.wait_for(
        asyncio.gather(*(d.ws.wait_disconnected() for d in drivers), return_exceptions=True), 5
    )


async def stream(
    args, *, conns: int, in_flight: int, opcode: int, payload: bytes, compressed: bool = False
) -> dict:
    """The echo scenarios: steady load, measured after a warm-up.  With one connection and
    one request in flight, every round trip's time is kept too (p50 and p99)."""
    counter = Counter()
    body = deflate_message(payload) if compressed else payload
    frame = client_frame(opcode, body, rsv1=compressed, masked=getattr(args, "masked", True))
    headers = {}
    if compressed:
        headers["Sec-WebSocket-Extensions"] = "permessage-deflate; client_no_context_takeover"
    drivers = await open_drivers(
        args.port,
        conns,
        lambda: EchoDriver(counter, frame, payload, in_flight, compressed),
        extra_headers=headers,
        max_frame_size=32 * 2**20,
    )
    if compressed:
        agreed = drivers[0].ws.response.headers.get("Sec-WebSocket-Extensions", "")
        if "permessage-deflate" not in agreed:
            raise RuntimeError("server did not negotiate permessage-deflate")
    for d in drivers:
        d.start()
    latency = conns == 1 and in_flight == 1
    result = await Window(counter, args.server_pid).measure(args.warmup, args.duration, latency)
    result["conns_per_worker"] = connections_per_process(args.server_pid, args.port)
    errors = [d.error for d in drivers if d.error]
    await close_all(drivers)
    if errors:
        raise RuntimeError(f"{len(errors)} connection(s) failed: {errors[0]}")
    if result["messages"] == 0:
        raise RuntimeError("no echo came back in the measured window")
    return result


async def handshake(args, *, workers: int = 16) -> dict:
    """Scenario 4: connect, upgrade, one echo, close; ``workers`` connections at a time."""
    loop = asyncio.get_running_loop()
    counter = Counter()
    running = True

    async def worker():
        while running:
            done = loop.create_future()
            await loop.create_connection(partial(OneShot, args.port, done), "127.0.0.1", args.port)
            await asyncio.wait_for(done, 5)
            counter.messages += 1

    tasks = [asyncio.create_task(worker()) for _ in range(workers)]
    try:
        measuring = asyncio.create_task(
            Window(counter, args.server_pid).measure(args.warmup, args.duration)
        )
        done, _ = await asyncio.wait([measuring, *tasks], return_when=asyncio.FIRST_COMPLETED)
        if measuring not in done:
            for t in done:
                t.result()  # a worker died: surface its error
        result = measuring.result()
    finally:
        running = False
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
    return result


async def idle_memory(args) -> dict:
    """Scenario 5: server RSS growth per idle (upgraded, silent) connection."""
    counter = Counter()
    frame = client_frame(OP_TEXT, b"warm")
    # Warm-up: a few full connections so lazy imports and first-use caches are paid for.
    warm = await open_drivers(args.port, 10, lambda: EchoDriver(counter, frame, b"warm", 1))
    for d in warm:
        d.start()
    while counter.messages < 10:
        await asyncio.sleep(0.01)
    await close_all(warm)
    await asyncio.sleep(0.3)
    before = rss_bytes(args.server_pid)
    idle = await open_drivers(
        args.port, args.idle_conns, lambda: EchoDriver(counter, frame, b"", 0)
    )
    await asyncio.sleep(max(0.2, args.warmup))  # let the server finish per-connection setup
    after = rss_bytes(args.server_pid)
    alive = sum(not d.ws.is_disconnected for d in idle)
    await close_all(idle)
    if alive != args.idle_conns:
        raise RuntimeError(f"only {alive} of {args.idle_conns} idle connections survived")
    return {"connections": args.idle_conns, "rss_before": before, "rss_after": after}


async def deflate_memory(args) -> dict:
    """Server RSS growth per connection that has exchanged one compressed message.

    The offer is a browser's (``permessage-deflate; client_max_window_bits``: context
    takeover both ways), so the server has to keep whatever its compressor and inflater
    hold between messages.
    """
    counter = Counter()
    doc = json_document()
    frame = client_frame(OP_TEXT, deflate_message(doc), rsv1=True)
    headers = {"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"}

    def make():
        return EchoDriver(counter, frame, doc, 1, compressed=True)

    warm = await open_drivers(args.port, 10, make, extra_headers=headers)
    for d in warm:
        d.start()
    while counter.messages < 10 and not any(d.error for d in warm):
        await asyncio.sleep(0.01)
    await close_all(warm)
    await asyncio.sleep(0.3)
    before = rss_bytes(args.server_pid)
    conns = await open_drivers(args.port, args.idle_conns, make, extra_headers=headers)
    agreed = conns[0].ws.response.headers.get("Sec-WebSocket-Extensions", "")
    if "permessage-deflate" not in agreed:
        raise RuntimeError("server did not negotiate permessage-deflate")
    target = counter.messages + len(conns)
    for d in conns:
        d.start()
        d.running = False  # one message each: the echo is not answered
    while counter.messages < target and not any(d.error for d in conns):
        await asyncio.sleep(0.01)
    await asyncio.sleep(max(0.2, args.warmup))
    after = rss_bytes(args.server_pid)
    errors = [d.error for d in conns if d.error]
    alive = sum(not d.ws.is_disconnected for d in conns)
    await close_all(conns)
    if errors:
        raise RuntimeError(f"{len(errors)} connection(s) failed: {errors[0]}")
    if alive != args.idle_conns:
        raise RuntimeError(f"only {alive} of {args.idle_conns} connections survived")
    return {"connections": args.idle_conns, "rss_before": before, "rss_after": after}


SCENARIOS = {
    "text32": lambda a: stream(a, conns=1, in_flight=128, opcode=OP_TEXT, payload=b"x" * 32),
    "rr1": lambda a: stream(a, conns=1, in_flight=1, opcode=OP_TEXT, payload=b"x" * 32),
    "rr100": lambda a: stream(a, conns=100, in_flight=1, opcode=OP_TEXT, payload=b"x" * 32),
    "bin1k": lambda a: stream(
        a, conns=1, in_flight=128, opcode=OP_BINARY, payload=os.urandom(1024)
    ),
    "bin1m": lambda a: stream(a, conns=1, in_flight=4, opcode=OP_BINARY, payload=os.urandom(2**20)),
    "handshake": handshake,
    "idle": idle_memory,
    "dmem": deflate_memory,
    "deflate": lambda a: stream(
        a, conns=1, in_flight=32, opcode=OP_TEXT, payload=json_document(), compressed=True
    ),
}


def attempt(args) -> dict:
    """One scenario on a fresh event loop; failures become ``{"error": ...}``."""
    try:
        return run_loop(SCENARIOS[args.scenario](args))
    except Exception as exc:  # reported to the harness, which decides what to do
        return {"error": f"{type(exc).__name__}: {exc}"}


def serve_requests() -> None:
    """``--worker``: one JSON request per line on stdin, one JSON result per line out.

    The harness keeps one worker for a whole run, so a measurement does not pay for a
    Python start-up (most of a smoke run's time on a busy machine).
    """
    for line in sys.stdin:
        print(json.dumps(attempt(argparse.Namespace(**json.loads(line)))), flush=True)
        gc.collect()  # this scenario's garbage is not collected in the next one's window


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", choices=SCENARIOS)
    parser.add_argument("--worker", action="store_true", help="take requests on stdin")
    parser.add_argument("--port", type=int)
    parser.add_argument("--server-pid", type=int)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--idle-conns", type=int, default=1000)
    args = parser.parse_args(argv)
    if args.worker:
        return serve_requests()
    if not (args.scenario and args.port and args.server_pid):
        parser.error("SCENARIO, --port and --server-pid are required without --worker")
    result = attempt(args)
    print(json.dumps(result))
    sys.exit(1 if "error" in result else 0)


if __name__ == "__main__":
    main()
