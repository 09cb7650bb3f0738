"""OAuth2 end to end (docs/auth-introspection.rst, docs/auth-grants.rst): clients get access
tokens with the client credentials grant, and the service validates them by introspection.

``python docs/examples/auth_oauth2.py https://auth.example CA.pem`` expects an
authorization server with a token endpoint at ``/token`` and an RFC 7662 endpoint at
``/introspect``, the client ``ws-client``/``ws-secret`` (scopes ``read``, ``write``,
``update``) and the resource server ``introspector``/``intro-secret``. It serves on a free
loopback port a service that requires ``write``, connects with a token for ``write update``,
one for ``read`` and an inactive one, and prints what each got.
"""

from __future__ import annotations

import sys

from twisted.internet.defer import Deferred
from twisted.internet.task import react

import bws
from auth_attempts import onLoopback


class Notes:
    def onTextMessage(self, caller: bws.Caller, text: str) -> str:
        principal = caller.principal
        assert principal is not None
        return f"{principal.userId} ({' '.join(principal.scopes)}) wrote {text!r}"


def notesService(server: str, caFile: str) -> object:
    introspection = bws.OAuth2IntrospectionConfig(
        url=f"{server}/introspect",
        tokenTypeHint="access_token",
        cacheConfig=bws.CacheConfig(capacity=100),
        clientConfig=bws.OAuth2ClientConfig(
            clientId="introspector", clientSecret="intro-secret",
            secureSocket=bws.ClientSecureSocket(cert=caFile), timeout=5),
    )

    @bws.serviceConfig(auth=[bws.OAuth2IntrospectionConfigWithScopes(
        oauth2IntrospectionConfig=introspection, scopes=["write"])])
    class NotesService:
        def get(self, request: bws.UpgradeRequest) -> Notes:
            return Notes()

    return NotesService()


def grant(server: str, caFile: str, scopes: list[str]) -> bws.OAuth2ClientCredentialsGrantConfig:
    return bws.OAuth2ClientCredentialsGrantConfig(
        tokenUrl=f"{server}/token", clientId="ws-client", clientSecret="ws-secret",
        scopes=scopes, clockSkew=30,
        clientConfig=bws.OAuth2ClientConfig(secureSocket=bws.ClientSecureSocket(cert=caFile)))


async def main(server: str, caFile: str) -> list[str]:
    return await onLoopback(notesService(server, caFile), "/notes", [
        ("write update", grant(server, caFile, ["write", "update"])),
        ("read", grant(server, caFile, ["read"])),
        ("inactive", bws.BearerTokenConfig(token="no-such-token")),
    ])


if __name__ == "__main__":
    async def run(reactor: object) -> None:
        print("\n".join(await main(*sys.argv[1:3])))

    react(lambda reactor: Deferred.fromCoroutine(run(reactor)))
