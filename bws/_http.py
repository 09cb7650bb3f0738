# -*- test-case-name: tests.test_http -*-
"""Handshake header rules on plain values: origins, token lists, the key, the Host value,
header fields bws writes itself, request targets, reason phrases, and a bounded reader of
response heads."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

__all__ = ["REASONS", "CLIENT_OWNED", "SERVER_OWNED", "normalizeOrigin", "parseTokens",
           "validKey", "validHost", "isToken", "fieldProblem", "ownedHeaderProblem",
           "encodePath", "encodeQuery", "hasControl", "HeadError", "NotHttp", "ResponseHead",
           "closingAnswer", "NOT_TLS_ANSWER", "TLS_ONLY_ANSWER", "TLS_HANDSHAKE_RECORD",
           "MAX_REFUSAL_BODY", "refusalBodyLength", "peerText"]

#: Reason phrases of the statuses a bws listener answers (RFC 9110 §15).
REASONS: Final[dict[int, bytes]] = {
    400: b"Bad Request", 401: b"Unauthorized", 403: b"Forbidden", 404: b"Not Found",
    405: b"Method Not Allowed", 413: b"Payload Too Large", 414: b"URI Too Long",
    426: b"Upgrade Required", 431: b"Request Header Fields Too Large",
    500: b"Internal Server Error", 503: b"Service Unavailable",
}


#: The first byte of a TLS client's first record (RFC 8446 §5.1: ContentType handshake).
TLS_HANDSHAKE_RECORD: Final = 0x16


def closingAnswer(status: int, body: str = "", reason: str | None = None) -> bytes:
    """
    A whole HTTP/1.1 answer after which the server closes the connection.

    :param status: the status code.
    :param body: a short plain-text body (UTF-8).
    :param reason: the reason phrase; :data:`REASONS`' by default.
    :return: the bytes to write.
    """
    phrase = REASONS[status] if reason is None else reason.encode("latin-1")
    data = body.encode("utf-8")
    kind = b"Content-Type: text/plain; charset=utf-8\r\n" if data else b""
    return (b"HTTP/1.1 %d %s\r\n%sContent-Length: %d\r\nConnection: close\r\n\r\n%s"
            % (status, phrase, kind, len(data), data))


#: A plain listener's answer to a TLS ClientHello: its client speaks TLS to a port that
#: does not (a ``wss://`` URL for a ``ws://`` listener). Its own TLS stack will not read it;
#: a person looking at the bytes will.
NOT_TLS_ANSWER: Final = closingAnswer(
    400, "This port speaks plain HTTP and WebSocket, not TLS: use ws:// (or http://) "
         "rather than wss:// (or https://).\n")

#: A TLS listener's answer to a plain HTTP request (a ``ws://`` URL for a ``wss://``
#: listener), sent in clear text: the reason phrase says it too, for clients that show
#: only the status line.
TLS_ONLY_ANSWER: Final = closingAnswer(
    400, "This port speaks TLS: use wss:// (or https://) rather than ws:// (or http://).\n",
    "Bad Request (this port speaks TLS: use wss://)")


#: The most of a refused upgrade's body a client keeps (the server's reason, in bytes).
MAX_REFUSAL_BODY: Final = 4096


def refusalBodyLength(head: bytes) -> int:
    """
    How many body bytes to read after a response head, so that a refused upgrade can say
    the server's reason.

    Only a body framed by ``Content-Length`` (RFC 9112 §6.3, item 6) is read: a 101's bytes
    after its head are frames, a ``Transfer-Encoding`` body (§6.3, item 4) and a body
    delimited by the close (§6.3, item 8) are not waited for.

    :param head: the whole head, status line to its empty line.
    :return: ``0`` for a ``101``, a head without a usable ``Content-Length``, or one with a
        ``Transfer-Encoding``; else the length, at most :data:`MAX_REFUSAL_BODY`.
    """
    lines = head.split(b"\r\n")
    status = lines[0].split(None, 2)
    if len(status) < 2 or status[1] == b"101":
        return 0
    length = 0
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"transfer-encoding":
            return 0
        if name == b"content-length":
            value = value.strip()
            if not value.isdigit():
                return 0
            # Past 18 digits it is over the bound anyway (and int() of 4300 digits raises).
            length = int(value) if len(value) <= 18 else MAX_REFUSAL_BODY
    return min(length, MAX_REFUSAL_BODY)


def peerText(address: object) -> str:
    """
    A peer for logs: ``host:port``, ``[host]:port`` for IPv6 (RFC 3986 §3.2.2).

    :param address: a ``(host, port)`` pair, or an address with ``host`` and ``port``
        (``IPv4Address``, ``IPv6Address``), or ``None``.
    :return: the text; the host alone when the port is 0 (unknown: a proxy reported the
        client's address without one); ``"-"`` when there is no host.
    """
    if isinstance(address, tuple):
        host, port = address
    else:
        host, port = getattr(address, "host", None), getattr(address, "port", 0)
    if host is None:
        return "-"
    if not port:
        return str(host)
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


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


class HeadError(ValueError):
    """An HTTP message head broke a size limit, or is not HTTP; the message says which."""


class NotHttp(HeadError):
    """The first bytes that arrived cannot begin a status line (``HTTP/``)."""

    def __init__(self, message: str, first: bytes) -> None:
        super().__init__(message)
        #: the first bytes received.
        self.first = first


class ResponseHead:
    """
    Collect the head of an HTTP response (RFC 9112 §2.1: status line, header lines, an
    empty line) as it arrives, in linear time and within size limits.

    Each byte is searched for the end of a line once, however the head is cut into reads,
    and the limits are checked on lines still arriving, so a peer that never ends its head
    is refused once it is over a limit, never buffered without bound.

    :param maxStartLine: bytes allowed in the status line (without its CRLF).
    :param maxHeaderBytes: bytes allowed in the header lines together (without CRLFs).
    :param maxHeaderCount: header lines allowed.
    """

    #: What a status line begins with (RFC 9112 §4, §2.3: case-sensitive).
    startsWith: Final = b"HTTP/"

    def __init__(self, maxStartLine: int, maxHeaderBytes: int, maxHeaderCount: int) -> None:
        self.maxStartLine = maxStartLine
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        #: every byte received so far (the head, and whatever followed it).
        self.buffer = bytearray()
        self._lineStart = 0
        self._searchFrom = 0
        self._inStartLine = True
        self._headerBytes = 0
        self._headerCount = 0

    def feed(self, data: bytes) -> int | None:
        """
        Add ``data`` to the head.

        :return: the length in bytes of the whole head (its final empty line included) once
            that line arrived, the bytes after it being the start of the body or of another
            protocol; ``None`` while the head is incomplete.
        :raises NotHttp: the first bytes cannot begin a status line (``HTTP/``).
        :raises HeadError: the status line, the header bytes or the header count is over its
            limit (the message names the limit).
        """
        buffer = self.buffer
        checked = len(buffer)
        buffer += data
        if checked < len(self.startsWith):
            first = bytes(buffer[:len(self.startsWith)])
            if not self.startsWith.startswith(first):
                raise NotHttp(f"not an HTTP response (it starts with {first!r})", first)
        while True:
            # A CRLF split over two reads: look again at the last byte searched.
            end = buffer.find(b"\r\n", max(self._searchFrom - 1, self._lineStart))
            if end < 0:
                self._searchFrom = len(buffer)
                partial = len(buffer) - self._lineStart
                if partial and buffer[-1] == 0x0D:
                    partial -= 1
                self._checkLine(partial, complete=False)
                return None
            length = end - self._lineStart
            self._lineStart = self._searchFrom = end + 2
            if self._inStartLine:
                self._checkLine(length, complete=True)
                self._inStartLine = False
            elif length == 0:
                return end + 2
            else:
                self._checkLine(length, complete=True)

    def _checkLine(self, length: int, complete: bool) -> None:
        if self._inStartLine:
            if length > self.maxStartLine:
                raise HeadError(f"status line longer than {self.maxStartLine} bytes")
            return
        if self._headerBytes + length > self.maxHeaderBytes:
            raise HeadError(f"header fields larger than {self.maxHeaderBytes} bytes")
        if complete:
            self._headerBytes += length
            self._headerCount += 1
            if self._headerCount > self.maxHeaderCount:
                raise HeadError(f"more than {self.maxHeaderCount} header fields")


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
