"""chatroom.py's rooms from your own Twisted program, on port 9090 (or the one given);
with a redis:// URL as second argument the rooms are shared with every other process
started with the same URL."""

import sys

from twisted.internet import reactor

import bws
import chatroom

port = int(sys.argv[1]) if len(sys.argv) > 1 else 9090
broker = bws.RedisBroker(sys.argv[2]) if len(sys.argv) > 2 else None
groups = bws.Groups(broker=broker, maxBacklog=256 * 1024)  # bytes a slow member may lag
listener = bws.Listener(port, host="127.0.0.1", groups=groups)
listener.attach(chatroom.ChatRooms(), "/rooms/{room}")
if broker is not None:
    broker.startService()  # connects to Redis, and reconnects whenever it must
    reactor.addSystemEventTrigger("before", "shutdown", broker.stopService)
ready = listener.start()
if broker is not None:
    ready.addCallback(lambda _: broker.whenConnected())
ready.addCallback(
    lambda _: print(f"serving ws://127.0.0.1:{listener.listeningPort}/rooms/{{room}}", flush=True))
reactor.run()
