# -*- test-case-name: tests.auth.test_credentials -*-
"""What an ``Authorization`` header carries, as ``twisted.cred`` credentials (RFC 7617 Basic,
RFC 6750 Bearer), and the failures a credentials checker reports."""

from __future__ import annotations

import base64
import binascii

import attrs
from twisted.cred.credentials import ICredentials, IUsernamePassword, UsernamePassword
from twisted.cred.error import UnauthorizedLogin
from zope.interface import Attribute, implementer

__all__ = ["IBearerToken", "BearerToken", "BackendUnavailable", "credentialsFrom",
           "IUsernamePassword", "UsernamePassword", "hasControl"]


class IBearerToken(ICredentials):
    """A bearer token (RFC 6750 §2.1) to be validated: a JWT, or one to introspect."""

    token = Attribute("The token, as sent (str).")


@implementer(IBearerToken)
@attrs.frozen
class BearerToken:
    """The credentials of ``Authorization: Bearer <token>``."""

    token: str


class BackendUnavailable(UnauthorizedLogin):
    """The store behind a checker (LDAP server, JWKS or introspection endpoint) did not
    answer in time or answered garbage: the request is refused (503), never let through."""


def hasControl(text: str) -> bool:
    """Whether ``text`` holds a control character (C0 or DEL), which Basic credentials cannot
    carry (RFC 7617 §2)."""
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)


def credentialsFrom(header: str | None) -> UsernamePassword | BearerToken | None:
    """The credentials in an ``Authorization`` header value, or None when it has none bws
    can use (missing, another scheme, malformed).

    The scheme is matched case-insensitively (RFC 9110 §11.1). Basic's user-pass is UTF-8
    (RFC 7617 §2.1) and splits at the first colon, so a password may hold colons.
    """
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    scheme = scheme.lower()
    if scheme == "bearer" and value:
        return BearerToken(value)
    if scheme == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return None
        username, colon, password = decoded.partition(":")
        if not colon:
            return None
        return UsernamePassword(username.encode("utf-8"), password.encode("utf-8"))
    return None
