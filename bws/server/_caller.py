# -*- test-case-name: tests.server.test_caller -*-
"""``Caller``: the server side's handle on one connection (spec §3.2, REFERENCE §1.7)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, fail
from zope.interface import implementer

from bws._connection import OP_PING, OP_PONG, Connection
from bws.binding import serialize
from bws.interfaces import ICaller
from bws.request import Principal, UpgradeRequest

if TYPE_CHECKING:
    from cryptography import x509

    from bws._groups import Groups
    from bws.server._serving import ServiceRunner

__all__ = ["Caller"]


@implementer(ICaller)
class Caller:
    """Write to, close and describe one accepted connection.

    Every write returns a Deferred that fires once the transport has taken the data and
    is not asking to slow down; await it in loops that send a lot.
    """

    __slots__ = ("_connection", "_runner", "_request", "_groups")

    def __init__(self, connection: Connection, runner: ServiceRunner,
                 request: UpgradeRequest, groups: Groups | None = None) -> None:
        self._connection = connection
        self._runner = runner
        self._request = request
        self._groups = groups

    @property
    def groups(self) -> Groups:
        """The :class:`bws.Groups` of the listener that accepted this connection: join
        named groups (rooms) and broadcast to them, ``caller.groups.join("lobby", caller)``.

        :raise bws.Error: the caller was made without a listener (never in a service).
        """
        if self._groups is None:
            from bws.errors import Error

            raise Error("this connection belongs to no listener's groups")
        return self._groups

    @property
    def connectionId(self) -> str:
        """A string unique to this connection (stable for its lifetime)."""
        return self._connection.connectionId

    def writeTextMessage(self, data: str) -> Deferred[None]:
        """Send ``data`` as a text message (fragmented at ``maxFrameSize``).

        :raise ConnectionClosureError: (failed Deferred) the connection is closing or closed.
        """
        if not isinstance(data, str):
            return fail(TypeError(f"writeTextMessage needs str, got {type(data).__name__}"))
        self._runner.noteActivity()
        return self._connection.writeMessage(data.encode("utf-8"), False, "text")

    def writeBinaryMessage(self, data: bytes) -> Deferred[None]:
        """Send ``data`` as a binary message (fragmented at ``maxFrameSize``)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            return fail(TypeError(f"writeBinaryMessage needs bytes, got {type(data).__name__}"))
        self._runner.noteActivity()
        return self._connection.writeMessage(bytes(data), True, "binary")

    def writeMessage(self, data: Any) -> Deferred[None]:
        """Send str as text, bytes as binary, an XML element as text, anything else as JSON."""
        if isinstance(data, str):
            return self.writeTextMessage(data)
        if isinstance(data, (bytes, bytearray, memoryview)):
            return self.writeBinaryMessage(bytes(data))
        try:
            payload, isBinary = serialize(data)
        except (TypeError, ValueError) as e:
            return fail(e)
        self._runner.noteActivity()
        return self._connection.writeMessage(payload, isBinary,
                                             "binary" if isBinary else "text")

    def ping(self, data: bytes) -> Deferred[None]:
        """Send a ping; more than 125 bytes fails with ``CorruptedFrameError``."""
        return self._connection.writeControl(OP_PING, data, "PING")

    def pong(self, data: bytes) -> Deferred[None]:
        """Send a pong; more than 125 bytes fails with ``CorruptedFrameError``."""
        return self._connection.writeControl(OP_PONG, data, "PONG")

    def close(self, statusCode: int = 1000, reason: str | None = None,
              timeout: Any = None) -> Deferred[None]:
        """Close with ``statusCode``; fires when the peer answers or ``timeout`` passes.

        ``timeout`` (decimal seconds) defaults to the service's
        ``connectionClosureTimeout``; 0 sends the close without waiting; -1 waits
        forever. See :meth:`bws._connection.Connection.close`.
        """
        return self._connection.close(statusCode, reason, timeout)

    def isOpen(self) -> bool:
        """Whether the connection still takes messages."""
        return self._connection.writeRefusal("text") is None

    def isSecure(self) -> bool:
        """Whether the connection runs over TLS."""
        return bool(self._request.isSecure)

    def getConnectionId(self) -> str:
        """The connection id."""
        return self._connection.connectionId

    def getNegotiatedSubProtocol(self) -> str | None:
        """The subprotocol agreed in the handshake, or None."""
        return self._connection.subProtocol

    def getPeerCertificate(self) -> x509.Certificate | None:
        """The verified client certificate on mutual TLS, else None."""
        return self._request.peerCertificate

    @property
    def principal(self) -> Principal | None:
        """Who authenticated the upgrade (user id, scopes, claims), when the service has
        ``auth`` entries; else None (spec §5.2)."""
        return self._request.principal

    @property
    def request(self) -> UpgradeRequest:
        """The upgrade request that opened this connection."""
        return self._request

    def setAttribute(self, key: str, value: Any) -> None:
        """Store a per-connection value."""
        connection = self._connection
        if connection.attributes is None:
            connection.attributes = {}
        connection.attributes[key] = value

    def getAttribute(self, key: str) -> Any:
        """A stored value, or None."""
        attributes = self._connection.attributes
        return None if attributes is None else attributes.get(key)

    def removeAttribute(self, key: str) -> Any:
        """Remove a stored value and return it (None if absent)."""
        attributes = self._connection.attributes
        return None if attributes is None else attributes.pop(key, None)

    def __repr__(self) -> str:
        return f"<bws.Caller {self._connection.connectionId}>"
