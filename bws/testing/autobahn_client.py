# -*- test-case-name: tests.test_client -*-
"""The Autobahn|Testsuite client agent: ``python -m bws.testing.autobahn_client``.

Reads ``AUTOBAHN_URL`` (``ws://127.0.0.1:PORT``) and ``AUTOBAHN_AGENT`` from the
environment, asks ``/getCaseCount``, runs every case with a :class:`bws.Client` that
echoes each message back as it came, then asks for ``/updateReports``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import react

from bws.client import Client
from bws.errors import Error

__all__ = ["main", "runAll"]

#: wstest's 9.* cases send messages up to 16 MiB.
MAX_SIZE = 16 * 1024 * 1024


async def runCase(reactor: Any, url: str) -> None:
    """Echo every message of one case until the connection closes."""
    try:
        client = await Client.connect(url, reactor=reactor, maxFrameSize=MAX_SIZE,
                                      maxMessageSize=MAX_SIZE, handShakeTimeout=30)
    except Error:
        return
    while True:
        try:
            message = await client.readMessage()
        except Error:
            return
        try:
            if isinstance(message, bytes):
                await client.writeBinaryMessage(message)
            else:
                await client.writeTextMessage(message)
        except Error:
            return


async def runAll(reactor: Any, base: str, agent: str) -> None:
    """Run every case wstest offers, then have it write its reports."""
    counter = await Client.connect(f"{base}/getCaseCount", reactor=reactor)
    count = json.loads(await counter.readTextMessage())
    try:
        await counter.close(timeout=5)
    except Error:
        pass
    for case in range(1, count + 1):
        await runCase(reactor, f"{base}/runCase?case={case}&agent={agent}")
    reports = await Client.connect(f"{base}/updateReports?agent={agent}", reactor=reactor)
    try:
        await reports.readMessage()
    except Error:
        pass


def main() -> None:
    """Entry point: run the cases against ``$AUTOBAHN_URL`` as ``$AUTOBAHN_AGENT``."""
    base = os.environ.get("AUTOBAHN_URL", "ws://127.0.0.1:9001").rstrip("/")
    agent = os.environ.get("AUTOBAHN_AGENT", "bws")
    react(lambda reactor: Deferred.fromCoroutine(runAll(reactor, base, agent)))


if __name__ == "__main__":
    main()
