"""Server-side data binding, return values, CloseFrames, streams and dispatcherKey."""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Annotated, Any

from pydantic import Field
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase
from websockets.sync.client import connect
from zope.interface import implementer

import bws
from bws.config import setServiceConfig
from tests.helpers import ListenerMixin, Upgrade, frame, inThread, later, rawUpgrade, readFrame


@dataclasses.dataclass
class Coord:
    x: int
    y: int


class Color(enum.Enum):
    RED = "RED"
    BLUE = "BLUE"


class RoundTripMixin(ListenerMixin):
    @inlineCallbacks
    def exchange(self, service: Any, messages: list[Any], replies: int,
                 config: bws.WSServiceConfig | None = None, expectClose: bool = False) -> Any:
        upgrade = Upgrade(service)
        if config is not None:
            setServiceConfig(upgrade, config)
        yield self.startListener(upgrade)

        def client() -> tuple[list[Any], Any]:
            got = []
            with connect(self.url()) as ws:
                for m in messages:
                    ws.send(m)
                try:
                    for _ in range(replies):
                        got.append(ws.recv(timeout=5))
                    if expectClose:
                        ws.recv(timeout=5)
                except Exception:
                    pass
                rcvd = ws.protocol.close_rcvd
                return got, (rcvd.code, rcvd.reason) if rcvd else None

        result = yield inThread(client)
        return result


class BindingTests(RoundTripMixin, TestCase):
    """``onMessage`` binds to the annotation of its data parameter."""

    @inlineCallbacks
    def test_typesRoundTrip(self) -> Any:
        """JSON text binds to a dataclass, an enum binds without quotes, and what the
        callback returns goes back as JSON."""
        @implementer(bws.IService)
        class Service:
            def onMessage(self, caller: Any, data: Coord | Color) -> Any:
                if isinstance(data, Color):
                    return {"color": data.value}
                return {"sum": data.x + data.y, "quoted": 'say "hi"'}

        got, _ = yield self.exchange(Service(), ['{"x": 1, "y": 2}', "RED"], 2)
        self.assertEqual([json.loads(g) for g in got],
                         [{"sum": 3, "quoted": 'say "hi"'}, {"color": "RED"}])

    @inlineCallbacks
    def test_bindingFailureCloses1003(self) -> Any:
        """With no error handler, a binding failure closes 1003 "data binding failed: …"."""
        @implementer(bws.IService)
        class Service:
            def onMessage(self, caller: Any, data: Coord) -> None:
                pass

        _, close = yield self.exchange(Service(), ["not json"], 1)
        self.assertEqual(close[0], 1003)
        self.assertTrue(close[1].startswith("data binding failed: "), close)

    @inlineCallbacks
    def test_bindingFailureToOnError(self) -> Any:
        """With onError, a binding failure reaches it and the connection stays open."""
        @implementer(bws.IService)
        class Service:
            def onMessage(self, caller: Any, data: Coord) -> str:
                return "ok"

            def onError(self, caller: Any, error: Exception) -> str:
                errors.append(error)
                return "ignored: only a CloseFrame returned from onError means something"

        errors: list[Exception] = []
        got, close = yield self.exchange(Service(), ["nope", '{"x": 1, "y": 1}'], 1)
        self.assertEqual(got, ["ok"])
        self.assertEqual([type(e) for e in errors], [bws.PayloadBindingError])
        self.assertTrue(str(errors[0]).startswith("data binding failed: "))

    @inlineCallbacks
    def test_validation(self) -> Any:
        """A constraint failure is a PayloadValidationError; validation=False skips it."""
        @implementer(bws.IService)
        class Service:
            def onMessage(self, caller: Any, data: Annotated[str, Field(max_length=3)]) -> str:
                return data

            def onError(self, caller: Any, error: Exception) -> Any:
                return caller.writeTextMessage(f"{type(error).__name__}: {str(error)[:15]}")

        got, _ = yield self.exchange(Service(), ["toolong"], 1)
        self.assertEqual(got, ["PayloadValidationError: data validation"])
        yield self.listener.immediateStop()
        got, _ = yield self.exchange(Service(), ["toolong"], 1,
                                     bws.WSServiceConfig(validation=False))
        self.assertEqual(got, ["toolong"])


class ReturnTests(RoundTripMixin, TestCase):
    """What callbacks return is sent."""

    @inlineCallbacks
    def test_closeFrameReturn(self) -> Any:
        """A returned CloseFrame closes with its status and reason."""
        @implementer(bws.IService)
        class Service:
            def onTextMessage(self, caller: Any, text: str) -> Any:
                return bws.CustomCloseFrame(4000, "bye") if text == "close" else \
                    bws.POLICY_VIOLATION

        _, close = yield self.exchange(Service(), ["close"], 1)
        self.assertEqual(close, (4000, "bye"))
        _, close = yield self.exchange(Service(), ["other"], 1)
        self.assertEqual(close, (1008, "Received message violates its policy"))

    @inlineCallbacks
    def test_streamWithInboundMessages(self) -> Any:
        """A returned async iterator sends one message per item while later inbound
        messages are still dispatched; a CloseFrame item closes."""
        @implementer(bws.IService)
        class Service:
            def onTextMessage(self, caller: Any, text: str) -> Any:
                if text != "stream":
                    return f"echo {text}"

                async def items() -> Any:
                    for i in range(3):
                        await later(0.05)
                        yield {"n": i}
                    yield bws.NORMAL_CLOSURE

                return items()

        got, close = yield self.exchange(Service(), ["stream", "ping"], 4, expectClose=True)
        self.assertEqual(got[0], "echo ping")  # answered before the stream finished
        self.assertEqual([json.loads(g) for g in got[1:]], [{"n": 0}, {"n": 1}, {"n": 2}])
        self.assertEqual(close[0], 1000)

    @inlineCallbacks
    def test_streamFailureCloses1011(self) -> Any:
        """A stream that raises closes 1011 "streaming failed: <msg>"."""
        @implementer(bws.IService)
        class Service:
            def onTextMessage(self, caller: Any, text: str) -> Any:
                def items() -> Any:
                    yield "one"
                    raise ValueError("no more")

                return items()

        got, close = yield self.exchange(Service(), ["go"], 2)
        self.assertEqual(got, ["one"])
        self.assertEqual(close, (1011, "streaming failed: no more"))
        self.flushLoggedErrors(ValueError)

    @inlineCallbacks
    def test_onPingReturnIsPong(self) -> Any:
        """Bytes returned from onPing are sent as the pong."""
        @implementer(bws.IService)
        class Service:
            def onPing(self, caller: Any, data: bytes) -> bytes:
                return b"pong:" + data

        yield self.startListener(Upgrade(Service()))

        def client() -> tuple[int, bytes]:
            s = rawUpgrade(self.port)
            s.sendall(frame(9, b"x"))
            op, _, payload = readFrame(s)
            s.close()
            return op, payload

        self.assertEqual((yield inThread(client)), (10, b"pong:x"))


class DispatcherKeyTests(RoundTripMixin, TestCase):
    """``dispatcherKey`` routes JSON text by a field's value."""

    @inlineCallbacks
    def test_routing(self) -> Any:
        """dispatcherValue first, then the name rule, then onTextMessage; binding failures
        go to on<Name>Error."""
        @implementer(bws.IService)
        class Service:
            @bws.dispatcherValue("subscribe")
            def handleSubscribe(self, caller: Any, data: dict[str, Any]) -> str:
                return "subscribed " + data["id"]

            def onHeartbeat(self, caller: Any, data: dict[str, Any]) -> str:
                return "beat"

            def onThisPingMessage(self, caller: Any, data: Coord) -> str:
                return "coord"

            def onThisPingMessageError(self, caller: Any, error: Exception) -> Any:
                return caller.writeTextMessage("bad coord")

            def onTextMessage(self, caller: Any, text: str) -> str:
                return "text " + text

        got, _ = yield self.exchange(
            Service(),
            ['{"event": "subscribe", "id": "a"}', '{"event": "heartBeat"}',
             '{"event": "this_ping message", "x": 1}', '{"event": "unknown"}', "plain"],
            5, bws.WSServiceConfig(dispatcherKey="event"))
        self.assertEqual(got, ["subscribed a", "beat", "bad coord",
                               'text {"event": "unknown"}', "text plain"])
