"""``CheckerConformanceMixin``: what every bws credentials checker does, as Twisted's
``CheckersMixin`` (twisted/test/test_newcred.py) says it for Twisted's own.

Mix it into a ``twisted.trial.unittest.TestCase`` of one store and provide:

- ``checker``: the checker under test (an attribute, set in ``setUp``);
- ``goodCredentials()``: ``(credentials, expected)`` pairs, ``expected`` a
  :class:`bws.Principal` or a user id that ``requestAvatarId`` must answer;
- ``badCredentials()``: credentials it must refuse with ``UnauthorizedLogin`` (a 401, not a
  ``BackendUnavailable``).

Tests return Deferreds, so stores that answer later (LDAP, introspection, JWKS) run the same
tests as those that answer at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import IUsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred, gatherResults
from twisted.python.failure import Failure
from zope.interface.verify import verifyObject

from bws import AuthnError, Principal
from bws.auth.credentials import BackendUnavailable, BearerToken, IBearerToken, UsernamePassword
from bws.auth.listener import authenticate, principalFrom
from bws.auth.records import CheckerWithScopes


def headerOf(credentials: Any) -> str:
    """The ``Authorization`` header carrying ``credentials``."""
    import base64

    if isinstance(credentials, BearerToken):
        return f"Bearer {credentials.token}"
    assert isinstance(credentials, UsernamePassword)
    pair = credentials.username + b":" + credentials.password
    return "Basic " + base64.b64encode(pair).decode("ascii")


class CheckerConformanceMixin:
    """The contract of a listener store (see the module docstring)."""

    checker: Any

    def goodCredentials(self) -> Iterable[tuple[Any, Principal | str]]:
        raise NotImplementedError

    def badCredentials(self) -> Iterable[Any]:
        raise NotImplementedError

    def test_providesChecker(self) -> None:
        """The checker provides ``ICredentialsChecker``."""
        self.assertTrue(verifyObject(ICredentialsChecker, self.checker))  # type: ignore[attr-defined]

    def test_oneScheme(self) -> None:
        """The checker takes Basic (``IUsernamePassword``) or Bearer (``IBearerToken``)."""
        interfaces = set(self.checker.credentialInterfaces)
        self.assertTrue(  # type: ignore[attr-defined]
            bool(interfaces & {IUsernamePassword}) != bool(interfaces & {IBearerToken}))

    def test_good(self) -> Deferred[Any]:
        """Good credentials give their principal (or user id)."""
        checks = []
        for credentials, expected in self.goodCredentials():
            d = self.checker.requestAvatarId(credentials)
            d.addCallback(principalFrom)
            wanted = expected if isinstance(expected, Principal) else Principal(expected)
            d.addCallback(lambda got, wanted=wanted: self.assertEqual(  # type: ignore[attr-defined]
                (got.userId, got.scopes), (wanted.userId, wanted.scopes)))
            checks.append(d)
        self.assertTrue(checks)  # type: ignore[attr-defined]
        return gatherResults(checks, consumeErrors=True)

    def test_bad(self) -> Deferred[Any]:
        """Bad credentials fail with ``UnauthorizedLogin``, never ``BackendUnavailable``."""
        checks = []
        for credentials in self.badCredentials():
            d = self.checker.requestAvatarId(credentials)

            def refused(result: Any, credentials: Any = credentials) -> None:
                if not isinstance(result, Failure):
                    self.fail(f"{credentials!r} was accepted as {result!r}")  # type: ignore[attr-defined]
                result.trap(UnauthorizedLogin)
                if result.check(BackendUnavailable):
                    self.fail(f"{credentials!r}: BackendUnavailable, not a refusal")  # type: ignore[attr-defined]

            checks.append(d.addBoth(refused))
        self.assertTrue(checks)  # type: ignore[attr-defined]
        return gatherResults(checks, consumeErrors=True)

    def test_throughListenerRules(self) -> Deferred[Any]:
        """Through the listener's rules, good credentials pass and bad ones are a 401."""
        entries = [CheckerWithScopes(self.checker)]
        checks = []
        for credentials, expected in self.goodCredentials():
            userId = expected.userId if isinstance(expected, Principal) else expected
            d = authenticate(headerOf(credentials), entries)
            d.addCallback(lambda got, userId=userId: self.assertEqual(  # type: ignore[attr-defined]
                got.userId, userId))
            checks.append(d)
        for credentials in self.badCredentials():
            d = authenticate(headerOf(credentials), entries)
            d.addCallbacks(lambda got: self.fail(f"accepted {got!r}"),  # type: ignore[attr-defined]
                           lambda f: f.trap(AuthnError))
            checks.append(d)
        return gatherResults(checks, consumeErrors=True)
