"""Trial tests of chatroom.py, in memory: ``python -m twisted.trial test_chatroom``."""

from twisted.trial.unittest import SynchronousTestCase

import bws.testing
from chatroom import ChatRooms


class ChatRoomTests(SynchronousTestCase):
    def setUp(self):
        self.listener = bws.testing.MemoryListener()
        self.listener.attach(ChatRooms(), "/rooms/{room}")

    def enter(self, room, name):
        client = self.successResultOf(self.listener.connect(f"/rooms/{room}?name={name}"))
        self.listener.flush()
        return client

    def heard(self, client):
        return self.successResultOf(client.readMessage(dict))

    def test_everyoneInTheRoomHears(self):
        ann = self.enter("lobby", "ann")
        self.assertEqual(self.heard(ann), {"type": "joined", "name": "ann"})
        bob = self.enter("lobby", "bob")
        self.assertEqual(self.heard(ann), {"type": "joined", "name": "bob"})
        self.assertEqual(self.heard(bob), {"type": "joined", "name": "bob"})
        bob.writeTextMessage("hi")
        self.listener.flush()
        said = {"type": "message", "name": "bob", "text": "hi"}
        self.assertEqual(self.heard(ann), said)
        self.assertEqual(self.heard(bob), said)

    def test_otherRoomsDoNot(self):
        ann = self.enter("lobby", "ann")
        cat = self.enter("kitchen", "cat")
        self.heard(ann)
        self.heard(cat)
        ann.writeTextMessage("hi")
        self.listener.flush()
        self.assertNoResult(cat.readMessage())

    def test_leaving(self):
        ann = self.enter("lobby", "ann")
        bob = self.enter("lobby", "bob")
        self.heard(ann)
        self.heard(ann)
        bob.close()
        self.listener.flush()
        self.assertEqual(self.heard(ann), {"type": "left", "name": "bob"})
