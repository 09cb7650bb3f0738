"""``python -m bws``: its command line, what it prints, and a session driven in memory."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

import bws
from bws import _cli
from bws._cli import (
    Arguments,
    Console,
    Outcome,
    Run,
    UsageError,
    formatClose,
    formatMessage,
    parseArguments,
    parseAuth,
    parseHeaders,
    programName,
)
from bws.config import ClientConfiguration
from bws.testing import MemoryListener
from bws.testing.echo import EchoUpgradeService
from bws.tls import CertKey, ClientSecureSocket

ROOT = Path(__file__).resolve().parents[1]


class ArgumentTests(SynchronousTestCase):
    """The command line becomes ClientConfiguration fields, or one line naming the option."""

    def setUp(self) -> None:
        directory = Path(self.mktemp())
        directory.mkdir()
        self.directory = directory

    def file(self, name: str, text: str) -> str:
        path = self.directory / name
        path.write_text(text, "utf-8")
        return str(path)

    def refused(self, *argv: str) -> str:
        return str(self.assertRaises(UsageError, parseArguments, list(argv)))

    def test_defaults(self) -> None:
        """A bare URL sets only the handshake timeout (10 s, also the close timeout)."""
        arguments = parseArguments(["ws://localhost:9090/"])
        self.assertEqual(arguments, Arguments("ws://localhost:9090/", {"handShakeTimeout": 10.0}))
        self.assertEqual(arguments.closeTimeout, 10.0)

    def test_fieldsBuildAConfiguration(self) -> None:
        """Every option lands in a field ClientConfiguration accepts."""
        arguments = parseArguments([
            "-H", "X-A: 1", "-s", "chat", "--no-compression", "--max-size", "1000",
            "--timeout", "2.5", "-v", "ws://h/"])
        config = ClientConfiguration(**arguments.config)
        self.assertEqual(config.customHeaders, {"X-A": "1"})
        self.assertEqual(config.subProtocols, ("chat",))
        self.assertFalse(config.webSocketCompressionEnabled)
        self.assertEqual((config.maxFrameSize, config.maxMessageSize), (1000, 1000))
        self.assertEqual((config.handShakeTimeout, arguments.closeTimeout), (2.5, 2.5))
        self.assertTrue(arguments.verbose)

    def test_subprotocolsInOrder(self) -> None:
        """``--subprotocol`` repeats, keeping the order of preference."""
        arguments = parseArguments(["-s", "b", "--subprotocol", "a", "ws://h/"])
        self.assertEqual(arguments.config["subProtocols"], ["b", "a"])

    def test_subprotocolNotAToken(self) -> None:
        """A subprotocol must be a token (RFC 6455 §4.1)."""
        self.assertIn("--subprotocol: 'a b' is not a token", self.refused("-s", "a b", "ws://h/"))

    def test_badUrl(self) -> None:
        """A URL that is not ws:// or wss:// is refused, saying why."""
        self.assertIn("use ws:// or wss://", self.refused("http://h/"))
        self.assertIn("Malformed URL", self.refused("h"))

    def test_unknownOption(self) -> None:
        """An unknown option, or a missing URL, raises UsageError (not SystemExit)."""
        self.assertIn("--nope", self.refused("--nope", "ws://h/"))
        self.assertIn("URL", self.refused())

    def test_badNumbers(self) -> None:
        """``--timeout`` must be positive seconds, ``--max-size`` at least one byte."""
        self.assertIn("--timeout", self.refused("--timeout", "0", "ws://h/"))
        self.assertIn("--timeout", self.refused("--timeout", "soon", "ws://h/"))
        self.assertIn("--max-size", self.refused("--max-size", "0", "ws://h/"))

    # -- TLS ---------------------------------------------------------------------

    def test_cacert(self) -> None:
        """``--cacert`` trusts a PEM file."""
        ca = self.file("ca.pem", "x")
        arguments = parseArguments(["--cacert", ca, "wss://h/"])
        self.assertEqual(arguments.config["secureSocket"], ClientSecureSocket(cert=ca))

    def test_insecure(self) -> None:
        """``--insecure`` (or ``-k``) turns verification off through
        ``ClientSecureSocket(enable=False)``."""
        for flag in ("--insecure", "-k"):
            arguments = parseArguments([flag, "wss://h/"])
            self.assertEqual(arguments.config["secureSocket"], ClientSecureSocket(enable=False))
            self.assertTrue(arguments.insecure)

    def test_version(self) -> None:
        """``--version`` gives bws's version from the package (the distribution is named
        ``txbws``: its metadata is not asked for ``bws``), then Twisted's."""
        line = _cli._versionLine()
        self.assertTrue(line.startswith(f"bws {bws.__version__}, twisted "), line)
        self.assertNotIn("not installed", line.split(", autobahn")[0])

    def test_insecureHelpSaysWhatItDoes(self) -> None:
        """The help spells out what ``--insecure`` gives up."""
        text = " ".join(_cli._parser("python -m bws").format_help().split())
        self.assertIn("do NOT check the server's certificate", text)
        self.assertIn("anyone between you and the server can pretend to be it", text)

    def test_clientCertificate(self) -> None:
        """``--cert`` and ``--key`` give a CertKey; one without the other is refused."""
        cert, key = self.file("c.pem", "x"), self.file("c.key", "x")
        arguments = parseArguments(["--cert", cert, "--key", key, "wss://h/"])
        self.assertEqual(arguments.config["secureSocket"],
                         ClientSecureSocket(key=CertKey(certFile=cert, keyFile=key)))
        self.assertIn("--cert and --key go together", self.refused("--cert", cert, "wss://h/"))

    def test_tlsConflicts(self) -> None:
        """``--insecure`` with ``--cacert``, and TLS options on ws://, are refused."""
        ca = self.file("ca.pem", "x")
        self.assertIn("give one", self.refused("--insecure", "--cacert", ca, "wss://h/"))
        self.assertIn("for wss:// URLs", self.refused("--cacert", ca, "ws://h/"))
        self.assertIn("for wss:// URLs", self.refused("--insecure", "ws://h/"))

    def test_unreadableFiles(self) -> None:
        """A TLS file that does not exist is refused before connecting, naming the option."""
        missing = str(self.directory / "missing.pem")
        self.assertIn(f"--cacert: cannot read {missing}: no such file",
                      self.refused("--cacert", missing, "wss://h/"))

    # -- headers -----------------------------------------------------------------

    def test_headers(self) -> None:
        """``NAME:VALUE`` with or without a space; a repeated name is joined with ", "
        (RFC 9110 §5.3), Cookie with "; " (RFC 6265 §5.4); a value may hold colons."""
        self.assertEqual(parseHeaders([
            "Origin:https://example.com:8443", "X-A: 1", "x-a:2", "Cookie: a=1",
            "cookie: b=2", "X-Empty:"]), {
            "Origin": "https://example.com:8443", "X-A": "1, 2", "Cookie": "a=1; b=2",
            "X-Empty": ""})

    def test_badHeaders(self) -> None:
        """No colon, a name that is not a token, or a line break in the value is refused."""
        for value, words in [("nocolon", "expected NAME:VALUE"), (":v", "expected NAME:VALUE"),
                             ("Bad Name: v", "not a valid header name"),
                             ("X-A: a\r\nHost: evil", "line break")]:
            error = self.assertRaises(UsageError, parseHeaders, [value])
            self.assertIn(words, str(error))

    def test_handshakeHeadersRefused(self) -> None:
        """Headers the handshake writes itself are refused, with the option to use instead."""
        for name in ("Host", "upgrade", "Connection", "Sec-WebSocket-Key", "User-Agent"):
            error = self.assertRaises(UsageError, parseHeaders, [f"{name}: x"])
            self.assertIn("written by the WebSocket handshake itself", str(error))
        error = self.assertRaises(UsageError, parseHeaders, ["Sec-WebSocket-Protocol: chat"])
        self.assertIn("use --subprotocol", str(error))

    # -- auth ----------------------------------------------------------------------

    def test_basicFromFile(self) -> None:
        """``basic:USER:file:PATH`` reads the password (without its final line break), and
        becomes ``{"username", "password"}``."""
        path = self.file("pw", "s3:cret\n")
        self.assertEqual(parseAuth(f"basic:alice:file:{path}"),
                         {"username": "alice", "password": "s3:cret"})

    def test_basicFromEnvironment(self) -> None:
        """``basic:USER:env:NAME`` reads the password from the environment; the scheme is
        case-insensitive."""
        self.patch(os, "environ", {"PW": "from env"})
        self.assertEqual(parseAuth("Basic:bob:env:PW"),
                         {"username": "bob", "password": "from env"})

    def test_bearer(self) -> None:
        """``bearer:env:NAME`` and ``bearer:file:PATH`` become ``{"token"}``."""
        self.patch(os, "environ", {"TOKEN": "abc.def-ghi"})
        self.assertEqual(parseAuth("bearer:env:TOKEN"), {"token": "abc.def-ghi"})
        path = self.file("token", "xyz==\n")
        self.assertEqual(parseAuth(f"BEARER:file:{path}"), {"token": "xyz=="})

    def test_authInArguments(self) -> None:
        """``--auth`` lands in the ``auth`` field."""
        self.patch(os, "environ", {"TOKEN": "t0k"})
        arguments = parseArguments(["--auth", "bearer:env:TOKEN", "ws://h/"])
        self.assertEqual(arguments.config["auth"], {"token": "t0k"})

    def test_secretOnCommandLineRefused(self) -> None:
        """A secret typed on the command line is refused without being repeated."""
        for value in ("basic:alice:hunter2", "bearer:hunter2", "bearer:hunter2:x"):
            error = str(self.assertRaises(UsageError, parseAuth, value))
            self.assertIn("file:PATH or env:NAME", error)
            self.assertNotIn("hunter2", error)

    def test_authProblems(self) -> None:
        """Unset variables, unreadable files, unknown schemes, bad tokens, and
        ``--auth`` with an Authorization header are refused."""
        self.patch(os, "environ", {"BAD": "has space"})
        self.assertIn("environment variable NOPE is not set",
                      str(self.assertRaises(UsageError, parseAuth, "bearer:env:NOPE")))
        self.assertIn("cannot read",
                      str(self.assertRaises(UsageError, parseAuth, "bearer:file:/nonexistent")))
        self.assertIn("unknown scheme 'digest'",
                      str(self.assertRaises(UsageError, parseAuth, "digest:x")))
        self.assertIn("RFC 6750",
                      str(self.assertRaises(UsageError, parseAuth, "bearer:env:BAD")))
        self.assertIn("expected basic:USER:SECRET",
                      str(self.assertRaises(UsageError, parseAuth, "basic:alice")))
        self.assertIn("give one", self.refused("--auth", "bearer:env:BAD", "-H",
                                               "authorization: x", "ws://h/"))


class OutputTests(SynchronousTestCase):
    """How messages and closes are shown."""

    def test_text(self) -> None:
        """Text is shown as it came."""
        self.assertEqual(formatMessage("héllo".encode(), False), "< héllo")

    def test_binary(self) -> None:
        """Binary is hex; past 32 bytes, the length and the first 32 bytes."""
        self.assertEqual(formatMessage(b"\x00\xff", True), "< binary (2 bytes): 00 ff")
        self.assertEqual(formatMessage(b"\x07", True), "< binary (1 byte): 07")
        self.assertEqual(formatMessage(b"", True), "< binary (0 bytes):")
        self.assertEqual(formatMessage(bytes(33), True),
                         "< binary (33 bytes): " + " ".join(["00"] * 32) + " ...")

    def test_close(self) -> None:
        """A close shows who closed, the code, its name and the reason, quoted."""
        self.assertEqual(formatClose("server", 1001, ""),
                         "= closed by server: code 1001 (going away)")
        self.assertEqual(formatClose("client", 4000, 'say "bye"'),
                         '= closed by client: code 4000, reason "say \\"bye\\""')
        self.assertEqual(formatClose("server", None, ""),
                         "= closed by server: code 1005 (no status code)")

    def test_programName(self) -> None:
        """Run with ``-m`` the program is ``python -m bws``; as a script, its own name."""
        self.assertEqual(programName("/x/bws/__main__.py"), "python -m bws")
        self.assertEqual(programName("/venv/bin/bws-client"), "bws-client")


class PackagingTests(SynchronousTestCase):
    """The console script."""

    def test_consoleScript(self) -> None:
        """pyproject.toml installs ``bws-client`` running ``bws.__main__:main``."""
        with open(ROOT / "pyproject.toml", "rb") as f:
            scripts = tomllib.load(f)["project"]["scripts"]
        self.assertEqual(scripts, {"bws-client": "bws.__main__:main"})
        import bws.__main__

        self.assertIs(bws.__main__.main, _cli.main)


@implementer(bws.IService)
class Closer:
    """Echoes, and closes with ``code reason`` when told ``close code reason``."""

    def onTextMessage(self, caller: bws.ICaller, text: str) -> Any:
        if text.startswith("close "):
            code, _, reason = text[6:].partition(" ")
            caller.close(int(code), reason)
            return None
        return text


@implementer(bws.IUpgradeService)
class CloserUpgrade:
    def get(self, request: bws.UpgradeRequest) -> Closer:
        return Closer()


class SessionTests(SynchronousTestCase):
    """A session driven in memory: the console's lines in, its output lines out."""

    def start(self, upgrade: Any = None, *argv: str) -> Run:
        self.memory = MemoryListener()
        self.memory.attach(upgrade or EchoUpgradeService(), "/")
        self.transport = StringTransport()
        self.screen: Console | None = None

        def console(screen: Console) -> None:
            self.screen = screen
            screen.makeConnection(self.transport)

        arguments = parseArguments([*argv, "ws://127.0.0.1:9090/"])
        # MemoryListener's connector connects the client to the listener in memory.
        run = Run(self.memory.clock, arguments, console, self.memory._connector)
        self.outcome = run.start()
        self.memory.flush()
        return run

    def type(self, data: bytes) -> None:
        assert self.screen is not None
        self.screen.dataReceived(data)
        self.memory.flush()

    def lines(self) -> list[str]:
        return self.transport.value().decode("utf-8").splitlines()

    def end(self) -> Outcome:
        """End the input; let the close handshake and the drop happen; finish the output."""
        assert self.screen is not None
        self.screen.readConnectionLost()
        self.memory.advance(5)
        self.assertTrue(self.transport.disconnecting)
        self.screen.connectionLost()
        return self.successResultOf(self.outcome)

    def test_echo(self) -> None:
        """Lines go out as text; what comes back is shown; the end of input closes 1000."""
        self.start()
        self.type(b"hello\r\nw\xc3\xb6rld\n")
        self.assertEqual(self.end(), Outcome(0))
        self.assertEqual(self.lines(), [
            "= connected to ws://127.0.0.1:9090/ (permessage-deflate)",
            "< hello", "< wörld", "= closed by client: code 1000 (normal closure)"])

    def test_lastLineWithoutLineBreak(self) -> None:
        """A last line without a line break is still sent."""
        self.start()
        self.type(b"tail")
        self.assertEqual(self.end(), Outcome(0))
        self.assertIn("< tail", self.lines())

    def test_commands(self) -> None:
        """``//`` sends a leading slash, ``/binary`` bytes, ``/ping`` shows the pong with
        its round trip; ``/help`` lists the commands."""
        self.start()
        self.type(b"//x\n/binary 0a0b\n/ping p\n/help\n")
        lines = self.lines()
        self.assertEqual(lines[1], "= commands (a line of input that starts with /):")
        self.assertIn("< /x", lines)
        self.assertIn("< binary (2 bytes): 0a 0b", lines)
        self.assertIn("< pong: p (0.0 ms)", lines)

    def test_commandMistakes(self) -> None:
        """Unknown commands, bad hex, bad close codes, long pings, long reasons and
        non-UTF-8 lines are reported with ``!`` and the connection stays open."""
        self.start()
        self.type(b"/nope\n/binary xyz\n/close 1005\n/close abc\n/ping " + b"x" * 126 +
                  b"\n/close 4000 " + b"r" * 124 + b"\n\xff\n")
        self.assertEqual(self.lines()[1:], [
            "! unknown command /nope (/help lists them; // sends a leading /)",
            "! /binary needs hex digits, two per byte: /binary 00 ff 10",
            "! /close: 1005 is not a close code one may send: 1000-1003, 1007-1011 or "
            "3000-4999 (RFC 6455 §7.4)",
            "! /close: abc is not a close code one may send: 1000-1003, 1007-1011 or "
            "3000-4999 (RFC 6455 §7.4)",
            "! /ping: a ping carries at most 125 bytes (RFC 6455 §5.5)",
            "! /close: a reason is at most 123 bytes of UTF-8 (RFC 6455 §5.5)",
            "! not sent: the line is not UTF-8 text (/binary HEX sends bytes)",
        ])
        self.type(b"still open\n")
        self.assertEqual(self.lines()[-1], "< still open")

    def test_closeCommand(self) -> None:
        """``/close CODE REASON`` closes with them; later input is not sent."""
        self.start()
        self.type(b"/close 4000 good bye\nlate\n")
        self.assertEqual(self.end(), Outcome(0))
        self.assertEqual(self.lines()[1:], [
            "! the connection is closing: further input is not sent",
            '= closed by client: code 4000, reason "good bye"'])

    def test_serverCloses(self) -> None:
        """The server's close is shown; 4001 ends with 0, 1011 with 1 and one line."""
        self.start(CloserUpgrade())
        self.type(b"close 4001 done\n")
        self.assertEqual(self.lines()[-1], '= closed by server: code 4001, reason "done"')
        self.assertEqual(self.end(), Outcome(0))
        self.start(CloserUpgrade())
        self.type(b"close 1011 boom\n")
        self.assertEqual(self.end(), Outcome(
            1, "the server closed the connection with 1011 (internal error)"))

    def test_messagesAfterOurClose(self) -> None:
        """Messages the server sends after our close frame, before its answer, are shown
        (RFC 6455 §5.5.1)."""
        self.start()
        assert self.screen is not None
        self.screen.dataReceived(b"first\n/close\n")  # both go out before anything answers
        self.memory.flush()
        self.assertEqual(self.lines()[1:3], ["< first",
                                             "= closed by client: code 1000 (normal closure)"])

    def test_connectionLost(self) -> None:
        """TCP lost without a closing handshake ends with 1, saying so."""
        self.start()
        self.memory.pumps[0].client.transport.abortConnection()  # type: ignore[union-attr]
        self.memory.flush()
        assert self.screen is not None
        self.screen.connectionLost()
        self.assertEqual(self.successResultOf(self.outcome), Outcome(
            1, "the connection was lost without a closing handshake (1006)"))
        self.assertEqual(self.lines()[-1],
                         "= connection lost: code 1006 (abnormal closure), no close frame")

    def test_protocolFailure(self) -> None:
        """A message over ``--max-size`` fails the connection (1009): exit 1, saying why."""
        self.start(None, "--max-size", "10", "--no-compression")
        self.type(b"x" * 20 + b"\n")
        self.memory.advance(5)
        assert self.screen is not None
        self.screen.connectionLost()
        outcome = self.successResultOf(self.outcome)
        self.assertEqual(outcome.exitCode, 1)
        assert outcome.error is not None
        self.assertTrue(outcome.error.startswith("the connection failed: "), outcome.error)
        self.assertIn("10", outcome.error)
        self.assertEqual(self.lines()[-1], "= " + outcome.error)

    def test_interrupt(self) -> None:
        """Stopping the reactor (Ctrl-C) closes with 1001 and waits for the answer."""
        run = self.start()
        waiting = run.interrupt()
        assert waiting is not None
        self.memory.advance(5)
        self.assertEqual(self.lines()[-1], "= closed by client: code 1001 (going away)")
        assert self.screen is not None
        self.screen.connectionLost()
        self.assertEqual(self.successResultOf(self.outcome), Outcome(0))
        self.assertIsNone(run.interrupt())

    def test_refused(self) -> None:
        """A refused upgrade ends with 1 and one line naming the URL and the status."""
        @implementer(bws.IUpgradeService)
        class Refuse:
            def get(self, request: bws.UpgradeRequest) -> None:
                raise bws.UpgradeError("no")

        self.start(Refuse())
        outcome = self.successResultOf(self.outcome)
        self.assertEqual(outcome.exitCode, 1)
        assert outcome.error is not None
        self.assertTrue(outcome.error.startswith("cannot connect to ws://127.0.0.1:9090/: "))
        self.assertIn("400", outcome.error)
        self.assertIsNone(self.screen)

    def test_pausedWhileWriting(self) -> None:
        """While a message waits for the connection, no further line is handed over, and
        the end of input waits for it too."""
        self.start()
        assert self.screen is not None
        self.screen.pause()
        self.screen.dataReceived(b"a\nb\n")
        self.screen.readConnectionLost()
        self.memory.flush()
        self.assertEqual(len(self.lines()), 1)
        self.screen.resume()
        self.memory.advance(5)
        self.assertEqual(self.lines()[1:], ["< a", "< b",
                                            "= closed by client: code 1000 (normal closure)"])
