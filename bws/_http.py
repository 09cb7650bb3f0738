# -*- test-case-name: tests.test_http -*-
"""Handshake header rules on plain values: origins, token lists, the key, reason phrases."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

__all__ = ["REASONS", "normalizeOrigin", "parseTokens", "validKey"]

#: Reason phrases of the statuses a bws listener answers (RFC 9110 §15).
REASONS: Final[dict[int, bytes]] = {
    400: b"Bad Request", 401: b"Unauthorized", 403: b"Forbidden", 404: b"Not Found",
    405: b"Method Not Allowed", 413: b"Payload Too Large", 414: b"URI Too Long",
    426: b"Upgrade Required", 431: b"Request Header Fields Too Large",
    500: b"Internal Server Error", 503: b"Service Unavailable",
}


def normalizeOrigin(value: str) -> str | None:
    """
    Normalise an ``Origin`` value (RFC 6454 §7) for comparison.

    :param value: a header value or a configured origin, e.g. ``"HTTPS://Example.com:8443"``.
    :return: ``scheme://host[:port]`` with scheme and host lower-cased and an IPv6 host in
        brackets; ``None`` when ``value`` is not an origin (no scheme or host, a path other
        than ``/``, a query, or a bad port).
    """
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname or parts.path not in ("", "/") or parts.query:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme.lower()}://{host}" + (f":{port}" if port is not None else "")


def parseTokens(values: Iterable[str]) -> list[str]:
    """
    Split comma-separated header lists (RFC 9110 §5.6.1) into their tokens, in linear time.

    :param values: every value of one header, in arrival order.
    :return: the tokens, trimmed of spaces and tabs, empty ones dropped; case is kept.
    """
    out: list[str] = []
    for value in values:
        for item in value.split(","):
            token = item.strip(" \t")
            if token:
                out.append(token)
    return out


def validKey(key: str | bytes) -> bool:
    """
    Check a ``Sec-WebSocket-Key`` value (RFC 6455 §4.2.1, item 5).

    :param key: the header value; surrounding whitespace is ignored.
    :return: whether it is base64 of exactly 16 bytes.
    """
    try:
        return len(base64.b64decode(key.strip(), validate=True)) == 16
    except (binascii.Error, ValueError):
        return False
