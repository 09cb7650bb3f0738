# -*- test-case-name: tests.integration.test_browser -*-
"""Real headless Chromium against ``twistd bws`` and the browser guide's service.

The page is the documented one (docs/examples/browser_page.html and .js), served by the
guide's own site (docs/examples/browser_service.py) in this process, with one resource of
the test's added: the page POSTs each check's outcome to ``/report`` as JSON, and the test
waits on a Deferred per check. That needs no DevTools client and no second protocol: the
browser is started with the page's URL and nothing else, as a reader opens it, and what
the page reports is exactly what its JavaScript saw. The server side is checked where it
can be seen: the echo itself, twistd's own limits (a frame over them closes 1009), and the
service's log events (``onClose``'s code and reason, the open with its subprotocol, the
refusal with its status), and the compression flag of the connection a check opened.
One Chromium per test (three in all), each running several checks in one page load: a
Chromium start costs about as much as all the checks of a page.

Every wait is on an event (twistd's start-up line, a POST from the page) with a generous
reactor-based bound that fails the test; Chromium and twistd are stopped and reaped in the
cleanups.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import sys
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlencode

import treq
from twisted.internet import reactor
from twisted.internet.defer import (
    Deferred,
    FirstError,
    gatherResults,
    inlineCallbacks,
    succeed,
)
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import globalLogPublisher
from twisted.protocols.policies import WrappingFactory
from twisted.python.failure import Failure
from twisted.trial.unittest import SkipTest, TestCase
from twisted.web.client import HTTPConnectionPool
from twisted.web.resource import Resource
from twisted.web.server import Request, Site
from zope.interface import implementer

import bws
from bws.interfaces import IUpgradeService
from bws.testing.echo import EchoService, EchoUpgradeService

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"
CHROMIUM = "/usr/bin/chromium"
TWISTD = ["-c", "from twisted.scripts.twistd import run; run()"]
SERVING = re.compile(r"bws: serving \S+ at (ws://\S+) \(path \S+\)")
#: Seconds a page may take for all its checks before the test fails (a bound for a test
#: gone wrong, generous for a loaded machine; nothing waits for it to pass).
BOUND = 120.0
#: Seconds Chromium gets to exit after SIGTERM before it is killed.
EXIT_BOUND = 30.0
#: What the page's ``large`` check sends and the page's ``tooLarge`` check.
MiB = 1024 * 1024


def loadExample(name: str) -> ModuleType:
    """A docs example module, imported from its file (docs/examples is no package)."""
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def consoleCommands(program: str) -> list[list[str]]:
    """The ``$ program ...`` commands of docs/browsers.rst, continuation lines joined."""
    text = (ROOT / "docs" / "browsers.rst").read_text("utf-8")
    commands = []
    for block in re.findall(r"code-block:: console\n\n((?: {3}.*\n|\n)+)", text):
        for line in re.sub(r"\\\n\s*", "", block).splitlines():
            words = shlex.split(line)
            if words[:2] == ["$", program]:
                commands.append(words[2:])
    return commands


def pageText() -> str:
    """docs/browsers.rst, its whitespace runs made single spaces."""
    return " ".join((ROOT / "docs" / "browsers.rst").read_text("utf-8").split())


class Output(ProcessProtocol):
    """A child process: its output (the last 64 KiB), ``ended`` when it is reaped, and
    ``ready`` with the first match of ``pattern`` in its output (if one is given)."""

    def __init__(self, name: str, pattern: re.Pattern[str] | None = None) -> None:
        self.name = name
        self.pattern = pattern
        self.ready: Deferred[str] = Deferred()
        self.ended: Deferred[None] = Deferred()
        self.output = ""
        self.status: Failure | None = None

    def outReceived(self, data: bytes) -> None:
        self.output = (self.output + data.decode("utf-8", "replace"))[-65536:]
        if self.pattern is not None and not self.ready.called:
            match = self.pattern.search(self.output)
            if match:
                self.ready.callback(match.group(1))

    errReceived = outReceived

    def processEnded(self, reason: Failure) -> None:
        self.status = reason
        if self.pattern is not None and not self.ready.called:
            self.ready.errback(AssertionError(
                f"{self.name} exited: {reason.value}\n{self.output}"))
        self.ended.callback(None)


class Reports(Resource):
    """``POST /report``: the page's outcome of one check, ``{index, check, url, result}``."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.results: dict[int, dict[str, Any]] = {}
        self.waiting: dict[int, Deferred[dict[str, Any]]] = {}

    def render_POST(self, request: Request) -> bytes:
        assert request.content is not None
        report = json.loads(request.content.read())
        index = int(report["index"])
        self.results[index] = report
        waiting = self.waiting.pop(index, None)
        if waiting is not None and not waiting.called:  # (called: timed out and cancelled)
            waiting.callback(report)
        request.setHeader(b"content-type", b"application/json")
        return b"{}"

    def report(self, index: int) -> Deferred[dict[str, Any]]:
        """The report of check ``index``, once the page has sent it."""
        if index in self.results:
            d: Deferred[dict[str, Any]] = Deferred()
            d.callback(self.results[index])
            return d
        return self.waiting.setdefault(index, Deferred())

    def failWaiting(self, error: Exception) -> None:
        """The page will report nothing more (its browser is gone)."""
        waiting, self.waiting = self.waiting, {}
        for d in waiting.values():
            if not d.called:
                d.errback(error)


@implementer(IUpgradeService)
class Recorder(EchoUpgradeService):
    """The echo, noting for each connection whether permessage-deflate was agreed (the
    connection's own flag: the server's side of what the page reads in ``ws.extensions``)."""

    def __init__(self) -> None:
        super().__init__()
        self.compressed: list[bool] = []

    def get(self, request: Any) -> Any:
        recorder = self

        class Noting(EchoService):
            def onOpen(self, caller: Any) -> None:
                recorder.compressed.append(caller._connection.compressed)

        return Noting()


class Connections(WrappingFactory):
    """The page site's factory: it keeps its connections (HTTP, and WebSocket after an
    upgrade), to drop those left at the end."""

    noisy = False

    def __init__(self, site: Site) -> None:
        super().__init__(site)
        self.allGone: list[Deferred[None]] = []

    def unregisterProtocol(self, protocol: Any) -> None:
        super().unregisterProtocol(protocol)
        if not self.protocols:
            waiting, self.allGone = self.allGone, []
            for d in waiting:
                d.callback(None)

    def dropAll(self) -> Deferred[None]:
        """Abort every connection left; fires once each one's ``connectionLost`` ran."""
        if not self.protocols:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self.allGone.append(d)
        for protocol in list(self.protocols):
            protocol.transport.abortConnection()
        return d


class BrowserTests(TestCase):
    """The documented page in headless Chromium, each check seen from both sides."""

    timeout = 2 * BOUND + 60

    def setUp(self) -> None:
        if not os.access(CHROMIUM, os.X_OK):
            raise SkipTest(f"{CHROMIUM} is absent (Debian's chromium package; .ci/run "
                           "installs it)")
        self.example = loadExample("browser_service")
        self.events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    # -- servers --------------------------------------------------------------------

    @inlineCallbacks
    def servePage(self) -> Any:
        """The guide's site on 127.0.0.1 (the page, and its service at /ws for the page's
        origin), plus the test's ``/report``, a service at ``/elsewhere`` that admits
        another origin only, the plain echo (no subprotocol) at ``/plain``, and the echo
        that notes compression at ``/recorded``."""
        root = self.example.pageResource()
        self.reports = Reports()
        root.putChild(b"report", self.reports)
        site = Site(root)
        site.noisy = False
        connections = Connections(site)
        port = reactor.listenTCP(  # type: ignore[attr-defined]
            0, connections, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.origin = f"http://127.0.0.1:{port.getHost().port}"
        listener = bws.Listener(site)
        listener.attach(self.example.pageUpgrade(self.origin), "/ws")
        listener.attach(self.example.pageUpgrade("https://elsewhere.example"), "/elsewhere")
        listener.attach(EchoUpgradeService(), "/plain")
        self.recorder = Recorder()
        listener.attach(self.recorder, "/recorded")
        yield listener.start()

        self.addCleanup(connections.dropAll)  # after Chromium is gone: what it left open
        self.addCleanup(listener.immediateStop)
        return self.origin.replace("http:", "ws:")

    def startTwistd(self, argv: list[str]) -> Deferred[str]:
        """``twistd -n --pidfile= bws argv`` on a port the OS picks; its ws:// URL once it
        logs it."""
        self.assertEqual(argv[:3], ["-n", "--pidfile=", "bws"])
        process = Output("twistd bws", SERVING)
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        transport = reactor.spawnProcess(  # type: ignore[attr-defined]
            process, sys.executable,
            [sys.executable, *TWISTD, *argv, "--port", "0", "--host", "127.0.0.1"],
            env=env, path=str(ROOT))

        def stop() -> Deferred[None]:
            if not process.ended.called:
                transport.signalProcess("TERM")
            return process.ended

        self.addCleanup(stop)
        return process.ready

    # -- the browser ----------------------------------------------------------------

    def startChromium(self, url: str) -> Output:
        """Headless Chromium showing ``url``, stopped (TERM, then KILL) and reaped at
        cleanup."""
        profile = Path(self.mktemp()).resolve()
        profile.mkdir(parents=True)
        browser = Output("chromium")
        args = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
                f"--user-data-dir={profile}", "--no-first-run", "--no-default-browser-check",
                "--disable-background-networking", "--disable-component-update",
                "--disable-breakpad", "--disable-crash-reporter", "--disable-dev-shm-usage",
                "--enable-logging=stderr", "--v=0", url]
        transport = reactor.spawnProcess(  # type: ignore[attr-defined]
            browser, CHROMIUM, args, env=dict(os.environ), path=str(profile))

        def stop() -> Deferred[None]:
            if browser.ended.called:
                return browser.ended
            transport.signalProcess("TERM")
            killer = reactor.callLater(  # type: ignore[attr-defined]
                EXIT_BOUND, lambda: transport.signalProcess("KILL"))

            def reaped(_: None) -> None:
                if killer.active():
                    killer.cancel()

            return browser.ended.addCallback(reaped)

        self.addCleanup(stop)
        browser.ended.addCallback(lambda _: self.reports.failWaiting(AssertionError(
            f"chromium exited before the page reported: {browser.status}\n"
            f"{browser.output}")))
        return browser

    @inlineCallbacks
    def runPage(self, checks: list[tuple[str, str]]) -> Any:
        """Open the page with ``checks`` (check name, WebSocket URL) in Chromium; the
        ``result`` of each, in order, once the page has POSTed them all."""
        query = urlencode([("report", "/report"), *checks], safe=":/")
        browser = self.startChromium(f"{self.origin}/?{query}")
        waiting = gatherResults([self.reports.report(i) for i in range(len(checks))],
                                consumeErrors=True)
        waiting.addTimeout(BOUND, reactor)
        try:
            reports = yield waiting
        except Exception as e:
            got = {i: self.reports.results[i] for i in sorted(self.reports.results)}
            if isinstance(e, FirstError):
                e = e.subFailure.value
            self.fail(f"the page reported {len(got)} of {len(checks)} checks within {BOUND} s "
                      f"({e!r}): {got}\nchromium said:\n{browser.output}")
        self.assertEqual([(r["check"], r["url"]) for r in reports], checks)
        return [r["result"] for r in reports]

    def logged(self, **fields: Any) -> list[dict[str, Any]]:
        """The log events that have all of ``fields``."""
        return [e for e in self.events
                if all(e.get(k, object()) == v for k, v in fields.items())]

    # -- the cases ------------------------------------------------------------------

    @inlineCallbacks
    def test_twistdWithRaisedLimits(self) -> Any:
        """The guide's ``twistd bws`` with raised limits: text and binary (an ArrayBuffer)
        echoed, permessage-deflate agreed, and 1 MiB that does not compress echoed."""
        [raised] = [c for c in consoleCommands("twistd") if "--max-frame-size" in c]
        url = yield self.startTwistd(raised)
        yield self.servePage()
        text, binary, large = yield self.runPage(
            [("text", url), ("binary", url), ("large", url)])
        self.assertEqual(
            {k: text[k] for k in ("echoed", "type", "close")},
            {"echoed": True, "type": "string",
             "close": {"code": 1000, "reason": "", "wasClean": True}}, text)
        self.assertTrue(text["extensions"].startswith("permessage-deflate"), text)
        self.assertEqual(binary["type"], "ArrayBuffer", binary)
        self.assertTrue(binary["echoed"], binary)
        self.assertTrue(large["echoed"], large)
        self.assertEqual(large["close"]["code"], 1000, large)

    @inlineCallbacks
    def test_twistdDefaults(self) -> Any:
        """The guide's plain ``twistd bws`` (64 KiB frames): 100 KiB that does not
        compress is one frame too large, closed 1009 with a reason the guide shows; 512 KiB
        of text that compresses well passes (the limit counts deflated bytes on the wire,
        and the server inflated every frame)."""
        [plain] = [c for c in consoleCommands("twistd") if c == ["-n", "--pidfile=", "bws"]]
        url = yield self.startTwistd(plain)
        yield self.servePage()
        tooLarge, compressible = yield self.runPage(
            [("tooLarge", url), ("compressible", url)])
        self.assertEqual(tooLarge["code"], 1009, tooLarge)
        self.assertTrue(tooLarge["wasClean"], tooLarge)
        self.assertIn(f"``{tooLarge['reason']}``", pageText(), "the guide shows the reason")
        self.assertTrue(compressible["echoed"], compressible)
        self.assertTrue(compressible["extensions"].startswith("permessage-deflate"),
                        compressible)

    @inlineCallbacks
    def test_service(self) -> Any:
        """The guide's service, on the page's own site: closes both ways with code and
        reason, the subprotocol, and an Origin it refuses; permessage-deflate as the server
        agreed it."""
        ws = yield self.servePage()
        pageClose, serverClose, chat, plainChat, refused, text = yield self.runPage([
            ("pageClose", f"{ws}/ws"), ("serverClose", f"{ws}/ws"), ("chat", f"{ws}/ws"),
            ("chat", f"{ws}/plain"), ("refused", f"{ws}/elsewhere"),
            ("text", f"{ws}/recorded")])
        # permessage-deflate: the page reads the server's answer, the server agreed to it.
        self.assertTrue(text["echoed"], text)
        # Chromium leaves client_max_window_bits open; bws asks it for an 11-bit window
        # (RFC 7692 §7.1.2.2), which keeps a connection's inflate state small.
        self.assertEqual(text["extensions"], "permessage-deflate; client_max_window_bits=11")
        self.assertEqual(self.recorder.compressed, [True])
        # The page closes 4000: onClose has its code and reason; the page sees them echoed.
        self.assertEqual(pageClose, {"code": 4000, "reason": "the page is done",
                                     "wasClean": True})
        closes = [(e["statusCode"], e["reason"])
                  for e in self.logged(log_logger=self.example.log)]
        self.assertIn((4000, "the page is done"), closes)
        # The server closes 4001: the page's CloseEvent has its code and reason.
        self.assertEqual(serverClose, {"code": 4001, "reason": "the server is done",
                                       "wasClean": True})
        # "chat" is agreed where the service lists it (both sides say so) ...
        self.assertEqual(chat, {"opened": True, "protocol": "chat",
                                "close": {"code": 1000, "reason": "", "wasClean": True}})
        self.assertTrue(self.logged(wsEvent="open", path="/ws", subProtocol="chat"))
        # ... and a server that chooses none is failed by the browser: 1006, as a refusal.
        self.assertEqual({k: plainChat[k] for k in ("opened", "code", "wasClean")},
                         {"opened": False, "code": 1006, "wasClean": False}, plainChat)
        # An Origin outside allowedOrigins: 403 on the server, an error event and 1006 in
        # the page, which is shown no status.
        self.assertEqual(refused, {"opened": False, "error": True, "code": 1006,
                                   "reason": "", "wasClean": False})
        self.assertEqual([e["status"] for e in self.logged(wsEvent="refused",
                                                           path="/elsewhere")], [403])


class ServiceProgramTests(TestCase):
    """``browser_service.py`` run as the guide says: it serves the page and the service on
    one port, and the URL it prints runs checks that the page has."""

    @inlineCallbacks
    def test_program(self) -> Any:
        [command] = consoleCommands("python")
        self.assertEqual(command, ["docs/examples/browser_service.py", "8080"])
        program = Output("browser_service.py", re.compile(r"open (http://\S+)\n"))
        transport = reactor.spawnProcess(  # type: ignore[attr-defined]
            program, sys.executable, [sys.executable, command[0], "0"],
            env=dict(os.environ, PYTHONPATH=str(ROOT)), path=str(ROOT))

        def stop() -> Deferred[None]:
            if not program.ended.called:
                transport.signalProcess("TERM")
            return program.ended

        self.addCleanup(stop)
        url = yield program.ready
        origin, _, query = url.partition("/?")
        ws = origin.replace("http:", "ws:") + "/ws"
        page = yield treq.get(url, pool=HTTPConnectionPool(reactor, persistent=False))
        self.assertEqual(page.code, 200)
        self.assertIn(b'<script src="browser_page.js"', (yield page.content()))
        script = (EXAMPLES / "browser_page.js").read_text("utf-8")
        for name, value in parse_qsl(query):
            self.assertEqual(value, ws)
            self.assertRegex(script, rf"\n  (async )?{name}\(url\) {{")
        client = yield bws.Client.connect(ws, customHeaders={"Origin": origin})
        yield client.writeTextMessage("hello")
        self.assertEqual((yield client.readTextMessage()), "hello")
        yield client.close()
        with self.assertRaises(bws.InvalidHandshakeError) as refused:
            yield bws.Client.connect(ws, customHeaders={"Origin": "https://elsewhere.example"})
        self.assertIn("403", str(refused.exception))
