"""Chat rooms on groups: everyone in ``/rooms/{room}`` hears what anyone in it says.

``twistd -n --pidfile= bws --service chatroom:ChatRooms --path '/rooms/{room}'``
(add ``--broker redis://127.0.0.1:6379/0`` to share the rooms between processes).
"""

from zope.interface import implementer

import bws


@implementer(bws.IService)
class Chatter:
    """One person in one room."""

    def __init__(self, room, name):
        self.room = room
        self.name = name

    async def onOpen(self, caller):
        # Join the room (the next message waits for it), then tell everyone in it, this
        # newcomer too, who came.
        await caller.groups.join(self.room, caller)
        caller.groups.broadcast(self.room, {"type": "joined", "name": self.name})

    def onTextMessage(self, caller, text: str):
        # A dict goes as JSON text, encoded once for the whole room.
        caller.groups.broadcast(self.room, {"type": "message", "name": self.name,
                                            "text": text})

    def onClose(self, caller, statusCode: int, reason: str):
        caller.groups.leave(self.room, caller)  # (a closed caller leaves by itself too)
        caller.groups.broadcast(self.room, {"type": "left", "name": self.name})


@implementer(bws.IUpgradeService)
@bws.serviceConfig(idleTimeout=600)
class ChatRooms:
    def get(self, request, room: str, name: str = "anonymous"):  # ?name=ann
        return Chatter(room, name)
