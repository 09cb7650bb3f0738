"""The client logs one structured line per connection event: open, close, a refused or
failed attempt, a retry; never a payload, a header or the URL's query (in memory)."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionRefusedError
from twisted.logger import eventAsJSON, formatEvent
from twisted.trial.unittest import SynchronousTestCase

import bws
from bws.client import Client
from bws.testing import MemoryListener, connect
from tests.server.test_connectionlogs import QUERY, Echo, LogCapture


class ClientLogTests(SynchronousTestCase):
    """What a log observer receives from a client."""

    def setUp(self) -> None:
        self.logs = LogCapture(self)

    def test_openAndClose(self) -> None:
        """Open gives the URL (without its query) and the subprotocol; close gives code,
        reason, who closed and the duration in seconds."""
        listener = MemoryListener()
        listener.attach(Echo(), "/room")
        client = self.successResultOf(listener.connect(f"/room?key={QUERY}"))
        client.writeTextMessage("hello")
        listener.flush()
        listener.clock.advance(2.25)
        client.close(4000, "leaving")
        listener.flush()
        events = self.logs.ws("client")
        self.assertEqual([e["wsEvent"] for e in events], ["open", "close"])
        opened, closed = events
        self.assertEqual((opened["url"], opened["subProtocol"]),
                         ("ws://127.0.0.1:9090/room", None))
        self.assertEqual(opened["id"], client.connectionId)
        self.assertEqual({k: closed[k] for k in ("id", "url", "code", "reason", "closedBy",
                                                  "duration")},
                         {"id": opened["id"], "url": "ws://127.0.0.1:9090/room",
                          "code": 4000, "reason": "leaving", "closedBy": "client",
                          "duration": 2.25})
        self.assertIn("closed by the client: 4000 'leaving' after 2.25 s",
                      formatEvent(closed))
        for event in self.logs.events:
            self.assertNotIn(QUERY, eventAsJSON(event))

    def test_serverCloses(self) -> None:
        """The server's close is logged with its code, by the server."""
        conn = connect(Echo(), "/")
        conn.client.writeTextMessage("bye")
        conn.advance(3)
        closed = self.logs.ws("client")[-1]
        self.assertEqual((closed["wsEvent"], closed["code"], closed["reason"],
                          closed["closedBy"]), ("close", 4001, "go away", "server"))

    def test_subprotocol(self) -> None:
        """The agreed subprotocol is in the open line."""
        upgrade = Echo()
        bws.serviceConfig(subProtocols=["chat"])(upgrade)
        conn = connect(upgrade, "/", subProtocols=["chat"])
        self.assertEqual(self.logs.ws("client")[0]["subProtocol"], "chat")
        self.assertEqual(self.logs.ws("server")[0]["subProtocol"], "chat")
        conn.client.close()
        conn.flush()

    def test_refused(self) -> None:
        """A refused upgrade logs the status only (not the server's text)."""
        listener = MemoryListener()
        listener.attach(Echo(), "/room/closed")
        self.failureResultOf(listener.connect("/room/closed"), bws.InvalidHandshakeError)
        [refused] = self.logs.ws("client")
        self.assertEqual((refused["wsEvent"], refused["status"], refused["url"]),
                         ("refused", 400, "ws://127.0.0.1:9090/room/closed"))
        self.assertNotIn("room is closed", eventAsJSON(refused))

    def test_failedAndRetried(self) -> None:
        """Each failed attempt logs ``failed`` with its error, each retry ``retry`` with its
        number and delay; then the connection opens."""
        listener = MemoryListener()
        listener.attach(Echo(), "/x")
        attempts = []

        def connector(factory: Any) -> Deferred[Any]:
            attempts.append(factory)
            if len(attempts) <= 2:
                d: Deferred[Any] = Deferred()
                d.errback(ConnectionRefusedError())
                return d
            return listener._connector(factory)

        d = Client.connect("ws://h:9/x?t=" + QUERY, reactor=listener.clock,
                           connector=connector,
                           retryConfig={"interval": 1, "backOffFactor": 2.0})
        listener.advance(1)
        listener.advance(2)
        self.successResultOf(d)
        events = self.logs.ws("client")
        self.assertEqual([e["wsEvent"] for e in events],
                         ["failed", "retry", "failed", "retry", "open"])
        self.assertEqual({e["url"] for e in events}, {"ws://h:9/x"})
        self.assertIn("Connection was refused", events[0]["error"])
        self.assertEqual([(e["attempt"], e["delay"]) for e in events if e["wsEvent"] == "retry"],
                         [(1, 1.0), (2, 2.0)])
        self.assertIn("retry 2 in 2.0 s", formatEvent(events[3]))

    def test_reconnectAfterDrop(self) -> None:
        """A dropped connection (1006) is logged as lost, then its reconnect as a retry."""
        conn = connect(Echo(), "/", retryConfig={"interval": 1})
        d = conn.client.readTextMessage()
        conn.listener.pumps[0].serverIO.abortConnection()
        conn.flush()
        conn.advance(1)
        self.assertNoResult(d)
        events = self.logs.ws("client")
        self.assertEqual([e["wsEvent"] for e in events], ["open", "close", "retry", "open"])
        self.assertEqual((events[1]["code"], events[1]["closedBy"]), (1006, None))
        self.assertEqual((events[2]["attempt"], events[2]["error"]),
                         (1, "the connection was lost"))
