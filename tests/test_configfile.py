"""``twistd bws --config FILE``: the TOML file becomes the records the options build, and
every refusal names ``file:[table].field``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

import bws
from bws.auth.records import FileUserStoreConfigWithScopes
from bws.config import ConfigurationError, serviceConfigOf
from bws.configfile import ServerConfig, checkListeners, load
from bws.tap import BwsService, Options, buildService, loadService, serviceFromRecords
from bws.testing.echo import EchoUpgradeService
from bws.tls import CertKey, KeyStore, TrustStore

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
USERS = EXAMPLES / "users.toml"

#: One service object, for the test that names it twice.
SHARED = EchoUpgradeService()



def broken() -> None:
    """A service factory that fails, for the test of a failing service."""
    raise RuntimeError("no database")


ECHO = '[[services]]\nservice = "bws.testing.echo:EchoUpgradeService"\n'
PLAIN = "[[listeners]]\nport = 9090\n"


class ConfigFileMixin:
    """Writes TOML text to ``bws.toml`` in a fresh folder and loads it."""

    mktemp: Any
    assertRaises: Any
    assertEqual: Any

    def write(self, text: str, name: str = "bws.toml") -> str:
        folder = Path(self.mktemp())
        folder.mkdir()
        path = folder / name
        path.write_text(text, "utf-8")
        return str(path)

    def load(self, text: str) -> ServerConfig:
        return load(self.write(text), loadService)

    def refused(self, text: str) -> str:
        """The message of the ConfigurationError loading ``text`` raises."""
        error = self.assertRaises(ConfigurationError, self.load, text)
        return str(error)


class ExampleFileTests(ConfigFileMixin, SynchronousTestCase):
    """docs/examples/bws.toml, the file the docs page shows."""

    def setUp(self) -> None:
        self.patch(sys, "path", [str(EXAMPLES), *sys.path])   # chat.py, as from its folder
        text = (EXAMPLES / "bws.toml").read_text("utf-8")
        self.server = self.load(text.replace('"users.toml"', repr(str(USERS))))

    def test_listeners(self) -> None:
        """A port listener with its requestLimits and an endpoint listener with TLS."""
        plain, secure = self.server.listeners
        self.assertEqual((plain.address, plain.config.host, plain.config.timeout),
                         (9090, "127.0.0.1", 30.0))
        limits = plain.config.requestLimits
        self.assertEqual((limits.maxUriLength, limits.maxHeaderSize, limits.maxHeaderCount),
                         (2048, 8192, 50))
        self.assertIsNone(plain.config.secureSocket)
        self.assertEqual(secure.address, "tcp:9443:interface=127.0.0.1")
        tls = secure.config.secureSocket
        assert tls is not None
        self.assertEqual(tls.key, CertKey(certFile="server.pem", keyFile="server.key"))
        self.assertEqual(tls.protocol, bws.tls.Protocol(versions=["TLSv1.2", "TLSv1.3"]))
        self.assertEqual(tls.handshakeTimeout, 10.0)

    def test_services(self) -> None:
        """Each service gets the file's WSServiceConfig fields over its own; auth entries are
        the spec's records."""
        echo, rooms = self.server.services
        self.assertIsInstance(echo.upgradeService, EchoUpgradeService)
        self.assertEqual(echo.path, "/echo")
        config = serviceConfigOf(echo.upgradeService)
        self.assertEqual((config.maxFrameSize, config.idleTimeout, config.allowedOrigins),
                         (1048576, 60.0, ("https://example.com",)))
        self.assertEqual(rooms.path, "/rooms/{room}")
        config = serviceConfigOf(rooms.upgradeService)
        # chat.Rooms's own @serviceConfig fields stay unless the file names them.
        self.assertEqual((config.subProtocols, config.idleTimeout, config.pingInterval),
                         (("chat",), 30.0, 30.0))
        assert config.auth is not None
        [entry] = config.auth
        self.assertIsInstance(entry, FileUserStoreConfigWithScopes)
        self.assertEqual(entry.scopes, ("write",))

    def test_serviceFromRecords(self) -> None:
        """Two listeners become twistd bws's MultiService of Listeners, each serving both
        services, labelled by their tables."""
        built = serviceFromRecords(self.server)
        self.assertIsInstance(built, BwsService)
        listeners = [listener for listener, _ in built.listeners]
        self.assertEqual([label for _, label in built.listeners],
                         ["bws.toml:[[listeners]][0]", "bws.toml:[[listeners]][1]"])
        self.assertEqual(list(built), listeners)  # type: ignore[call-overload]
        self.assertEqual(built.upgradeServices, [("bws.testing.echo:EchoUpgradeService", "/echo"),
                                          ("chat:Rooms", "/rooms/{room}")])
        for listener in listeners:
            self.assertIsInstance(listener, bws.Listener)
            self.assertEqual(sorted(a.path for a in listener.router.attachments),
                             ["/echo", "/rooms/{room}"])
        self.assertEqual(listeners[0].config.requestLimits.maxUriLength, 2048)
        self.assertEqual(listeners[1].endpointDescription, "tcp:9443:interface=127.0.0.1")


class OptionsTests(ConfigFileMixin, SynchronousTestCase):
    """``--config`` among ``twistd bws``'s options."""

    def test_config(self) -> None:
        """``--config FILE`` alone makes the file's listeners."""
        options = Options()
        options.parseOptions(["--config", self.write(PLAIN + ECHO)])
        [(listener, label)] = buildService(options).listeners
        self.assertEqual(label, "bws.toml:[[listeners]][0]")
        self.assertEqual(listener.portNumber, 9090)
        self.assertEqual(listener.router.attachments[0].path, "/")

    def test_mixRefused(self) -> None:
        """Another service option with ``--config`` is refused, naming it."""
        options = Options()
        error = self.assertRaises(
            usage.UsageError, options.parseOptions,
            ["--config", self.write(PLAIN + ECHO), "--port", "1234", "--idle-timeout", "3"])
        self.assertEqual(str(error), "--config: the file says what to serve; it cannot be "
                                     "combined with --idle-timeout, --port (put them in the file)")

    def test_authMixRefused(self) -> None:
        """``--auth`` with ``--config`` is refused too."""
        options = Options()
        error = self.assertRaises(
            usage.UsageError, options.parseOptions,
            ["--config", self.write(PLAIN + ECHO), "--auth", "memory:a:b"])
        self.assertIn("combined with --auth", str(error))

    def test_listenMixRefused(self) -> None:
        """``--listen`` with ``--config`` is refused too."""
        options = Options()
        error = self.assertRaises(
            usage.UsageError, options.parseOptions,
            ["--config", self.write(PLAIN + ECHO), "--listen", "tcp:0"])
        self.assertIn("combined with --listen", str(error))

    def test_tlsFilesRead(self) -> None:
        """A certificate file that cannot be read stops --config, naming the table."""
        options = Options()
        error = self.assertRaises(
            usage.UsageError, options.parseOptions,
            ["--config", self.write(PLAIN + "[listeners.secureSocket.key]\n"
                                    "certFile = 'nowhere.pem'\nkeyFile = 'nowhere.key'\n"
                                    + ECHO)])
        self.assertTrue(str(error).startswith(
            "bws.toml:[[listeners]][0].secureSocket.key: "), str(error))
        self.assertIn("nowhere.pem", str(error))

    def test_fileErrorIsUsageError(self) -> None:
        """A refused file is a usage error carrying the file's message."""
        options = Options()
        error = self.assertRaises(usage.UsageError, options.parseOptions,
                                  ["--config", self.write(PLAIN)])
        self.assertEqual(str(error),
                         "bws.toml:[[services]]: at least one [[services]] table is required")


class FileErrorTests(ConfigFileMixin, SynchronousTestCase):
    """The file as a whole."""

    def test_missingFile(self) -> None:
        """A file that cannot be read is named with the reason."""
        path = self.mktemp()
        error = self.assertRaises(ConfigurationError, load, path, loadService)
        self.assertEqual(str(error), f"{path}: cannot read: No such file or directory")

    def test_notToml(self) -> None:
        """TOML syntax errors give the line and column."""
        self.assertEqual(self.refused("[[listeners]\n"),
                         "bws.toml: not valid TOML: Expected ']]' at the end of an array "
                         "declaration (at line 1, column 12)")

    def test_unknownTopKey(self) -> None:
        """An unknown top-level key is named."""
        self.assertEqual(self.refused(PLAIN + ECHO + "[listner]\nport = 1\n"),
                         "bws.toml:listner: unknown key; known: broker, groupMaxBacklog, listeners, "
                         "metrics, services, workers")

    def test_listenersRequired(self) -> None:
        """A file without [[listeners]] is refused."""
        self.assertEqual(self.refused(ECHO),
                         "bws.toml:[[listeners]]: at least one [[listeners]] table is required")

    def test_listenersNotArray(self) -> None:
        """``listeners`` must be an array of tables."""
        self.assertEqual(self.refused("listeners = 3\n" + ECHO),
                         "bws.toml:[[listeners]]: at least one [[listeners]] table is required, "
                         "got an integer")

    def test_listenerNotTable(self) -> None:
        """Each entry of ``listeners`` must be a table."""
        self.assertEqual(self.refused("listeners = [1]\n" + ECHO),
                         "bws.toml:[[listeners]][0]: must be a table, got an integer")

    def test_workers(self) -> None:
        """``workers`` is a positive integer, or ``"auto"`` for the number of cores."""
        self.assertEqual(self.load("workers = 4\n" + PLAIN + ECHO).workers, 4)
        self.assertEqual(self.load('workers = "auto"\n' + PLAIN + ECHO).workers,
                         os.cpu_count() or 1)
        self.assertIsNone(self.load(PLAIN + ECHO).workers)

    def test_workersRefused(self) -> None:
        """A ``workers`` that is not a positive integer or ``"auto"`` is refused, named."""
        for value, shown in (("0", "0"), ("-2", "-2"), ("1.5", "1.5"), ("true", "True"),
                             ('"x"', "'x'"), ('"4"', "'4'")):
            self.assertEqual(self.refused(f"workers = {value}\n" + PLAIN + ECHO),
                             f'bws.toml:workers: must be a positive integer or "auto", '
                             f"got {shown}")


class ListenerErrorTests(ConfigFileMixin, SynchronousTestCase):
    """``[[listeners]]`` tables: each refusal names ``[[listeners]][i].field``."""

    def refusedListener(self, text: str) -> str:
        return self.refused(PLAIN + text + ECHO)

    def test_unknownKey(self) -> None:
        """An unknown key is named with the known ones."""
        self.assertEqual(self.refused("[[listeners]]\nport = 1\nprot = 2\n" + ECHO),
                         "bws.toml:[[listeners]][0].prot: unknown key; known: endpoint, "
                         "forwardedHeader, host, http1Settings, port, requestLimits, "
                         "secureSocket, server, timeout, trustedProxies, "
                         "webSocketCompressionEnabled")

    def test_portType(self) -> None:
        """A port must be an integer in range."""
        for port, shown in [('"9090"', "'9090'"), ("70000", "70000"), ("true", "True")]:
            self.assertEqual(self.refusedListener(f"[[listeners]]\nport = {port}\n"),
                             f"bws.toml:[[listeners]][1].port: must be an integer 0..65535, "
                             f"got {shown}")

    def test_portOrEndpoint(self) -> None:
        """A listener names exactly one of port and endpoint."""
        self.assertEqual(self.refusedListener('[[listeners]]\nport = 1\nendpoint = "tcp:2"\n'),
                         "bws.toml:[[listeners]][1]: give port (with host) or endpoint, "
                         "not both")
        self.assertEqual(self.refusedListener('[[listeners]]\nhost = "::1"\n'),
                         "bws.toml:[[listeners]][1]: give port (with host) or endpoint, "
                         "not neither")

    def test_endpointWithHost(self) -> None:
        """``host`` goes with ``port``; an endpoint string names its own interface."""
        self.assertEqual(
            self.refusedListener('[[listeners]]\nendpoint = "tcp:2"\nhost = "::1"\n'),
            "bws.toml:[[listeners]][1].host: an endpoint names its own interface; give host "
            "with port")

    def test_endpointType(self) -> None:
        """An endpoint must be a non-empty string."""
        self.assertEqual(self.refusedListener("[[listeners]]\nendpoint = 2\n"),
                         "bws.toml:[[listeners]][1].endpoint: must be a Twisted endpoint "
                         "string, got 2")

    def test_recordMessages(self) -> None:
        """ListenerConfiguration's own messages are rewrapped with the file and table."""
        self.assertEqual(
            self.refused("[[listeners]]\nport = 1\nwebSocketCompressionEnabled = 'yes'\n" + ECHO),
            "bws.toml:[[listeners]][0].webSocketCompressionEnabled: must be True or False, "
            "got 'yes'")
        self.assertEqual(
            self.refused("[[listeners]]\nport = 1\ntimeout = -1\n" + ECHO),
            "bws.toml:[[listeners]][0].timeout: Idle timeout cannot be negative. If you want "
            "to disable the timeout please use value 0")

    def test_requestLimits(self) -> None:
        """requestLimits: unknown keys, bounds and the table type, with the nested name."""
        self.assertEqual(
            self.refused(PLAIN + "[listeners.requestLimits]\nmaxUri = 1\n" + ECHO),
            "bws.toml:[[listeners]][0].requestLimits.maxUri: unknown key; known: "
            "maxEntityBodySize, maxHeaderCount, maxHeaderSize, maxUriLength")
        self.assertEqual(
            self.refused(PLAIN + "[listeners.requestLimits]\nmaxUriLength = 0\n" + ECHO),
            "bws.toml:[[listeners]][0].requestLimits.maxUriLength: must be >= 1, got 0")
        self.assertEqual(
            self.refused(PLAIN + "requestLimits = 5\n" + ECHO),
            "bws.toml:[[listeners]][0].requestLimits: must be a table, got an integer")

    def test_http1Settings(self) -> None:
        """http1Settings is checked as its record."""
        self.assertEqual(
            self.refused(PLAIN + "[listeners.http1Settings]\nkeepAlive = 'SOMETIMES'\n" + ECHO),
            "bws.toml:[[listeners]][0].http1Settings.keepAlive: must be one of AUTO, ALWAYS, "
            "NEVER, got 'SOMETIMES'")


class SecureSocketErrorTests(ConfigFileMixin, SynchronousTestCase):
    """``secureSocket``: the bws.tls records, their messages under the table's name."""

    def refusedTls(self, text: str) -> str:
        return self.refused(PLAIN + text + ECHO)

    def test_keyRequired(self) -> None:
        """A secureSocket without a key names the missing key."""
        self.assertEqual(self.refusedTls("[listeners.secureSocket]\nshareSession = true\n"),
                         "bws.toml:[[listeners]][0].secureSocket.key: required")

    def test_certKeyMissingField(self) -> None:
        """A CertKey without keyFile names it; an empty one gets the reference's words."""
        self.assertEqual(
            self.refusedTls("[listeners.secureSocket.key]\ncertFile = 'a.pem'\n"),
            "bws.toml:[[listeners]][0].secureSocket.key.keyFile: required")
        self.assertEqual(
            self.refusedTls("[listeners.secureSocket.key]\ncertFile = 'a.pem'\nkeyFile = ''\n"),
            "bws.toml:[[listeners]][0].secureSocket.key: Private key file location must be "
            "provided for secure connection")

    def test_keyStore(self) -> None:
        """A key table with ``path`` is a PKCS#12 KeyStore."""
        server = self.load(PLAIN + "[listeners.secureSocket.key]\npath = 'k.p12'\n"
                           "password = 'pw'\n" + ECHO)
        tls = server.listeners[0].config.secureSocket
        assert tls is not None
        self.assertEqual(tls.key, KeyStore(path="k.p12", password="pw"))
        self.assertEqual(
            self.refusedTls("[listeners.secureSocket.key]\npath = 'k.p12'\ncertFile = 'a'\n"),
            "bws.toml:[[listeners]][0].secureSocket.key.certFile: unknown key; known: "
            "password, path")

    def test_protocolVersions(self) -> None:
        """An unknown TLS version is named under secureSocket.protocol.versions."""
        self.assertEqual(
            self.refusedTls("[listeners.secureSocket]\nprotocol = { versions = ['TLSv9'] }\n"
                            "key = { certFile = 'a', keyFile = 'b' }\n"),
            "bws.toml:[[listeners]][0].secureSocket.protocol.versions: unknown TLS version "
            "'TLSv9'; use 'TLSv1.2' and/or 'TLSv1.3' ('TLSv1.1' and 'TLSv1' only if you must)")

    def test_mutualSsl(self) -> None:
        """mutualSsl takes a PEM path or a TrustStore table; its fields are checked."""
        key = "key = { certFile = 'a', keyFile = 'b' }\n"
        server = self.load(PLAIN + "[listeners.secureSocket]\n" + key +
                           "mutualSsl = { verifyClient = 'optional', cert = { path = 't.p12', "
                           "password = 'pw' } }\n" + ECHO)
        tls = server.listeners[0].config.secureSocket
        assert tls is not None and tls.mutualSsl is not None
        self.assertEqual(tls.mutualSsl.cert, TrustStore(path="t.p12", password="pw"))
        self.assertEqual(tls.mutualSsl.verifyClient, "OPTIONAL")
        self.assertEqual(
            self.refusedTls("[listeners.secureSocket]\n" + key +
                            "mutualSsl = { verifyClient = 'maybe', cert = 'ca.pem' }\n"),
            "bws.toml:[[listeners]][0].secureSocket.mutualSsl.verifyClient: must be one of "
            "REQUIRE, OPTIONAL, got 'MAYBE'")

    def test_ciphers(self) -> None:
        """A cipher name that is not IANA's is named under secureSocket.ciphers."""
        self.assertIn(
            "bws.toml:[[listeners]][0].secureSocket.ciphers: unknown cipher suite 'RC4'",
            self.refusedTls("[listeners.secureSocket]\nciphers = ['RC4']\n"
                            "key = { certFile = 'a', keyFile = 'b' }\n"))


class ServiceErrorTests(ConfigFileMixin, SynchronousTestCase):
    """``[[services]]`` tables: each refusal names ``[[services]][i].field``."""

    def refusedService(self, text: str) -> str:
        return self.refused(PLAIN + ECHO + "[[services]]\n" + text)

    def test_idleTimeout(self) -> None:
        """The issue's example: a negative idleTimeout in the second service."""
        self.assertEqual(
            self.refusedService("service = 'bws.testing.echo:EchoUpgradeService'\n"
                                "idleTimeout = -1\n"),
            "bws.toml:[[services]][1].idleTimeout: must be >= 0, got -1.0")

    def test_unknownKey(self) -> None:
        """An unknown key is named with the known ones."""
        message = self.refusedService("service = 'bws.testing.echo:EchoUpgradeService'\n"
                                      "idleTimeot = 3\n")
        self.assertTrue(message.startswith(
            "bws.toml:[[services]][1].idleTimeot: unknown key; known: allowedOrigins, auth, "), message)

    def test_types(self) -> None:
        """Wrong types are named, including messages without a record prefix."""
        echo = "service = 'bws.testing.echo:EchoUpgradeService'\n"
        self.assertEqual(self.refusedService(echo + "maxFrameSize = 'big'\n"),
                         "bws.toml:[[services]][1].maxFrameSize: must be an int, got 'big'")
        self.assertEqual(self.refusedService(echo + "subProtocols = 3\n"),
                         "bws.toml:[[services]][1].subProtocols: must be a list of names, got 3")
        self.assertEqual(self.refusedService(echo + "allowedOrigins = ['example.com']\n"),
                         "bws.toml:[[services]][1].allowedOrigins: 'example.com' is not a "
                         "scheme://host[:port] origin")
        self.assertEqual(self.refusedService(echo + "path = 3\n"),
                         "bws.toml:[[services]][1].path: must be a path string (\"/chat\", "
                         "\"*\") or a list of segments, got 3")

    def test_serviceRequired(self) -> None:
        """A service table must name its service."""
        self.assertEqual(self.refusedService("path = '/x'\n"),
                         "bws.toml:[[services]][1].service: required, a string module:attribute")

    def test_serviceNotLoaded(self) -> None:
        """Import failures and non-services are named as tap.loadService words them."""
        self.assertEqual(self.refusedService("service = 'string:ascii_letters'\n"),
                         "bws.toml:[[services]][1].service: string:ascii_letters is not an "
                         "upgrade service (no get())")
        message = self.refusedService("service = 'tests.test_configfile:broken'\n")
        self.assertTrue(message.startswith("bws.toml:[[services]][1].service: "), message)
        self.assertIn("RuntimeError: no database", message)
        self.assertEqual(self.refusedService("service = 'nosuchmodule_x:A'\n"),
                         "bws.toml:[[services]][1].service: cannot import nosuchmodule_x: "
                         "No module named 'nosuchmodule_x'")
        self.assertEqual(self.refusedService("service = 'nocolon'\n"),
                         "bws.toml:[[services]][1].service: expected module:attribute, got "
                         "'nocolon'")

    def test_sameObjectTwice(self) -> None:
        """One service object named by two tables is refused (it has one config)."""
        shared = "[[services]]\nservice = 'tests.test_configfile:SHARED'\n"
        self.assertEqual(self.refused(PLAIN + shared + shared),
                         "bws.toml:[[services]][1].service: the same service object as "
                         "[[services]][0].service; an object has one configuration (name a "
                         "class or a factory to get one per table)")

    def test_pathSegments(self) -> None:
        """A path may be a list of segments."""
        server = self.load(PLAIN + ECHO + "path = ['chat', 'v1']\n")
        self.assertEqual(server.services[0].path, ("chat", "v1"))
        [(listener, _)] = serviceFromRecords(server).listeners
        self.assertEqual(len(listener.router.attachments), 1)


class AuthErrorTests(ConfigFileMixin, SynchronousTestCase):
    """``[[services.auth]]`` entries: the spec's mappings, checked when the file loads."""

    def auth(self, text: str) -> str:
        return PLAIN + ECHO + "[[services.auth]]\n" + text

    def test_fileUserStore(self) -> None:
        """A file user store entry is built, its file read at load time."""
        server = self.load(self.auth(f"fileUserStoreConfig = {{ path = {str(USERS)!r} }}\n"
                                     "scopes = 'read'\n"))
        config = serviceConfigOf(server.services[0].upgradeService)
        assert config.auth is not None
        self.assertEqual(config.auth[0].scopes, ("read",))

    def test_missingUserFile(self) -> None:
        """A user file that cannot be read fails at load time, under the entry's name."""
        message = self.refused(self.auth("fileUserStoreConfig = { path = 'nowhere.toml' }\n"))
        self.assertTrue(message.startswith("bws.toml:[[services]][0].auth[0]: "), message)
        self.assertIn("nowhere.toml", message)

    def test_unknownEntry(self) -> None:
        """An entry naming no listener record is refused, naming its index."""
        self.assertEqual(
            self.refused(self.auth("userStore = 'x'\n")),
            "bws.toml:[[services]][0].auth[0]: a mapping entry needs exactly one of "
            "fileUserStoreConfig, jwtValidatorConfig, ldapUserStoreConfig, "
            "oauth2IntrospectionConfig (and scopes); got keys userStore")

    def test_nestedRecordMessage(self) -> None:
        """A nested record's own message is kept, prefixed with the entry's place."""
        self.assertEqual(
            self.refused(self.auth("fileUserStoreConfig = { path = 3 }\n")),
            "bws.toml:[[services]][0].auth[0]: FileUserStoreConfig.path: must be text, not int")
        self.assertEqual(
            self.refused(self.auth(f"fileUserStoreConfig = {{ path = {str(USERS)!r} }}\n"
                                   "scopes = []\n")),
            "bws.toml:[[services]][0].auth[0]: FileUserStoreConfigWithScopes.scopes: must "
            "name at least one scope (leave it out to only authenticate)")

    def test_notArray(self) -> None:
        """``auth`` must be an array of tables."""
        self.assertEqual(
            self.refused(PLAIN + ECHO + "auth = 'file'\n"),
            "bws.toml:[[services]][0].auth: must be an array of tables ([[services.auth]]), "
            "got a string")


class CheckListenersTests(ConfigFileMixin, SynchronousTestCase):
    """checkListeners: endpoint strings parsed and TLS files read before anything binds."""

    def test_badEndpoint(self) -> None:
        """An endpoint string Twisted cannot parse is named under .endpoint."""
        server = self.load("[[listeners]]\nendpoint = 'nosuchkind:1'\n" + ECHO)
        error = self.assertRaises(ConfigurationError, checkListeners, server)
        self.assertTrue(str(error).startswith("bws.toml:[[listeners]][0].endpoint: "),
                        str(error))

    def test_plainPasses(self) -> None:
        """Plain listeners with valid endpoints pass."""
        checkListeners(self.load(PLAIN + "[[listeners]]\nendpoint = 'tcp:0'\n" + ECHO))


class PageTests(ConfigFileMixin, SynchronousTestCase):
    """docs/configfile.rst shows messages bws really gives."""

    def test_errorsShown(self) -> None:
        """Each message in the page's Errors section is what its input gives."""
        page = " ".join((EXAMPLES.parent / "configfile.rst").read_text("utf-8").split())
        key = "[listeners.secureSocket.key]\n"
        for text in [
                PLAIN + ECHO + ECHO + "idleTimeout = -1\n",
                "[[listeners]]\nport = 1\nprot = 2\n" + ECHO,
                PLAIN + "[listeners.requestLimits]\nmaxUriLength = 0\n" + ECHO,
                PLAIN + key + "certFile = 'a.pem'\n" + ECHO,
                PLAIN + "[listeners.secureSocket]\nprotocol = { versions = ['TLSv9'] }\n"
                + key + "certFile = 'a'\nkeyFile = 'b'\n" + ECHO,
                PLAIN + "[[services]]\nservice = 'mychat:Rooms'\n",
                PLAIN + ECHO + "[[services.auth]]\nfileUserStoreConfig = { path = 3 }\n"]:
            message = self.refused(text)
            self.assertIn(message, page)
