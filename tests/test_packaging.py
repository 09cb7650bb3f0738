"""The built wheel (distribution ``txbws``) carries every bws package, the twistd plugin and
the typing marker."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from functools import cache

from twisted.trial.unittest import SynchronousTestCase

import bws

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Not copied into the build tree: version control, local environments, build output.
_NOT_COPIED = shutil.ignore_patterns(".git", ".venv", ".tox", "_trial_temp*", "build", "dist",
                                     "*.egg-info", "__pycache__", "*.pyc", ".mypy_cache",
                                     ".ruff_cache", "autobahn-server", "autobahn-client")


@cache
def builtWheel() -> tuple[str, frozenset[str], str]:
    """Build the wheel with ``pip wheel`` as a user would: its file name, the names in it,
    and its ``METADATA``.

    The build runs on a copy of the checkout, so parallel test workers never share a
    ``build/`` directory and the checkout gets no build output.
    """
    work = tempfile.mkdtemp(prefix="bws-wheel-")
    try:
        source = os.path.join(work, "src")
        shutil.copytree(ROOT, source, ignore=_NOT_COPIED)
        out = os.path.join(work, "out")
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", source,
                        "-w", out], check=True, capture_output=True)
        wheel = next(f for f in os.listdir(out) if f.endswith(".whl"))
        with zipfile.ZipFile(os.path.join(out, wheel)) as archive:
            names = frozenset(archive.namelist())
            metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
            return wheel, names, archive.read(metadata).decode("utf-8")
    finally:
        shutil.rmtree(work, True)


def filesInTree(suffix: str) -> list[str]:
    """Every ``bws/**/*<suffix>`` of the checkout, as wheel paths (``bws/x/__init__.py``)."""
    found = []
    for directory, subdirectories, files in os.walk(os.path.join(ROOT, "bws")):
        subdirectories[:] = [d for d in subdirectories if d != "__pycache__"]
        for name in files:
            relative = os.path.relpath(os.path.join(directory, name), ROOT).replace(os.sep, "/")
            if relative.endswith(suffix):
                found.append(relative)
    return sorted(found)


class WheelTests(SynchronousTestCase):
    """``pip wheel .`` builds what ``twistd bws`` and users of every subpackage need.

    One test, so that the wheel is built once even when trial runs tests in parallel.
    """

    def test_wheelContents(self) -> None:
        """The wheel has the plugin drop-in, no ``twisted/__init__.py`` or
        ``twisted/plugins/__init__.py``, ``py.typed`` and every package and module under
        ``bws/`` (found by walking the tree, so a new subpackage is covered without editing
        this test); tests, benchmarks, docs and tools are not in it."""
        wheel, names, metadata = builtWheel()
        self.assertIn("twisted/plugins/bws_plugin.py", names)
        self.assertNotIn("twisted/__init__.py", names)
        self.assertNotIn("twisted/plugins/__init__.py", names)
        self.assertIn("bws/py.typed", names)
        self.assertIn("bws/testing/echo.py", names)

        packages = filesInTree("/__init__.py")
        self.assertIn("bws/__init__.py", packages)
        self.assertIn("bws/testing/__init__.py", packages)
        self.assertEqual([p for p in packages if p not in names], [], "packages missing")
        self.assertEqual([m for m in filesInTree(".py") if m not in names], [],
                         "modules missing")
        for top in ("tests/", "benchmarks/", "docs/", "tools/"):
            self.assertEqual([n for n in names if n.startswith(top)], [], top)
        self.assertEqual([n for n in names if "__pycache__" in n or n.endswith(".pyc")], [])

        # The distribution is txbws ("bws" on PyPI is another project); the import package
        # is bws, and the two carry one version.
        self.assertTrue(wheel.startswith(f"txbws-{bws.__version__}-"), wheel)
        self.assertIn("Name: txbws\n", metadata)
        self.assertIn(f"Version: {bws.__version__}\n", metadata)
