# -*- test-case-name: tests.test_client -*-
"""One connection attempt of a ``Client``: the handshake's outcome, then its connection's
events (the :class:`~bws._connection.ConnectionHandler` of the client side).

The Autobahn adapter reports the server's answer and the connection's events here; the
attempt turns them into the ``whenOpen`` Deferred (the connection, or the handshake's
error) and into calls on its :class:`AttemptOwner`, the ``Client``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Protocol

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IProtocol, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from bws._connection import OP_PONG, Connection, State, closeOutcome
from bws.config import ClientConfiguration, WSServiceConfig
from bws.errors import Error, InvalidHandshakeError
from bws.request import HttpResponse
from bws.server._dispatch import ServiceMethods

__all__ = ["Attempt", "AttemptOwner", "PingHandlers", "SERVER_DROP_WAIT"]

#: A client waits this long for the server to drop TCP after the close handshake
#: (RFC 6455 §7.1.1: the server closes TCP first).
SERVER_DROP_WAIT = 2.0


class PingHandlers:
    """The ``onPing`` / ``onPong`` of a ``pingPongHandler`` (an ``IPingPongService``),
    bound to the client, which is the ``caller`` the handler's methods receive.

    :raise bws.Error: ``"The callback service should be a PingPongService"`` for a handler
        with neither ``onPing`` nor ``onPong`` (REFERENCE §1.8; one of them is enough).
    """

    def __init__(self, handler: Any, client: Any) -> None:
        self.onPing: Callable[[bytes], Any] | None = None
        self.onPong: Callable[[bytes], Any] | None = None
        if handler is not None:
            methods = ServiceMethods(handler, client, WSServiceConfig())
            self.onPing = methods.onPing
            self.onPong = methods.onPong
            if self.onPing is None and self.onPong is None:
                raise Error("The callback service should be a PingPongService")


class AttemptOwner(Protocol):
    """What an :class:`Attempt` needs from the client that started it, and tells it."""

    clock: IReactorTime
    config: ClientConfiguration
    pingHandlers: PingHandlers

    def handshakeAnswered(self, response: HttpResponse) -> None:
        """The server answered the upgrade request (101, or a refusal)."""

    def lostDuringHandshake(self, reason: Failure) -> Error:
        """The error for an attempt whose connection ended before the handshake completed."""

    def messageReceived(self, connection: Connection, payload: bytes, isBinary: bool) -> None:
        """A whole data message arrived on ``connection``."""

    def peerClosed(self, connection: Connection, code: int, reason: str) -> None:
        """The server sent its close frame first (RFC 6455 §5.5.1)."""

    def protocolFailed(self, connection: Connection, error: Error) -> None:
        """``connection`` was failed for ``error`` (its close frame went out)."""

    def connectionClosed(self, connection: Connection) -> None:
        """The open ``connection`` ended (TCP gone)."""


class Attempt:
    """One connection attempt: handshake outcome, then the connection's handler.

    :ivar connection: the attempt's :class:`~bws._connection.Connection`.
    :ivar whenOpen: fires with ``connection`` once open, or fails with the handshake's error.
    """

    log = Logger()

    def __init__(self, owner: AttemptOwner, url: str = "") -> None:
        self.owner = owner
        #: The URL the log lines name: scheme, host, port and path, never the query.
        self.url = url
        #: When the handshake completed (the clock's time), for the ``close`` line.
        self.openedAt: float | None = None
        config = owner.config
        self.connection = Connection(owner.clock, config.maxFrameSize, 60.0,
                                     dropWait=SERVER_DROP_WAIT)
        self.connection.handler = self
        self.whenOpen: Deferred[Connection] = Deferred()
        self.handshakeError: Error | None = None
        self.lostReason: Failure | None = None
        #: The Autobahn protocol carrying the attempt, once built (diagnostics, tests).
        self.protocol: IProtocol | None = None

    # -- the opening handshake ---------------------------------------------------------

    def responseReceived(self, raw: bytes, body: bytes = b"") -> HttpResponse:
        """The head of the server's answer arrived (and a refusal's ``body``)."""
        response = HttpResponse.parse(raw, body)
        self.owner.handshakeAnswered(response)
        return response

    def handshakeRefused(self, raw: bytes | None, reason: str, actualSubProtocol: str,
                         body: bytes = b"") -> None:
        """The answer is not a valid 101 (RFC 6455 §4.1): keep the error ``whenOpen`` fails
        with; a refusal's plain-text body (the server's reason) ends its message."""
        if self.handshakeError is not None:
            return
        response = self.responseReceived(raw, body) if raw else None
        if response is not None and response.statusCode not in (0, 101):
            message = (f"Invalid handshake response getStatus: {response.statusCode} "
                       f"{response.reasonPhrase}".rstrip())
            if response.bodyText:
                message += f": {response.bodyText}"
        elif "subprotocol" in reason:
            message = (f"Invalid subprotocol. Actual: {actualSubProtocol or 'null'}. "
                       f"Expected one of: {', '.join(self.owner.config.subProtocols)}")
        else:
            message = f"Invalid handshake response: {reason}"
        self._refuse(InvalidHandshakeError(message), response)

    def subProtocolAccepted(self, raw: bytes | None, chosen: str | None) -> bool:
        """The 101 arrived: whether the subprotocol the server chose is one we asked for."""
        response = self.responseReceived(raw) if raw else None
        wanted = self.owner.config.subProtocols
        if wanted and chosen not in wanted:
            self._refuse(InvalidHandshakeError(
                f"Invalid subprotocol. Actual: {chosen or 'null'}. "
                f"Expected one of: {', '.join(wanted)}"), response)
            return False
        return True

    def _refuse(self, error: InvalidHandshakeError, response: HttpResponse | None) -> None:
        error.response = response
        self.handshakeError = error

    def transportLost(self, reason: Failure) -> None:
        """TCP ended; ``reason`` explains a loss before the handshake completed."""
        self.lostReason = reason

    # -- ConnectionHandler ------------------------------------------------------------------

    def opened(self) -> None:
        config = self.owner.config
        connection = self.connection
        self.openedAt = self.owner.clock.seconds()
        # One line per connection event, fields in the event; never a payload, a header
        # or the URL's query (where tokens travel).
        self.log.info("WebSocket {id} to {url} opened (subprotocol {subProtocol})",
                      wsEvent="open", side="client", id=connection.connectionId,
                      url=self.url, subProtocol=connection.subProtocol)
        connection.startKeepalive(config.pingInterval, config.pingTimeout)
        if not self.whenOpen.called:
            self.whenOpen.callback(self.connection)

    def messageReceived(self, payload: bytes, isBinary: bool, text: str | None = None) -> None:
        if not self.connection.closeFrameReceived:
            self.owner.messageReceived(self.connection, payload, isBinary)

    def pingReceived(self, payload: bytes) -> None:
        onPing = self.owner.pingHandlers.onPing
        if onPing is None:
            self.connection.pong(payload)
            return
        d = maybeDeferred(onPing, payload)
        d.addCallback(lambda r: Deferred.fromCoroutine(r) if inspect.iscoroutine(r) else r)
        d.addCallback(self._pongWith)
        d.addErrback(lambda f: self.log.failure("onPing failed", f))

    def _pongWith(self, result: Any) -> None:
        if isinstance(result, (bytes, bytearray, memoryview)) and \
                self.connection.state is State.OPEN:
            self.connection.writeControl(OP_PONG, bytes(result), "PONG").addErrback(
                lambda f: None)

    def pongReceived(self, payload: bytes) -> None:
        onPong = self.owner.pingHandlers.onPong
        if onPong is not None:
            d = maybeDeferred(onPong, payload)
            d.addCallback(lambda r: Deferred.fromCoroutine(r) if inspect.iscoroutine(r) else r)
            d.addErrback(lambda f: self.log.failure("onPong failed", f))

    def closeReceived(self, code: int, reason: str) -> None:
        """The server closed first: reads end with its code, and the close is answered."""
        connection = self.connection
        connection.peerCloseDelivered()
        self.owner.peerClosed(connection, code, reason)
        connection.answerClose()

    def failed(self, error: Error) -> None:
        self.owner.protocolFailed(self.connection, error)

    def connectionLost(self, abnormal: bool) -> None:
        if not self.whenOpen.called:
            error = self.handshakeError
            if error is None:
                error = self.owner.lostDuringHandshake(
                    self.lostReason or Failure(Error("Connection lost")))
            self.whenOpen.errback(error)
        else:
            if self.openedAt is not None:
                self.logClose()
            self.owner.connectionClosed(self.connection)

    def logClose(self) -> None:
        """The connection's one ``close`` line (as the server's: who began the closing
        handshake, code, reason, duration in decimal seconds)."""
        connection = self.connection
        code, reason, local = closeOutcome(connection)
        self.log.info(_CLOSE_FORMATS[local], wsEvent="close", side="client",
                      id=connection.connectionId, url=self.url, code=code, reason=reason,
                      closedBy=_CLOSED_BY[local],
                      duration=round(self.owner.clock.seconds() - (self.openedAt or 0.0), 3))


#: The ``close`` line's text, by who began the closing handshake (``closeOutcome``).
_CLOSE_FORMATS = {
    True: "WebSocket {id} to {url} closed by the client: {code} {reason!r} after {duration} s",
    False: "WebSocket {id} to {url} closed by the server: {code} {reason!r} after {duration} s",
    None: "WebSocket {id} to {url} lost without a close frame: {code} after {duration} s",
}
_CLOSED_BY = {True: "client", False: "server", None: None}
