# -*- test-case-name: tests.test_interfaces -*-
"""The service interfaces of spec §3: upgrade service, WebSocket service, ping/pong service."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zope.interface import Attribute, Interface

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred

    from bws.request import UpgradeRequest

__all__ = ["IUpgradeService", "IService", "IPingPongService", "ICaller"]


class IUpgradeService(Interface):
    """Decides, per upgrade request, which :class:`IService` serves the connection.

    Configure it with :func:`bws.serviceConfig`.
    """

    def get(request: UpgradeRequest) -> Any:
        """Answer an upgrade request.

        Further parameters are bound by name: path template params (``/rooms/{room}``),
        then query params, converted to their annotations; a parameter annotated
        ``bws.Header[str]`` (or named in ``headerParams``) reads a request header.

        :param request: the :class:`bws.UpgradeRequest`.
        :return: an :class:`IService` provider, a Deferred of one, or a coroutine of one.
            Raise :class:`bws.UpgradeError` to refuse with 400 and its message.
        """


class IService(Interface):
    """Serves one WebSocket connection; every callback is optional.

    bws calls what the object defines, one call at a time per connection, in arrival
    order; any callback may return a plain value, a Deferred or a coroutine:

    - ``onOpen(caller)``
    - ``onTextMessage(caller, text: str)``
    - ``onBinaryMessage(caller, data: bytes)``
    - ``onMessage(caller, data: T)`` (bound to the annotation of ``data``)
    - ``onPing(caller, data: bytes)`` / ``onPong(caller, data: bytes)``
    - ``onIdleTimeout(caller)``
    - ``onClose(caller, statusCode: int, reason: str)``
    - ``onError(caller, error: bws.Error)``

    The ``caller`` parameter may be left out: a callback with one parameter fewer is
    called without it.
    """


class IPingPongService(Interface):
    """Client-side handler of control frames: ``onPing(caller, data)``, ``onPong(caller, data)``.

    Without ``onPing`` pings are answered automatically; bytes returned by ``onPing`` are
    sent as the pong.
    """


class ICaller(Interface):
    """One open WebSocket connection, as seen from a service (spec §3.2 ``Caller``)."""

    connectionId = Attribute("A string unique to this connection.")
    principal = Attribute("The bws.Principal that authenticated the upgrade, or None.")

    def writeTextMessage(data: str) -> Deferred[None]:
        """Send a text message; the Deferred fires when the transport took it."""

    def writeBinaryMessage(data: bytes) -> Deferred[None]:
        """Send a binary message; the Deferred fires when the transport took it."""

    def writeMessage(data: Any) -> Deferred[None]:
        """Send str as text, bytes as binary, anything else as JSON text."""

    def ping(data: bytes) -> Deferred[None]:
        """Send a ping (payload at most 125 bytes)."""

    def pong(data: bytes) -> Deferred[None]:
        """Send a pong (payload at most 125 bytes)."""

    def close(statusCode: int = 1000, reason: str | None = None, timeout: Any = None) -> Deferred[None]:
        """Close; the Deferred fires when the peer's close arrives or the timeout passes."""

    def isOpen() -> bool:
        """Whether messages can still be written."""

    def isSecure() -> bool:
        """Whether the connection runs over TLS."""

    def getConnectionId() -> str:
        """The connection id."""

    def getNegotiatedSubProtocol() -> str | None:
        """The subprotocol agreed in the handshake, if any."""

    def setAttribute(key: str, value: Any) -> None:
        """Store a per-connection value."""

    def getAttribute(key: str) -> Any:
        """A stored value, or None."""

    def removeAttribute(key: str) -> Any:
        """Remove and return a stored value, or None."""
