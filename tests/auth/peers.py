"""Misbehaving HTTP peers on loopback for the OAuth2 tests: one that accepts and never
answers, and one that answers whatever it is told (garbage)."""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.internet.protocol import Factory, Protocol
from twisted.web.resource import Resource
from twisted.web.server import Site


class _Silent(Protocol):
    def connectionMade(self) -> None:
        self.factory.connections.append(self)  # type: ignore[attr-defined]


def silentServer(testCase: Any) -> str:
    """Listen on 127.0.0.1 and never answer; the URL. Connections are dropped at cleanup."""
    factory = Factory.forProtocol(_Silent)
    factory.connections = []  # type: ignore[attr-defined]
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")  # type: ignore[attr-defined]

    def close() -> Any:
        for protocol in factory.connections:  # type: ignore[attr-defined]
            if protocol.transport is not None:
                protocol.transport.abortConnection()
        return port.stopListening()

    testCase.addCleanup(close)
    return f"http://127.0.0.1:{port.getHost().port}/introspect"


class _Fixed(Resource):
    isLeaf = True

    def __init__(self, status: int, body: bytes, contentType: bytes) -> None:
        super().__init__()
        self.status = status
        self.body = body
        self.contentType = contentType

    def render_POST(self, request: Any) -> bytes:
        request.setResponseCode(self.status)
        request.setHeader(b"content-type", self.contentType)
        return self.body


def fixedServer(testCase: Any, status: int, body: bytes,
                contentType: bytes = b"application/json") -> str:
    """Answer every POST with ``status`` and ``body`` over plain HTTP on 127.0.0.1; the URL."""
    site = Site(_Fixed(status, body, contentType))
    site.noisy = False
    port = reactor.listenTCP(0, site, interface="127.0.0.1")  # type: ignore[attr-defined]
    testCase.addCleanup(port.stopListening)
    return f"http://127.0.0.1:{port.getHost().port}/introspect"
