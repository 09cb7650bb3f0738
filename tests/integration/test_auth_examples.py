"""The runnable examples of docs/auth-ldap.rst and docs/auth-introspection.rst give the
answers the pages show, against a real slapd and the authlib authorization server."""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from tests.auth.authserver import sharedAuthServer
from tests.auth.slapd import ADMIN_DN, ADMIN_PASSWORD, SKIP_REASON, SLAPD, SUFFIX, Slapd
from tests.auth.test_examples import example


class LdapExampleTests(TestCase):
    if SLAPD is None:
        skip = SKIP_REASON

    async def test_ldap(self) -> None:
        """auth_ldap.py: alice (write, update) writes; bob (read) is 403; a wrong password
        is 401."""
        slapd = Slapd()
        self.addCleanup(slapd.cleanup)
        slapd.start()
        lines = await example("auth_ldap").main(slapd.url, ADMIN_DN, ADMIN_PASSWORD, SUFFIX)
        self.assertEqual(lines, ["alice (update write) wrote 'hello'", "bob: 403 Forbidden",
                                 "alice: 401 Unauthorized"])


class OAuth2ExampleTests(TestCase):
    async def test_oauth2(self) -> None:
        """auth_oauth2.py: a granted ``write update`` token writes; ``read`` is 403; an
        inactive token is 401."""
        server = sharedAuthServer()
        lines = await example("auth_oauth2").main(server.url, server.caFile)
        self.assertEqual(lines, ["ws-client (write update) wrote 'hello'",
                                 "read: 403 Forbidden", "inactive: 401 Unauthorized"])
