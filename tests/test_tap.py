"""``twistd bws``: the plugin is found, options parse, bad options fail clearly."""

from __future__ import annotations

from twisted.application.service import IServiceMaker
from twisted.plugin import getPlugins
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

import bws
from bws.config import serviceConfigOf
from bws.tap import Options, buildService
from bws.testing.echo import EchoUpgradeService


class PluginTests(SynchronousTestCase):
    """The ``twisted/plugins/bws_plugin.py`` drop-in."""

    def test_pluginFound(self) -> None:
        """getPlugins finds the ``bws`` service maker, pointing at ``bws.tap``."""
        makers = {p.tapname: p for p in getPlugins(IServiceMaker)}
        self.assertIn("bws", makers)
        self.assertIsInstance(makers["bws"].options(), Options)


class OptionsTests(SynchronousTestCase):
    """Options and the listener they make."""

    def test_defaults(self) -> None:
        """No options: the echo service at / on port 9090, all interfaces, compression on."""
        options = Options()
        options.parseOptions([])
        [(listener, _)] = buildService(options).listeners
        self.assertIsInstance(listener, bws.Listener)
        self.assertEqual(listener.portNumber, 9090)
        self.assertEqual(listener.config.host, "0.0.0.0")
        self.assertTrue(listener.config.webSocketCompressionEnabled)
        attachment = listener.router.attachments[0]
        self.assertIsInstance(attachment.upgradeService, EchoUpgradeService)
        self.assertEqual(attachment.path, "*")
        self.assertIsNotNone(listener.router.route("/basic/ws"))  # the spec's sample URL

    def test_serviceOptions(self) -> None:
        """--service loads module:attribute; frame size, idle timeout and path apply."""
        options = Options()
        options.parseOptions(["--port", "0", "--host", "127.0.0.1", "--path", "/e",
                              "--service", "bws.testing.echo:EchoUpgradeService",
                              "--max-frame-size", "1024", "--idle-timeout", "2.5",
                              "--no-compression", "--allowed-origin", "https://a.example"])
        [(listener, _)] = buildService(options).listeners
        attachment = listener.router.attachments[0]
        config = serviceConfigOf(attachment.upgradeService)
        self.assertEqual((config.maxFrameSize, config.idleTimeout), (1024, 2.5))
        self.assertEqual(config.allowedOrigins, ("https://a.example",))
        self.assertEqual(attachment.path, "/e")
        self.assertFalse(listener.config.webSocketCompressionEnabled)

    def test_conformanceProfile(self) -> None:
        """--conformance raises frame and message limits to 16 MiB."""
        options = Options()
        options.parseOptions(["--conformance"])
        config = serviceConfigOf(options["upgradeService"])
        self.assertEqual(config.maxFrameSize, 16 * 1024 * 1024)
        self.assertEqual(config.messageLimit, 16 * 1024 * 1024)

    def test_badOptions(self) -> None:
        """Bad values fail with a one-line reason naming the option."""
        for argv, words in [
            (["--port", "x"], "--port"),
            (["--max-frame-size", "-1"], "--max-frame-size"),
            (["--service", "nosuchmodule:x"], "--service"),
            (["--service", "bws"], "--service"),
            (["--key", "k.pem"], "--key"),
            (["--verify-client", "maybe"], "--verify-client"),
            (["--allowed-origin", "not an origin"], "--allowed-origin: 'not an origin'"),
            (["--ping-interval", "-3"], "--ping-interval"),
            (["--path", "rooms{"], "--path: attach: path 'rooms{'"),
            (["--path", "/rooms/{room"], "segment '{room' is not a template"),
            (["--path", "/rooms/{room}x"], "--path"),
            (["--path", "/a/{x}/{x}"], "--path: attach: path '/a/{x}/{x}' repeats"),
        ]:
            e = self.assertRaises(usage.UsageError, Options().parseOptions, argv)
            self.assertIn(words, str(e))
            self.assertTrue(str(e).startswith("--"), str(e))
            self.assertNotIn("\n", str(e))
