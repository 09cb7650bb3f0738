"""The broadcast benchmark runs: a short round of each variant delivers every message to
every member (no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

from benchmarks.broadcast import REDIS, ROOT

try:
    import picows  # noqa: F401
except ImportError:  # picows only comes with the bench environments
    picows = None


@unittest.skipIf(picows is None, "picows not installed")
class BroadcastSmokeTests(unittest.TestCase):
    def test_smoke(self):
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "broadcast.json"
            subprocess.run([sys.executable, "-m", "benchmarks.broadcast", "--smoke",
                            "--json", str(out)], cwd=ROOT, check=True, timeout=300,
                           capture_output=True)
            results = json.loads(out.read_text())
        expected = {"local", "naive"} | ({"redis", "workers"} if REDIS else set())
        self.assertEqual(set(results), expected)
        for runs in results.values():
            for run in runs:
                self.assertEqual(run["delivered"], run["messages"] * (run["members"] - 1))
        for run in results.get("workers", []):
            # Every member counted on one of the two workers (the parent holds none).
            self.assertEqual(len(run["members_per_process"]), 2, run)
            self.assertEqual(sum(run["members_per_process"]), run["members"], run)
