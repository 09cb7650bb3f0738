# -*- test-case-name: tests.auth.test_listener -*-
"""The listener's auth rules (REFERENCE §1.12): an upgrade request's ``Authorization``
header against a service's auth entries, giving a :class:`bws.Principal` or a refusal.

1. No ``Authorization`` header: 401.
2. Basic credentials go only to checkers of ``IUsernamePassword`` (file, LDAP), Bearer
   tokens only to checkers of :class:`~bws.auth.credentials.IBearerToken` (JWT,
   introspection); any other scheme, or a malformed value, is a 401.
3. Entries are tried in order. A checker's ``UnauthorizedLogin`` moves on to the next
   entry; its success ends the search: the principal passes when the entry requires no
   scopes or when it holds any one of them, and is refused 403 otherwise (a 403 is not
   retried with later entries). A principal with no scopes where scopes are required is a
   403.
4. A scope given as one space-separated string (``"write update"``) counts as its words.
5. A store that cannot answer (:class:`~bws.auth.credentials.BackendUnavailable`) does not
   end the search: a later entry may still authenticate; if none does, the answer is 503,
   never a pass.

Every refusal is an HTTP answer before the ``101`` (empty body); a 401 carries
``WWW-Authenticate`` with a challenge per scheme the entries accept (RFC 7235 §4.1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
from twisted.cred.credentials import IUsernamePassword
from twisted.cred.error import LoginFailed
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger

from bws.auth.credentials import BackendUnavailable, BearerToken, IBearerToken, credentialsFrom
from bws.auth.records import CheckerWithScopes
from bws.errors import AuthnError, AuthzError
from bws.request import Principal

__all__ = ["authenticate", "principalFrom", "scopesOf", "authRefusal", "Refusal", "REALM"]

log = Logger()

#: The ``realm`` of the challenges (RFC 7235 §2.2).
REALM = "bws"


def scopesOf(value: Any) -> tuple[str, ...]:
    """Scopes as a tuple of names: a space-separated string is split on whitespace, a list's
    items are split the same way; anything else holds none."""
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, (list, tuple)):
        return tuple(word for item in value if isinstance(item, str) for word in item.split())
    return ()


def principalFrom(avatarId: Any) -> Principal:
    """What a checker's ``requestAvatarId`` answered, as a principal: a
    :class:`~bws.Principal` (its scopes split on whitespace), or a ``str``/``bytes`` user id
    (UTF-8) with no scopes.

    :raise TypeError: for anything else (the checker is broken).
    """
    if isinstance(avatarId, Principal):
        scopes = scopesOf(avatarId.scopes)
        return avatarId if scopes == avatarId.scopes else attrs.evolve(avatarId, scopes=scopes)
    if isinstance(avatarId, bytes):
        return Principal(avatarId.decode("utf-8", "replace"))
    if isinstance(avatarId, str):
        return Principal(avatarId)
    raise TypeError(f"a credentials checker answered {type(avatarId).__name__}, "
                    "not a bws.Principal or a user id")


def _accepts(checker: Any, credentials: object) -> bool:
    return any(interface.providedBy(credentials)
               for interface in getattr(checker, "credentialInterfaces", ()))


async def _authenticate(header: str | None, entries: Sequence[CheckerWithScopes]) -> Principal:
    if header is None:
        raise AuthnError("no Authorization header")
    credentials = credentialsFrom(header)
    if credentials is None:
        raise AuthnError("the Authorization header is malformed or of an unsupported scheme")
    unavailable: BackendUnavailable | None = None
    for entry in entries:
        if not _accepts(entry.checker, credentials):
            continue
        try:
            avatarId = await maybeDeferred(entry.checker.requestAvatarId, credentials)
        except BackendUnavailable as e:
            unavailable = unavailable or e
            continue
        except LoginFailed:
            continue
        principal = principalFrom(avatarId)
        if entry.scopes is not None and not set(entry.scopes) & set(principal.scopes):
            raise AuthzError(f"{principal.userId!r} holds none of the scopes "
                             f"{', '.join(entry.scopes)}")
        return principal
    if unavailable is not None:
        raise unavailable
    raise AuthnError("no auth entry accepted the credentials")


def authenticate(header: str | None, entries: Sequence[CheckerWithScopes]) -> Deferred[Principal]:
    """Apply the rules of the module docstring.

    :param header: the ``Authorization`` header's value, or ``None`` when there is none.
    :param entries: the service's entries, each checker built (see
        :func:`bws.auth._stores.buildEntries`).
    :return: a Deferred firing with the principal, or failing with :class:`bws.AuthnError`
        (401), :class:`bws.AuthzError` (403) or
        :class:`~bws.auth.credentials.BackendUnavailable` (503); any other failure is a
        broken checker (500, see :func:`authRefusal`).
    """
    return Deferred.fromCoroutine(_authenticate(header, entries))


def _challenges(entries: Sequence[CheckerWithScopes], header: str | None) -> str:
    """One challenge per scheme the entries accept (RFC 7235 §4.1): Basic with its
    charset (RFC 7617 §2.1), Bearer with ``invalid_token`` when a token was refused
    (RFC 6750 §3.1)."""
    interfaces = {i for entry in entries
                  for i in getattr(entry.checker, "credentialInterfaces", ())}
    challenges = []
    if IUsernamePassword in interfaces:
        challenges.append(f'Basic realm="{REALM}", charset="UTF-8"')
    if IBearerToken in interfaces:
        challenge = f'Bearer realm="{REALM}"'
        if isinstance(credentialsFrom(header), BearerToken):
            challenge += ', error="invalid_token"'
        challenges.append(challenge)
    return ", ".join(challenges) or f'Basic realm="{REALM}"'


@attrs.frozen
class Refusal:
    """The HTTP answer refusing an upgrade: ``status`` and extra ``headers`` (empty body)."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()


def authRefusal(error: BaseException, entries: Sequence[CheckerWithScopes],
               header: str | None) -> Refusal | None:
    """The answer to a failed :func:`authenticate`.

    :return: 401 with ``WWW-Authenticate`` for :class:`bws.AuthnError`; 403 for
        :class:`bws.AuthzError` (with a Bearer ``insufficient_scope`` challenge when a
        token was presented, RFC 6750 §3.1); 503 for ``BackendUnavailable``; ``None`` for
        anything else (the caller logs it and answers 500).
    """
    if isinstance(error, AuthnError):
        return Refusal(401, (("WWW-Authenticate", _challenges(entries, header)),))
    if isinstance(error, AuthzError):
        if isinstance(credentialsFrom(header), BearerToken):
            return Refusal(403, (
                ("WWW-Authenticate", f'Bearer realm="{REALM}", error="insufficient_scope"'),))
        return Refusal(403)
    if isinstance(error, BackendUnavailable):
        return Refusal(503)
    return None
