"""Every example in the README and docs is a file under docs/examples, and it runs.

Servers start as child processes on free loopback ports; clients run against them as
child processes too, exactly as a reader would run them. Nothing waits on the wall clock:
each step waits for the line a program prints, or for its exit.
"""

from __future__ import annotations

import os
import re
import socket
import sys
from pathlib import Path
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.utils import getProcessOutputAndValue
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
TWISTD = "from twisted.scripts.twistd import run; run()"


def environment(**extra: str) -> dict[str, str]:
    """The child's environment: this checkout's ``bws`` first, examples importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(EXAMPLES)])
    env.update(extra)
    return env


def freePort() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess(ProcessProtocol):
    """A server program; ``ready`` fires with the first output line matching ``pattern``."""

    def __init__(self, pattern: str) -> None:
        self.pattern = re.compile(pattern)
        self.ready: Deferred[str] = Deferred()
        self.ended: Deferred[None] = Deferred()
        self.output = b""

    def outReceived(self, data: bytes) -> None:
        self.output += data
        lines = self.output[:self.output.rfind(b"\n") + 1]   # whole lines only
        match = self.pattern.search(lines.decode("utf-8", "replace"))
        if match and not self.ready.called:
            self.ready.callback(match.group(0))

    errReceived = outReceived

    def processEnded(self, reason: Failure) -> None:
        if not self.ready.called:
            self.ready.errback(AssertionError(
                f"the server exited before it was ready: {self.output.decode(errors='replace')}"))
        self.ended.callback(None)


class ExampleProcesses(TestCase):
    """Runs example programs as a reader runs them; the test classes below use it."""

    def startServer(self, args: list[str], pattern: str, path: Path = EXAMPLES,
                    env: dict[str, str] | None = None) -> Deferred[str]:
        server = ServerProcess(pattern)
        transport = reactor.spawnProcess(  # type: ignore[attr-defined]
            server, sys.executable, [sys.executable, *args], env=env or environment(),
            path=str(path))

        def stop() -> Deferred[None]:
            if not server.ended.called:
                transport.signalProcess("TERM")
            return server.ended

        self.addCleanup(stop)
        return server.ready

    @inlineCallbacks
    def runExample(self, *args: str, path: Path = EXAMPLES, exitCode: int = 0) -> Any:
        """Run a program to its end: its output, or its error output when it should fail."""
        out, err, code = yield getProcessOutputAndValue(
            sys.executable, list(args), env=environment(), path=str(path), stdinBytes=b"")
        self.assertEqual(code, exitCode, (out + err).decode("utf-8", "replace"))
        return (out if exitCode == 0 else err).decode("utf-8")


def pageText(name: str) -> str:
    """A docs page, its whitespace runs made single spaces (messages wrap across lines)."""
    return " ".join((DOCS / name).read_text("utf-8").split())


class ExampleRunTests(ExampleProcesses):
    """The example programs, run as a reader runs them."""

    @inlineCallbacks
    def test_readmeServiceAndClient(self) -> Any:
        """The README's service serves the README's client."""
        line = yield self.startServer(["echo_service.py", "0"], r"ws://127\.0\.0\.1:\d+/echo")
        self.assertEqual((yield self.runExample("echo_client.py", line)), "hello\n")

    @inlineCallbacks
    def test_clientsAgainstTwistdBws(self) -> Any:
        """The client guide's three styles talk to ``twistd -n bws``, as written."""
        port = freePort()
        yield self.startServer(
            ["-c", TWISTD, "-n", "--pidfile=", "bws", "--port", str(port), "--host",
             "127.0.0.1"], r"Site.* starting on|starting on \d+")
        url = f"ws://127.0.0.1:{port}/basic/ws"
        self.assertEqual((yield self.runExample("client_deferred.py", url)), "Text message\n")
        self.assertEqual((yield self.runExample("client_async.py", url)), "Coord(x=1, y=2)\n")
        self.assertEqual((yield self.runExample("client_sync.py", url)),
                         "Text message\nBinary message\n")

    @inlineCallbacks
    def test_chatWithTwistd(self) -> Any:
        """The quickstart's ``twistd -n bws --service chat:Rooms`` from the folder of
        chat.py, and its own-program variant, serve the rooms."""
        port = freePort()
        yield self.startServer(
            ["-c", TWISTD, "-n", "--pidfile=", "bws", "--service", "chat:Rooms", "--path",
             "/rooms/{room}", "--port", str(port), "--host", "127.0.0.1"],
            r"Site.* starting on|starting on \d+")
        out = yield self.runExample("echo_client.py", f"ws://127.0.0.1:{port}/rooms/lobby")
        self.assertEqual(out, "lobby: hello\n")
        line = yield self.startServer(["chat_program.py", "0"], r"ws://127\.0\.0\.1:\d+")
        out = yield self.runExample("echo_client.py", line + "/rooms/kitchen")
        self.assertEqual(out, "kitchen: hello\n")

    @inlineCallbacks
    def test_testingGuide(self) -> Any:
        """The testing guide's trial module passes."""
        out = yield self.runExample("-m", "twisted.trial", "test_chat")
        self.assertIn("PASSED", out)

    @inlineCallbacks
    def test_bindingGuide(self) -> Any:
        """The data binding guide's client gets from its services the answers the page
        describes: records bound both ways, validation failures, close frames, dispatch."""
        line = yield self.startServer(["binding_service.py", "0"], r"ws://127\.0\.0\.1:\d+")
        out = yield self.runExample("binding_client.py", line)
        self.assertEqual(out.splitlines(), [
            "Plotted(plotted=[1, 2])",
            "data validation failed: $.y: Input should be greater than or equal to 0: "
            "Status code: 1003",
            "2 seats in lobby",
            "data validation failed: $.seats: Input should be greater than or equal to 0",
            "data binding failed: $.seats: Field required",
            "data binding failed: Invalid JSON: expected value at line 1 column 1",
            "all is well",
            "Connection closed Status code: 1000",
            "not allowed: Status code: 4003",
            '{"type":"connection_ack"}',
            '{"type":"pong"}',
            '{"type":"complete","id":"1"}',
            "invalid subscribe message: Status code: 4400",
        ])
        page = pageText("binding.rst")
        for said in [out.splitlines()[i] for i in (0, 1, 3, 4)]:
            self.assertTrue(said in page, f"binding.rst does not say {said!r}")


class PagesTests(SynchronousTestCase):
    """Pages show files, not code of their own."""

    def test_readmeBlocksAreExamples(self) -> None:
        """Each python block of the README is, character for character, an example file."""
        readme = (ROOT / "README.md").read_text("utf-8")
        blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
        self.assertTrue(blocks)
        files = {p.read_text("utf-8") for p in EXAMPLES.glob("*.py")}
        for block in blocks:
            self.assertIn(block, files)

    def test_docsShowNoInlinePython(self) -> None:
        """No docs page holds Python of its own, in a code block or a ``::`` literal block:
        examples are included files."""
        python = re.compile(r"^\s*(import \w|from [\w.]+ import |(async )?def \w|class \w|@\w"
                            r"|yield |await |\w+ = \w+\()", re.M)
        for page in DOCS.glob("*.rst"):
            text = page.read_text("utf-8")
            self.assertNotRegex(
                text, r"\.\. (code-block|code|sourcecode|highlight)::\s*(python|py|pycon)",
                page.name)
            for block in re.findall(r"::\n\n((?:[ \t]+.*\n|\n)+)", text):   # literal blocks
                self.assertNotRegex(block, python, page.name)

    def test_includedFilesExist(self) -> None:
        """Every ``literalinclude`` names a file that exists."""
        for page in (ROOT / "docs").glob("*.rst"):
            for name in re.findall(r"literalinclude:: (\S+)", page.read_text("utf-8")):
                self.assertTrue((page.parent / name).is_file(), f"{page.name}: {name}")

