"""A client with ``retryConfig`` reconnects after a server's close that says "come back"
(1001 Going Away, 1012, 1013): a draining backend behind a load balancer hands its clients
to another (in memory; the real proxies are in tests.integration.test_proxies)."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

import bws
from bws.client._client import RECONNECT_CODES
from bws.testing import MemoryListener


class Backend:
    """An upgrade service whose connections say hello with the backend's name."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.callers: list[Any] = []

    def get(self, request: Any) -> Any:
        return self

    def onOpen(self, caller: Any) -> None:
        self.callers.append(caller)

    def onTextMessage(self, caller: Any, text: str) -> str:
        return f"{self.name}: {text}"


class GoingAwayTests(SynchronousTestCase):
    """What a client does with each kind of server close."""

    def setUp(self) -> None:
        self.memory = MemoryListener()
        self.backend = Backend("a")
        self.memory.attach(self.backend, "/")

    def connected(self, **config: Any) -> bws.Client:
        client: bws.Client = self.successResultOf(self.memory.connect("/", **config))
        return client

    def closeFrom(self, code: int, pump: int = 0) -> None:
        """The server's close frame with ``code``, written on the wire (a bws ``Caller``
        sends only the reference's codes; other servers send 1012 and 1013)."""
        self.memory.pumps[pump].serverIO.write(b"\x88\x02" + code.to_bytes(2, "big"))

    def test_reconnectCodes(self) -> None:
        """The codes are Going Away and the two registered "come back later" codes."""
        self.assertEqual(sorted(RECONNECT_CODES), [1001, 1012, 1013])

    def test_goingAwayDuringReadReconnects(self) -> None:
        """A 1001 while a read waits: the client answers the close, reconnects after
        ``interval`` and the read gets the first message of the new connection."""
        client = self.connected(retryConfig={"interval": 1})
        d = client.readTextMessage()
        first = client.protocol
        self.backend.callers[0].close(1001)
        self.memory.flush()
        self.assertNoResult(d)
        self.assertEqual(len(self.memory.pumps), 1)
        self.memory.advance(1)
        self.assertEqual(len(self.memory.pumps), 2)
        self.assertIsNot(client.protocol, first)
        self.backend.callers[1].writeTextMessage("welcome back")
        self.memory.flush()
        self.assertEqual(self.successResultOf(d), "welcome back")

    def test_serviceRestartThenWrite(self) -> None:
        """After a 1012 with no read waiting, the next write reconnects and is sent on the
        new connection."""
        client = self.connected(retryConfig={"interval": 1})
        self.closeFrom(1012)
        self.memory.flush()
        d = client.writeTextMessage("again")
        self.memory.advance(1)
        self.successResultOf(d)
        self.assertEqual(len(self.backend.callers), 2)
        self.assertEqual(self.successResultOf(client.readTextMessage()), "a: again")

    def test_tryAgainLaterBacksOff(self) -> None:
        """A 1013 reconnect waits ``interval`` like a drop does."""
        client = self.connected(retryConfig={"interval": 3})
        d = client.readTextMessage()
        self.closeFrom(1013)
        self.memory.advance(2.9)
        self.assertEqual(len(self.memory.pumps), 1)
        self.memory.advance(0.1)
        self.assertEqual(len(self.memory.pumps), 2)
        self.assertNoResult(d)

    def test_messagesBeforeTheCloseAreRead(self) -> None:
        """Messages queued before the 1001 are read first, then the reads wait for the new
        connection."""
        client = self.connected(retryConfig={"interval": 1})
        caller = self.backend.callers[0]
        caller.writeTextMessage("last words")
        caller.close(1001)
        self.memory.flush()
        self.assertEqual(self.successResultOf(client.readTextMessage()), "last words")
        d = client.readTextMessage()
        self.assertNoResult(d)
        self.memory.advance(1)
        self.backend.callers[1].writeTextMessage("hello again")
        self.memory.flush()
        self.assertEqual(self.successResultOf(d), "hello again")

    def test_goingAwayWithoutRetryEndsRead(self) -> None:
        """Without ``retryConfig`` a 1001 ends the pending read with its code, as the
        reference does for every server close."""
        client = self.connected()
        d = client.readTextMessage()
        self.backend.callers[0].close(1001)
        self.memory.advance(5)
        f = self.failureResultOf(d, bws.ConnectionClosureError)
        self.assertEqual(str(f.value), "Connection closed Status code: 1001")
        self.assertEqual(len(self.memory.pumps), 1)

    def test_otherCodesNotRetried(self) -> None:
        """1000, 1008 and an application code end the read even with ``retryConfig``."""
        for code in (1000, 1008, 4000):
            self.backend.callers.clear()
            client = self.connected(retryConfig={"interval": 1})
            before = len(self.memory.pumps)
            d = client.readTextMessage()
            self.backend.callers[0].close(code)
            self.memory.advance(5)
            f = self.failureResultOf(d, bws.ConnectionClosureError)
            self.assertIn(f"Status code: {code}", str(f.value))
            self.assertEqual(len(self.memory.pumps), before, code)

    def test_ownCloseWhileReconnecting(self) -> None:
        """``close()`` after a 1001 stops the reconnect: reads fail at once and no new
        connection is made."""
        client = self.connected(retryConfig={"interval": 1})
        self.backend.callers[0].close(1001)
        self.memory.flush()
        f = self.failureResultOf(client.close(), bws.ConnectionClosureError)
        self.assertEqual(str(f.value), "Connection already closed")
        self.memory.advance(5)
        self.assertEqual(len(self.memory.pumps), 1)
        self.failureResultOf(client.readTextMessage(), bws.ConnectionClosureError)
