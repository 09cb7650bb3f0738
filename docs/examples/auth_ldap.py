"""Basic authentication against an LDAP directory (docs/auth-ldap.rst).

``python docs/examples/auth_ldap.py ldap://127.0.0.1:389 cn=admin,dc=example,dc=org SECRET
dc=example,dc=org`` serves on a free loopback port a service that requires the ``write``
group, connects as alice (in ``write``), bob (in ``read``) and alice with a wrong password,
and prints what each got. The directory holds ``uid=...`` users under ``ou=users`` and
``groupOfNames`` groups under ``ou=groups``.
"""

from __future__ import annotations

import sys

from twisted.internet.defer import Deferred
from twisted.internet.task import react

import bws


class Notes:
    def onTextMessage(self, caller: bws.Caller, text: str) -> str:
        principal = caller.principal
        assert principal is not None  # the service has auth: every caller has one
        return f"{principal.userId} ({' '.join(sorted(principal.scopes))}) wrote {text!r}"


def notesService(url: str, bindDn: str, bindPassword: str, suffix: str) -> object:
    directory = bws.LdapUserStoreConfig(
        domainName="example",
        connectionUrl=url,
        connectionName=bindDn,
        connectionPassword=bindPassword,
        userSearchBase=f"ou=users,{suffix}",
        userNameSearchFilter="(&(objectClass=inetOrgPerson)(uid=?))",
        groupSearchBase=[f"ou=groups,{suffix}"],
        readTimeout=5,
    )

    @bws.serviceConfig(auth=[bws.LdapUserStoreConfigWithScopes(
        ldapUserStoreConfig=directory, scopes=["write"])])
    class NotesService:
        def get(self, request: bws.UpgradeRequest) -> Notes:
            return Notes()

    return NotesService()


async def attempt(wsUrl: str, username: str, password: str) -> str:
    """What ``username`` gets: the service's answer, or the refusal."""
    try:
        client = await bws.Client.connect(
            wsUrl, auth=bws.CredentialsConfig(username=username, password=password))
    except bws.InvalidHandshakeError as e:
        assert e.response is not None
        return f"{username}: {e.response.statusCode} {e.response.reasonPhrase}"
    await client.writeTextMessage("hello")
    answer: str = await client.readTextMessage()
    await client.close()
    return answer


async def main(url: str, bindDn: str, bindPassword: str, suffix: str) -> list[str]:
    listener = bws.Listener(0, host="127.0.0.1")
    listener.attach(notesService(url, bindDn, bindPassword, suffix), "/notes")
    await listener.start()
    try:
        wsUrl = f"ws://127.0.0.1:{listener.listeningPort}/notes"
        return [await attempt(wsUrl, "alice", "alice-pw"),
                await attempt(wsUrl, "bob", "bob-pw"),
                await attempt(wsUrl, "alice", "wrong")]
    finally:
        await listener.immediateStop()


if __name__ == "__main__":
    async def run(reactor: object) -> None:
        print("\n".join(await main(*sys.argv[1:5])))

    react(lambda reactor: Deferred.fromCoroutine(run(reactor)))
