"""The chat rooms of chat.py from your own Twisted program, on port 9090 (or the one given)."""

import sys

from twisted.internet import reactor

import bws
import chat

port = int(sys.argv[1]) if len(sys.argv) > 1 else 9090
listener = bws.Listener(port, host="127.0.0.1", timeout=30)
listener.attach(chat.Rooms(), "/rooms/{room}")
listener.start().addCallback(
    lambda _: print(f"serving ws://127.0.0.1:{listener.listeningPort}/rooms/{{room}}", flush=True))
reactor.run()
