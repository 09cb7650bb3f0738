"""The client, Deferred style, against ``twistd -n bws`` (its echo answers on every path)."""

import sys

from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import react

import bws


@inlineCallbacks
def main(reactor, url="ws://localhost:9090/basic/ws"):
    client = yield bws.Client.connect(url, readTimeout=5)
    yield client.writeTextMessage("Text message")
    text = yield client.readTextMessage()
    print(text)
    yield client.close(1000, "bye", timeout=5)


if __name__ == "__main__":
    react(main, sys.argv[1:])
