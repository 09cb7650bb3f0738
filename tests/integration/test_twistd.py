"""``twistd -n --pidfile= bws`` as a child process: it fails as ``twistd web`` does, in one
line and with exit status 1, or logs the URL of each listener and serves on all of them."""

from __future__ import annotations

import os
import re
import socket
import sys
from pathlib import Path
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults, inlineCallbacks
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.threads import deferToThread
from twisted.internet.utils import getProcessOutputAndValue
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[2]
TWISTD = ["-c", "from twisted.scripts.twistd import run; run()", "-n", "--pidfile=", "bws"]
SERVING = re.compile(r"bws: serving (\S+) at (wss?://\S+) \(path (\S+)\)")


def environment() -> dict[str, str]:
    """This checkout's ``bws`` first."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    return env


class Twistd(ProcessProtocol):
    """A running ``twistd bws``; ``ready`` fires with the URLs once ``count`` are logged."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.ready: Deferred[list[str]] = Deferred()
        self.ended: Deferred[None] = Deferred()
        self.output = ""

    def outReceived(self, data: bytes) -> None:
        self.output += data.decode("utf-8", "replace")
        found = SERVING.findall(self.output)
        if len(found) >= self.count and not self.ready.called:
            self.ready.callback([url for _, url, _ in found])

    errReceived = outReceived

    def processEnded(self, reason: Failure) -> None:
        if not self.ready.called:
            self.ready.errback(AssertionError(f"twistd bws exited: {self.output}"))
        self.ended.callback(None)


def echo(url: str, text: str) -> str:
    with connect(url) as ws:
        ws.send(text)
        return str(ws.recv())


class TwistdTests(TestCase):
    """``twistd bws`` run as a user runs it."""

    def takenPort(self) -> int:
        taken = socket.socket()
        self.addCleanup(taken.close)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        return int(taken.getsockname()[1])

    @inlineCallbacks
    def fails(self, *argv: str) -> Any:
        """Run ``twistd bws argv`` to its end: it exits 1; its output, stripped."""
        out, err, code = yield getProcessOutputAndValue(
            sys.executable, [*TWISTD, *argv], env=environment(), path=str(ROOT))
        output = (out + err).decode("utf-8", "replace").strip()
        self.assertEqual(code, 1, output)
        return output

    def start(self, *argv: str, count: int = 1) -> Deferred[list[str]]:
        process = Twistd(count)
        transport = reactor.spawnProcess(  # type: ignore[attr-defined]
            process, sys.executable, [sys.executable, *TWISTD, *argv], env=environment(),
            path=str(ROOT))

        def stop() -> Deferred[None]:
            if not process.ended.called:
                transport.signalProcess("TERM")
            return process.ended

        self.addCleanup(stop)
        return process.ready

    @inlineCallbacks
    def test_portTaken(self) -> Any:
        """A port already taken: exit 1 with one line naming the address and the reason."""
        port = self.takenPort()
        output = yield self.fails("--port", str(port), "--host", "127.0.0.1")
        self.assertEqual(output, f"twistd bws: cannot listen on 127.0.0.1:{port} "
                                 "(--host/--port): Address already in use")

    @inlineCallbacks
    def test_listenTaken(self) -> Any:
        """A --listen endpoint already taken: exit 1 with one line naming it."""
        port = self.takenPort()
        output = yield self.fails("--listen", f"tcp:{port}:interface=127.0.0.1")
        self.assertEqual(output.splitlines(), [
            f"twistd bws: cannot listen on --listen tcp:{port}:interface=127.0.0.1: "
            "Address already in use"])

    @inlineCallbacks
    def test_hostNotAnAddress(self) -> Any:
        """--host 999.1.1.1: exit 1 with one line naming the address and --host."""
        output = yield self.fails("--port", "0", "--host", "999.1.1.1")
        self.assertEqual(len(output.splitlines()), 1, output)
        self.assertIn("cannot listen on 999.1.1.1:0 (--host/--port)", output)

    @inlineCallbacks
    def test_badOptionLastLine(self) -> Any:
        """A bad value: exit 1, no traceback, the last line names the option (twistd prints
        the usage above it, as for every plugin)."""
        output = yield self.fails("--port", "70000")
        self.assertNotIn("Traceback", output)
        self.assertIn("--port: must be 0..65535, got 70000", output.splitlines()[-1])

    @inlineCallbacks
    def test_startupLine(self) -> Any:
        """The start-up log names the service and the ws:// URL it is served at."""
        urls = yield self.start("--port", "0", "--host", "127.0.0.1", "--path", "/echo")
        [url] = urls
        self.assertRegex(url, r"^ws://127\.0\.0\.1:\d+/echo$")
        self.assertEqual((yield deferToThread(echo, url, "hello")), "hello")

    @inlineCallbacks
    def test_twoListeners(self) -> Any:
        """Two --listen: two start-up lines, and both listeners echo."""
        urls = yield self.start("--listen", "tcp:0:interface=127.0.0.1",
                                "--listen", "tcp:0:interface=127.0.0.1", count=2)
        self.assertEqual(len(set(urls)), 2)
        answers = yield gatherResults([deferToThread(echo, url, url) for url in urls])
        self.assertEqual(answers, urls)
