"""The listener logs one structured line per connection event (open, close, refusal), with
its fields in the twisted.logger event and never a payload, header or query string (in
memory)."""

from __future__ import annotations

import io
import json
from typing import Any

from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.testing import StringTransport
from twisted.logger import eventAsJSON, formatEvent, globalLogPublisher, jsonFileLogObserver
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

import bws
import bws.testing
from bws.auth.credentials import IBearerToken
from bws.auth.records import BearerTokenConfig, CheckerWithScopes
from bws.config import setServiceConfig
from bws.errors import InvalidHandshakeError, UpgradeError

#: Markers that must never reach a log event: a message's payload, a bearer token (in the
#: Authorization header), a token in the query string.
PAYLOAD = "payload-marker-5f1c"
TOKEN = "token-marker-9a7e"
QUERY = "query-marker-3b2d"


class Echo:
    """Echoes text and binary; refuses the upgrade when the path says so; closes 4001 on
    "bye"."""

    def get(self, request: Any) -> Any:
        if request.path.endswith("/closed"):
            raise UpgradeError("room is closed")
        return self

    def onTextMessage(self, caller: Any, text: str) -> Any:
        if text == "bye":
            return bws.CustomCloseFrame(4001, "go away")
        return text

    def onBinaryMessage(self, caller: Any, data: bytes) -> bytes:
        return data


@implementer(ICredentialsChecker)
class TokenChecker:
    """Bearer tokens: only ``TOKEN`` is let in."""

    credentialInterfaces = (IBearerToken,)

    def requestAvatarId(self, credentials: Any) -> Deferred[Any]:
        if credentials.token == TOKEN:
            return succeed("alice")
        return fail(UnauthorizedLogin())


class LogCapture:
    """Every log event, kept in memory while a test runs."""

    def __init__(self, case: SynchronousTestCase) -> None:
        self.events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(self.events.append)
        case.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def ws(self, side: str) -> list[dict[str, Any]]:
        """The connection events of one side ("server" or "client")."""
        return [e for e in self.events if "wsEvent" in e and e.get("side") == side]

    def kinds(self, side: str) -> list[str]:
        return [e["wsEvent"] for e in self.ws(side)]


class ConnectionLogTests(SynchronousTestCase):
    """What a log observer receives for a connection's life."""

    def setUp(self) -> None:
        self.logs = LogCapture(self)

    def test_openAndClose(self) -> None:
        """Open gives peer, path and subprotocol; close gives code, reason, who closed and
        duration; no message between them logs anything."""
        conn = bws.testing.connect(Echo(), "/room")
        conn.client.writeTextMessage("secret payload")
        conn.flush()
        self.successResultOf(conn.client.readTextMessage())
        self.assertEqual(self.logs.kinds("server"), ["open"])
        opened = self.logs.ws("server")[0]
        self.assertEqual(opened["path"], "/room")
        self.assertRegex(opened["peer"], r"^127\.0\.0\.1:\d+$")
        self.assertIsNone(opened["subProtocol"])
        conn.clock.advance(1.5)
        conn.client.close(1001, "bye")
        conn.flush()
        self.assertEqual(self.logs.kinds("server"), ["open", "close"])
        closed = self.logs.ws("server")[1]
        self.assertEqual((closed["code"], closed["reason"], closed["closedBy"]),
                         (1001, "bye", "client"))
        self.assertEqual(closed["duration"], 1.5)
        self.assertEqual(closed["id"], opened["id"])
        line = formatEvent(closed)
        self.assertIn("closed by the client: 1001 'bye' after 1.5 s", line)
        for event in self.logs.events:
            self.assertNotIn("secret payload", formatEvent(event))

    def test_serverCloses(self) -> None:
        """A close the service sends first is logged with its code and reason, by the
        server (not as 1006: the peer's answer is not what began it)."""
        conn = bws.testing.connect(Echo(), "/")
        conn.client.writeTextMessage("bye")
        conn.advance(3)
        closed = self.logs.ws("server")[-1]
        self.assertEqual((closed["wsEvent"], closed["code"], closed["reason"],
                          closed["closedBy"]), ("close", 4001, "go away", "server"))
        self.assertIn("closed by the server: 4001 'go away'", formatEvent(closed))

    def test_failureCode(self) -> None:
        """A connection bws fails (a frame over maxFrameSize: 1009) is logged with the
        code it sent."""
        listener = bws.testing.MemoryListener()
        upgrade = Echo()
        setServiceConfig(upgrade, bws.WSServiceConfig(maxFrameSize=16))
        listener.attach(upgrade, "/")
        client = self.successResultOf(listener.connect("/", webSocketCompressionEnabled=False))
        client.writeTextMessage("x" * 100)
        listener.advance(3)
        self.assertEqual(self.logs.kinds("server"), ["open", "close"])
        closed = self.logs.ws("server")[-1]
        self.assertEqual((closed["code"], closed["closedBy"]), (1009, "server"))

    def test_abnormalClose(self) -> None:
        """A peer that vanishes is logged as closed with 1006, by nobody."""
        conn = bws.testing.connect(Echo(), "/")
        conn.listener.pumps[0].clientIO.abortConnection()
        conn.flush()
        self.assertEqual(self.logs.kinds("server"), ["open", "close"])
        closed = self.logs.ws("server")[1]
        self.assertEqual((closed["code"], closed["closedBy"]), (1006, None))
        self.assertIn("lost without a close frame: 1006", formatEvent(closed))

    def test_refusal(self) -> None:
        """A refused upgrade logs its status, peer and path, not the query (tokens travel
        there) nor the refusal's text."""
        listener = bws.testing.MemoryListener()
        listener.attach(Echo(), "/room/closed")
        self.failureResultOf(listener.connect(f"/room/closed?token={QUERY}"),
                             InvalidHandshakeError)
        self.failureResultOf(listener.connect("/nowhere"), InvalidHandshakeError)
        self.assertEqual([(e["wsEvent"], e["status"], e["path"])
                          for e in self.logs.ws("server")],
                         [("refused", 400, "/room/closed"), ("refused", 404, "/nowhere")])
        for event in self.logs.events:
            self.assertNotIn(QUERY, formatEvent(event))
            self.assertNotIn(QUERY, eventAsJSON(event))
            self.assertNotIn("room is closed", formatEvent(event))

    def rawRequest(self, listener: bws.testing.MemoryListener, data: bytes) -> bytes:
        """``data`` sent on a new connection to the listener's site; what it answered."""
        channel = listener.listener.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 4242))
        transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 4242))
        channel.makeConnection(transport)
        channel.dataReceived(data)
        self.addCleanup(channel.connectionLost, None)
        return transport.value()

    def test_refusalsBeforeRouting(self) -> None:
        """The refusals made before a request reaches a service log their status too: a
        request head over ``requestLimits`` (414, path unknown), a body on an upgrade
        path (400), TLS on the plain port (400)."""
        listener = bws.testing.MemoryListener(requestLimits={"maxUriLength": 64})
        listener.attach(Echo(), "/")
        answers = [
            self.rawRequest(listener, b"GET /" + b"a" * 100 + b" HTTP/1.1\r\n\r\n"),
            self.rawRequest(listener, b"GET /?t=" + QUERY.encode() + b" HTTP/1.1\r\n"
                            b"Host: x\r\nUpgrade: websocket\r\nContent-Length: 999999999"
                            b"\r\n\r\n"),
            self.rawRequest(listener, b"\x16\x03\x01\x00\x05hello"),
        ]
        self.assertEqual([a.split(b" ", 2)[1] for a in answers], [b"414", b"400", b"400"])
        self.assertEqual([(e["wsEvent"], e["status"], e["path"], e["peer"])
                          for e in self.logs.ws("server")],
                         [("refused", 414, None, "127.0.0.1:4242"),
                          ("refused", 400, "/", "127.0.0.1:4242"),
                          ("refused", 400, None, "127.0.0.1:4242")])
        for event in self.logs.events:
            self.assertNotIn(QUERY, eventAsJSON(event))

    def test_secretsNeverLogged(self) -> None:
        """With a bearer token in the Authorization header, a token in the query and
        payloads both ways, no log event of either side holds any of them, in its text or
        in its fields (as a JSON observer sees them)."""
        upgrade = Echo()
        setServiceConfig(upgrade, bws.WSServiceConfig(
            auth=[CheckerWithScopes(TokenChecker())]))
        listener = bws.testing.MemoryListener()
        listener.attach(upgrade, "/")
        client = self.successResultOf(listener.connect(
            f"/?access_token={QUERY}", auth=BearerTokenConfig(TOKEN)))
        client.writeTextMessage(PAYLOAD)
        client.writeBinaryMessage(PAYLOAD.encode())
        listener.flush()
        self.assertEqual(self.successResultOf(client.readTextMessage()), PAYLOAD)
        self.assertEqual(self.successResultOf(client.readBinaryMessage()), PAYLOAD.encode())
        client.close(1000, "done")
        listener.flush()
        refused = listener.connect("/", auth=BearerTokenConfig(TOKEN + "-wrong"))
        self.failureResultOf(refused, InvalidHandshakeError)
        self.assertEqual(self.logs.kinds("server"), ["open", "close", "refused"])
        self.assertEqual(self.logs.kinds("client"), ["open", "close", "refused"])
        self.assertEqual(self.logs.ws("server")[2]["status"], 401)
        self.assertEqual(self.logs.ws("client")[0]["url"], "ws://127.0.0.1:9090/")
        for event in self.logs.events:
            for text in (formatEvent(event), eventAsJSON(event)):
                for marker in (PAYLOAD, TOKEN, QUERY):
                    self.assertNotIn(marker, text)

    def test_jsonFileLogObserver(self) -> None:
        """Through ``jsonFileLogObserver``, each connection event is one JSON record whose
        members are its fields."""
        out = io.StringIO()
        observer = jsonFileLogObserver(out)
        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)
        conn = bws.testing.connect(Echo(), "/room", subProtocols=[])
        conn.clock.advance(2)
        conn.client.close(1000, "done")
        conn.flush()
        records = [json.loads(r) for r in out.getvalue().split("\x1e") if r.strip()]
        server = [r for r in records if r.get("side") == "server"]
        self.assertEqual([r["wsEvent"] for r in server], ["open", "close"])
        self.assertEqual((server[0]["path"], server[0]["subProtocol"]), ("/room", None))
        self.assertEqual({k: server[1][k] for k in ("code", "reason", "closedBy", "duration")},
                         {"code": 1000, "reason": "done", "closedBy": "client",
                          "duration": 2.0})
        self.assertEqual(server[1]["id"], server[0]["id"])
        client = [r for r in records if r.get("side") == "client"]
        self.assertEqual([r["wsEvent"] for r in client], ["open", "close"])
        self.assertEqual(client[1]["closedBy"], "client")
