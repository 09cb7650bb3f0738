# -*- test-case-name: tests.auth.test_ldap,tests.auth.test_oauth2 -*-
"""What the checkers of a store across the network (LDAP, OAuth2 introspection) share: the
reactor and clock they run on, and failing closed: a store that cannot answer refuses the
request (503), never lets it through."""

from __future__ import annotations

import abc
from collections.abc import Coroutine
from typing import Any

from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from bws.auth.credentials import BackendUnavailable
from bws.request import Principal

__all__ = ["RemoteChecker"]

_log = Logger()


class RemoteChecker(abc.ABC):
    """A base of ``ICredentialsChecker`` classes whose store is a server.

    :param reactor: connects (TCP, name resolution); the global reactor by default.
    :param clock: the time for caches and time bounds; ``reactor`` by default.
    """

    #: The store's name in log lines and in :class:`BackendUnavailable` messages.
    kind = "store"
    #: Failures that mean "the connection failed" (503 with that said), not a bug.
    connectionErrors: tuple[type[BaseException], ...] = ()

    def __init__(self, reactor: Any = None, clock: IReactorTime | None = None) -> None:
        if reactor is None:
            from twisted.internet import reactor as globalReactor
            reactor = globalReactor
        self._reactor = reactor
        self._clock: IReactorTime = clock if clock is not None else reactor

    @abc.abstractmethod
    def where(self) -> str:
        """Which store this is, for log lines (``"at https://..."``)."""

    def _checked(self, login: Coroutine[Any, Any, Principal]) -> Deferred[Principal]:
        """``login`` run, failing with ``UnauthorizedLogin`` or ``BackendUnavailable`` only."""
        d = Deferred.fromCoroutine(login)
        d.addErrback(self._failClosed)
        return d

    def _unavailable(self, why: str) -> BackendUnavailable:
        """The 503 of ``why``, logged."""
        _log.error("{kind} {where}: {why}; requests are refused (503) until it answers",
                   kind=self.kind, where=self.where(), why=why)
        return BackendUnavailable(f"{self.kind} unavailable: {why}")

    def _failClosed(self, failure: Failure) -> Failure:
        if failure.check(UnauthorizedLogin):
            return failure
        if self.connectionErrors and failure.check(*self.connectionErrors):
            return Failure(self._unavailable(f"the connection failed: {failure.value}"))
        _log.failure("{kind} {where}: unexpected failure; the request is refused (503)",
                     failure, kind=self.kind, where=self.where())
        return Failure(BackendUnavailable(f"{self.kind} failed"))
