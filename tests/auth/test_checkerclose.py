"""A listener closes the auth checkers it built for its services when it stops (the LDAP
store's pooled connection), in memory."""

from __future__ import annotations

from typing import Any

from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import IUsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred, fail
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

import bws
from bws.auth import _stores
from bws.auth.records import FileUserStoreConfigWithScopes


@implementer(ICredentialsChecker)
class ClosingChecker:
    """A checker whose ``close()`` answers ``closing`` (or raises) and counts its calls."""

    credentialInterfaces = (IUsernamePassword,)

    def __init__(self, closing: Deferred[None] | None = None, broken: bool = False) -> None:
        self.closing = closing
        self.broken = broken
        self.closed = 0

    def requestAvatarId(self, credentials: Any) -> Deferred[Any]:
        return fail(UnauthorizedLogin())

    def close(self) -> Deferred[None] | None:
        self.closed += 1
        if self.broken:
            raise RuntimeError("close failed")
        return self.closing


def service(*auth: Any) -> Any:
    @bws.serviceConfig(auth=list(auth))
    class Upgrade:
        def get(self, request: bws.UpgradeRequest) -> None:
            return None

    return Upgrade()


class ListenerClosesCheckersTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.built = ClosingChecker(Deferred())
        self.patch(_stores, "BUILDERS", {
            **_stores.BUILDERS, FileUserStoreConfigWithScopes: lambda record, reactor: self.built})
        self.listener = bws.Listener(0, reactor=MemoryReactorClock())
        self.record = FileUserStoreConfigWithScopes({"path": "users.toml"})

    def test_gracefulStop(self) -> None:
        """gracefulStop closes each built checker once, and fires when its close() has."""
        self.listener.attach(service(self.record), "/a")
        self.listener.attach(service(self.record), "/b")
        stopped = self.listener.gracefulStop()
        self.assertEqual(self.built.closed, 1)
        self.assertNoResult(stopped)
        assert self.built.closing is not None
        self.built.closing.callback(None)
        self.assertIsNone(self.successResultOf(stopped))

    def test_immediateStop(self) -> None:
        """immediateStop closes the built checkers too."""
        self.listener.attach(service(self.record))
        self.built.closing = None
        self.assertIsNone(self.successResultOf(self.listener.immediateStop()))
        self.assertEqual(self.built.closed, 1)

    def test_stopService(self) -> None:
        """Stopping the listener as a twisted.application service closes them."""
        self.listener.attach(service(self.record))
        self.built.closing = None
        self.listener.startService()
        self.assertIsNone(self.successResultOf(self.listener.stopService()))
        self.assertEqual(self.built.closed, 1)

    def test_ownCheckersLeftOpen(self) -> None:
        """A checker given ready-made (CheckerWithScopes) is the application's: not closed."""
        own = ClosingChecker()
        self.listener.attach(service(bws.CheckerWithScopes(own)))
        self.successResultOf(self.listener.gracefulStop())
        self.assertEqual(own.closed, 0)

    def test_failingCloseLogged(self) -> None:
        """A close() that raises is logged; the stop still completes."""
        self.built = ClosingChecker(broken=True)
        self.listener.attach(service(self.record))
        self.assertIsNone(self.successResultOf(self.listener.gracefulStop()))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_startedAgain(self) -> None:
        """A listener started again keeps its checkers (they reopen on use) and closes
        them again at the next stop."""
        self.listener.attach(service(self.record))
        self.built.closing = None
        self.successResultOf(self.listener.gracefulStop())
        self.successResultOf(self.listener.start())
        self.successResultOf(self.listener.gracefulStop())
        self.assertEqual(self.built.closed, 2)
