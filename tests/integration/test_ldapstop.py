"""A listener whose service checks Basic credentials against a real slapd closes the LDAP
store's pooled connection when it stops (tests/auth/slapd.py)."""

from __future__ import annotations

from twisted.trial.unittest import TestCase

import bws
from bws.auth._ldap import LdapChecker
from tests.auth.slapd import ADMIN_DN, ADMIN_PASSWORD, SKIP_REASON, SLAPD, SUFFIX, Slapd
from tests.integration.test_auth_stores import serviceNeedingWrite


class ListenerStopTests(TestCase):
    if SLAPD is None:
        skip = SKIP_REASON

    def setUp(self) -> None:
        self.slapd = Slapd()
        self.addCleanup(self.slapd.cleanup)
        self.slapd.start()

    async def started(self) -> tuple[bws.Listener, LdapChecker, str]:
        """A listener on loopback with an LDAP entry; its checker; its ws:// URL."""
        listener = bws.Listener(0, host="127.0.0.1")
        listener.attach(serviceNeedingWrite(bws.LdapUserStoreConfigWithScopes(
            ldapUserStoreConfig={
                "connectionUrl": self.slapd.url, "connectionName": ADMIN_DN,
                "connectionPassword": ADMIN_PASSWORD, "userSearchBase": f"ou=users,{SUFFIX}",
                "groupSearchBase": [f"ou=groups,{SUFFIX}"], "readTimeout": 5},
            scopes="write")), "/")
        await listener.start()
        [checker] = listener.checkers.checkers.values()
        assert isinstance(checker, LdapChecker)
        return listener, checker, f"ws://127.0.0.1:{listener.listeningPort}/"

    async def login(self, url: str) -> None:
        client = await bws.Client.connect(url, auth={"username": "alice",
                                                     "password": "alice-pw"})
        await client.close()

    async def test_gracefulStopUnbindsThePool(self) -> None:
        """After a login the pooled search connection is open; once gracefulStop has fired
        it is closed and the checker holds none."""
        listener, checker, url = await self.started()
        await self.login(url)
        pooled = checker._pooled
        assert pooled is not None
        self.assertTrue(pooled.connected)
        await listener.gracefulStop()
        self.assertFalse(pooled.connected)
        self.assertIsNone(checker._pooled)

    async def test_stopServiceThenStartAgain(self) -> None:
        """stopService closes the pool too; the listener started again logs in on a new
        one."""
        listener, checker, url = await self.started()
        listener.startService()
        await self.login(url)
        first = checker._pooled
        assert first is not None
        await listener.stopService()
        self.assertFalse(first.connected)
        await listener.start()
        self.addCleanup(listener.immediateStop)
        await self.login(f"ws://127.0.0.1:{listener.listeningPort}/")
        self.assertIsNot(checker._pooled, first)
