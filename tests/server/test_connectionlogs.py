"""The listener logs one structured line per connection event (open, close, refusal), with
its fields in the twisted.logger event and never a payload, header or query string (in
memory)."""

from __future__ import annotations

import json
from typing import Any

from twisted.logger import eventAsJSON, formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

import bws.testing
from bws.errors import InvalidHandshakeError, UpgradeError


class Echo:
    """Echoes text; refuses the upgrade when the path says so."""

    def get(self, request: Any) -> Any:
        if request.path.endswith("/closed"):
            raise UpgradeError("room is closed")
        return self

    def onTextMessage(self, caller: Any, text: str) -> str:
        return text


class ConnectionLogTests(SynchronousTestCase):
    """What a log observer receives for a connection's life."""

    def setUp(self) -> None:
        self.events: list[dict[str, Any]] = []

        def observe(event: dict[str, Any]) -> None:
            if "wsEvent" in event:
                self.events.append(event)

        globalLogPublisher.addObserver(observe)
        self.addCleanup(globalLogPublisher.removeObserver, observe)

    def test_openAndClose(self) -> None:
        """Open gives peer, path and subprotocol; close gives code, reason and duration;
        no message between them logs anything."""
        conn = bws.testing.connect(Echo(), "/room")
        conn.client.writeTextMessage("secret payload")
        conn.flush()
        self.successResultOf(conn.client.readTextMessage())
        self.assertEqual([e["wsEvent"] for e in self.events], ["open"])
        opened = self.events[0]
        self.assertEqual(opened["path"], "/room")
        self.assertRegex(opened["peer"], r"^127\.0\.0\.1:\d+$")
        self.assertIsNone(opened["subProtocol"])
        conn.clock.advance(1.5)
        conn.client.close(1001, "bye")
        conn.flush()
        self.assertEqual([e["wsEvent"] for e in self.events], ["open", "close"])
        closed = self.events[1]
        self.assertEqual((closed["code"], closed["reason"]), (1001, "bye"))
        self.assertEqual(closed["duration"], 1.5)
        self.assertEqual(closed["id"], opened["id"])
        line = formatEvent(closed)
        self.assertIn("1001 'bye' after 1.5 s", line)
        for event in self.events:
            self.assertNotIn("secret payload", formatEvent(event))

    def test_jsonObserverGetsFields(self) -> None:
        """A JSON log observer gets the fields as JSON members."""
        conn = bws.testing.connect(Echo(), "/")
        conn.client.close()
        conn.flush()
        decoded = [json.loads(eventAsJSON(e)) for e in self.events]
        self.assertEqual([d["wsEvent"] for d in decoded], ["open", "close"])
        self.assertEqual(decoded[1]["code"], 1000)
        self.assertEqual(decoded[0]["path"], "/")

    def test_refusal(self) -> None:
        """A refused upgrade logs its status, peer and path, not the query (tokens travel
        there) nor the refusal's text."""
        listener = bws.testing.MemoryListener()
        listener.attach(Echo(), "/room/closed")
        self.failureResultOf(listener.connect("/room/closed?token=s3cr3t"),
                             InvalidHandshakeError)
        self.failureResultOf(listener.connect("/nowhere"), InvalidHandshakeError)
        self.assertEqual([(e["wsEvent"], e["status"], e["path"]) for e in self.events],
                         [("refused", 400, "/room/closed"), ("refused", 404, "/nowhere")])
        for event in self.events:
            self.assertNotIn("s3cr3t", formatEvent(event))
            self.assertNotIn("s3cr3t", eventAsJSON(event))

    def test_abnormalClose(self) -> None:
        """A peer that vanishes is logged as closed with 1006."""
        conn = bws.testing.connect(Echo(), "/")
        conn.listener.pumps[0].clientIO.abortConnection()
        conn.flush()
        self.assertEqual([e["wsEvent"] for e in self.events], ["open", "close"])
        self.assertEqual(self.events[1]["code"], 1006)
