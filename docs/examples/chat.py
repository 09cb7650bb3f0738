"""Chat rooms: ``twistd -n bws --service chat:Rooms --path '/rooms/{room}'``."""

from zope.interface import implementer

import bws


@implementer(bws.IService)
class Room:
    def __init__(self, name):
        self.name = name

    def onOpen(self, caller):
        caller.setAttribute("room", self.name)

    def onTextMessage(self, caller, text: str):
        return f"{self.name}: {text}"          # sent back as a text message

    def onIdleTimeout(self, caller):
        return bws.NormalClosure(reason="idle")  # close after idleTimeout seconds of quiet

    def onClose(self, caller, statusCode: int, reason: str):
        print("closed", statusCode, reason)     # the close is echoed afterwards


@implementer(bws.IUpgradeService)
@bws.serviceConfig(subProtocols=["chat"], idleTimeout=30, maxFrameSize=65536)
class Rooms:
    def get(self, request, room: str, limit: int = 10):   # /rooms/{room}?limit=5
        if room == "closed":
            raise bws.UpgradeError("room is closed")     # HTTP 400 with this body
        return Room(room)
