"""The data binding guide's services, on ws://127.0.0.1:9090 (or the port given):
/plot, /rooms, /commands and /graphql.

    python binding_service.py [PORT]
"""

import sys
from dataclasses import dataclass
from typing import Annotated, Literal, TypedDict

from pydantic import Field
from twisted.internet import reactor
from zope.interface import implementer

import bws

# --- binding ---


@dataclass
class Coord:
    x: int
    y: Annotated[int, Field(ge=0)]


@implementer(bws.IService)
class Plotter:
    def onMessage(self, caller, data: Coord):     # '{"x": 1, "y": 2}' -> Coord(1, 2)
        return {"plotted": [data.x, data.y]}      # sent back as JSON text


# --- validation ---

Name = Annotated[str, Field(max_length=20)]
Count = Annotated[int, Field(ge=0)]


@dataclass
class Booking:
    room: Name
    seats: Count


@implementer(bws.IService)
class Rooms:
    def onMessage(self, caller, booking: Booking):
        return f"{booking.seats} seats in {booking.room}"

    def onMessageError(self, caller, error):      # binding onMessage's data failed
        caller.writeTextMessage(str(error))        # and the connection stays open


# --- close frames ---


@dataclass
class Command:
    name: str


@implementer(bws.IService)
class Commands:
    def allowed(self, data: Command) -> bool:
        return data.name in ("status", "quit")

    def onMessage(self, caller, data: Command):
        if data.name == "quit":
            return bws.NORMAL_CLOSURE
        if not self.allowed(data):
            return bws.CustomCloseFrame(4003, "not allowed")
        return "all is well"


# --- dispatcherKey ---


class Init(TypedDict):
    type: Literal["connection_init"]


@dataclass
class Subscribe:
    id: str
    payload: dict


@implementer(bws.IService)
class GraphQLSocket:
    def onConnectionInit(self, caller, message: Init):      # {"type": "connection_init"}
        return {"type": "connection_ack"}

    @bws.dispatcherValue("subscribe")
    def onStart(self, caller, message: Subscribe):          # {"type": "subscribe", ...}
        return {"type": "complete", "id": message.id}

    def onStartError(self, caller, error):                  # binding failed for onStart
        return bws.CustomCloseFrame(4400, "invalid subscribe message")

    @bws.dispatcherValue("ping")
    def onPingMessage(self, caller, message: dict):         # {"type": "ping"}
        return {"type": "pong"}


# --- serving them ---


@implementer(bws.IUpgradeService)
class Serve:
    """Serves every connection with a new ``service()``."""

    def __init__(self, service):
        self.service = service

    def get(self, request):
        return self.service()


@bws.serviceConfig(dispatcherKey="type")
class ServeByType(Serve):
    """The same, with messages dispatched by their ``"type"``."""


def main(port: int) -> None:
    listener = bws.Listener(port, host="127.0.0.1")
    listener.attach(Serve(Plotter), "/plot")
    listener.attach(Serve(Rooms), "/rooms")
    listener.attach(Serve(Commands), "/commands")
    listener.attach(ServeByType(GraphQLSocket), "/graphql")
    listener.start().addCallback(
        lambda _: print(f"serving ws://127.0.0.1:{listener.listeningPort}", flush=True))
    reactor.run()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 9090)
