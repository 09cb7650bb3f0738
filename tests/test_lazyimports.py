"""``import bws`` stays quick: Autobahn (and its WAMP modules), pydantic and the TLS stack
(pyOpenSSL, cryptography) load on first use, not with the package."""

from __future__ import annotations

import os
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

#: Top-level packages ``import bws`` must not load.
HEAVY = ("autobahn", "txaio", "pydantic", "pydantic_core", "OpenSSL", "cryptography",
         "service_identity")

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def loadedAfter(code: str) -> list[str]:
    """The heavy packages loaded by running ``code`` in a fresh interpreter."""
    probe = (f"{code}\nimport sys\n"
             f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=_ROOT, capture_output=True,
                         text=True, check=True).stdout
    return list(eval(out))


class LazyImportTests(SynchronousTestCase):
    """What ``import bws`` loads, and what first use loads."""

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
