"""A chat client: prints what the room says, one line per event, and can say something.

``python chat_client.py ws://127.0.0.1:9090/rooms/lobby?name=ann --say hello`` says
"hello" and leaves once it heard it back; ``--until TEXT`` listens until someone says TEXT.
"""

import argparse
import sys

from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import react

import bws


@inlineCallbacks
def main(reactor, *argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--say", help="a text to say once in the room")
    parser.add_argument("--until", help="leave once someone said this")
    args = parser.parse_args(argv)
    client = yield bws.Client.connect(args.url)
    if args.say is not None:
        yield client.writeTextMessage(args.say)
    last = args.until if args.until is not None else args.say
    while True:
        event = yield client.readMessage(dict)  # the service's JSON, bound to a dict
        said = [event["text"]] if "text" in event else []
        print(event["type"], event["name"], *said, flush=True)
        if event["type"] == "message" and event["text"] == last:
            break
    yield client.close()


if __name__ == "__main__":
    react(main, sys.argv[1:])
