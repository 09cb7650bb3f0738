# -*- test-case-name: tests.auth.test_listener -*-
"""Listener auth records → ``twisted.cred`` checkers: one builder per record type, each
importing its store's module only when a service using it is attached (so ``import bws``
does not load PyJWT, ldaptor or treq).

A store's module provides a plain function ``(record, reactor) -> ICredentialsChecker``
that reads its configuration (files, keys) at once and raises
:class:`bws.ConfigurationError` naming what is wrong; :data:`BUILDERS` maps the record type
to it. Checkers are built once per listener and record (:class:`CheckerCache`): two
services configured alike share one checker, and its caches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from twisted.cred.checkers import ICredentialsChecker
from twisted.internet.defer import Deferred, DeferredList, maybeDeferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from bws.auth.records import (
    CheckerWithScopes,
    FileUserStoreConfigWithScopes,
    JwtValidatorConfigWithScopes,
    LdapUserStoreConfigWithScopes,
    OAuth2IntrospectionConfigWithScopes,
)
from bws.errors import ConfigurationError

__all__ = ["BUILDERS", "Builder", "CheckerCache", "buildEntries"]

_log = Logger()

#: Builds the checker of one listener record: ``builder(record, reactor)``. ``reactor``
#: is the listener's (for timers, threads and outgoing requests).
Builder = Callable[[Any, Any], ICredentialsChecker]


def _fileStore(record: FileUserStoreConfigWithScopes, reactor: Any) -> ICredentialsChecker:
    from bws.auth._file import fileChecker

    return fileChecker(record.fileUserStoreConfig, reactor)


def _jwtValidator(record: JwtValidatorConfigWithScopes, reactor: Any) -> ICredentialsChecker:
    from bws.auth._jwt import jwtChecker

    return jwtChecker(record.jwtValidatorConfig, reactor)


def _ldapStore(record: LdapUserStoreConfigWithScopes, reactor: Any) -> ICredentialsChecker:
    from bws.auth._ldap import checkerFor

    return checkerFor(record, reactor)


def _introspection(record: OAuth2IntrospectionConfigWithScopes,
                   reactor: Any) -> ICredentialsChecker:
    from bws.auth._oauth2 import checkerFor

    return checkerFor(record, reactor)


#: The builder of each listener record type.
BUILDERS: dict[type[Any], Builder] = {
    FileUserStoreConfigWithScopes: _fileStore,
    JwtValidatorConfigWithScopes: _jwtValidator,
    LdapUserStoreConfigWithScopes: _ldapStore,
    OAuth2IntrospectionConfigWithScopes: _introspection,
}


class CheckerCache:
    """The checkers a listener built, by record (REFERENCE §1.12: handlers are cached per
    config)."""

    def __init__(self) -> None:
        self.checkers: dict[Any, ICredentialsChecker] = {}

    def checkerFor(self, record: Any, reactor: Any) -> ICredentialsChecker:
        """The checker of ``record``, built on first use.

        :raise ConfigurationError: no builder for the record's type, or the builder's own.
        """
        checker = self.checkers.get(record)
        if checker is None:
            builder = BUILDERS.get(type(record))
            if builder is None:
                raise ConfigurationError(
                    f"{type(record).__name__} is not available in this version of bws")
            checker = self.checkers[record] = builder(record, reactor)
        return checker

    def close(self) -> Deferred[None]:
        """Close every checker built that has a ``close()`` (the LDAP store's pooled
        connection): the listener calls it when it stops. A checker stays usable (it opens
        again on its next request), so a listener started again keeps its checkers. A
        failing ``close()`` is logged, not raised.

        :return: a Deferred firing once every ``close()`` has finished.
        """
        closing: list[Deferred[Any]] = []
        for checker in self.checkers.values():
            close: Callable[[], Any] | None = getattr(checker, "close", None)
            if callable(close):
                closing.append(maybeDeferred(close).addErrback(_closeFailed, checker))
        return DeferredList(closing).addCallback(lambda _: None)


def _closeFailed(failure: Failure, checker: Any) -> None:
    _log.failure("closing the auth checker {checker!r} failed", failure, checker=checker)


def buildEntries(auth: Iterable[Any] | None, reactor: Any,
                 cache: CheckerCache | None = None) -> tuple[CheckerWithScopes, ...]:
    """The checkers of a ``WSServiceConfig.auth``, in order, with their scopes.

    :param auth: the entries (already through :func:`bws.auth.records.listenerEntries`).
    :param reactor: the listener's reactor, handed to each builder.
    :param cache: the listener's checkers so far (a new one when ``None``).
    :raise ConfigurationError: naming ``WSServiceConfig.auth[i]`` and what is wrong (a
        missing or malformed user file, an unreadable key, a store not available).
    """
    cache = cache if cache is not None else CheckerCache()
    entries: list[CheckerWithScopes] = []
    for i, record in enumerate(auth or ()):
        if isinstance(record, CheckerWithScopes):
            entries.append(record)
            continue
        try:
            checker = cache.checkerFor(record, reactor)
        except ConfigurationError as e:
            raise ConfigurationError(f"WSServiceConfig.auth[{i}]: {e}") from None
        entries.append(CheckerWithScopes(checker, record.scopes))
    return tuple(entries)
