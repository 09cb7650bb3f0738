# -*- test-case-name: tests.test_connection -*-
"""The server protocol: one accepted connection, dispatched to its ``IService``.

Autobahn parses frames; this module decides what a frame means for the service: which
callback runs (spec §3.2, REFERENCE §1.4), one at a time and in arrival order, what a
returned value sends, and how closes and errors are reported.
"""

from __future__ import annotations

import inspect
from collections import deque
from collections.abc import Callable
from typing import Any

from autobahn.twisted.websocket import WebSocketServerProtocol
from autobahn.websocket.compress import PERMESSAGE_COMPRESSION_EXTENSION
from autobahn.websocket.protocol import WebSocketProtocol
from twisted.internet.defer import Deferred
from twisted.internet.protocol import connectionDone
from twisted.python.failure import Failure

from bws.caller import Caller
from bws.channel import (
    CLOSE_ABNORMAL,
    CLOSE_NO_STATUS,
    STATE_OPEN,
    ChannelMixin,
    initAutobahnState,
)
from bws.closeframe import CloseFrame
from bws.config import WSServiceConfig
from bws.errors import PayloadBindingError
from bws.request import UpgradeRequest
from bws.returns import sendReturnValue
from bws.server._dispatch import ServiceMethods

__all__ = ["ServerProtocol"]

_ALLOWED_CLOSE = WebSocketProtocol.CLOSE_STATUS_CODES_ALLOWED


_NO_HEADERS: dict[str, Any] = {}


def validCloseFrame(code: int | None, reasonRaw: bytes | None) -> bool:
    """Whether a received close frame is well-formed (else Autobahn fails it)."""
    if code is not None and (code < 1000 or (code <= 2999 and code not in _ALLOWED_CLOSE)
                             or code >= 5000):
        return False
    if reasonRaw:
        try:
            reasonRaw.decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True


class ServerProtocol(ChannelMixin, WebSocketServerProtocol):  # type: ignore[misc]
    """An accepted WebSocket connection; built by the upgrade resource, not by a factory."""

    def __init__(self, service: Any, config: WSServiceConfig, subProtocol: str | None,
                 headers: dict[str, Any], request: Any, clock: Any,
                 registry: set[ServerProtocol] | None = None) -> None:
        super().__init__()
        self.service = service
        self.config = config
        self.clock = clock
        self.maxFrameSize = config.maxFrameSize
        self.closureTimeout = config.connectionClosureTimeout
        self.upgradeRequest = request
        self._subProtocol = subProtocol
        self._headers = headers
        self._registry = registry
        self.caller = Caller(self)
        self.methods = ServiceMethods(service, self.caller, config)
        self._queue: deque[tuple[Callable[..., Any], tuple[Any, ...], str]] | None = None
        self._busy = False
        self._errorReported = False
        self._idleTimer: Any = None
        self._lastActivity = 0.0

    # -- Autobahn's callbacks, translated ---------------------------------------

    def connectionMade(self) -> None:
        super().connectionMade()
        self.channelInit()
        if self._registry is not None:
            self._registry.add(self)

    def _connectionMade(self) -> None:
        initAutobahnState(self)
        self.factory.countConnections += 1

    def acceptUpgrade(self, request: UpgradeRequest, key: str, offered: list[str]) -> None:
        """Answer 101 for a request twisted.web parsed and bws checked.

        Autobahn is given the values its own request parser would have found, then writes
        the answer (permessage-deflate negotiation included); parsing the request a second
        time would add nothing but cost.
        """
        headers = {name: ", ".join(values) for name, values in request.headers.items()}
        self.http_request_data = b""
        self.http_status_line = f"{request.method} {request.uri} HTTP/1.1"
        self.http_headers = headers
        self.http_request_uri = request.uri
        self.http_request_path = request.path
        self.http_request_params = request.query
        self.http_request_host = headers.get("host", "")
        self.websocket_version = 13
        self.websocket_protocols = offered
        self.websocket_origin = headers.get("origin", "")
        extensions = headers.get("sec-websocket-extensions")
        offers = self._parseExtensionsHeader(extensions) if extensions else []
        # Only offers bws can accept go on (Autobahn logs every other one, a cost a peer
        # could multiply by sending thousands of them), and only a few of those.
        self.websocket_extensions = [
            offer for offer in offers if offer[0] in PERMESSAGE_COMPRESSION_EXTENSION][:8]
        self._wskey = key
        self.succeedHandshake((self._subProtocol, self._headers))
        # Needed for the answer only; the request itself stays on ``upgradeRequest``.
        self.http_headers = self._headers = self.http_request_params = _NO_HEADERS

    def onOpen(self) -> None:
        if self.config.idleTimeout > 0:
            self._lastActivity = self.clock.seconds()
            self._idleTimer = self.clock.callLater(self.config.idleTimeout, self._idleCheck)
        onOpen = self.methods.onOpen
        if onOpen is not None:
            self.dispatch(onOpen, (), "open")

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        try:
            self.deliver(payload, isBinary)
        except Exception:
            self.bwsLog.failure("Dispatch failed on connection {id}", id=self.connectionId)
            self.unexpectedCondition()

    def deliverText(self, payload: bytes, text: str) -> None:
        try:
            self.deliver(payload, False, text)
        except Exception:
            self.bwsLog.failure("Dispatch failed on connection {id}", id=self.connectionId)
            self.unexpectedCondition()

    def deliver(self, payload: bytes, isBinary: bool, text: str | None = None) -> None:
        """Route one whole message to its callback (the per-message hot path)."""
        if self.closeFrameReceived:
            return
        if self._idleTimer is not None:
            self._lastActivity = self.clock.seconds()
        methods = self.methods
        if isBinary:
            route = methods.binaryRoute
            if route is None:
                return
            fn, binder = route
            data: Any = payload
        else:
            route = methods.textRoute(payload) if methods.dispatcherKey else methods.plainText
            if route is None:
                return
            fn, binder = route
            data = payload.decode("utf-8") if text is None else text
        if binder is not None:
            try:
                data = binder(data)
            except PayloadBindingError as e:
                self.bindingFailed(fn, e)
                return
        if self._busy:
            self.enqueue(fn, (data,), "message")
        else:
            self.run(fn, (data,), "message")

    def onPing(self, payload: bytes) -> None:
        onPing = self.methods.onPing
        if onPing is None:
            super().onPing(payload)
        elif not self.closeFrameReceived:
            self.dispatch(onPing, (payload,), "ping")

    def onPong(self, payload: bytes) -> None:
        onPong = self.methods.onPong
        if onPong is not None and not self.closeFrameReceived:
            self.dispatch(onPong, (payload,), "message")

    def channelCloseFrame(self, code: int | None, reasonRaw: bytes | None,
                          answer: bool) -> bool | None:
        onClose = self.methods.onClose
        if answer or onClose is None or not validCloseFrame(code, reasonRaw):
            return super().channelCloseFrame(code, reasonRaw, answer)
        if self.closeStatus is not None:
            return None  # a second close frame from the peer: ignore
        self.closeStatus = CLOSE_NO_STATUS if code is None else code
        self.closeReason = reasonRaw.decode("utf-8") if reasonRaw else ""
        self.pauseReading("closing")
        self.dispatch(onClose, (self.closeStatus, self.closeReason), "close")
        self.dispatch(self._echoClose, (code, reasonRaw), "internal")
        return None

    def _echoClose(self, code: int | None, reasonRaw: bytes | None) -> None:
        if self.state == STATE_OPEN:
            ChannelMixin.channelCloseFrame(self, code, reasonRaw, False)

    def channelCloseSent(self) -> None:
        if self.failure is not None and not self._errorReported:
            self._errorReported = True
            onError = self.methods.onError
            if onError is not None:
                self.dispatch(onError, (self.failure,), "error")
            else:
                self.bwsLog.info("Connection {id} failed: {error}", id=self.connectionId,
                              error=self.failure)

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        if self.closeStatus is None and not self.closeFrameReceived and not self.closedByMe:
            # The peer vanished without a close frame: report 1006 to the service.
            self.closeStatus = CLOSE_ABNORMAL
            onClose = self.methods.onClose
            if onClose is not None:
                self.dispatch(onClose, (CLOSE_ABNORMAL, "Connection closed abnormally"),
                              "close")

    def connectionLost(self, reason: Failure = connectionDone) -> None:  # type: ignore[override]
        try:
            super().connectionLost(reason)
        finally:
            self.channelLost()
            if self._idleTimer is not None and self._idleTimer.active():
                self._idleTimer.cancel()
            self._idleTimer = None
            if self._registry is not None:
                self._registry.discard(self)

    # -- dispatch: one callback at a time ----------------------------------------

    def dispatch(self, fn: Callable[..., Any], args: tuple[Any, ...], mode: str) -> None:
        """Run ``fn`` now, or after the callback in progress finishes."""
        if self._busy:
            self.enqueue(fn, args, mode)
        else:
            self.run(fn, args, mode)

    def enqueue(self, fn: Callable[..., Any], args: tuple[Any, ...], mode: str) -> None:
        """Keep a call for when the callback in progress is done (the queue is made lazily:
        most connections never need one)."""
        if self._queue is None:
            self._queue = deque()
        self._queue.append((fn, args, mode))

    def run(self, fn: Callable[..., Any], args: tuple[Any, ...], mode: str) -> None:
        try:
            result = fn(*args)
        except Exception:
            self.bwsLog.failure("Service callback failed on connection {id}", id=self.connectionId)
            return
        if result is None:
            return
        kind = type(result)
        if (kind is str or kind is bytes) and mode == "message":
            # The echo-style common case: one message back, no other decisions to make.
            if self.state == STATE_OPEN and not self.closeFrameReceived:
                if kind is str:
                    self.sendPayload(result.encode("utf-8"), False)
                else:
                    self.sendPayload(result, True)
                if self._idleTimer is not None:
                    self._lastActivity = self.clock.seconds()
            return
        if inspect.iscoroutine(result):
            result = Deferred.fromCoroutine(result)
        if isinstance(result, Deferred):
            self._busy = True
            self.pauseReading("dispatch")
            result.addCallbacks(self._finished, self._failed, callbackArgs=(mode,))
            return
        self.sendResult(result, mode)

    def _finished(self, result: Any, mode: str) -> None:
        if result is not None:
            self.sendResult(result, mode)
        self._next()

    def _failed(self, failure: Failure) -> None:
        self.bwsLog.failure("Service callback failed on connection {id}", failure,
                         id=self.connectionId)
        self._next()

    def _next(self) -> None:
        self._busy = False
        queue = self._queue or ()
        while queue and not self._busy:
            fn, args, mode = queue.popleft()
            self.run(fn, args, mode)
        if not self._busy:
            self.resumeReading("dispatch")

    def sendResult(self, result: Any, mode: str) -> None:
        """Send what a callback returned (REFERENCE §1.4)."""
        if mode in ("close", "internal"):
            return
        if mode in ("error", "idle") and not isinstance(result, CloseFrame):
            return  # onError / on<X>Error / onIdleTimeout: only a CloseFrame means something
        try:
            sendReturnValue(self, result, mode)
        except Exception:
            self.bwsLog.failure("Could not send the value returned on connection {id}",
                             id=self.connectionId)
            self.unexpectedCondition()

    def unexpectedCondition(self) -> None:
        """A crash inside dispatch: close 1011, keep the server alive."""
        if self.state == STATE_OPEN:
            self.startClose(1011, "Unexpected condition", None).addErrback(lambda f: None)

    def closeWith(self, frame: CloseFrame) -> None:
        """A returned ``CloseFrame``: close with it, or drop if its status is invalid."""
        if self.state != STATE_OPEN:
            return
        if not frame.isValid:
            self.dropConnection(abort=True)
            return
        self.startClose(frame.status, frame.reason, None).addErrback(lambda f: None)

    # -- binding failures ------------------------------------------------------

    def bindingFailed(self, fn: Callable[..., Any], error: PayloadBindingError) -> None:
        """``on<Name>Error``, else ``onError``, else close 1003 (REFERENCE §1.5)."""
        handler = self.methods.errorHandlerFor(fn)
        if handler is not None:
            self.dispatch(handler, (error,), "error")
            return
        from bws.binding import bindingDetail

        reason = bindingDetail(str(error))
        self.dispatch(self._closeUnsupported, (reason,), "internal")

    def _closeUnsupported(self, reason: str) -> None:
        if self.state == STATE_OPEN:
            self.startClose(1003, reason, None).addErrback(lambda f: None)

    # -- idle timeout ------------------------------------------------------------

    def _idleCheck(self) -> None:
        timeout = self.config.idleTimeout
        idle = self.clock.seconds() - self._lastActivity
        if idle + 1e-9 < timeout:
            self._idleTimer = self.clock.callLater(timeout - idle, self._idleCheck)
            return
        self._lastActivity = self.clock.seconds()
        self._idleTimer = self.clock.callLater(timeout, self._idleCheck)
        onIdleTimeout = self.methods.onIdleTimeout
        if onIdleTimeout is not None:
            self.dispatch(onIdleTimeout, (), "idle")

    def noteActivity(self) -> None:
        """A write counts as activity for ``idleTimeout``."""
        if self._idleTimer is not None:
            self._lastActivity = self.clock.seconds()

