"""The built wheel carries the twistd plugin and the typing marker."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile

from twisted.trial.unittest import TestCase

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class WheelTests(TestCase):
    """``pip wheel .`` builds what ``twistd bws`` needs."""

    def test_wheelContents(self) -> None:
        """The wheel has the plugin drop-in, no ``twisted/__init__.py`` or
        ``twisted/plugins/__init__.py``, ``py.typed`` and the bws packages."""
        out = tempfile.mkdtemp()
        self.addCleanup(__import__("shutil").rmtree, out, True)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", ROOT,
                        "-w", out], check=True, capture_output=True)
        wheel = next(f for f in os.listdir(out) if f.endswith(".whl"))
        names = set(zipfile.ZipFile(os.path.join(out, wheel)).namelist())
        self.assertIn("twisted/plugins/bws_plugin.py", names)
        self.assertNotIn("twisted/__init__.py", names)
        self.assertNotIn("twisted/plugins/__init__.py", names)
        self.assertIn("bws/py.typed", names)
        self.assertIn("bws/testing/echo.py", names)
        self.assertIn("bws/client/_inbox.py", names)
        self.assertIn("bws/server/_web.py", names)
