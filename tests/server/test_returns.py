"""Server-side data binding, return values, CloseFrames, streams and dispatcherKey, in memory."""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Annotated, Any

from pydantic import Field
from twisted.internet.task import deferLater
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

import bws
from bws.config import setServiceConfig
from bws.testing import MemoryListener
from tests.helpers import Upgrade, closeCode, frame, rawUpgrade


@dataclasses.dataclass
class Coord:
    x: int
    y: int


class Color(enum.Enum):
    RED = "RED"
    BLUE = "BLUE"


class RoundTripMixin:
    """Send messages to a service over a raw peer in memory; collect what comes back."""

    def exchange(self, service: Any, messages: list[Any], replies: int,
                 config: bws.WSServiceConfig | None = None,
                 clock: MemoryReactorClock | None = None,
                 seconds: float = 0) -> tuple[list[Any], tuple[int | None, str] | None]:
        """``(messages received, (close code, reason) or None)``.

        ``messages`` go out as text (``str``) or binary frames; at most ``replies`` data
        messages are read, then the close, if one came. ``seconds`` of clock time pass in
        steps of 0.05 s, moving bytes at each step.
        """
        upgrade = Upgrade(service)
        if config is not None:
            setServiceConfig(upgrade, config)
        listener = MemoryListener(clock)
        listener.attach(upgrade)
        peer = rawUpgrade(listener)
        for m in messages:
            peer.send(frame(1, m.encode()) if isinstance(m, str) else frame(2, m))
        listener.flush()
        steps = round(seconds / 0.05)
        for _ in range(steps):
            listener.advance(0.05)
        got: list[Any] = []
        close = None
        parts: list[bytes] = []
        kind = 1
        for op, fin, payload in peer.takeFrames():
            if op == 8:
                close = (closeCode(payload), payload[2:].decode("utf-8"))
                break
            if op in (1, 2):
                kind, parts = op, [payload]
            elif op == 0:
                parts.append(payload)
            else:
                continue  # pings and pongs are not messages
            if fin and len(got) < replies:
                data = b"".join(parts)
                got.append(data.decode("utf-8") if kind == 1 else data)
        return got, close


class BindingTests(RoundTripMixin, SynchronousTestCase):
    """``onMessage`` binds to the annotation of its data parameter."""

    def test_typesRoundTrip(self) -> None:
        """JSON text binds to a dataclass, an enum binds without quotes, and what the
        callback returns goes back as JSON."""
        @implementer(bws.IService)
        class Service:
            def onMessage(self, caller: Any, data: Coord | Color) -> Any:
                if isinstance(data, Color):
                    return {"color": data.value}
                return {"sum": data.x + data.y, "quoted": 'say "hi"'}

        got, _ = self.exchange(Service(), ['{"x": 1, "y": 2}', "RED"], 2)
        self.assertEqual([json.loads(g) for g in got],
                         [{"sum": 3, "quoted": 'say "hi"'}, {"color": "RED"}])

    def test_bindingFailureCloses1003(self) -> None:
        """With no error handler, a binding failure closes 1003 "data binding failed: …"."""
        @implementer(bws.IService)
        class Service:
            def onMessage(self, caller: Any, data: Coord) -> None:
                pass

        _, close = self.exchange(Service(), ["not json"], 1)
        self.assertEqual(close[0], 1003)
        self.assertTrue(close[1].startswith("data binding failed: "), close)

    def test_bindingFailureToOnError(self) -> None:
        """With onError, a binding failure reaches it and the connection stays open."""
        @implementer(bws.IService)
        class Service:
            def onMessage(self, caller: Any, data: Coord) -> str:
                return "ok"

            def onError(self, caller: Any, error: Exception) -> str:
                errors.append(error)
                return "ignored: only a CloseFrame returned from onError means something"

        errors: list[Exception] = []
        got, close = self.exchange(Service(), ["nope", '{"x": 1, "y": 1}'], 1)
        self.assertEqual(got, ["ok"])
        self.assertEqual([type(e) for e in errors], [bws.PayloadBindingError])
        self.assertTrue(str(errors[0]).startswith("data binding failed: "))

    def test_validation(self) -> None:
        """A constraint failure is a PayloadValidationError; validation=False skips it."""
        @implementer(bws.IService)
        class Service:
            def onMessage(self, caller: Any, data: Annotated[str, Field(max_length=3)]) -> str:
                return data

            def onError(self, caller: Any, error: Exception) -> Any:
                return caller.writeTextMessage(f"{type(error).__name__}: {str(error)[:15]}")

        got, _ = self.exchange(Service(), ["toolong"], 1)
        self.assertEqual(got, ["PayloadValidationError: data validation"])
        got, _ = self.exchange(Service(), ["toolong"], 1, bws.WSServiceConfig(validation=False))
        self.assertEqual(got, ["toolong"])


class ReturnTests(RoundTripMixin, SynchronousTestCase):
    """What callbacks return is sent."""

    def test_closeFrameReturn(self) -> None:
        """A returned CloseFrame closes with its status and reason."""
        @implementer(bws.IService)
        class Service:
            def onTextMessage(self, caller: Any, text: str) -> Any:
                return bws.CustomCloseFrame(4000, "bye") if text == "close" else \
                    bws.POLICY_VIOLATION

        _, close = self.exchange(Service(), ["close"], 1)
        self.assertEqual(close, (4000, "bye"))
        _, close = self.exchange(Service(), ["other"], 1)
        self.assertEqual(close, (1008, "Received message violates its policy"))

    def test_streamWithInboundMessages(self) -> None:
        """A returned async iterator sends one message per item while later inbound
        messages are still dispatched; a CloseFrame item closes."""
        clock = MemoryReactorClock()

        @implementer(bws.IService)
        class Service:
            def onTextMessage(self, caller: Any, text: str) -> Any:
                if text != "stream":
                    return f"echo {text}"

                async def items() -> Any:
                    for i in range(3):
                        await deferLater(clock, 0.05)
                        yield {"n": i}
                    yield bws.NORMAL_CLOSURE

                return items()

        got, close = self.exchange(Service(), ["stream", "ping"], 4, clock=clock, seconds=0.15)
        self.assertEqual(got[0], "echo ping")  # answered before the stream finished
        self.assertEqual([json.loads(g) for g in got[1:]], [{"n": 0}, {"n": 1}, {"n": 2}])
        self.assertEqual(close[0], 1000)

    def test_streamFailureCloses1011(self) -> None:
        """A stream that raises closes 1011 "streaming failed: <msg>"."""
        @implementer(bws.IService)
        class Service:
            def onTextMessage(self, caller: Any, text: str) -> Any:
                def items() -> Any:
                    yield "one"
                    raise ValueError("no more")

                return items()

        got, close = self.exchange(Service(), ["go"], 2)
        self.assertEqual(got, ["one"])
        self.assertEqual(close, (1011, "streaming failed: no more"))
        self.flushLoggedErrors(ValueError)

    def test_onPingReturnIsPong(self) -> None:
        """Bytes returned from onPing are sent as the pong."""
        @implementer(bws.IService)
        class Service:
            def onPing(self, caller: Any, data: bytes) -> bytes:
                return b"pong:" + data

        listener = MemoryListener()
        listener.attach(Upgrade(Service()))
        peer = rawUpgrade(listener)
        peer.send(frame(9, b"x"))
        listener.flush()
        op, _, payload = peer.takeFrames()[0]
        self.assertEqual((op, payload), (10, b"pong:x"))


class DispatcherKeyTests(RoundTripMixin, SynchronousTestCase):
    """``dispatcherKey`` routes JSON text by a field's value."""

    def test_routing(self) -> None:
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

        got, _ = self.exchange(
            Service(),
            ['{"event": "subscribe", "id": "a"}', '{"event": "heartBeat"}',
             '{"event": "this_ping message", "x": 1}', '{"event": "unknown"}', "plain"],
            5, bws.WSServiceConfig(dispatcherKey="event"))
        self.assertEqual(got, ["subscribed a", "beat", "bad coord",
                               'text {"event": "unknown"}', "text plain"])
