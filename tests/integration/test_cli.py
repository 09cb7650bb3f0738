"""``python -m bws`` run as a reader runs it: a child process against ``twistd -n bws`` and
against bws Listeners started in the test, plain and TLS.

Every step waits for a process's output line or its exit, never on the wall clock.
"""

from __future__ import annotations

import os
import re
import socket
import sys
from pathlib import Path
from typing import Any

import trustme
from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.protocol import ProcessProtocol
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase
from zope.interface import implementer

import bws
from bws.config import WSServiceConfig, setServiceConfig
from bws.testing.echo import EchoUpgradeService
from bws.tls import CertKey, ListenerSecureSocket, MutualSsl

ROOT = Path(__file__).resolve().parents[2]
TWISTD = "from twisted.scripts.twistd import run; run()"
PONG = re.compile(r"^< pong: hi \(\d+\.\d ms\)$", re.M)


def environment() -> dict[str, str]:
    """The child's environment: this checkout's ``bws`` first."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    return env


def freePort() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Child(ProcessProtocol):
    """A child process: ``ready`` fires with the first output matching ``pattern``,
    ``ended`` with ``(stdout, stderr, exit status)``."""

    def __init__(self, pattern: str | None = None) -> None:
        self.pattern = re.compile(pattern) if pattern else None
        self.ready: Deferred[str] = Deferred()
        self.ended: Deferred[tuple[str, str, int]] = Deferred()
        self.out = b""
        self.err = b""
        self._lineWaits: list[tuple[int, Deferred[None]]] = []

    def outReceived(self, data: bytes) -> None:
        self.out += data
        self._check()
        count = self.out.count(b"\n")
        for wait in [w for w in self._lineWaits if w[0] <= count]:
            self._lineWaits.remove(wait)
            wait[1].callback(None)

    def linesOut(self, count: int) -> Deferred[None]:
        """Fires once standard output holds ``count`` whole lines."""
        d: Deferred[None] = Deferred()
        if self.out.count(b"\n") >= count:
            d.callback(None)
        else:
            self._lineWaits.append((count, d))
        return d

    def errReceived(self, data: bytes) -> None:
        self.err += data
        self._check()

    def _check(self) -> None:
        if self.pattern is None or self.ready.called:
            return
        match = self.pattern.search((self.out + self.err).decode("utf-8", "replace"))
        if match:
            self.ready.callback(match.group(0))

    def processEnded(self, reason: Failure) -> None:
        code = getattr(reason.value, "exitCode", None)
        out, err = self.out.decode("utf-8", "replace"), self.err.decode("utf-8", "replace")
        if self.pattern is not None and not self.ready.called:
            self.ready.errback(AssertionError(f"the process exited first: {out}{err}"))
        self.ended.callback((out, err, code if code is not None else -1))


@implementer(bws.IService)
class Bench:
    """Answers what a test asks for: ``header NAME`` (the upgrade request's header),
    ``binary N`` (N bytes 0, 1, 2, ...), ``close CODE REASON`` (closes first); anything
    else comes back as it came."""

    def __init__(self, request: bws.UpgradeRequest) -> None:
        self.request = request

    def onTextMessage(self, caller: bws.ICaller, text: str) -> Any:
        verb, _, rest = text.partition(" ")
        if verb == "header":
            return self.request.getHeader(rest) or "(none)"
        if verb == "binary":
            return bytes(i % 256 for i in range(int(rest)))
        if verb == "close":
            code, _, reason = rest.partition(" ")
            caller.close(int(code), reason)
            return None
        return text

    def onBinaryMessage(self, caller: bws.ICaller, data: bytes) -> bytes:
        return data


@implementer(bws.IUpgradeService)
class BenchUpgrade:
    """Serves :class:`Bench`; ``refuse`` makes it refuse every upgrade."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse

    def get(self, request: bws.UpgradeRequest) -> Bench:
        if self.refuse:
            raise bws.UpgradeError("the bench is closed")
        return Bench(request)


class CliTestCase(TestCase):
    """Runs ``python -m bws`` and servers as child processes or in-process listeners."""

    def runCli(self, *args: str, stdin: bytes = b"",
               endInput: bool = True) -> Deferred[tuple[str, str, int]]:
        """Run the client with ``stdin`` as its input, then the end of input (unless
        ``endInput`` is false: then the input stays open and the server must end it)."""
        child = Child()
        transport = reactor.spawnProcess(  # type: ignore[attr-defined]
            child, sys.executable, [sys.executable, "-m", "bws", *args], env=environment(),
            path=str(ROOT))
        if stdin:
            transport.write(stdin)
        if endInput:
            transport.closeStdin()
        return child.ended

    @inlineCallbacks
    def startListener(self, upgrade: Any, **config: Any) -> Any:
        listener = bws.Listener(0, host="127.0.0.1", **config)
        listener.attach(upgrade, "/")
        yield listener.start()
        self.addCleanup(listener.immediateStop)
        return listener.listeningPort

    @inlineCallbacks
    def startTwistd(self) -> Any:
        """``twistd -n --pidfile= bws`` (the echo service) on a free loopback port, stopped
        at cleanup; fires with the port once it logged "starting on"."""
        port = freePort()
        server = Child(r"starting on \d+")
        transport = reactor.spawnProcess(  # type: ignore[attr-defined]
            server, sys.executable,
            [sys.executable, "-c", TWISTD, "-n", "--pidfile=", "bws", "--port", str(port),
             "--host", "127.0.0.1"], env=environment(), path=str(ROOT))

        def stop() -> Deferred[Any]:
            if not server.ended.called:
                transport.signalProcess("TERM")
            return server.ended

        self.addCleanup(stop)
        yield server.ready
        return port

    def assertOneLine(self, err: str, *fragments: str) -> None:
        """``err`` is one line holding every fragment, and no traceback."""
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertNotIn("Traceback", err)
        for fragment in fragments:
            self.assertIn(fragment, err)


class TwistdTests(CliTestCase):
    """The client against ``twistd -n bws``'s echo service, both run as a reader runs them."""

    @inlineCallbacks
    def test_echoAgainstTwistd(self) -> Any:
        """Text lines, a binary message, a ping and a literal leading slash come back from
        ``twistd -n bws``; the end of input closes with 1000 and exit status 0."""
        port = yield self.startTwistd()
        out, err, code = yield self.runCli(
            f"ws://127.0.0.1:{port}/", stdin=b"hello\n/binary 00 ff 10\n/ping hi\n//etc\nbye")
        self.assertEqual(code, 0, err)
        self.assertEqual(err, "")
        lines = out.splitlines()
        self.assertEqual(lines[0], f"= connected to ws://127.0.0.1:{port}/ (permessage-deflate)")
        self.assertEqual(lines[1:3], ["< hello", "< binary (3 bytes): 00 ff 10"])
        self.assertRegex(lines[3], PONG)
        self.assertEqual(lines[4:], ["< /etc", "< bye",
                                     "= closed by client: code 1000 (normal closure)"])


class ListenerTests(CliTestCase):
    """The client against a bws Listener started in the test."""

    @inlineCallbacks
    def url(self, upgrade: Any = None, **config: Any) -> Any:
        port = yield self.startListener(upgrade or BenchUpgrade(), **config)
        return f"ws://127.0.0.1:{port}/"

    @inlineCallbacks
    def test_binaryPrinting(self) -> Any:
        """A short binary message is printed whole in hex; a long one as its length and
        first 32 bytes."""
        url = yield self.url()
        out, err, code = yield self.runCli(url, "--no-compression",
                                           stdin=b"binary 4\nbinary 1000\n")
        self.assertEqual(code, 0, err)
        self.assertEqual(out.splitlines()[1:3], [
            "< binary (4 bytes): 00 01 02 03",
            "< binary (1000 bytes): " + bytes(range(32)).hex(" ") + " ...",
        ])

    @inlineCallbacks
    def test_headersSeenByServer(self) -> Any:
        """``--header`` values reach the server's upgrade request; a repeated name is joined."""
        url = yield self.url()
        out, err, code = yield self.runCli(
            url, "-H", "X-Trace: abc 123", "--header", "Origin:https://example.com",
            "-H", "X-Many: 1", "-H", "x-many: 2",
            stdin=b"header X-Trace\nheader Origin\nheader X-Many\n")
        self.assertEqual(code, 0, err)
        self.assertEqual(out.splitlines()[1:4],
                         ["< abc 123", "< https://example.com", "< 1, 2"])

    @inlineCallbacks
    def test_authSeenByServer(self) -> Any:
        """``--auth basic:USER:file:PATH`` and ``--auth bearer:env:NAME`` reach the server as
        ``Authorization: Basic`` (RFC 7617) and ``Bearer`` (RFC 6750) headers."""
        url = yield self.url()
        secret = Path(self.mktemp()).resolve()
        secret.write_text("s3:cret\n", "utf-8")
        out, err, code = yield self.runCli(url, "--auth", f"basic:alice:file:{secret}",
                                           stdin=b"header Authorization\n")
        self.assertEqual(code, 0, err)
        self.assertEqual(out.splitlines()[1], "< Basic YWxpY2U6czM6Y3JldA==")
        os.environ["BWS_TEST_TOKEN"] = "abc.def"
        self.addCleanup(os.environ.pop, "BWS_TEST_TOKEN", None)
        out, err, code = yield self.runCli(url, "--auth", "bearer:env:BWS_TEST_TOKEN",
                                           stdin=b"header Authorization\n")
        self.assertEqual(out.splitlines()[1], "< Bearer abc.def")

    @inlineCallbacks
    def test_subprotocol(self) -> Any:
        """``--subprotocol`` is offered in order; the one the server chose is printed."""
        upgrade = BenchUpgrade()
        setServiceConfig(upgrade, WSServiceConfig(subProtocols=["chat.v2"]))
        url = yield self.url(upgrade)
        out, err, code = yield self.runCli(url, "-s", "chat.v1", "--subprotocol", "chat.v2",
                                           "--no-compression", stdin=b"")
        self.assertEqual(code, 0, err)
        self.assertEqual(out.splitlines()[0], f"= connected to {url} (subprotocol chat.v2)")

    @inlineCallbacks
    def test_pingPrintsPong(self) -> Any:
        """``/ping hi`` prints the pong with its round trip when it arrives."""
        url = yield self.url()
        out, err, code = yield self.runCli(url, stdin=b"/ping hi\n")
        self.assertEqual(code, 0, err)
        self.assertRegex(out, PONG)

    @inlineCallbacks
    def test_closeWithCodeAndReason(self) -> Any:
        """``/close 4000 bye`` closes with that code and reason, prints them, exits 0, and
        sends nothing typed after it."""
        url = yield self.url()
        out, err, code = yield self.runCli(url, stdin=b"one\n/close 4000 bye\ntwo\n")
        self.assertEqual(code, 0, err)
        self.assertEqual(out.splitlines()[1:], [
            "! the connection is closing: further input is not sent",
            "< one",
            '= closed by client: code 4000, reason "bye"',
        ])

    @inlineCallbacks
    def test_serverCloses(self) -> Any:
        """A close the server starts is printed with its code and reason; an application
        code (3000-4999) exits 0."""
        url = yield self.url()
        out, err, code = yield self.runCli(url, stdin=b"close 4001 done here\n",
                                           endInput=False)
        self.assertEqual(code, 0, err)
        self.assertEqual(out.splitlines()[-1],
                         '= closed by server: code 4001, reason "done here"')

    @inlineCallbacks
    def test_serverClosesWithError(self) -> Any:
        """A close with an error code (1011) exits 1, with one line on standard error."""
        url = yield self.url()
        out, err, code = yield self.runCli(url, stdin=b"close 1011 boom\n", endInput=False)
        self.assertEqual(code, 1)
        self.assertIn('= closed by server: code 1011 (internal error), reason "boom"', out)
        self.assertOneLine(err, "the server closed the connection with 1011")

    @inlineCallbacks
    def test_terminated(self) -> Any:
        """SIGTERM (as Ctrl-C) closes with 1001 (going away) and exits 0."""
        url = yield self.url()
        child = Child("= connected")
        transport = reactor.spawnProcess(  # type: ignore[attr-defined]
            child, sys.executable, [sys.executable, "-m", "bws", url], env=environment(),
            path=str(ROOT))
        yield child.ready
        transport.signalProcess("TERM")
        out, err, code = yield child.ended
        self.assertEqual(code, 0, err)
        self.assertEqual(out.splitlines()[-1], "= closed by client: code 1001 (going away)")

    @inlineCallbacks
    def test_refusedUpgrade(self) -> Any:
        """A refused upgrade exits 1 with one line naming the status; nothing on stdout."""
        url = yield self.url(BenchUpgrade(refuse=True))
        out, err, code = yield self.runCli(url, stdin=b"hello\n")
        self.assertEqual((out, code), ("", 1))
        self.assertOneLine(err, "python -m bws: cannot connect to", "400")

    @inlineCallbacks
    def test_connectionRefused(self) -> Any:
        """No server at the port exits 1 with one line."""
        out, err, code = yield self.runCli(f"ws://127.0.0.1:{freePort()}/")
        self.assertEqual((out, code), ("", 1))
        self.assertOneLine(err, "cannot connect to", "refused")

    @inlineCallbacks
    def test_badCommandLine(self) -> Any:
        """A bad option exits 2 with one line naming it, before connecting."""
        out, err, code = yield self.runCli("--header", "no colon", "ws://127.0.0.1:1/")
        self.assertEqual((out, code), ("", 2))
        self.assertOneLine(err, "--header")


class TlsTests(CliTestCase):
    """The client against a TLS listener with trustme certificates."""

    def setUp(self) -> None:
        directory = Path(self.mktemp()).resolve()
        directory.mkdir()
        ca = trustme.CA()
        server = ca.issue_cert("localhost", "127.0.0.1")
        client = ca.issue_cert("client.bws.test")
        self.ca = str(directory / "ca.pem")
        ca.cert_pem.write_to_path(self.ca)
        self.serverCert, self.serverKey = str(directory / "server.pem"), str(directory / "s.key")
        server.cert_chain_pems[0].write_to_path(self.serverCert)
        server.private_key_pem.write_to_path(self.serverKey)
        self.clientCert, self.clientKey = str(directory / "client.pem"), str(directory / "c.key")
        client.cert_chain_pems[0].write_to_path(self.clientCert)
        client.private_key_pem.write_to_path(self.clientKey)

    @inlineCallbacks
    def url(self, mutual: bool = False) -> Any:
        secure = ListenerSecureSocket(
            key=CertKey(self.serverCert, self.serverKey),
            mutualSsl=MutualSsl(cert=self.ca) if mutual else None)
        port = yield self.startListener(EchoUpgradeService(), secureSocket=secure)
        return f"wss://localhost:{port}/"

    @inlineCallbacks
    def test_cacert(self) -> Any:
        """``--cacert`` trusts the test CA: the echo works over wss://."""
        url = yield self.url()
        out, err, code = yield self.runCli("--cacert", self.ca, url, stdin=b"secret\n")
        self.assertEqual(code, 0, err)
        self.assertEqual(out.splitlines()[1], "< secret")

    @inlineCallbacks
    def test_untrusted(self) -> Any:
        """Without ``--cacert`` the test CA is not trusted: exit 1, one line."""
        url = yield self.url()
        out, err, code = yield self.runCli(url, stdin=b"secret\n")
        self.assertEqual((out, code), ("", 1))
        self.assertOneLine(err, "cannot connect to", "certificate")

    @inlineCallbacks
    def test_insecure(self) -> Any:
        """``--insecure`` connects without checking, and says so."""
        url = yield self.url()
        out, err, code = yield self.runCli("--insecure", url, stdin=b"secret\n")
        self.assertEqual(code, 0, err)
        self.assertEqual(out.splitlines()[1:3], [
            "= the server's certificate was not checked (--insecure)", "< secret"])

    @inlineCallbacks
    def test_clientCertificate(self) -> Any:
        """``--cert``/``--key`` answer a listener that requires a client certificate."""
        url = yield self.url(mutual=True)
        out, err, code = yield self.runCli("--cacert", self.ca, "--cert", self.clientCert,
                                           "--key", self.clientKey, url, stdin=b"me\n")
        self.assertEqual(code, 0, err)
        self.assertEqual(out.splitlines()[1], "< me")


class DocsTests(CliTestCase):
    """Every ``console`` block of docs/cli.rst, run against ``twistd -n bws`` as written.

    Lines after the ``$`` command that start with none of the client's marks are typed:
    each is sent once the output lines before it have appeared, as a person would type it.
    The pong's round trip is the only part that may differ.
    """

    timeout = 90

    def blocks(self) -> list[list[str]]:
        page = (ROOT / "docs" / "cli.rst").read_text("utf-8")
        found = re.findall(r"^\.\. code-block:: console\n\n((?:   .*\n|\n)+)", page, re.M)
        return [[line[3:] for line in block.rstrip("\n").splitlines()] for block in found]

    @staticmethod
    def isOutput(line: str) -> bool:
        return line.startswith(("< ", "= ", "! ", "python -m bws: "))

    @staticmethod
    def masked(text: str) -> str:
        return re.sub(r"\(\d+\.\d ms\)", "(N ms)", text)

    def test_pageHasSessions(self) -> None:
        """The page shows sessions to check: typed and piped ones."""
        blocks = self.blocks()
        self.assertGreaterEqual(len(blocks), 3)
        for block in blocks:
            self.assertTrue(block[0].startswith("$ "), block)
            self.assertEqual([line for line in block if line.startswith("$ ")], [block[0]])

    @inlineCallbacks
    def test_consoleBlocks(self) -> Any:
        """Each session prints what the page says, line for line, and exits 0."""
        port = yield self.startTwistd()
        for block in self.blocks():
            command = block[0][2:].replace("9090", str(port)).replace(
                "python -m bws", f"{sys.executable} -m bws")
            lines = [line.replace("9090", str(port)) for line in block[1:]]
            child = Child()
            transport = reactor.spawnProcess(  # type: ignore[attr-defined]
                child, "/bin/sh", ["/bin/sh", "-c", command], env=environment(),
                path=str(ROOT))
            shown = 0
            for line in lines:
                if self.isOutput(line):
                    shown += 1
                    continue
                yield child.linesOut(shown)
                transport.write(line.encode("utf-8") + b"\n")
            transport.closeStdin()
            out, err, code = yield child.ended
            self.assertEqual(code, 0, f"{block[0]}: {err}")
            self.assertEqual(self.masked(out).splitlines(),
                             self.masked("\n".join(x for x in lines if self.isOutput(x)))
                             .splitlines(), block[0])
