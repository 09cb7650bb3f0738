"""JWT bearer tokens (docs/auth.rst): a client issues a JWT signed with a private key, the
listener validates it with the matching certificate, run in memory.

``python docs/examples/auth_jwt.py`` prints the principal the service sees, then the
refusal of a token without the required scope.
"""

from __future__ import annotations

import os

import bws
from auth_attempts import inMemory

HERE = os.path.dirname(os.path.abspath(__file__))
#: A key pair made for these docs (it protects nothing; never ship a private key this way).
SIGNER_KEY = os.path.join(HERE, "jwt-signer.key")
SIGNER_CERT = os.path.join(HERE, "jwt-signer.crt")


class WhoAmI:
    def onTextMessage(self, caller: bws.Caller, text: str) -> str:
        principal = caller.principal
        assert principal is not None
        return f"{principal.userId} from {principal.claims['iss']}: {' '.join(principal.scopes)}"


@bws.serviceConfig(auth=[bws.JwtValidatorConfigWithScopes(
    jwtValidatorConfig=bws.JwtValidatorConfig(
        issuer="https://idp.example", audience="bws-example", scopeKey="scp", clockSkew=30,
        signatureConfig={"certFile": SIGNER_CERT}),
    scopes=["write"])])
class WhoAmIService:
    def get(self, request: bws.UpgradeRequest) -> WhoAmI:
        return WhoAmI()


def issuer(scopes: str) -> bws.JwtIssuerConfig:
    """The client's self-signed JWT: RS256 with the docs' key, five minutes long."""
    return bws.JwtIssuerConfig(
        username="alice", issuer="https://idp.example", audience="bws-example", keyId="docs",
        customClaims={"scp": scopes}, expTime=300,
        signatureConfig={"algorithm": "RS256", "config": {"keyFile": SIGNER_KEY}})


def main() -> list[str]:
    return [inMemory(WhoAmIService(), "/", f"scp={scopes!r}", issuer(scopes), "?")
            for scopes in ["write update", "read"]]


if __name__ == "__main__":
    print("\n".join(main()))
