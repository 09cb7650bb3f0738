"""Trial tests of chat.py's rooms, in memory: ``python -m twisted.trial test_chat``."""

from twisted.trial.unittest import SynchronousTestCase

import bws
import bws.testing
from chat import Rooms


class ChatTests(SynchronousTestCase):
    def setUp(self):
        self.listener = bws.testing.MemoryListener()
        self.listener.attach(Rooms(), "/rooms/{room}")
        connecting = self.listener.connect("/rooms/lobby", subProtocols=["chat"])
        self.client = self.successResultOf(connecting)

    def test_echo(self):
        self.client.writeTextMessage("hello")
        self.listener.flush()
        self.assertEqual(self.successResultOf(self.client.readTextMessage()), "lobby: hello")

    def test_idleClose(self):
        # the room closes connections that stay quiet for idleTimeout (30 s)
        reading = self.client.readTextMessage()
        self.listener.advance(30)
        failure = self.failureResultOf(reading, bws.ConnectionClosureError)
        self.assertEqual(str(failure.value), "idle: Status code: 1000")

    def test_closedRoomRefused(self):
        failure = self.failureResultOf(self.listener.connect("/rooms/closed"),
                                       bws.InvalidHandshakeError)
        self.assertIn("400", str(failure.value))

    def test_close(self):
        closing = self.client.close()
        self.listener.flush()
        self.successResultOf(closing)
