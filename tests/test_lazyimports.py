"""``import bws`` stays quick: its public names load on first use (PEP 562), so the package
alone loads neither Twisted nor attrs; Autobahn (and its WAMP modules), pydantic and the TLS
stack (pyOpenSSL, cryptography) load on first use of what needs them, not with a name."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

#: Top-level packages ``import bws`` must not load.
HEAVY = ("autobahn", "txaio", "pydantic", "pydantic_core", "OpenSSL", "cryptography",
         "service_identity")

#: What the bare ``import bws`` must not load either: bws's own records and logic, and the
#: libraries under them (a name loads them when it is first asked for).
NOT_WITH_PACKAGE = (*HEAVY, "twisted", "attr", "attrs", "zope", "jwt", "ldaptor", "treq",
                    "hyperlink", "idna", "defusedxml", "typing_extensions", "crochet")

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def loadedAfter(code: str) -> list[str]:
    """The heavy packages loaded by running ``code`` in a fresh interpreter."""
    probe = (f"{code}\nimport sys\n"
             f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=_ROOT, capture_output=True,
                         text=True, check=True).stdout
    return list(eval(out))


def modulesAfter(code: str) -> list[str]:
    """The modules running ``code`` in a fresh interpreter adds to ``sys.modules``."""
    probe = (f"import sys\nbefore = set(sys.modules)\n{code}\n"
             "print(sorted(set(sys.modules) - before))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=_ROOT, capture_output=True,
                         text=True, check=True).stdout
    return list(eval(out))


class LazyImportTests(SynchronousTestCase):
    """What ``import bws`` loads, and what first use loads."""

    def test_packageAlone(self) -> None:
        """``import bws`` loads the package module and nothing else: no submodule of bws,
        no Twisted, attrs, zope.interface, nor the heavy packages."""
        loaded = modulesAfter("import bws")
        self.assertEqual([m for m in loaded if m.startswith("bws")], ["bws"])
        tops = {m.split(".")[0] for m in loaded}
        self.assertEqual(sorted(tops & set(NOT_WITH_PACKAGE)), [])

    def test_nameLoadsItsModule(self) -> None:
        """A name loads its own module and what that needs: ``bws.UpgradeError`` loads
        ``bws.errors`` and neither Twisted nor attrs; ``bws.Listener`` loads Twisted, but
        still not Autobahn, pydantic or the TLS stack."""
        loaded = modulesAfter("import bws\nbws.UpgradeError")
        self.assertEqual(sorted(m for m in loaded if m.startswith("bws")),
                         ["bws", "bws.errors"])
        self.assertNotIn("twisted", loaded)
        loaded = modulesAfter("from bws import Listener, Client, serviceConfig")
        self.assertIn("twisted.internet.defer", loaded)
        self.assertEqual(sorted({m.split(".")[0] for m in loaded} & set(HEAVY)), [])
        self.assertEqual([m for m in loaded if m.startswith("bws.auth")], [])

    def test_authLoadsWithItsFirstUse(self) -> None:
        """The auth records and stores load with the first service or client that has auth,
        not with ``Listener`` or ``Client``."""
        loaded = modulesAfter(
            "import bws\n"
            "from bws.testing import MemoryListener\n"
            "class S:\n"
            "    def get(self, request): return self\n"
            "m = MemoryListener(); m.attach(S(), '/')\n"
            "m.connect('/')\n")
        self.assertEqual([m for m in loaded if m.startswith("bws.auth")], [])
        loaded = modulesAfter(
            "import bws\n"
            "@bws.serviceConfig(auth=[{'fileUserStoreConfig': {'path': 'users.toml'}}])\n"
            "class S:\n"
            "    def get(self, request): return self\n")
        self.assertIn("bws.auth.records", loaded)

    def test_submodulesAsAttributes(self) -> None:
        """``import bws`` then ``bws.tls``, ``bws.testing``... imports the submodule, as the
        eager package did; a name that is not there is an ``AttributeError``."""
        import bws

        for name in ("tls", "auth", "config", "testing", "sync", "errors"):
            self.assertEqual(getattr(bws, name).__name__, f"bws.{name}")
        self.assertRaises(AttributeError, getattr, bws, "Listner")
        self.assertRaises(AttributeError, getattr, bws, "_private")
        self.assertFalse(hasattr(bws, "nosuchmodule"))
        self.assertTrue(set(bws.__all__) <= set(dir(bws)))

    def test_lazyTableMatchesImports(self) -> None:
        """The lazy table ``bws._LAZY`` is the ``if TYPE_CHECKING:`` imports (what type
        checkers and readers see), name for name, and covers ``__all__`` exactly; each name
        resolves to its module's object."""
        import bws

        with open(os.path.join(_ROOT, "bws", "__init__.py"), encoding="utf-8") as f:
            tree = ast.parse(f.read())
        imported: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    imported[alias.asname or alias.name] = node.module
        self.assertEqual(imported, bws._MODULE_OF)
        self.assertEqual(sorted(imported), sorted(bws.__all__))
        for name, module in imported.items():
            self.assertIs(getattr(bws, name), getattr(sys.modules[module], name), name)

    def test_importBws(self) -> None:
        """``import bws`` loads neither Autobahn's WAMP (nor any Autobahn), pydantic, nor
        OpenSSL/cryptography."""
        self.assertEqual(loadedAfter("import bws"), [])

    def test_publicNamesResolve(self) -> None:
        """Every public name of ``bws`` and ``bws.tls`` resolves (the lazy ones load their
        modules then)."""
        loaded = loadedAfter(
            "import bws, bws.tls\n"
            "for n in bws.__all__: getattr(bws, n)\n"
            "for n in bws.tls.__all__: getattr(bws.tls, n)\n")
        self.assertIn("OpenSSL", loaded)

    def test_firstConnectLoadsAutobahn(self) -> None:
        """A listener's first service loads Autobahn; a bound message type loads pydantic."""
        loaded = loadedAfter(
            "import bws\n"
            "from bws.testing import MemoryListener\n"
            "class S:\n"
            "    def get(self, request): return self\n"
            "    def onMessage(self, caller, data: dict[str, int]): return data\n"
            "m = MemoryListener(); m.attach(S(), '/')\n"
            "c = m.connect('/')\n")
        self.assertIn("autobahn", loaded)
        self.assertIn("pydantic", loaded)
