# -*- test-case-name: tests.test_request -*-
"""The two HTTP heads of an upgrade: ``UpgradeRequest`` (server side) and ``HttpResponse``
(client side), with one set of header look-ups shared by both."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs, unquote

import attrs

from bws._http import SERVER_OWNED, fieldProblem, ownedHeaderProblem

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["UpgradeRequest", "HttpResponse", "HeaderPairs", "Principal", "Header"]


@attrs.frozen
class Principal:
    """Who authenticated the request, and the scopes they hold."""

    userId: str
    scopes: tuple[str, ...] = ()
    claims: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Header:
    """Marks a ``get`` parameter as a request header: ``Annotated[str, bws.Header()]``.

    ``name`` defaults to the parameter name.
    """

    name: str | None = None


class HeaderPairs:
    """Header look-ups over ``headerPairs``, the ``(name, value)`` pairs of an HTTP head in
    arrival order; the subclass provides them.

    Names match in any case (RFC 9110 §5.1); a repeated header keeps every value, in order
    (RFC 9110 §5.3).
    """

    __slots__ = ()

    if TYPE_CHECKING:
        @property
        def headerPairs(self) -> Sequence[tuple[str, str]]: ...

    def headerValues(self) -> dict[str, list[str]]:
        """Every header: lower-cased name to its values in arrival order (built each call)."""
        out: dict[str, list[str]] = {}
        for name, value in self.headerPairs:
            out.setdefault(name.lower(), []).append(value)
        return out

    def getHeader(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None."""
        name = name.lower()
        return next((v for n, v in self.headerPairs if n.lower() == name), None)

    def getHeaders(self, name: str) -> list[str]:
        """Every value of header ``name`` (any case), in arrival order."""
        name = name.lower()
        return [v for n, v in self.headerPairs if n.lower() == name]


class UpgradeRequest(HeaderPairs):
    """The upgrade request: path, query, headers, cookies, peer, TLS state, principal.

    Headers are looked up case-insensitively. :meth:`addResponseHeader` and
    :meth:`addCookie` add to the ``101 Switching Protocols`` answer.
    """

    __slots__ = ("method", "uri", "path", "_headerText", "peer", "isSecure", "peerCertificate",
                 "principal", "pathParams", "responseHeaders", "connectionPeer")

    #: The client's ``(host, port)``: the TCP peer, or, behind a proxy the listener trusts
    #: (``ListenerConfiguration.trustedProxies``), the address the proxy reported (port 0
    #: when it gave none); ``None`` on a connection without an IP address (a UNIX socket).
    peer: tuple[str, int] | None
    #: The ``(host, port)`` of the connection's other end as the socket sees it: the
    #: nearest proxy behind a proxy, else the same as :attr:`peer`.
    connectionPeer: tuple[str, int] | None

    def __init__(self, method: str, uri: str, path: str,
                 headerPairs: tuple[tuple[str, str], ...], peer: tuple[str, int] | None,
                 isSecure: bool, peerCertificate: x509.Certificate | None = None,
                 connectionPeer: tuple[str, int] | None = None) -> None:
        self.method = method
        self.uri = uri
        self.path = path
        # Kept as one string (the request lives as long as its connection; a dict of lists
        # would cost about a kilobyte more per connection) and split on access.
        self._headerText = "\n".join(f"{n}:{v}" for n, v in headerPairs)
        self.peer = peer
        self.connectionPeer = peer if connectionPeer is None else connectionPeer
        self.isSecure = isSecure
        self.peerCertificate = peerCertificate
        self.principal: Principal | None = None
        self.pathParams: dict[str, str] = {}
        self.responseHeaders: list[tuple[str, str]] = []

    @property
    def headerPairs(self) -> list[tuple[str, str]]:
        """``(lower-cased name, value)`` pairs in arrival order."""
        if not self._headerText:
            return []
        # Every line is "name:value", as __init__ joined it.
        return cast("list[tuple[str, str]]",
                    [tuple(line.split(":", 1)) for line in self._headerText.split("\n")])

    @property
    def query(self) -> dict[str, list[str]]:
        """Query parameters, by name (parsed from :attr:`uri` on each access)."""
        return parse_qs(self.uri.partition("?")[2], keep_blank_values=True)

    @property
    def headers(self) -> dict[str, list[str]]:
        """Every header: lower-cased name to its values in arrival order."""
        return self.headerValues()

    def getQueryParam(self, name: str) -> str | None:
        """The first value of query parameter ``name``, or None."""
        values = self.query.get(name)
        return values[0] if values else None

    @property
    def cookies(self) -> dict[str, str]:
        """Cookies sent with the request, by name."""
        jar: SimpleCookie = SimpleCookie()
        for value in self.getHeaders("cookie"):
            try:
                jar.load(value)
            except Exception:
                continue
        return {name: morsel.value for name, morsel in jar.items()}

    def addResponseHeader(self, name: str, value: str) -> None:
        """Add a header to the 101 answer.

        ``Server`` replaces the listener's own value. The fields bws writes itself
        (``Upgrade``, ``Connection``, ``Sec-WebSocket-Accept``, ``-Protocol``,
        ``-Extensions``; ``Content-Length`` and ``Transfer-Encoding``, which a 101 never
        carries) are refused rather than sent twice: the subprotocol is chosen with
        ``WSServiceConfig.subProtocols`` (RFC 6455 §4.2.2 item 5.4).

        :param name: a token (RFC 9110 §5.1), e.g. ``"X-Session"``.
        :param value: a string without CR, LF or NUL (RFC 9110 §5.5).
        :raises ValueError: naming the header when it is malformed or one bws writes.
        """
        problem = fieldProblem(name, value) or ownedHeaderProblem(name, SERVER_OWNED)
        if problem is not None:
            raise ValueError(problem)
        self.responseHeaders.append((name, value))

    def addCookie(self, name: str, value: str, **attributes: Any) -> None:
        """Add ``Set-Cookie`` to the 101 answer; attributes as in ``http.cookies.Morsel``."""
        jar: SimpleCookie = SimpleCookie()
        jar[name] = value
        for key, attr in attributes.items():
            jar[name][key.replace("_", "-")] = attr
        self.addResponseHeader("Set-Cookie", jar[name].OutputString())

    def __repr__(self) -> str:
        return f"<bws.UpgradeRequest {self.method} {unquote(self.path)!r}>"


@attrs.frozen
class HttpResponse(HeaderPairs):
    """The server's answer to the client's upgrade request: ``101``, or the refusal
    (RFC 6455 §4.1, §4.2.2)."""

    statusCode: int
    reasonPhrase: str
    #: ``(name, value)`` pairs in the order received, names as sent; repeated headers are
    #: kept apart.
    headerPairs: tuple[tuple[str, str], ...]
    #: A refusal's body as received: its first 4 KiB (``bws._http.MAX_REFUSAL_BODY``), read
    #: while the handshake deadline allows; ``b""`` for a 101 or a refusal without one.
    body: bytes = b""

    @classmethod
    def parse(cls, raw: bytes, body: bytes = b"") -> HttpResponse:
        """Parse the status line and headers of a raw HTTP response head (ISO-8859-1).

        A status line without a numeric code gives ``statusCode`` 0; lines without a
        colon are skipped.

        :param body: the body that followed the head, kept as :attr:`body`.
        """
        lines = raw.decode("iso-8859-1").split("\r\n")
        parts = lines[0].split(None, 2) if lines else []
        try:
            status = int(parts[1])
        except (IndexError, ValueError):
            status = 0
        reason = parts[2] if len(parts) > 2 else ""
        pairs = []
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                pairs.append((name.strip(), value.strip()))
        return cls(status, reason, tuple(pairs), body)

    @property
    def headers(self) -> dict[str, str]:
        """Headers by lower-cased name; a repeated header's values joined with ``", "``
        (RFC 9110 §5.3)."""
        return {name: ", ".join(values) for name, values in self.headerValues().items()}

    @property
    def bodyText(self) -> str:
        """The body as the refusal's reason for a person: decoded as UTF-8 (bad bytes
        replaced), whitespace runs made one space, at most 200 characters; ``""`` for a
        body whose ``Content-Type`` is neither absent nor ``text/plain`` (an HTML error
        page says nothing in one line)."""
        kind = self.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if not self.body or kind not in ("", "text/plain"):
            return ""
        text = " ".join(self.body.decode("utf-8", "replace").split())
        return text if len(text) <= 200 else text[:199] + "\u2026"

    @property
    def cookies(self) -> dict[str, str]:
        """The ``name=value`` of every ``Set-Cookie`` header (RFC 6265 §4.1), by name."""
        out: dict[str, str] = {}
        for value in self.getHeaders("set-cookie"):
            pair = value.split(";", 1)[0]
            name, sep, cookieValue = pair.partition("=")
            if sep and name.strip():
                out[name.strip()] = cookieValue.strip().strip('"')
        return out
