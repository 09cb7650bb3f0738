"""``twistd bws --auth TYPE:ARGS`` and ``--auth-scopes``: bws's checkers and Twisted's own
protect the served service; ``--help-auth`` lists them; the plugin stays import-light."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
from typing import Any

from twisted.cred.strcred import ICheckerFactory
from twisted.plugin import getPlugins
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

import bws
import bws.testing
from bws.auth.records import CheckerWithScopes
from bws.config import serviceConfigOf
from bws.tap import Options, buildService
from tests.auth.keys import SECRET, token, writeFile


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


class AuthOptionTests(SynchronousTestCase):
    """--auth puts checkers in front of the service; the rules are the listener's."""

    def options(self, *argv: str) -> Options:
        options = Options()
        options.parseOptions(["--port", "0", "--path", "/", *argv])
        return options

    def status(self, options: Options, header: str | None) -> int:
        """Connect in memory to the service the options configured."""
        headers = {"Authorization": header} if header else {}
        try:
            bws.testing.connect(options["upgradeService"], "/", customHeaders=headers)
        except bws.InvalidHandshakeError as e:
            assert e.response is not None
            return e.response.statusCode
        return 101

    def test_toml(self) -> None:
        """--auth toml:PATH with --auth-scopes: alice (write) in, bob (read) 403, nobody 401."""
        path = writeFile(self, b'[[users]]\nusername = "alice"\npassword = "a"\n'
                               b'scopes = ["write"]\n[[users]]\nusername = "bob"\n'
                               b'password = "b"\nscopes = ["read"]\n')
        options = self.options("--auth", f"toml:{path}", "--auth-scopes", "write,update")
        config = serviceConfigOf(options["upgradeService"])
        assert config.auth is not None
        self.assertEqual(config.auth[0].scopes, ("write", "update"))
        self.assertEqual(self.status(options, basic("alice", "a")), 101)
        self.assertEqual(self.status(options, basic("bob", "b")), 403)
        self.assertEqual(self.status(options, None), 401)
        self.assertIsInstance(buildService(options).listeners[0][0], bws.Listener)

    def test_twistedMemoryAndFile(self) -> None:
        """Twisted's own memory: and file: checkers serve Basic, tried in order."""
        passwd = writeFile(self, b"carol:c\n")
        options = self.options("--auth", "memory:alice:a", "--auth", f"file:{passwd}")
        self.assertEqual(self.status(options, basic("alice", "a")), 101)
        self.assertEqual(self.status(options, basic("carol", "c")), 101)
        self.assertEqual(self.status(options, basic("carol", "x")), 401)

    def test_jwt(self) -> None:
        """--auth jwt:... validates Bearer tokens."""
        import time

        secret = writeFile(self, SECRET.encode())
        options = self.options("--auth", f"jwt:issuer=idp,secretFile={secret}")
        good = token(SECRET, {"iss": "idp", "sub": "u", "exp": time.time() + 60}, "HS256")
        self.assertEqual(self.status(options, "Bearer " + good), 101)
        self.assertEqual(self.status(options, basic("u", "p")), 401)

    def test_errors(self) -> None:
        """Bad --auth values fail in one line naming the option."""
        missing = self.mktemp()
        for argv, words in [
            (["--auth-scopes", "x"], "--auth-scopes needs --auth"),
            (["--auth", f"toml:{missing}"], missing),
            (["--auth", "nosuch:x"], "unknown type"),
            (["--auth", "jwt:nope=1"], "--auth jwt"),
            (["--auth", "anonymous"], "neither Basic nor Bearer"),
        ]:
            e = self.assertRaises(usage.UsageError, self.options, *argv)
            self.assertIn(words, str(e))
            self.assertNotIn("\n", str(e))

    def test_overridesServiceConfig(self) -> None:
        """--auth replaces the service's own auth entries."""
        options = self.options("--auth", "memory:a:b")
        config = serviceConfigOf(options["upgradeService"])
        assert config.auth is not None
        self.assertEqual(len(config.auth), 1)
        self.assertIsInstance(config.auth[0], CheckerWithScopes)


class HelpTests(SynchronousTestCase):
    """--help-auth and the plugin drop-in."""

    def test_helpAuthLists(self) -> None:
        """--help-auth lists toml, jwt and Twisted's Basic checkers, not the SSH-key one."""
        options = Options()
        options.authOutput = io.StringIO()
        self.assertRaises(SystemExit, options.parseOptions, ["--help-auth"])
        listed = options.authOutput.getvalue()
        for authType in ("toml", "jwt", "file", "memory"):
            self.assertIn(f"  {authType}", listed)
        self.assertNotIn("sshkey", listed)

    def test_helpListsAuth(self) -> None:
        """--help shows --auth and --auth-scopes."""
        text = str(Options())
        self.assertIn("--auth=", text)
        self.assertIn("--auth-scopes=", text)

    def test_factories(self) -> None:
        """One ICheckerFactory per bws store is found, with its interfaces."""
        factories: dict[str, Any] = {f.authType: f for f in getPlugins(ICheckerFactory)}
        from bws.auth.credentials import IBearerToken

        self.assertEqual(factories["jwt"].credentialInterfaces, (IBearerToken,))
        self.assertIn("toml", factories)

    def test_pluginImportLight(self) -> None:
        """Importing the plugin module loads no bws module."""
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        out = subprocess.run(
            [sys.executable, "-c", "import sys, twisted.plugins.bws_cred; "
                                   "print(sorted(m for m in sys.modules if m.startswith('bws')))"],
            capture_output=True, text=True, check=True, cwd=root)
        self.assertEqual(out.stdout.strip(), "[]")
