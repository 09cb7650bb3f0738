"""Checks of the benchmark harness itself: frames, figures, table.  No timing assertions."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import unittest
import zlib

from benchmarks import procstat, report
from benchmarks.run import rotated
from benchmarks.scenarios import SCENARIOS

try:
    from benchmarks import loadgen
except ImportError:  # picows / uvloop only come with the bench environments
    loadgen = None


def unmask(frame: bytes) -> tuple[int, bytes]:
    """Decode one masked client frame: (first byte, payload)."""
    n = frame[1] & 0x7F
    at = 2
    if n == 126:
        n, at = int.from_bytes(frame[2:4], "big"), 4
    elif n == 127:
        n, at = int.from_bytes(frame[2:10], "big"), 10
    mask, body = frame[at : at + 4], frame[at + 4 :]
    assert len(body) == n and frame[1] & 0x80
    return frame[0], bytes(b ^ mask[i % 4] for i, b in enumerate(body))


class ProcStatTests(unittest.TestCase):
    def test_own_process(self):
        self.assertGreater(procstat.rss_bytes(os.getpid()), 1 << 20)
        self.assertGreaterEqual(procstat.cpu_seconds(), 0)

    def test_tree(self):
        """A child process is found below this one and its CPU counted with it."""
        child = subprocess.Popen(
            [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
        )
        try:
            self.assertIn(child.pid, procstat.descendants(os.getpid()))
            self.assertGreaterEqual(
                procstat.tree_cpu_seconds(os.getpid()), procstat.cpu_seconds(child.pid)
            )
        finally:
            child.stdin.close()
            child.wait()

    def test_connections(self):
        """The established connections on a port, per process: here, this one holds one."""
        with socket.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen()
            port = server.getsockname()[1]
            with socket.create_connection(("127.0.0.1", port)), server.accept()[0]:
                self.assertEqual(procstat.connections_per_process(os.getpid(), port), [1])

    def test_spread(self):
        """rr100's worker spread: the farthest worker from an even share, in % of it."""
        [metric] = [m for m in SCENARIOS["rr100"].metrics if m.key == "conn_spread"]
        self.assertEqual(metric.compute({"conns_per_worker": [60, 40]}), 20.0)
        self.assertEqual(metric.compute({"conns_per_worker": [100, 0]}), 100.0)
        self.assertEqual(metric.compute({"conns_per_worker": [100]}), 0.0)


@unittest.skipIf(loadgen is None, "picows/uvloop not installed")
class FrameTests(unittest.TestCase):
    def test_lengths(self):
        for size in (0, 32, 125, 126, 65535, 65536, 70000):
            payload = os.urandom(size)
            first, body = unmask(loadgen.client_frame(loadgen.OP_BINARY, payload))
            self.assertEqual((first, body), (0x82, payload))

    def test_deflate_round_trip(self):
        doc = loadgen.json_document()
        self.assertEqual(len(doc), 1024)
        first, body = unmask(
            loadgen.client_frame(loadgen.OP_TEXT, loadgen.deflate_message(doc), rsv1=True)
        )
        self.assertEqual(first, 0xC1)
        inflate = zlib.decompressobj(wbits=-15)
        self.assertEqual(inflate.decompress(body + loadgen.DEFLATE_TAIL), doc)


class ReportTests(unittest.TestCase):
    def sample(self, rnd, server, cpu_s, messages=1000):
        raw = {
            "messages": messages,
            "bytes": 32 * messages,
            "wall_s": 1.0,
            "server_cpu_s": cpu_s,
            "client_cpu_s": 0.1,
        }
        metrics = {m.key: m.compute(raw) for m in SCENARIOS["rr100"].metrics}
        return {
            "round": rnd,
            "scenario": "rr100",
            "server": server,
            "client": None,
            "raw": raw,
            "metrics": metrics,
        }

    def test_paired_ratio_and_target(self):
        samples = []
        for rnd, drift in enumerate((1.0, 2.0, 1.5)):  # machine speed drifts between rounds
            samples += [
                self.sample(rnd, "autobahn", 0.02 * drift),
                self.sample(rnd, "websockets", 0.01 * drift),
                self.sample(rnd, "aiohttp", 0.022 * drift),
                self.sample(rnd, "bws", 0.021 * drift),
            ]
        rows = report.summarize(samples)
        head = rows[0]
        self.assertEqual(head["metric"], "server_cpu")
        self.assertAlmostEqual(head["medians"]["autobahn"], 30.0)
        self.assertAlmostEqual(head["ratios"]["autobahn"], 1.05)  # drift cancels out
        self.assertAlmostEqual(head["ratios"]["websockets"], 2.1)
        text = report.table(rows)
        self.assertIn("≤1.00×aiohttp ok", text)  # rr100's target: bws at or below aiohttp
        self.assertIn("bws/aiohttp", text)

    def test_target_missed(self):
        rows = report.summarize([self.sample(0, "aiohttp", 0.01), self.sample(0, "bws", 0.02)])
        self.assertIn("≤1.00×aiohttp OVER", report.table(rows))

    def test_missing_subject(self):
        rows = report.summarize([self.sample(0, "autobahn", 0.02), {"error": "x", "round": 0}])
        self.assertIn(report.MISSING, report.table(rows))

    def test_rotation(self):
        self.assertEqual(rotated(["a", "b", "c"], 4), ["b", "c", "a"])


if __name__ == "__main__":
    unittest.main()
