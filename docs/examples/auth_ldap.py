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
from auth_attempts import onLoopback


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


async def main(url: str, bindDn: str, bindPassword: str, suffix: str) -> list[str]:
    return await onLoopback(notesService(url, bindDn, bindPassword, suffix), "/notes", [
        (username, bws.CredentialsConfig(username=username, password=password))
        for username, password in [("alice", "alice-pw"), ("bob", "bob-pw"), ("alice", "wrong")]])


if __name__ == "__main__":
    async def run(reactor: object) -> None:
        print("\n".join(await main(*sys.argv[1:5])))

    react(lambda reactor: Deferred.fromCoroutine(run(reactor)))
