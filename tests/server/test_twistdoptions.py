"""``twistd bws`` options: each bad value is one line naming the option; listeners bind early."""

from __future__ import annotations

import io
import os
import socket
from contextlib import redirect_stdout
from typing import Any

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

import bws
from bws.tap import BwsService, Options, buildService, makeService


class Files:
    """A certificate, its key (plain and encrypted), its CA and a PKCS#12 keystore."""

    def __init__(self, directory: str) -> None:
        os.makedirs(directory)
        ca = trustme.CA()
        issued = ca.issue_cert("localhost")
        self.cert = os.path.join(directory, "cert.pem")
        self.key = os.path.join(directory, "key.pem")
        self.encryptedKey = os.path.join(directory, "encrypted.pem")
        self.ca = os.path.join(directory, "ca.pem")
        self.keystore = os.path.join(directory, "keystore.p12")
        issued.cert_chain_pems[0].write_to_path(self.cert)
        issued.private_key_pem.write_to_path(self.key)
        ca.cert_pem.write_to_path(self.ca)
        key: Any = serialization.load_pem_private_key(issued.private_key_pem.bytes(), None)
        encryption = serialization.BestAvailableEncryption(b"secret")
        with open(self.encryptedKey, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8, encryption))
        certificate = x509.load_pem_x509_certificate(issued.cert_chain_pems[0].bytes())
        with open(self.keystore, "wb") as f:
            f.write(pkcs12.serialize_key_and_certificates(
                b"bws", key, certificate, None, encryption))


class BadOptionTests(SynchronousTestCase):
    """Every bad input fails in postOptions, before the reactor runs, in one line."""

    def setUp(self) -> None:
        self.files = Files(self.mktemp())

    def fails(self, argv: list[str], option: str) -> str:
        error = self.assertRaises(usage.UsageError, Options().parseOptions, argv)
        message = str(error)
        self.assertIn(option, message)
        self.assertNotIn("\n", message)
        return message

    def test_missingKeyFile(self) -> None:
        """A --key file that does not exist names --key and the file."""
        message = self.fails(["--cert", self.files.cert, "--key", "no-such-key.pem"], "--key")
        self.assertIn("no-such-key.pem", message)

    def test_missingCertFile(self) -> None:
        """A --cert file that does not exist names --cert and the file."""
        message = self.fails(["--cert", "no-such-cert.pem", "--key", self.files.key], "--cert")
        self.assertIn("no-such-cert.pem", message)

    def test_notAKey(self) -> None:
        """A --key file holding a certificate names --key."""
        self.fails(["--cert", self.files.cert, "--key", self.files.ca], "--key")

    def test_encryptedKeyWithoutPassword(self) -> None:
        """An encrypted --key without a password says which options give one."""
        message = self.fails(["--cert", self.files.cert, "--key", self.files.encryptedKey],
                             "--key")
        self.assertIn("--key-password-file", message)

    def test_encryptedKeyWrongPassword(self) -> None:
        """An encrypted --key with the wrong password names --key."""
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("wrong\n")
        self.fails(["--cert", self.files.cert, "--key", self.files.encryptedKey,
                    "--key-password-file", path], "--key")

    def test_missingClientCa(self) -> None:
        """A --client-ca file that does not exist names --client-ca."""
        self.fails(["--cert", self.files.cert, "--key", self.files.key,
                    "--client-ca", "no-such-ca.pem"], "--client-ca")

    def test_unknownTlsVersion(self) -> None:
        """--tls-versions TLSv9 names --tls-versions and the versions it takes."""
        message = self.fails(["--cert", self.files.cert, "--key", self.files.key,
                              "--tls-versions", "TLSv9"], "--tls-versions")
        self.assertIn("TLSv1.3", message)

    def test_unknownCipher(self) -> None:
        """An unknown --ciphers name names --ciphers."""
        self.fails(["--cert", self.files.cert, "--key", self.files.key, "--ciphers", "NOPE"],
                   "--ciphers")

    def test_keystoreWithoutPassword(self) -> None:
        """--keystore without a password says which options give one."""
        message = self.fails(["--keystore", self.files.keystore], "--keystore")
        self.assertIn("--keystore-password-file", message)

    def test_keystorePasswordEnvUnset(self) -> None:
        """--keystore-password-env naming an unset variable names --keystore."""
        self.fails(["--keystore", self.files.keystore, "--keystore-password-env",
                    "BWS_TEST_SURELY_UNSET"], "--keystore")

    def test_portOutOfRange(self) -> None:
        """--port 70000 names --port and the range."""
        message = self.fails(["--port", "70000"], "--port")
        self.assertIn("0..65535", message)

    def test_serviceNotAFactory(self) -> None:
        """--service json:dumps (a callable that needs arguments) names --service."""
        self.fails(["--service", "json:dumps"], "--service")

    def test_serviceWithoutGet(self) -> None:
        """--service naming a value that is no upgrade service names --service."""
        self.fails(["--service", "json:__name__"], "--service")

    def test_badEndpoint(self) -> None:
        """An endpoint string Twisted cannot parse names --listen and the string."""
        message = self.fails(["--listen", "nosuchtype:9090"], "--listen")
        self.assertIn("nosuchtype:9090", message)
        self.fails(["--listen", "tcp:notaport"], "--listen")

    def test_noShortListen(self) -> None:
        """``-l`` is twistd's --logfile: bws does not take it for --listen."""
        self.assertRaises(usage.UsageError, Options().parseOptions, ["-l", "tcp:0"])


class ListenTests(SynchronousTestCase):
    """--listen is repeatable; --port/--host is the simple form of one listener."""

    def test_repeatable(self) -> None:
        """Each --listen is a listener serving the same service at the same path."""
        options = Options()
        options.parseOptions(["--listen", "tcp:0:interface=127.0.0.1",
                              "--listen", "tcp:0:interface=127.0.0.2", "--path", "/chat"])
        service = buildService(options)
        self.assertEqual(len(service.listeners), 2)
        for listener, where in service.listeners:
            self.assertIsInstance(listener, bws.Listener)
            self.assertIn("--listen tcp:0:interface=127.0.0", where)
            [attachment] = listener.router.attachments
            self.assertIs(attachment.upgradeService, options["upgradeService"])
            self.assertEqual(attachment.path, "/chat")

    def test_portIsOneListener(self) -> None:
        """Without --listen, --port/--host make one listener."""
        options = Options()
        options.parseOptions(["--port", "0", "--host", "127.0.0.1"])
        [(listener, where)] = buildService(options).listeners
        self.assertEqual((listener.portNumber, listener.config.host), (0, "127.0.0.1"))
        self.assertIn("--host/--port", where)


class BindTests(SynchronousTestCase):
    """makeService binds, so a port that cannot be had stops twistd before it starts."""

    def made(self, *argv: str) -> BwsService:
        options = Options()
        options.parseOptions(list(argv))
        service = makeService(options)
        for listener, _ in service.listeners:
            self.addCleanup(listener.immediateStop)
        return service

    def takenPort(self) -> int:
        taken = socket.socket()
        self.addCleanup(taken.close)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        return int(taken.getsockname()[1])

    def test_portTaken(self) -> None:
        """A taken --port is SystemExit with one line naming the address and the option."""
        port = self.takenPort()
        error = self.assertRaises(SystemExit, self.made, "--port", str(port),
                                  "--host", "127.0.0.1")
        message = str(error.code)
        self.assertIn(f"127.0.0.1:{port} (--host/--port)", message)
        self.assertIn("in use", message)
        self.assertNotIn("\n", message)

    def test_laterListenerTaken(self) -> None:
        """When the second --listen cannot bind, the first is closed again."""
        port = self.takenPort()
        options = Options()
        options.parseOptions(["--listen", "tcp:0:interface=127.0.0.1",
                              "--listen", f"tcp:{port}:interface=127.0.0.1"])
        service = buildService(options)
        error = self.assertRaises(SystemExit, service.bind)
        self.assertIn(f"--listen tcp:{port}:interface=127.0.0.1", str(error.code))
        self.assertIsNone(service.listeners[0][0].port)

    def test_urls(self) -> None:
        """Each bound listener has its ws:// URL, with the path (``*`` is ``/``)."""
        service = self.made("--listen", "tcp:0:interface=127.0.0.1", "--path", "/chat")
        [(listener, _)] = service.listeners
        self.assertEqual(service.urls(), [f"ws://127.0.0.1:{listener.listeningPort}/chat"])
        service = self.made("--port", "0", "--host", "127.0.0.1")
        [(listener, _)] = service.listeners
        self.assertEqual(service.urls(), [f"ws://127.0.0.1:{listener.listeningPort}/"])

    def test_wssUrl(self) -> None:
        """With the TLS options the URL is wss://."""
        files = Files(self.mktemp())
        service = self.made("--port", "0", "--host", "127.0.0.1", "--cert", files.cert,
                            "--key", files.key)
        [(listener, _)] = service.listeners
        self.assertEqual(service.urls(), [f"wss://127.0.0.1:{listener.listeningPort}/"])


class HelpTests(SynchronousTestCase):
    """--help and --version as a twistd plugin's."""

    def test_version(self) -> None:
        """--version names bws's version next to Twisted's."""
        out = io.StringIO()
        with redirect_stdout(out):
            error = self.assertRaises(SystemExit, Options().parseOptions, ["--version"])
        self.assertEqual(error.code, 0)
        self.assertIn(f"bws {bws.__version__}", out.getvalue())
        self.assertIn("Twisted", out.getvalue())

    def test_helpGroupsAndExamples(self) -> None:
        """The TLS options have their own group after the rest; examples follow."""
        text = Options().getUsage(width=80)
        general, _, rest = text.partition("TLS options (wss://):")
        self.assertIn("--listen=", general)
        self.assertNotIn("--cert=", general)
        self.assertIn("--cert=", rest)
        self.assertIn("--keystore-password-file=", rest)
        self.assertIn("Examples:\n  twistd -n --pidfile= bws\n", rest)
