"""The runnable examples of docs/auth.rst give the answers the page shows."""

from __future__ import annotations

import importlib.util
import os
import sys
from types import ModuleType

from twisted.trial.unittest import SynchronousTestCase

import bws.testing
from bws.tap import Options

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "docs", "examples")


def example(name: str) -> ModuleType:
    """Load ``docs/examples/<name>.py`` (its folder importable, as when it is run)."""
    if EXAMPLES not in sys.path:
        sys.path.append(EXAMPLES)
    spec = importlib.util.spec_from_file_location(f"docs_example_{name}",
                                                  os.path.join(EXAMPLES, f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ExampleTests(SynchronousTestCase):
    """Each example's ``main()``."""

    def test_fileStore(self) -> None:
        """auth_file.py: alice writes; bob and eve are 403; a wrong password is 401."""
        self.assertEqual(example("auth_file").main(), [
            "alice (write update) wrote 'hello'", "bob: 403 Forbidden", "eve: 403 Forbidden",
            "alice: 401 Unauthorized"])

    def test_jwt(self) -> None:
        """auth_jwt.py: a self-issued JWT with scp write passes; read is 403."""
        self.assertEqual(example("auth_jwt").main(), [
            "alice from https://idp.example: write update", "scp='read': 403 Forbidden"])

    def test_checker(self) -> None:
        """auth_checker.py: a user-written API-key checker with scopes."""
        self.assertEqual(example("auth_checker").main(), [
            "build-bot deploys v2", "k-456: 403 Forbidden", "k-789: 401 Unauthorized"])

    def test_twistdCommand(self) -> None:
        """The page's twistd command line protects the echo service with users.toml."""
        options = Options()
        options.parseOptions(["--auth", f"toml:{os.path.join(EXAMPLES, 'users.toml')}",
                              "--auth-scopes", "write"])
        # twistd checks hashes in the running reactor's threads; here, at once.
        options["credCheckers"][0].reactor = None
        conn = bws.testing.connect(options["upgradeService"], "/",
                                   auth={"username": "alice", "password": "xxx"})
        conn.client.writeTextMessage("echo")
        conn.flush()
        self.assertEqual(self.successResultOf(conn.client.readTextMessage()), "echo")
