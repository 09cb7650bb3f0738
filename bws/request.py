# -*- test-case-name: tests.test_upgrade -*-
"""``UpgradeRequest``: what an upgrade service sees of the HTTP upgrade request."""

from __future__ import annotations

from collections.abc import Mapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, unquote

import attrs

__all__ = ["UpgradeRequest", "Principal", "Header"]


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


class UpgradeRequest:
    """The upgrade request: path, query, headers, cookies, peer, TLS state, principal.

    Headers are looked up case-insensitively. :meth:`addResponseHeader` and
    :meth:`addCookie` add to the ``101 Switching Protocols`` answer.
    """

    __slots__ = ("method", "uri", "path", "_headerText", "peer", "isSecure", "peerCertificate",
                 "principal", "pathParams", "responseHeaders")

    def __init__(self, method: str, uri: str, path: str,
                 headerPairs: tuple[tuple[str, str], ...], peer: tuple[str, int] | None,
                 isSecure: bool, peerCertificate: Any = None) -> None:
        self.method = method
        self.uri = uri
        self.path = path
        # Kept as one string (the request lives as long as its connection; a dict of lists
        # would cost about a kilobyte more per connection) and split on access.
        self._headerText = "\n".join(f"{n}:{v}" for n, v in headerPairs)
        self.peer = peer
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
        return [tuple(line.split(":", 1)) for line in  # type: ignore[misc]
                self._headerText.split("\n")]

    @property
    def query(self) -> dict[str, list[str]]:
        """Query parameters, by name (parsed from :attr:`uri` on each access)."""
        return parse_qs(self.uri.partition("?")[2], keep_blank_values=True)

    @property
    def headers(self) -> dict[str, list[str]]:
        """All headers, lower-cased names to their values (built on each access)."""
        out: dict[str, list[str]] = {}
        for name, value in self.headerPairs:
            out.setdefault(name, []).append(value)
        return out

    def getHeader(self, name: str) -> str | None:
        """The first value of header ``name``, or None."""
        name = name.lower()
        return next((v for n, v in self.headerPairs if n == name), None)

    def getHeaders(self, name: str) -> list[str]:
        """Every value of header ``name``."""
        name = name.lower()
        return [v for n, v in self.headerPairs if n == name]

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
        """Add a header to the 101 answer (no CR/LF allowed)."""
        for part in (name, value):
            if "\r" in part or "\n" in part:
                raise ValueError("header names and values must not contain CR or LF")
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
