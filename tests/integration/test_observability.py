"""The logs and metrics page (docs/observability.rst), run as written: its ``twistd``
commands and its example program, as child processes on free loopback ports."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import treq
from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.protocol import ProcessProtocol
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

import bws
from tests.integration.test_docs import (
    EXAMPLES,
    TWISTD,
    consoleCommands,
    environment,
    freePort,
)
from tests.integration.test_metrics import samples

PAYLOAD = "payload-marker-71c4"
QUERY = "query-marker-0d9e"


class Output(ProcessProtocol):
    """A child's output, searched as it arrives: :meth:`waitFor` a pattern."""

    def __init__(self) -> None:
        self.text = ""
        self.waiting: list[tuple[re.Pattern[str], Deferred[re.Match[str]]]] = []
        self.ended: Deferred[None] = Deferred()

    def waitFor(self, pattern: str) -> Deferred[re.Match[str]]:
        d: Deferred[re.Match[str]] = Deferred()
        self.waiting.append((re.compile(pattern), d))
        self._check()
        return d

    def _check(self) -> None:
        for entry in list(self.waiting):
            match = entry[0].search(self.text)
            if match:
                self.waiting.remove(entry)
                entry[1].callback(match)

    def outReceived(self, data: bytes) -> None:
        self.text += data.decode("utf-8", "replace")
        self._check()

    errReceived = outReceived

    def processEnded(self, reason: Failure) -> None:
        for _, d in self.waiting:
            d.errback(AssertionError(f"the program ended: {self.text}"))
        self.waiting = []
        self.ended.callback(None)


class ObservabilityPageTests(TestCase):
    """The page's commands and example, with real clients and a real scrape."""

    timeout = 120

    def spawn(self, args: list[str]) -> Output:
        output = Output()
        transport = reactor.spawnProcess(  # type: ignore[attr-defined]
            output, sys.executable, [sys.executable, *args], env=environment(),
            path=str(EXAMPLES))

        def stop() -> Deferred[None]:
            if not output.ended.called:
                transport.signalProcess("TERM")
            return output.ended

        self.addCleanup(stop)
        return output

    def pageCommand(self, option: str) -> list[str]:
        """The page's ``twistd`` command with ``option``, on free ports and loopback."""
        [command] = [c for c in consoleCommands("observability.rst", "twistd") if option in c]
        self.assertIn("--pidfile=", command)
        at = command.index("--port")
        command[at:at + 2] = ["--port", str(freePort()), "--host", "127.0.0.1"]
        return ["-c", TWISTD, *[re.sub(r"tcp:9100:", f"tcp:{freePort()}:", word)
                                for word in command]]

    @inlineCallbacks
    def test_jsonLogs(self) -> Any:
        """``--logger json_logs.observer``: the connection's events are JSON records with
        their fields, and hold no payload and no query."""
        output = self.spawn(self.pageCommand("--logger"))
        match = yield output.waitFor(r'"url": "(ws://127\.0\.0\.1:\d+/)"')
        client = yield bws.Client.connect(f"{match.group(1)}room?token={QUERY}")
        yield client.writeTextMessage(PAYLOAD)
        self.assertEqual((yield client.readTextMessage()), PAYLOAD)
        yield client.close(1000, "bye")
        yield output.waitFor(r'"wsEvent": "close"')
        records = [json.loads(r) for r in output.text.split("\x1e") if r.strip()]
        events = [r for r in records if r.get("side") == "server"]
        self.assertEqual([e["wsEvent"] for e in events], ["open", "close"])
        self.assertEqual(events[0]["path"], "/room")
        self.assertEqual({k: events[1][k] for k in ("code", "reason", "closedBy")},
                         {"code": 1000, "reason": "bye", "closedBy": "client"})
        self.assertNotIn(PAYLOAD, output.text)
        self.assertNotIn(QUERY, output.text)

    @inlineCallbacks
    def test_metricsCommand(self) -> Any:
        """``twistd bws --metrics``: the start-up line gives the URL; a scrape counts the
        handshake and the message of a client."""
        output = self.spawn(self.pageCommand("--metrics"))
        served = yield output.waitFor(r"bws: serving \S+ at (ws://\S+) ")
        metrics = yield output.waitFor(r"bws: metrics at (http://\S+/metrics)")
        client = yield bws.Client.connect(served.group(1) + "echo")
        yield client.writeBinaryMessage(b"12345678")
        self.assertEqual((yield client.readBinaryMessage()), b"12345678")
        response = yield treq.get(metrics.group(1), persistent=False)
        found = samples((yield response.text()))
        yield client.close()
        self.assertEqual(found[("bws_handshakes_total", (("status", "101"),))], 1)
        self.assertEqual(found[("bws_connections_open", ())], 1)
        key = (("direction", "out"), ("type", "binary"))
        self.assertEqual(found[("bws_message_bytes_total", key)], 8)

    @inlineCallbacks
    def test_metricsListenerExample(self) -> Any:
        """metrics_listener.py serves the echo and its metrics, as the page says."""
        output = self.spawn(["metrics_listener.py", "0", "0"])
        line = yield output.waitFor(r"serving (ws://\S+/echo), metrics at (http://\S+)")
        client = yield bws.Client.connect(line.group(1))
        yield client.writeTextMessage("hello")
        self.assertEqual((yield client.readTextMessage()), "hello")
        response = yield treq.get(line.group(2), persistent=False)
        found = samples((yield response.text()))
        yield client.close()
        key = (("direction", "in"), ("type", "text"))
        self.assertEqual(found[("bws_messages_total", key)], 1)
        self.assertEqual(found[("bws_message_bytes_total", key)], 5)
        self.assertIn(("process_resident_memory_bytes", ()), found)
