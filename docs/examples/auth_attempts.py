"""What the auth examples do with a service: connect with some credentials, say something,
and report the answer, or the status of the refusal."""

from __future__ import annotations

from typing import Any

import bws
import bws.testing


def refusal(name: str, error: bws.InvalidHandshakeError) -> str:
    assert error.response is not None
    return f"{name}: {error.response.statusCode} {error.response.reasonPhrase}"


def inMemory(service: object, path: str, name: str, auth: Any, text: str) -> str:
    """What ``name`` gets from ``service`` with ``auth``, connected in memory."""
    try:
        conn = bws.testing.connect(service, path, auth=auth)
    except bws.InvalidHandshakeError as e:
        return refusal(name, e)
    conn.client.writeTextMessage(text)
    conn.flush()
    answers: list[str] = []
    conn.client.readTextMessage().addCallback(answers.append)
    return answers[0]


async def onLoopback(service: object, path: str, attempts: list[tuple[str, Any]]) -> list[str]:
    """Serve ``service`` on a free loopback port; connect once per ``(name, auth)`` and say
    hello: what each got."""
    listener = bws.Listener(0, host="127.0.0.1")
    listener.attach(service, path)
    await listener.start()
    results = []
    try:
        for name, auth in attempts:
            url = f"ws://127.0.0.1:{listener.listeningPort}{path}"
            try:
                client = await bws.Client.connect(url, auth=auth)
            except bws.InvalidHandshakeError as e:
                results.append(refusal(name, e))
                continue
            await client.writeTextMessage("hello")
            results.append(await client.readTextMessage())
            await client.close()
    finally:
        await listener.immediateStop()
    return results
