"""Basic authentication against a TOML user store (docs/auth.rst), run in memory.

``python docs/examples/auth_file.py`` prints what each user gets from a service that
requires the ``write`` scope.
"""

from __future__ import annotations

import os

import bws
import bws.testing

USERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "users.toml")


class Notes:
    """Tells each writer who they are."""

    def onTextMessage(self, caller: bws.Caller, text: str) -> str:
        principal = caller.principal
        assert principal is not None  # the service has auth: every caller has one
        return f"{principal.userId} ({' '.join(principal.scopes)}) wrote {text!r}"


@bws.serviceConfig(auth=[bws.FileUserStoreConfigWithScopes(
    fileUserStoreConfig=bws.FileUserStoreConfig(USERS), scopes=["write"])])
class NotesService:
    def get(self, request: bws.UpgradeRequest) -> Notes:
        return Notes()


def attempt(username: str, password: str) -> str:
    """What ``username`` gets: the service's answer, or the refusal's status."""
    try:
        conn = bws.testing.connect(NotesService(), "/notes",
                                   auth={"username": username, "password": password})
    except bws.InvalidHandshakeError as e:
        assert e.response is not None
        return f"{username}: {e.response.statusCode} {e.response.reasonPhrase}"
    conn.client.writeTextMessage("hello")
    conn.flush()
    answers: list[str] = []
    conn.client.readTextMessage().addCallback(answers.append)
    return answers[0]


def main() -> list[str]:
    return [attempt("alice", "xxx"), attempt("bob", "yyy"), attempt("eve", "123"),
            attempt("alice", "wrong")]


if __name__ == "__main__":
    print("\n".join(main()))
