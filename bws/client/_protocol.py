# -*- test-case-name: tests.test_client -*-
"""One connection attempt of a ``Client`` on Autobahn: the protocol, its factory, the
permessage-deflate answer and the ping handlers.

The protocol tells its :class:`AttemptOwner` (the ``Client``) what happened: the handshake
answer, messages, the peer's close, a protocol failure, the connection's end.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Protocol

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from autobahn.websocket.compress import (
    PerMessageDeflateOffer,
    PerMessageDeflateResponse,
    PerMessageDeflateResponseAccept,
)
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.error import ConnectionLost
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.python.failure import Failure

from bws.channel import CLOSE_NO_STATUS, STATE_OPEN, ChannelMixin, autobahnLimits
from bws.config import ClientConfiguration, WSServiceConfig
from bws.errors import Error, InvalidHandshakeError
from bws.request import HttpResponse

__all__ = ["AttemptOwner", "ClientProtocol", "ClientFactory", "acceptDeflateResponse",
           "SERVER_DROP_WAIT"]

#: A client waits this long for the server to drop TCP after the close handshake.
SERVER_DROP_WAIT = 2.0


class AttemptOwner(Protocol):
    """What a :class:`ClientProtocol` needs from the client that started it, and tells it."""

    clock: IReactorTime
    config: ClientConfiguration
    pingHandlers: _PingHandlers

    def handshakeAnswered(self, response: HttpResponse) -> None:
        """The server answered the upgrade request (101, or a refusal)."""

    def lostDuringHandshake(self, reason: Failure) -> Error:
        """The error for an attempt whose connection ended before the handshake completed."""

    def messageReceived(self, proto: ClientProtocol, payload: bytes, isBinary: bool) -> None:
        """A whole data message arrived on ``proto``."""

    def peerClosed(self, proto: ClientProtocol, code: int, reason: str) -> None:
        """The server sent its close frame first (RFC 6455 §5.5.1)."""

    def protocolFailed(self, proto: ClientProtocol, error: Error) -> None:
        """``proto`` failed the connection for ``error`` (its close frame is going out)."""

    def connectionClosed(self, proto: ClientProtocol) -> None:
        """The open connection of ``proto`` ended (TCP gone)."""


def acceptDeflateResponse(response: Any) -> Any:
    """Accept the server's permessage-deflate answer to our offer."""
    if isinstance(response, PerMessageDeflateResponse):
        return PerMessageDeflateResponseAccept(response)
    return None


class ClientProtocol(ChannelMixin, WebSocketClientProtocol):  # type: ignore[misc]
    """One connection attempt of a ``Client``; Autobahn callbacks, translated."""

    def __init__(self, client: AttemptOwner, opened: Deferred[ClientProtocol]) -> None:
        super().__init__()
        self.client = client
        self.opened = opened
        self.clock = client.clock
        self.maxFrameSize = client.config.maxFrameSize
        self.handshakeError: Error | None = None
        self.response: HttpResponse | None = None
        self._dropTimer: IDelayedCall | None = None
        self.lostReason: Failure | None = None

    # -- opening ----------------------------------------------------------------

    def connectionMade(self) -> None:
        super().connectionMade()
        self.channelInit()

    def _recordResponse(self) -> None:
        raw = getattr(self, "http_response_data", None)
        if raw:
            self.response = HttpResponse.parse(raw)
            self.client.handshakeAnswered(self.response)

    def failHandshake(self, reason: str) -> None:
        self._recordResponse()
        response = self.response
        if response is not None and response.statusCode not in (0, 101):
            message = (f"Invalid handshake response getStatus: {response.statusCode} "
                       f"{response.reasonPhrase}".rstrip())
        elif "subprotocol" in reason:
            actual = self.http_headers.get("sec-websocket-protocol", "null")
            message = (f"Invalid subprotocol. Actual: {actual}. Expected one of: "
                       f"{', '.join(self.client.config.subProtocols)}")
        else:
            message = f"Invalid handshake response: {reason}"
        self.handshakeError = InvalidHandshakeError(message)
        self.handshakeError.response = response  # type: ignore[attr-defined]
        super().failHandshake(reason)

    def _onConnect(self, response: Any) -> Any:
        self._recordResponse()
        wanted = self.client.config.subProtocols
        if wanted and response.protocol not in wanted:
            self.handshakeError = InvalidHandshakeError(
                f"Invalid subprotocol. Actual: {response.protocol or 'null'}. "
                f"Expected one of: {', '.join(wanted)}")
            self.handshakeError.response = self.response  # type: ignore[attr-defined]
            self.dropConnection(abort=True)
            return Deferred()  # never fires: the connection is gone
        return None

    def onOpen(self) -> None:
        if not self.opened.called:
            self.opened.callback(self)

    # -- messages and control frames --------------------------------------------

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        if not self.closeFrameReceived:
            self.client.messageReceived(self, payload, isBinary)

    def onPing(self, payload: bytes) -> None:
        onPing = self.client.pingHandlers.onPing
        if onPing is None:
            super().onPing(payload)
            return
        d = maybeDeferred(onPing, payload)
        d.addCallback(lambda r: Deferred.fromCoroutine(r) if inspect.iscoroutine(r) else r)
        d.addCallback(self._pongWith)
        d.addErrback(lambda f: self.bwsLog.failure("onPing failed", f))

    def _pongWith(self, result: Any) -> None:
        if isinstance(result, (bytes, bytearray, memoryview)) and self.state == STATE_OPEN:
            self.writeControl(10, bytes(result), "PONG").addErrback(lambda f: None)

    def onPong(self, payload: bytes) -> None:
        onPong = self.client.pingHandlers.onPong
        if onPong is not None:
            d = maybeDeferred(onPong, payload)
            d.addCallback(lambda r: Deferred.fromCoroutine(r) if inspect.iscoroutine(r) else r)
            d.addErrback(lambda f: self.bwsLog.failure("onPong failed", f))

    # -- closing --------------------------------------------------------------------

    def channelCloseFrame(self, code: int | None, reasonRaw: bytes | None,
                          answer: bool) -> bool | None:
        if not answer:
            try:
                reason = reasonRaw.decode("utf-8") if reasonRaw else ""
            except UnicodeDecodeError:
                reason = ""
            self.closeStatus = CLOSE_NO_STATUS if code is None else code
            self.closeReason = reason
            self.client.peerClosed(self, self.closeStatus, reason)
        result = super().channelCloseFrame(code, reasonRaw, answer)
        self._awaitServerDrop()
        return result

    def channelCloseSent(self) -> None:
        if self.failure is not None:
            self.client.protocolFailed(self, self.failure)
        if self.closeFrameReceived:
            self._awaitServerDrop()

    def _awaitServerDrop(self) -> None:
        """Both close frames went: the server should drop TCP; drop it ourselves if not."""
        if (self._dropTimer is None and self.closeFrameReceived
                and self.state != STATE_OPEN and self.transport is not None):
            self._dropTimer = self.clock.callLater(SERVER_DROP_WAIT, self._drop)

    def _drop(self) -> None:
        self._dropTimer = None
        if self.transport is not None:
            self.transport.abortConnection()

    def connectionLost(self, reason: Failure = ConnectionLost()) -> None:  # type: ignore[assignment]
        self.lostReason = reason
        try:
            super().connectionLost(reason)
        finally:
            self.channelLost()
            if self._dropTimer is not None and self._dropTimer.active():
                self._dropTimer.cancel()
            self._dropTimer = None
            if not self.opened.called:
                error = self.handshakeError
                if error is None:
                    error = self.client.lostDuringHandshake(reason)
                self.opened.errback(error)
            else:
                self.client.connectionClosed(self)


class ClientFactory(WebSocketClientFactory):
    """Builds the one :class:`ClientProtocol` of a connection attempt.

    :param url: the ``ws://`` / ``wss://`` URL asked for.
    :param headers: extra upgrade request headers (``customHeaders`` and ``Cookie``).
    """

    def __init__(self, client: AttemptOwner, opened: Deferred[ClientProtocol], url: str,
                 headers: dict[str, str]) -> None:
        config = client.config
        super().__init__(url, protocols=list(config.subProtocols),
                         headers=headers, reactor=client.clock)
        self.setProtocolOptions(
            maskClientFrames=True,
            applyMask=True,
            serverConnectionDropTimeout=0,  # SERVER_DROP_WAIT, on the client's clock
            **autobahnLimits(config.maxFrameSize, config.messageLimit),
            perMessageCompressionOffers=(
                [PerMessageDeflateOffer()] if config.webSocketCompressionEnabled else []),
            perMessageCompressionAccept=acceptDeflateResponse,
        )
        self.trackTimings = False
        self.logOctets = False
        self.logFrames = False
        self.client = client
        self.opened = opened
        self.built: ClientProtocol | None = None

    def buildProtocol(self, addr: Any) -> ClientProtocol:
        proto = ClientProtocol(self.client, self.opened)
        proto.factory = self
        self.built = proto
        return proto


class _PingHandlers:
    """The ``onPing`` / ``onPong`` of a ``pingPongHandler``, bound to the client (the
    ``caller`` the handler's methods receive)."""

    def __init__(self, handler: Any, client: Any) -> None:
        self.onPing: Callable[[bytes], Any] | None = None
        self.onPong: Callable[[bytes], Any] | None = None
        if handler is not None:
            from bws.dispatch import ServiceMethods

            methods = ServiceMethods(handler, client, WSServiceConfig())
            self.onPing = methods.onPing
            self.onPong = methods.onPong
