"""An unknown LDAP user name costs what a wrong password costs (a user connection and a
bind the directory refuses), against a real slapd (tests/auth/slapd.py)."""

from __future__ import annotations

from typing import Any

from twisted.cred.error import UnauthorizedLogin

from bws.auth._ldap import LdapChecker
from tests.auth.slapd import SUFFIX
from tests.auth.test_ldap import SlapdTestCase, login


def recordBinds(checker: LdapChecker) -> list[tuple[str, bytes]]:
    """Every bind ``checker`` sends from now on, as ``(dn, password)``."""
    binds: list[tuple[str, bytes]] = []
    bind = checker._bind

    async def recording(client: Any, dn: str, password: bytes) -> None:
        binds.append((dn, password))
        await bind(client, dn, password)

    checker._bind = recording  # type: ignore[method-assign]
    return binds


class AbsentUserTests(SlapdTestCase):
    async def work(self, checker: LdapChecker, username: str, password: str,
                   ) -> list[tuple[str, bytes]]:
        """The binds of one refused login."""
        binds = recordBinds(checker)
        await self.refusedAs(UnauthorizedLogin, checker, username, password)
        return binds

    async def test_unknownUserBindsLikeAWrongPassword(self) -> None:
        """An unknown name makes one bind with the password, as a DN under userSearchBase
        that no entry has, as a known name with a wrong password makes one bind as the
        user; both are 401."""
        checker = self.makeChecker()
        await checker.requestAvatarId(login("bob", "bob-pw"))  # the pooled connection is open
        wrong = await self.work(checker, "bob", "nope")
        unknown = await self.work(self.restored(checker), "mallory", "nope")
        self.assertEqual(wrong, [(f"uid=bob,ou=users,{SUFFIX}", b"nope")])
        self.assertEqual(len(unknown), 1)
        dn, password = unknown[0]
        self.assertTrue(dn.startswith("uid=bws-absent-") and dn.endswith(f",ou=users,{SUFFIX}"),
                        dn)
        self.assertEqual(password, b"nope")

    async def test_ambiguousOrHostileNamesToo(self) -> None:
        """Names that find nothing because they are looked up literally cost a bind too."""
        checker = self.makeChecker()
        await checker.requestAvatarId(login("bob", "bob-pw"))
        for name in ["*", "b*", "*)(uid=*"]:
            self.assertEqual(len(await self.work(self.restored(checker), name, "x")), 1, name)

    async def test_withoutPooling(self) -> None:
        """Without pooling the counts of binds match too: service bind and user bind."""
        checker = self.makeChecker(connectionPoolingEnabled=False)
        wrong = await self.work(checker, "alice", "nope")
        unknown = await self.work(self.restored(checker), "mallory", "nope")
        self.assertEqual(len(wrong), 2)
        self.assertEqual(len(unknown), 2)

    def restored(self, checker: LdapChecker) -> LdapChecker:
        """``checker`` with its own ``_bind`` again (recordBinds wraps it)."""
        checker.__dict__.pop("_bind", None)
        return checker
