"""A script that uses ``bws.sync.Client`` as a user's script would: no reactor of its own.

``python -m tests.integration.syncpeer SCENARIO URL`` runs one scenario against a bws listener
at ``URL`` and prints its outcome as JSON on stdout. crochet starts the reactor in a
background thread of this process, as ``bws.sync`` documents; the test process (which runs
trial's reactor) only starts this process and reads what it prints.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import bws
import bws.sync


def sample(url: str) -> Any:
    """The spec's §6 client sample, written with the blocking client."""
    wsClient = bws.sync.Client(url)
    wsClient.writeTextMessage("Text message")
    textResp = wsClient.readTextMessage()
    wsClient.writeBinaryMessage(b"Binary message")
    stringResp = wsClient.readBinaryMessage().decode("utf-8")
    wsClient.close(timeout=5)
    return [textResp, stringResp]


def readAfterClose(url: str) -> Any:
    """Read after close: the bws error is raised in the calling thread."""
    client = bws.sync.Client(url)
    client.close(timeout=5)
    try:
        client.readMessage()
    except Exception as e:
        return {"type": f"{type(e).__module__}.{type(e).__qualname__}",
                "isConnectionClosureError": isinstance(e, bws.ConnectionClosureError)}
    return {"type": None, "isConnectionClosureError": False}


SCENARIOS = {"sample": sample, "readAfterClose": readAfterClose}


def main(argv: list[str]) -> None:
    scenario, url = argv
    print(json.dumps(SCENARIOS[scenario](url)))


if __name__ == "__main__":
    main(sys.argv[1:])
