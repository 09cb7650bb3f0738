# -*- test-case-name: tests.server.test_serving -*-
"""``ServiceRunner``: one connection's service callbacks, one at a time (spec §3.2).

The runner is the :class:`~bws._connection.ConnectionHandler` of an accepted connection.
It decides which callback a message goes to (through :mod:`bws.server._dispatch`), runs
callbacks one at a time in arrival order, sends what they return, keeps the idle timer,
applies the binding-failure policy (REFERENCE §1.5) and answers the peer's close after
``onClose``. Control frames are not held behind a pending callback: a ping is answered
and the answer to our own close is seen while a callback still runs; only the dispatch
of the next callback waits for it.
"""

from __future__ import annotations

import inspect
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from bws._connection import CLOSE_ABNORMAL, Connection, State, closeOutcome
from bws._http import peerText
from bws.binding import bindingDetail
from bws.closeframe import CloseFrame
from bws.config import WSServiceConfig
from bws.errors import Error, PayloadBindingError
from bws.request import UpgradeRequest
from bws.server._caller import Caller
from bws.server._dispatch import ServiceMethods
from bws.server._returns import sendReturnValue

if TYPE_CHECKING:
    from bws._groups import Groups

__all__ = ["ServiceRunner", "BACKLOG"]

#: Callbacks that may wait behind a pending one before reading from the peer pauses
#: (a peer cannot grow the server's memory without bound while a callback awaits).
BACKLOG = 16

_OPEN = State.OPEN

#: The ``close`` line's text, by who began the closing handshake (``closeOutcome``).
_CLOSE_FORMATS = {
    True: "WebSocket {id} from {peer} at {path} closed by the server: {code} {reason!r} "
          "after {duration} s",
    False: "WebSocket {id} from {peer} at {path} closed by the client: {code} {reason!r} "
           "after {duration} s",
    None: "WebSocket {id} from {peer} at {path} lost without a close frame: {code} "
          "after {duration} s",
}
_CLOSED_BY = {True: "server", False: "client", None: None}


class ServiceRunner:
    """Runs the callbacks of one service object for one connection.

    :ivar connection: the :class:`~bws._connection.Connection` it serves.
    :ivar caller: the :class:`~bws.server._caller.Caller` its callbacks receive.
    :ivar methods: the service's callbacks, bound to ``caller``.
    """

    log = Logger()

    __slots__ = ("connection", "config", "clock", "caller", "methods", "request", "_queue",
                 "_busy", "_idleTimer", "_lastActivity", "_openedAt")

    def __init__(self, service: Any, config: WSServiceConfig, connection: Connection,
                 request: UpgradeRequest, clock: IReactorTime,
                 groups: Groups | None = None) -> None:
        self.connection = connection
        self.config = config
        self.clock = clock
        self.caller = Caller(connection, self, request, groups)
        self.request = request
        self._openedAt: float | None = None
        self.methods = ServiceMethods(service, self.caller, config)
        self._queue: deque[tuple[Callable[..., Any], tuple[Any, ...], str]] | None = None
        self._busy = False
        self._idleTimer: IDelayedCall | None = None
        self._lastActivity = 0.0
        connection.handler = self

    # -- what the connection reports ---------------------------------------------------

    def opened(self) -> None:
        """The handshake completed: start the keepalive and the idle timer, call ``onOpen``."""
        config = self.config
        connection = self.connection
        self._openedAt = self.clock.seconds()
        # One line per connection event, fields in the event (never payloads, headers or
        # the query string, where tokens travel).
        self.log.info("WebSocket {id} opened from {peer} at {path} (subprotocol "
                      "{subProtocol})", wsEvent="open", side="server",
                      id=connection.connectionId,
                      peer=peerText(self.request.peer), path=self.request.path,
                      subProtocol=connection.subProtocol)
        connection.startKeepalive(config.pingInterval, config.pingTimeout)
        if self.config.idleTimeout > 0:
            self._lastActivity = self.clock.seconds()
            self._idleTimer = self.clock.callLater(self.config.idleTimeout, self._idleCheck)
        onOpen = self.methods.onOpen
        if onOpen is not None:
            self.dispatch(onOpen, (), "open")

    def messageReceived(self, payload: bytes, isBinary: bool, text: str | None = None) -> None:
        """A whole message (the per-message hot path); ``text`` is its decoded form when
        the reader already decoded it."""
        try:
            self._deliver(payload, isBinary, text)
        except Exception:
            self.log.failure("Dispatch failed on connection {id}",
                             id=self.connection.connectionId)
            self.unexpectedCondition()

    def _deliver(self, payload: bytes, isBinary: bool, text: str | None) -> None:
        if self.connection.closeFrameReceived:
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

    def pingReceived(self, payload: bytes) -> None:
        """``onPing`` in turn with the other callbacks, else an immediate pong."""
        onPing = self.methods.onPing
        if onPing is None:
            self.connection.pong(payload)
        elif not self.connection.closeFrameReceived:
            self.dispatch(onPing, (payload,), "ping")

    def pongReceived(self, payload: bytes) -> None:
        """``onPong`` in turn with the other callbacks."""
        onPong = self.methods.onPong
        if onPong is not None and not self.connection.closeFrameReceived:
            self.dispatch(onPong, (payload,), "message")

    def closeReceived(self, code: int, reason: str) -> None:
        """The peer closed: after the callbacks before it, ``onClose``, then the answer
        with the same code and reason (REFERENCE §1.6)."""
        self.dispatch(self._closeDelivered, (), "internal")
        onClose = self.methods.onClose
        if onClose is not None:
            self.dispatch(onClose, (code, reason), "close")
        self.dispatch(self._answerClose, (), "internal")

    def _closeDelivered(self) -> None:
        self.connection.peerCloseDelivered()

    def _answerClose(self) -> None:
        self.connection.answerClose()

    def failed(self, error: Error) -> None:
        """bws failed the connection (1002/1007/1009 sent): ``onError``, else a log line."""
        self.reportError(error, "Connection {id} failed: {error}")

    def returnRefused(self, kind: str) -> None:
        """A value a callback returned cannot be sent (``kind``: "text" or "binary"): the
        connection is closing or closed. ``onError`` gets the error a write would have
        given (``"Close frame already sent. Cannot push text data!"`` after our close),
        else a log line: a returned value is never dropped silently."""
        error = self.connection.writeRefusal(kind)
        if error is not None:
            self.reportError(error, "Connection {id}: a returned value was not sent: {error}")

    def reportError(self, error: Error, logFormat: str) -> None:
        """``onError(error)`` in turn with the other callbacks, or ``logFormat`` logged."""
        onError = self.methods.onError
        if onError is not None:
            self.dispatch(onError, (error,), "error")
        else:
            self.log.info(logFormat, id=self.connection.connectionId, error=error)

    def connectionLost(self, abnormal: bool) -> None:
        """TCP is gone: stop the idle timer; a peer that vanished without a close frame
        is reported to ``onClose`` as 1006."""
        if self._idleTimer is not None and self._idleTimer.active():
            self._idleTimer.cancel()
        self._idleTimer = None
        if self._openedAt is not None:
            self.logClose()
        if abnormal:
            onClose = self.methods.onClose
            if onClose is not None:
                self.dispatch(onClose, (CLOSE_ABNORMAL, "Connection closed abnormally"),
                              "close")

    def logClose(self) -> None:
        """The connection's one ``close`` line: who began the closing handshake, with
        which code and reason (:func:`~bws._connection.closeOutcome`), after how long."""
        connection = self.connection
        code, reason, local = closeOutcome(connection)
        self.log.info(_CLOSE_FORMATS[local], wsEvent="close", side="server",
                      id=connection.connectionId, peer=peerText(self.request.peer),
                      path=self.request.path, code=code, reason=reason,
                      closedBy=_CLOSED_BY[local],
                      duration=round(self.clock.seconds() - (self._openedAt or 0.0), 3))

    # -- one callback at a time --------------------------------------------------------

    def dispatch(self, fn: Callable[..., Any], args: tuple[Any, ...], mode: str) -> None:
        """Run ``fn`` now, or after the callbacks before it finished.

        :param mode: what the callback was for: "message", "open", "ping", "close",
            "error", "idle" or "internal"; it decides what a return value does.
        """
        if self._busy:
            self.enqueue(fn, args, mode)
        else:
            self.run(fn, args, mode)

    def enqueue(self, fn: Callable[..., Any], args: tuple[Any, ...], mode: str) -> None:
        """Keep a call for when the callback in progress is done (the queue is made
        lazily: most connections never need one); reading pauses at ``BACKLOG``."""
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        queue.append((fn, args, mode))
        if len(queue) >= BACKLOG:
            self.connection.pauseReading("backlog")

    def run(self, fn: Callable[..., Any], args: tuple[Any, ...], mode: str) -> None:
        """Call ``fn`` and act on what it returns (REFERENCE §1.4)."""
        try:
            result = fn(*args)
        except Exception:
            self.log.failure("Service callback failed on connection {id}",
                             id=self.connection.connectionId)
            return
        if result is None:
            return
        kind = type(result)
        if (kind is str or kind is bytes) and mode == "message":
            # The echo-style common case: one message back, no other decisions to make.
            connection = self.connection
            if connection.state is _OPEN:
                if kind is str:
                    connection.sendPayload(result.encode("utf-8"), False)
                else:
                    connection.sendPayload(result, True)
                if self._idleTimer is not None:
                    self._lastActivity = self.clock.seconds()
            else:
                self.returnRefused("text" if kind is str else "binary")
            return
        if inspect.iscoroutine(result):
            result = Deferred.fromCoroutine(result)
        if isinstance(result, Deferred):
            self._busy = True
            result.addCallbacks(self._finished, self._failed, callbackArgs=(mode,))
            return
        self.sendResult(result, mode)

    def _finished(self, result: Any, mode: str) -> None:
        if result is not None:
            self.sendResult(result, mode)
        self._next()

    def _failed(self, failure: Failure) -> None:
        self.log.failure("Service callback failed on connection {id}", failure,
                         id=self.connection.connectionId)
        self._next()

    def _next(self) -> None:
        self._busy = False
        queue = self._queue or ()
        while queue and not self._busy:
            fn, args, mode = queue.popleft()
            self.run(fn, args, mode)
        if len(queue) < BACKLOG:
            self.connection.resumeReading("backlog")

    def sendResult(self, result: Any, mode: str) -> None:
        """Send what a callback returned (REFERENCE §1.4)."""
        if mode == "close" or mode == "internal":
            return
        if (mode == "error" or mode == "idle") and not isinstance(result, CloseFrame):
            return  # onError / on<X>Error / onIdleTimeout: only a CloseFrame means something
        try:
            sendReturnValue(self, result, mode)
        except Exception:
            self.log.failure("Could not send the value returned on connection {id}",
                             id=self.connection.connectionId)
            self.unexpectedCondition()

    # -- closing on the service's behalf -----------------------------------------------

    def unexpectedCondition(self) -> None:
        """A crash inside dispatch: close 1011, keep the server alive."""
        if self.connection.state is _OPEN:
            self.connection.close(1011, "Unexpected condition", None).addErrback(
                lambda f: None)

    def closeWith(self, frame: CloseFrame) -> None:
        """A returned ``CloseFrame``: close with it, or drop if its status is invalid."""
        if self.connection.state is not _OPEN:
            return
        if not frame.isValid:
            self.connection.abort()
            return
        self.connection.close(frame.status, frame.reason, None).addErrback(lambda f: None)

    # -- binding failures ----------------------------------------------------------------

    def bindingFailed(self, fn: Callable[..., Any], error: PayloadBindingError) -> None:
        """``on<Name>Error``, else ``onError``, else close 1003 (REFERENCE §1.5)."""
        handler = self.methods.errorHandlerFor(fn)
        if handler is not None:
            self.dispatch(handler, (error,), "error")
            return
        self.dispatch(self._closeUnsupported, (bindingDetail(str(error)),), "internal")

    def _closeUnsupported(self, reason: str) -> None:
        if self.connection.state is _OPEN:
            self.connection.close(1003, reason, None).addErrback(lambda f: None)

    # -- idle timeout --------------------------------------------------------------------

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
