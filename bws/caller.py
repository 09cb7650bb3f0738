# -*- test-case-name: tests.test_connection -*-
"""``Caller``: the server side's handle on one connection (spec §3.2, REFERENCE §1.7)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, fail
from zope.interface import implementer

from bws.interfaces import ICaller

if TYPE_CHECKING:
    from bws.connection import ServerProtocol

__all__ = ["Caller"]


@implementer(ICaller)
class Caller:
    """Write to, close and describe one accepted connection.

    Every write returns a Deferred that fires once the transport has taken the data and
    is not asking to slow down; await it in loops that send a lot.
    """

    def __init__(self, protocol: ServerProtocol) -> None:
        self._protocol = protocol

    @property
    def connectionId(self) -> str:
        """A string unique to this connection (stable for its lifetime)."""
        return self._protocol.connectionId

    def writeTextMessage(self, data: str) -> Deferred[None]:
        """Send ``data`` as a text message (fragmented at ``maxFrameSize``)."""
        if not isinstance(data, str):
            return fail(TypeError(f"writeTextMessage needs str, got {type(data).__name__}"))
        self._protocol.noteActivity()
        return self._protocol.writeMessage(data.encode("utf-8"), False, "text")

    def writeBinaryMessage(self, data: bytes) -> Deferred[None]:
        """Send ``data`` as a binary message (fragmented at ``maxFrameSize``)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            return fail(TypeError(f"writeBinaryMessage needs bytes, got {type(data).__name__}"))
        self._protocol.noteActivity()
        return self._protocol.writeMessage(bytes(data), True, "binary")

    def writeMessage(self, data: Any) -> Deferred[None]:
        """Send str as text, bytes as binary, an XML element as text, anything else as JSON."""
        if isinstance(data, str):
            return self.writeTextMessage(data)
        if isinstance(data, (bytes, bytearray, memoryview)):
            return self.writeBinaryMessage(bytes(data))
        from bws.binding import serialize

        try:
            payload, isBinary = serialize(data)
        except (TypeError, ValueError) as e:
            return fail(e)
        self._protocol.noteActivity()
        return self._protocol.writeMessage(payload, isBinary, "binary" if isBinary else "text")

    def ping(self, data: bytes) -> Deferred[None]:
        """Send a ping; more than 125 bytes fails with ``CorruptedFrameError``."""
        return self._protocol.writeControl(9, data, "PING")

    def pong(self, data: bytes) -> Deferred[None]:
        """Send a pong; more than 125 bytes fails with ``CorruptedFrameError``."""
        return self._protocol.writeControl(10, data, "PONG")

    def close(self, statusCode: int = 1000, reason: str | None = None,
              timeout: Any = None) -> Deferred[None]:
        """Close with ``statusCode``; fires when the peer answers or ``timeout`` passes.

        ``timeout`` defaults to the service's ``connectionClosureTimeout``; -1 waits forever.
        """
        return self._protocol.startClose(statusCode, reason, timeout)

    def isOpen(self) -> bool:
        """Whether the connection still takes messages."""
        return self._protocol.writeRefusal("text") is None

    def isSecure(self) -> bool:
        """Whether the connection runs over TLS."""
        return bool(self._protocol.upgradeRequest.isSecure)

    def getConnectionId(self) -> str:
        """The connection id."""
        return self._protocol.connectionId

    def getNegotiatedSubProtocol(self) -> str | None:
        """The subprotocol agreed in the handshake, or None."""
        return self._protocol.websocket_protocol_in_use  # type: ignore[no-any-return]

    def getPeerCertificate(self) -> Any:
        """The verified client certificate on mutual TLS, else None."""
        return self._protocol.upgradeRequest.peerCertificate

    @property
    def request(self) -> Any:
        """The upgrade request that opened this connection."""
        return self._protocol.upgradeRequest

    def setAttribute(self, key: str, value: Any) -> None:
        """Store a per-connection value."""
        self._protocol.attributes[key] = value

    def getAttribute(self, key: str) -> Any:
        """A stored value, or None."""
        return self._protocol.attributes.get(key)

    def removeAttribute(self, key: str) -> Any:
        """Remove a stored value and return it (None if absent)."""
        return self._protocol.attributes.pop(key, None)

    def __repr__(self) -> str:
        return f"<bws.Caller {self._protocol.connectionId}>"
