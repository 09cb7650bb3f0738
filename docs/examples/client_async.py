"""The client, async/await style: JSON out, bound to a dataclass on the way back in."""

import sys
from dataclasses import dataclass

from twisted.internet.defer import Deferred
from twisted.internet.task import react

import bws


@dataclass
class Coord:
    x: int
    y: int


async def main(reactor, url="ws://localhost:9090/basic/ws"):
    client = await bws.Client.connect(url)
    await client.writeMessage({"x": 1, "y": 2})     # JSON text
    coord = await client.readMessage(Coord)          # bound like onMessage
    print(coord)
    await client.close()


if __name__ == "__main__":
    react(lambda reactor: Deferred.fromCoroutine(main(reactor, *sys.argv[1:])))
