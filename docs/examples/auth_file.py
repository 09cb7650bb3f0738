"""Basic authentication against a TOML user store (docs/auth.rst), run in memory.

``python docs/examples/auth_file.py`` prints what each user gets from a service that
requires the ``write`` scope.
"""

from __future__ import annotations

import os

import bws
from auth_attempts import inMemory

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


def main() -> list[str]:
    """What each user gets: the service's answer, or the refusal's status."""
    return [inMemory(NotesService(), "/notes", username,
                     {"username": username, "password": password}, "hello")
            for username, password in [("alice", "xxx"), ("bob", "yyy"), ("eve", "123"),
                                       ("alice", "wrong")]]


if __name__ == "__main__":
    print("\n".join(main()))
