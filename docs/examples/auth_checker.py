"""Your own credentials checker (docs/auth.rst): API keys as Bearer tokens, with scopes.

Any ``twisted.cred`` checker works; answering a ``bws.Principal`` gives the scopes the
listener's rules check. ``python docs/examples/auth_checker.py`` prints what each key gets.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred, fail, succeed
from zope.interface import implementer

import bws
from bws.auth import IBearerToken
from auth_attempts import inMemory


@implementer(ICredentialsChecker)
class ApiKeys:
    """API keys, kept as SHA-256 digests, each with its owner and scopes."""

    credentialInterfaces = (IBearerToken,)

    def __init__(self, keys: dict[str, tuple[str, tuple[str, ...]]]) -> None:
        self.digests = {hashlib.sha256(k.encode()).digest(): v for k, v in keys.items()}

    def requestAvatarId(self, credentials: Any) -> Deferred[Any]:
        digest = hashlib.sha256(credentials.token.encode()).digest()
        for known, (owner, scopes) in self.digests.items():
            if hmac.compare_digest(known, digest):
                return succeed(bws.Principal(owner, scopes))
        return fail(UnauthorizedLogin("unknown API key"))


CHECKER = ApiKeys({"k-123": ("build-bot", ("deploy",)), "k-456": ("reader", ("read",))})


class Deployer:
    def onTextMessage(self, caller: bws.Caller, text: str) -> str:
        assert caller.principal is not None
        return f"{caller.principal.userId} deploys {text}"


@bws.serviceConfig(auth=[bws.CheckerWithScopes(CHECKER, scopes="deploy")])
class DeployService:
    def get(self, request: bws.UpgradeRequest) -> Deployer:
        return Deployer()


def main() -> list[str]:
    return [inMemory(DeployService(), "/", key, {"token": key}, "v2")
            for key in ["k-123", "k-456", "k-789"]]


if __name__ == "__main__":
    print("\n".join(main()))
