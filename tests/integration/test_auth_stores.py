"""The reference's auth scenarios end to end: a bws listener on loopback whose service needs
``write``, checked by a real slapd or a real authlib introspection endpoint, and bws clients
with Basic credentials, bearer tokens or an OAuth2 grant."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import TestCase

import bws
from tests.auth.authserver import sharedAuthServer
from tests.auth.slapd import ADMIN_DN, ADMIN_PASSWORD, SKIP_REASON, SLAPD, SUFFIX, Slapd


class Echo:
    def onTextMessage(self, caller: bws.Caller, text: str) -> str:
        return f"{caller.principal.userId}: {text}"


def serviceNeedingWrite(entry: Any) -> Any:
    @bws.serviceConfig(auth=[entry])
    class Upgrade:
        def get(self, request: bws.UpgradeRequest) -> Echo:
            return Echo()

    return Upgrade()


class AuthListenerTestCase(TestCase):
    async def listen(self, entry: Any) -> str:
        listener = bws.Listener(0, host="127.0.0.1")
        listener.attach(serviceNeedingWrite(entry), "/")
        await listener.start()
        self.addCleanup(listener.immediateStop)
        return f"ws://127.0.0.1:{listener.listeningPort}/"

    async def opens(self, url: str, **config: Any) -> str:
        """Connects (101), says hello, and gives back the answer."""
        client = await bws.Client.connect(url, **config)
        await client.writeTextMessage("hello")
        answer: str = await client.readTextMessage()
        await client.close()
        return answer

    async def refused(self, url: str, status: str, **config: Any) -> None:
        with self.assertRaises(bws.InvalidHandshakeError) as caught:
            await bws.Client.connect(url, **config)
        self.assertIn(status, str(caught.exception))


class LdapListenerTests(AuthListenerTestCase):
    """Basic credentials checked by slapd; ``write`` required."""

    if SLAPD is None:
        skip = SKIP_REASON

    def setUp(self) -> None:
        self.slapd = Slapd()
        self.addCleanup(self.slapd.cleanup)
        self.slapd.start()

    def entry(self) -> bws.LdapUserStoreConfigWithScopes:
        return bws.LdapUserStoreConfigWithScopes(
            ldapUserStoreConfig={
                "connectionUrl": self.slapd.url, "connectionName": ADMIN_DN,
                "connectionPassword": ADMIN_PASSWORD, "userSearchBase": f"ou=users,{SUFFIX}",
                "groupSearchBase": [f"ou=groups,{SUFFIX}"], "readTimeout": 5},
            scopes="write")

    async def test_scenarios(self) -> None:
        """alice (write, update) 101; bob (read) 403; a wrong password, an injection and
        no credentials 401; slapd stopped 503; slapd back, alice 101 again."""
        url = await self.listen(self.entry())
        self.assertEqual(await self.opens(url, auth={"username": "alice", "password": "alice-pw"}),
                         "alice: hello")
        await self.refused(url, "403", auth={"username": "bob", "password": "bob-pw"})
        await self.refused(url, "401", auth={"username": "alice", "password": "bob-pw"})
        await self.refused(url, "401", auth={"username": "a*", "password": "alice-pw"})
        await self.refused(url, "401")
        self.slapd.stop()
        await self.refused(url, "503", auth={"username": "alice", "password": "alice-pw"})
        self.slapd.start()
        self.assertEqual(await self.opens(url, auth={"username": "alice", "password": "alice-pw"}),
                         "alice: hello")

    async def test_mappingEntry(self) -> None:
        """The entry may be spelled as the spec's mapping."""
        entry = self.entry()
        mapping = {"ldapUserStoreConfig": entry.ldapUserStoreConfig, "scopes": ["write"]}
        url = await self.listen(mapping)
        self.assertEqual(await self.opens(url, auth={"username": "zoë", "password": "zoë-pw"}),
                         "zoë: hello")


class IntrospectionListenerTests(AuthListenerTestCase):
    """Bearer tokens checked by the authlib introspection endpoint; ``write`` required."""

    def setUp(self) -> None:
        self.server = sharedAuthServer()

    def entry(self) -> bws.OAuth2IntrospectionConfigWithScopes:
        return bws.OAuth2IntrospectionConfigWithScopes(
            oauth2IntrospectionConfig={
                "url": f"{self.server.url}/introspect",
                "clientConfig": {"clientId": "introspector", "clientSecret": "intro-secret",
                                 "secureSocket": {"cert": self.server.caFile}}},
            scopes="write")

    async def test_scenarios(self) -> None:
        """Active with ``write update`` 101; active with ``read`` 403; inactive 401."""
        url = await self.listen(self.entry())
        writer = self.server.issue("write update")["access_token"]
        reader = self.server.issue("read")["access_token"]
        self.assertEqual(await self.opens(url, auth={"token": writer}), "ws-client: hello")
        await self.refused(url, "403", auth={"token": reader})
        await self.refused(url, "401", auth={"token": "inactive-token"})

    async def test_grantToIntrospection(self) -> None:
        """A client with a client-credentials grant gets a token from the authorization
        server and the listener lets it in after introspecting it; the grant may be given
        as a mapping of its fields."""
        url = await self.listen(self.entry())
        grant = bws.OAuth2ClientCredentialsGrantConfig(
            tokenUrl=f"{self.server.url}/token", clientId="ws-client", clientSecret="ws-secret",
            scopes=["write"], clientConfig={"secureSocket": {"cert": self.server.caFile}})
        self.assertEqual(await self.opens(url, auth=grant), "ws-client: hello")
        self.assertEqual(await self.opens(url, auth={
            "tokenUrl": f"{self.server.url}/token", "username": "alice", "password": "alice-pw",
            "clientId": "ws-client", "clientSecret": "ws-secret", "scopes": "write",
            "clientConfig": {"secureSocket": {"cert": self.server.caFile}}}), "alice: hello")

    async def test_revokedTokenReplacedOnReconnect(self) -> None:
        """A token revoked at the authorization server: the next connect is 401 and makes
        the grant forget it; the one after fetches a new token and opens."""
        url = await self.listen(self.entry())
        grant = bws.OAuth2ClientCredentialsGrantConfig(
            tokenUrl=f"{self.server.url}/token", clientId="ws-client", clientSecret="ws-secret",
            scopes=["write"], clientConfig={"secureSocket": {"cert": self.server.caFile}})
        self.assertEqual(await self.opens(url, auth=grant), "ws-client: hello")
        assert grant._cache.accessToken is not None
        self.server.revoke(grant._cache.accessToken)
        await self.refused(url, "401", auth=grant)
        self.assertEqual(await self.opens(url, auth=grant), "ws-client: hello")

    async def test_grantFailure(self) -> None:
        """A grant that cannot get a token fails the connect with the reference's AuthError."""
        url = await self.listen(self.entry())
        grant = bws.OAuth2ClientCredentialsGrantConfig(
            tokenUrl=f"{self.server.url}/token", clientId="ws-client", clientSecret="wrong",
            clientConfig={"secureSocket": {"cert": self.server.caFile}})
        with self.assertRaises(bws.AuthError) as caught:
            await bws.Client.connect(url, auth=grant)
        self.assertTrue(str(caught.exception).startswith(
            "Failed to enrich request with OAuth2 token. "))

