# -*- test-case-name: tests.test_http -*-
"""Handshake header rules on plain values: origins, token lists, the key, the Host value,
header fields bws writes itself, request targets, reason phrases."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

__all__ = ["REASONS", "CLIENT_OWNED", "SERVER_OWNED", "normalizeOrigin", "parseTokens",
           "validKey", "validHost", "isToken", "fieldProblem", "ownedHeaderProblem",
           "encodePath", "encodeQuery", "hasControl"]

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


#: ``tchar`` (RFC 9110 §5.6.2): the characters of a token, such as a header field name.
_TCHARS: Final = frozenset("!#$%&'*+-.^_`|~0123456789"
                           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

#: ``uri-host [":" port]`` (RFC 9112 §3.2, RFC 3986 §3.2.2): an IP-literal in brackets,
#: or an IPv4 address or registered name (unreserved, pct-encoded and sub-delims).
_HOST: Final = re.compile(r"(?:\[[0-9A-Za-z:._~%!$&'()*+,;=-]+\]"
                          r"|[0-9A-Za-z._~%!$&'()*+,;=-]*)(?::[0-9]*)?")

#: Request header fields a bws client writes itself (RFC 6455 §4.1); ``customHeaders``
#: may not set them. Lower-cased name to what sets it instead.
CLIENT_OWNED: Final[dict[str, str]] = {
    "upgrade": "bws sends Upgrade: websocket",
    "connection": "bws sends Connection: Upgrade",
    "sec-websocket-key": "bws draws a new key for each attempt",
    "sec-websocket-version": "bws speaks version 13",
    "sec-websocket-protocol": "set subProtocols instead",
    "sec-websocket-extensions": "set webSocketCompressionEnabled instead",
    "content-length": "an upgrade request has no body",
    "transfer-encoding": "an upgrade request has no body",
}

#: Header fields of the 101 answer bws writes itself (RFC 6455 §4.2.2 item 5);
#: ``UpgradeRequest.addResponseHeader`` may not add them. Lower-cased name to why.
SERVER_OWNED: Final[dict[str, str]] = {
    "upgrade": "bws sends Upgrade: websocket",
    "connection": "bws sends Connection: Upgrade",
    "sec-websocket-accept": "bws derives it from the request's key",
    "sec-websocket-protocol": "WSServiceConfig.subProtocols chooses it",
    "sec-websocket-extensions": "bws negotiates permessage-deflate",
    "content-length": "a 101 answer has no body (RFC 9110 §8.6)",
    "transfer-encoding": "a 101 answer has no body (RFC 9112 §6.1)",
}


def isToken(text: str) -> bool:
    """Whether ``text`` is a non-empty token (RFC 9110 §5.6.2), as a field name must be."""
    return bool(text) and all(c in _TCHARS for c in text)


def fieldProblem(name: object, value: object) -> str | None:
    """
    Check one header field before it is written (RFC 9110 §5.1, §5.5).

    :param name: the field name; it must be a token.
    :param value: the field value; a string without CR, LF or NUL.
    :return: what is wrong, naming the field, or ``None`` when it may be written.
    """
    if not isinstance(name, str) or not isToken(name):
        return f"header name {name!r} is not a token (RFC 9110 §5.1)"
    if not isinstance(value, str):
        return f"the value of {name} must be a str, not {type(value).__name__}"
    if "\r" in value or "\n" in value or "\0" in value:
        return f"the value of {name} must not contain CR, LF or NUL"
    return None


def ownedHeaderProblem(name: str, owned: dict[str, str]) -> str | None:
    """
    Whether header ``name`` is one bws writes itself.

    :param name: a field name, any case.
    :param owned: :data:`CLIENT_OWNED` or :data:`SERVER_OWNED`.
    :return: ``"<name> is set by bws (<why>)"``, or ``None`` when the user may set it.
    """
    why = owned.get(name.lower())
    return None if why is None else f"{name} is set by bws ({why})"


def validHost(value: str) -> bool:
    """
    Check a ``Host`` value: ``uri-host [":" port]`` (RFC 9112 §3.2, RFC 3986 §3.2.2). An
    empty value is well-formed (RFC 9112 §3.2: a target without an authority).

    :param value: the header value, already trimmed of surrounding whitespace.
    """
    return _HOST.fullmatch(value) is not None


def hasControl(text: str) -> bool:
    """Whether ``text`` holds a C0 control character or DEL (U+0000-U+001F, U+007F)."""
    return any(c < " " or c == "\x7f" for c in text)


#: The WHATWG URL standard's percent-encode sets (§1.3) past the C0 control set, which
#: also holds every code point above U+007E: the query set, the special-query set (ws and
#: wss are special schemes) and the path set.
_QUERY_SET: Final = frozenset(' "#<>')
_SPECIAL_QUERY_SET: Final = _QUERY_SET | {"'"}
_PATH_SET: Final = _QUERY_SET | frozenset("?^`{}")


def _percentEncode(text: str, encodeSet: frozenset[str]) -> str:
    if text.isascii() and not any(c in encodeSet or c < " " or c == "\x7f" for c in text):
        return text
    out = []
    for c in text:
        if c in encodeSet or c < " " or c > "~":
            if "\ud800" <= c <= "\udfff":
                c = "\ufffd"  # a lone surrogate has no UTF-8 form: WHATWG writes U+FFFD
            out.append("".join(f"%{b:02X}" for b in c.encode("utf-8")))
        else:
            out.append(c)
    return "".join(out)


def encodePath(path: str) -> str:
    """
    Percent-encode a URL path as browsers do (WHATWG URL standard, path state of a special
    URL): UTF-8 bytes of code points outside printable ASCII, and space, ``" # < > ? ^ ` {
    }``, become ``%XX``; ``%`` sequences already there are kept; ``\\`` is a ``/``.

    :param path: the path as written, e.g. ``"/chat room/albanø"``.
    :return: the path for the request line, e.g. ``"/chat%20room/alban%C3%B8"``.
    """
    return _percentEncode(path.replace("\\", "/"), _PATH_SET)


def encodeQuery(query: str) -> str:
    """
    Percent-encode a URL query as browsers do for a special URL (WHATWG URL standard,
    special-query percent-encode set, UTF-8): space, ``" # < > '`` and code points outside
    printable ASCII become ``%XX``.

    :param query: the query without its ``?``, e.g. ``"q=é"``.
    :return: e.g. ``"q=%C3%A9"``.
    """
    return _percentEncode(query, _SPECIAL_QUERY_SET)
