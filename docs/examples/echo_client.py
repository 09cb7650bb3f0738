"""The README's client: send "hello", print the answer, close."""

import sys

from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import react

import bws


@inlineCallbacks
def main(reactor, url="ws://localhost:9090/echo"):
    client = yield bws.Client.connect(url, readTimeout=5)
    yield client.writeTextMessage("hello")
    print((yield client.readTextMessage()))
    yield client.close()


if __name__ == "__main__":
    react(main, sys.argv[1:])
