"""Talks to binding_service.py: python binding_client.py [ws://127.0.0.1:9090]."""

import sys
from dataclasses import dataclass

from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import react

import bws


@dataclass
class Plotted:
    plotted: list[int]


@inlineCallbacks
def plot(base):
    client = yield bws.Client.connect(base + "/plot", readTimeout=5)
    yield client.writeMessage({"x": 1, "y": 2})
    reply = yield client.readMessage(Plotted)     # '{"plotted":[1,2]}' -> Plotted([1, 2])
    print(reply)
    yield client.writeMessage({"x": 1, "y": -2})  # breaks y >= 0: closed with 1003
    try:
        yield client.readMessage(Plotted)
    except bws.ConnectionClosureError as e:
        print(e)


# --- the other services ---


@inlineCallbacks
def book(base):
    client = yield bws.Client.connect(base + "/rooms", readTimeout=5)
    for booking in ['{"room": "lobby", "seats": 2}', '{"room": "lobby", "seats": -1}',
                    '{"room": "lobby"}', "lobby"]:
        yield client.writeTextMessage(booking)
        print((yield client.readTextMessage()))
    yield client.close()


@inlineCallbacks
def command(base):
    for name in ["status", "quit", "reboot"]:
        client = yield bws.Client.connect(base + "/commands", readTimeout=5)
        yield client.writeMessage({"name": name})
        try:
            print((yield client.readTextMessage()))
            yield client.close()
        except bws.ConnectionClosureError as e:
            print(e)


@inlineCallbacks
def graphql(base):
    client = yield bws.Client.connect(base + "/graphql", readTimeout=5)
    for message in [{"type": "connection_init"}, {"type": "ping"},
                    {"type": "subscribe", "id": "1", "payload": {"query": "{ hello }"}},
                    {"type": "subscribe", "id": "2"}]:
        yield client.writeMessage(message)
        try:
            print((yield client.readTextMessage()))
        except bws.ConnectionClosureError as e:
            print(e)


@inlineCallbacks
def main(reactor, base="ws://127.0.0.1:9090"):
    for conversation in [plot, book, command, graphql]:
        yield conversation(base)


if __name__ == "__main__":
    react(main, sys.argv[1:])
