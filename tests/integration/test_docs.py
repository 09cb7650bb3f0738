"""Every example in the README and docs is a file under docs/examples, and it runs.

Servers start as child processes on free loopback ports; clients run against them as
child processes too, exactly as a reader would run them. The shell recipes (the test CA of
the security guide) run with ``sh`` in a folder of their own, and the TLS examples and the
page's ``twistd`` commands use the files they make. Nothing waits on the wall clock: each
step waits for the line a program prints, or for its exit.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
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


#: The line ``twistd bws`` logs per listener once it listens (``--port 0``: the port the OS
#: chose is in the URL), so no test picks a port that another test could take first.
SERVING = r"bws: serving \S+ at wss?://127\.0\.0\.1:\d+"


def freePort() -> int:
    """A loopback port free right now, for a server that cannot be told port 0 (Redis
    restarted on the same port); a parallel test may take it first, so prefer port 0."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def servingPort(line: str) -> int:
    """The port of a :data:`SERVING` line."""
    return int(line.rsplit(":", 1)[1])


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
        line = yield self.startServer(
            ["-c", TWISTD, "-n", "--pidfile=", "bws", "--port", "0", "--host",
             "127.0.0.1"], SERVING)
        port = servingPort(line)
        url = f"ws://127.0.0.1:{port}/basic/ws"
        self.assertEqual((yield self.runExample("client_deferred.py", url)), "Text message\n")
        self.assertEqual((yield self.runExample("client_async.py", url)), "Coord(x=1, y=2)\n")
        self.assertEqual((yield self.runExample("client_sync.py", url)),
                         "Text message\nBinary message\n")

    @inlineCallbacks
    def test_chatWithTwistd(self) -> Any:
        """The quickstart's ``twistd -n bws --service chat:Rooms`` from the folder of
        chat.py, and its own-program variant, serve the rooms."""
        line = yield self.startServer(
            ["-c", TWISTD, "-n", "--pidfile=", "bws", "--service", "chat:Rooms", "--path",
             "/rooms/{room}", "--port", "0", "--host", "127.0.0.1"], SERVING)
        port = servingPort(line)
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


_testCa: Path | None = None


@inlineCallbacks
def runScript(script: str, folder: Path, *args: str) -> Any:
    """Run one of the docs' shell recipes in ``folder``, as ``sh script args``."""
    out, err, code = yield getProcessOutputAndValue(
        "/bin/sh", [str(EXAMPLES / script), *args], env=environment(), path=str(folder),
        stdinBytes=b"")
    if code != 0:
        raise AssertionError(f"{script} exited {code}: {(out + err).decode(errors='replace')}")


@inlineCallbacks
def testCa() -> Any:
    """A folder where make-test-ca.sh ran: made once per test process; tests that change
    its files work on a copy."""
    global _testCa
    if _testCa is None:
        folder = Path("docs-test-ca").resolve()
        folder.mkdir(exist_ok=True)
        yield runScript("make-test-ca.sh", folder)
        _testCa = folder
    return _testCa


def consoleCommands(name: str, program: str) -> list[list[str]]:
    """The ``$ program ...`` commands of a page's console blocks, continuation lines joined."""
    text = (DOCS / name).read_text("utf-8")
    commands = []
    for block in re.findall(r"code-block:: console\n\n((?: {3}.*\n|\n)+)", text):
        for line in re.sub(r"\\\n\s*", "", block).splitlines():
            words = shlex.split(line)
            if words[:2] == ["$", program]:
                commands.append(words[2:])
    return commands


def sslError(stderr: str) -> str:
    """The message of the ``SslError`` a failing example's traceback ends with."""
    match = re.search(r"SslError: (.*)", stderr)
    assert match, stderr
    return match.group(1)


class SecurityGuideTests(ExampleProcesses):
    """The security guide's recipe, its TLS examples and its ``twistd`` commands, with the
    certificates the recipe makes."""

    URL = r"wss://localhost:\d+/\w+"

    @inlineCallbacks
    def serve(self, program: str, *args: str, **env: str) -> Any:
        """Start a TLS example on a free port in the CA's folder; its URL."""
        folder = yield testCa()
        url = yield self.startServer([str(EXAMPLES / program), "0", *args], self.URL,
                                     path=folder, env=environment(**env))
        return url

    @inlineCallbacks
    def client(self, url: str, *args: str, exitCode: int = 0) -> Any:
        """Run tls_client.py in the CA's folder: its output, or its error when it fails."""
        folder = yield testCa()
        out = yield self.runExample(str(EXAMPLES / "tls_client.py"), url, *args, path=folder,
                                    exitCode=exitCode)
        return out

    @inlineCallbacks
    def test_recipe(self) -> Any:
        """make-test-ca.sh makes certificates that verify against ca.pem and its CRL, a
        password file, an encrypted key that opens only with it, and PKCS#12 stores."""
        from cryptography.hazmat.primitives.serialization import load_pem_private_key, pkcs12

        folder = yield testCa()
        out, err, code = yield getProcessOutputAndValue(
            "openssl", ["verify", "-crl_check", "-CRLfile", "ca.crl", "-CAfile", "ca.pem",
                        "server.pem", "client.pem"], path=str(folder), stdinBytes=b"")
        self.assertEqual((code, out), (0, b"server.pem: OK\nclient.pem: OK\n"), err)
        password = (folder / "password.txt").read_bytes().strip()
        self.assertEqual(len(password), 32)
        encrypted = (folder / "server-encrypted.key").read_bytes()
        self.assertRaises(TypeError, load_pem_private_key, encrypted, None)
        load_pem_private_key(encrypted, password)
        key, cert, chain = pkcs12.load_key_and_certificates(
            (folder / "server.p12").read_bytes(), password)
        self.assertIsNotNone(key)
        self.assertEqual([c.subject.rfc4514_string() for c in [cert, *chain]],
                         ["CN=localhost", "CN=bws test CA"])
        trusted = pkcs12.load_pkcs12((folder / "truststore.p12").read_bytes(), password)
        self.assertIsNone(trusted.key)
        self.assertEqual([c.certificate.subject.rfc4514_string() for c in trusted.additional_certs],
                         ["CN=bws test CA"])

    @inlineCallbacks
    def test_listenerWithCertKey(self) -> Any:
        """The CertKey listener serves a client that trusts ca.pem; a client that trusts
        only the platform's CAs fails with the message the page shows."""
        url = yield self.serve("tls_listener.py", "certkey", "server.pem", "server.key")
        self.assertEqual((yield self.client(url, "ca.pem")), "hello\n")
        err = yield self.client(url, "", exitCode=1)
        self.assertIn(sslError(err), pageText("security.rst"))

    @inlineCallbacks
    def test_listenerWithEncryptedKey(self) -> Any:
        """The encrypted key opens with the recipe's password from BWS_KEY_PASSWORD."""
        folder = yield testCa()
        password = (folder / "password.txt").read_text().strip()
        url = yield self.serve("tls_listener.py", "encrypted", "server.pem",
                               "server-encrypted.key", BWS_KEY_PASSWORD=password)
        self.assertEqual((yield self.client(url, "ca.pem")), "hello\n")

    @inlineCallbacks
    def test_listenerWithKeyStore(self) -> Any:
        """The KeyStore listener reads server.p12 with the password in password.txt."""
        url = yield self.serve("tls_listener.py", "keystore", "server.p12", "password.txt")
        self.assertEqual((yield self.client(url, "ca.pem")), "hello\n")

    @inlineCallbacks
    def test_listenerVersionsAndCiphers(self) -> Any:
        """The TLS 1.3-only listener and the listener with chosen cipher suites serve the
        client."""
        for kind in ["tls13", "ciphers"]:
            url = yield self.serve("tls_listener.py", kind, "server.pem", "server.key")
            self.assertEqual((yield self.client(url, "ca.pem")), "hello\n")

    @inlineCallbacks
    def test_mutualTlsRequired(self) -> Any:
        """With REQUIRE, the client with client.pem is greeted by the name in it, and a
        client without a certificate fails with the message the page shows."""
        url = yield self.serve("mutual_tls.py", "require", "ca.pem")
        self.assertEqual((yield self.client(url, "ca.pem", "client.pem", "client.key")),
                         "hello, alice\n")
        err = yield self.client(url, "ca.pem", exitCode=1)
        self.assertIn(sslError(err), pageText("security.rst"))

    @inlineCallbacks
    def test_mutualTlsOptional(self) -> Any:
        """With OPTIONAL, a client without a certificate is let in as a stranger."""
        url = yield self.serve("mutual_tls.py", "optional", "ca.pem")
        self.assertEqual((yield self.client(url, "ca.pem", "client.pem", "client.key")),
                         "hello, alice\n")
        self.assertEqual((yield self.client(url, "ca.pem")), "hello, stranger\n")

    @inlineCallbacks
    def test_mutualTlsTrustStore(self) -> Any:
        """The CA in truststore.p12 verifies the client's certificate."""
        url = yield self.serve("mutual_tls.py", "truststore", "truststore.p12", "password.txt")
        self.assertEqual((yield self.client(url, "ca.pem", "client.pem", "client.key")),
                         "hello, alice\n")

    @inlineCallbacks
    def test_revocation(self) -> Any:
        """With the recipe's CRL the client is let in; after revoke-cert.sh, a listener
        built anew refuses its certificate with the message the page shows."""
        folder = Path(shutil.copytree((yield testCa()), self.mktemp()))
        example = [str(EXAMPLES / "mutual_tls.py"), "0", "revocation", "ca.pem", "ca.crl"]
        clientArgs = [str(EXAMPLES / "tls_client.py"), "ca.pem", "client.pem", "client.key"]
        url = yield self.startServer(example, self.URL, path=folder)
        out = yield self.runExample(clientArgs[0], url, *clientArgs[1:], path=folder)
        self.assertEqual(out, "hello, alice\n")
        yield runScript("revoke-cert.sh", folder, "client.pem")
        url = yield self.startServer(example, self.URL, path=folder)
        err = yield self.runExample(clientArgs[0], url, *clientArgs[1:], path=folder,
                                    exitCode=1)
        self.assertIn("certificate revoked", sslError(err))
        self.assertIn(sslError(err), pageText("security.rst"))

    TWISTD_OPTIONS = ("--client-ca", "--key-password-file", "--keystore")

    @inlineCallbacks
    def runTwistdCommand(self, option: str) -> Any:
        """Start the page's ``twistd bws`` command that has ``option`` in the recipe's
        folder, on a free port; check it with tls_client.py (with client.pem when it asks
        for a client certificate) and with the page's ``openssl s_client`` line."""
        folder = yield testCa()
        [command] = [c for c in consoleCommands("security.rst", "twistd") if option in c]
        self.assertIn("--pidfile=", command)
        at = command.index("--port")
        command[at:at + 2] = ["--port", "0", "--host", "127.0.0.1"]
        port = servingPort((yield self.startServer(["-c", TWISTD, *command], SERVING,
                                                   path=folder)))
        mutual = ["client.pem", "client.key"] if "--client-ca" in command else []
        self.assertEqual((yield self.client(f"wss://localhost:{port}/", "ca.pem", *mutual)),
                         "hello\n")
        match = re.search(r"``(openssl s_client [^`]*)``", pageText("security.rst"))
        assert match
        check = shlex.split(match.group(1).replace(":9443", f":{port}"))
        out, err, code = yield getProcessOutputAndValue(
            check[0], check[1:], path=str(folder), stdinBytes=b"")
        self.assertEqual(code, 0, err)
        self.assertIn(b"Verify return code: 0 (ok)", out)

    def test_twistdCommandsAreAllRun(self) -> None:
        """Each ``twistd`` command of the page is one that a test below runs."""
        for command in consoleCommands("security.rst", "twistd"):
            self.assertEqual(
                len([option for option in self.TWISTD_OPTIONS if option in command]), 1,
                command)

    def test_twistdMutualTls(self) -> Any:
        """The page's ``twistd bws`` command with mutual TLS, TLS 1.3 and chosen cipher
        suites starts with the recipe's files and serves the client with client.pem."""
        return self.runTwistdCommand("--client-ca")

    def test_twistdEncryptedKey(self) -> Any:
        """The page's ``twistd bws`` command reads the encrypted key's password from
        password.txt."""
        return self.runTwistdCommand("--key-password-file")

    def test_twistdKeyStore(self) -> Any:
        """The page's ``twistd bws`` command serves with server.p12 and password.txt."""
        return self.runTwistdCommand("--keystore")

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

