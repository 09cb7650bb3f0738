# -*- test-case-name: tests.test_client -*-
"""``Client``: the spec's WebSocket client (§4), pull model, on Twisted Deferreds.

Messages that arrive are queued until a ``read*`` call takes them; pings are answered as
they arrive, whether or not a read is pending. Every call that waits returns a
``Deferred``, so the same client works from ``inlineCallbacks`` and from ``async def``
(``await client.readTextMessage()``). The blocking version is :class:`bws.sync.Client`.

What happens, and when:

- ``readTextMessage`` on a binary message (and ``readBinaryMessage`` on a text message)
  fails with :class:`~bws.errors.PayloadBindingError` naming both types and leaves the
  message at the head of the queue, so a ``readMessage()`` or the other ``read*`` call
  can take it;
- a read pending when the peer closes ends with :class:`~bws.errors.ConnectionClosureError`
  ``"<reason>: Status code: N"`` (messages queued before the close are read first); the
  client answers the peer's close frame itself;
- after ``close()`` every read fails at once with ``"Connection already closed"``;
- with ``retryConfig``, a connection refused at connect time, a drop (1006) and a write
  that failed on a dropped connection make the client reconnect (pending reads keep
  waiting, the failed message is sent again); a normal close or a refused handshake
  never does.
"""

from __future__ import annotations

import inspect
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs
from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from autobahn.websocket.compress import (
    PerMessageDeflateOffer,
    PerMessageDeflateResponse,
    PerMessageDeflateResponseAccept,
)
from twisted.internet.defer import Deferred, fail, maybeDeferred, succeed
from twisted.internet.error import ConnectError, ConnectionLost
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.python.failure import Failure

from bws.channel import (
    CLOSE_ABNORMAL,
    CLOSE_NO_STATUS,
    STATE_OPEN,
    ChannelMixin,
    autobahnLimits,
)
from bws.config import ClientConfiguration, WSServiceConfig, build
from bws.errors import (
    ConnectionClosureError,
    ConnectionError,
    Error,
    HandshakeTimedOut,
    InvalidHandshakeError,
    PayloadBindingError,
    ReadTimeoutError,
)
from bws.server._dispatch import ServiceMethods

__all__ = ["Client", "HttpResponse", "parseUrl"]

#: A client waits this long for the server to drop TCP after the close handshake.
SERVER_DROP_WAIT = 2.0
#: Reading from the socket pauses while this many messages wait to be read.
QUEUE_MESSAGES = 256


@attrs.frozen
class HttpResponse:
    """The server's answer to the upgrade request (101, or the refusal)."""

    statusCode: int
    reasonPhrase: str
    #: ``(name, value)`` pairs in the order received; repeated headers are kept apart.
    headerPairs: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, raw: bytes) -> HttpResponse:
        """Parse the status line and headers of a raw HTTP response head."""
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
        return cls(status, reason, tuple(pairs))

    @property
    def headers(self) -> dict[str, str]:
        """Headers by lower-case name; repeated ones joined with ``", "``."""
        out: dict[str, str] = {}
        for name, value in self.headerPairs:
            key = name.lower()
            out[key] = f"{out[key]}, {value}" if key in out else value
        return out

    def getHeader(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None."""
        for key, value in self.headerPairs:
            if key.lower() == name.lower():
                return value
        return None

    def getHeaders(self, name: str) -> list[str]:
        """Every value of header ``name`` (any case)."""
        return [v for k, v in self.headerPairs if k.lower() == name.lower()]

    @property
    def cookies(self) -> dict[str, str]:
        """The ``name=value`` of every ``Set-Cookie`` header."""
        out: dict[str, str] = {}
        for value in self.getHeaders("set-cookie"):
            pair = value.split(";", 1)[0]
            name, sep, cookieValue = pair.partition("=")
            if sep and name.strip():
                out[name.strip()] = cookieValue.strip().strip('"')
        return out


@attrs.frozen
class Target:
    """A parsed ``ws://`` / ``wss://`` URL."""

    url: str
    secure: bool
    host: str
    port: int


def parseUrl(url: Any) -> Target:
    """Check a WebSocket URL; a bad one raises ``Error("Malformed URL: ...")``."""
    if not isinstance(url, str) or not url:
        raise Error(f"Malformed URL: {url!r}")
    if "://" not in url:
        if ":" in url or "/" in url:
            raise Error(f"Malformed URL: {url} (no scheme: it must start with ws:// or wss://)")
        raise Error(f"Malformed URL: {url}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise Error(f"Malformed URL: {url} ({e})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("ws", "wss"):
        raise Error(f"Malformed URL: {url} (scheme {parts.scheme!r}: use ws:// or wss://)")
    if not parts.hostname:
        raise Error(f"Malformed URL: {url} (no host)")
    secure = scheme == "wss"
    return Target(url, secure, parts.hostname, port or (443 if secure else 80))


def cookieHeader(cookies: Any) -> str | None:
    """The ``Cookie`` header for ``cookies`` (objects, mappings or pairs), longest path first."""
    items = []
    for cookie in cookies:
        if isinstance(cookie, Mapping):
            name, value, path = cookie.get("name"), cookie.get("value"), cookie.get("path")
        elif isinstance(cookie, tuple):
            name, value, path = cookie[0], cookie[1], None
        else:
            name, value = getattr(cookie, "name", None), getattr(cookie, "value", None)
            path = getattr(cookie, "path", None)
        if not name:
            raise Error(f"Invalid cookie: {cookie!r}")
        items.append((len(path or ""), f"{name}={'' if value is None else value}"))
    items.sort(key=lambda item: -item[0])
    return "; ".join(text for _, text in items) or None


def acceptDeflateResponse(response: Any) -> Any:
    """Accept the server's permessage-deflate answer to our offer."""
    if isinstance(response, PerMessageDeflateResponse):
        return PerMessageDeflateResponseAccept(response)
    return None


def isIOFailure(failure: Failure) -> bool:
    """Whether a failed attempt is an IO problem that ``retryConfig`` retries."""
    return failure.check(ConnectError, ConnectionLost) is not None or (
        failure.check(ConnectionError) is not None
        and failure.check(ConnectionClosureError) is None)


class ClientProtocol(ChannelMixin, WebSocketClientProtocol):  # type: ignore[misc]
    """One connection attempt of a :class:`Client`; Autobahn callbacks, translated."""

    def __init__(self, client: Client, opened: Deferred[ClientProtocol]) -> None:
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
            self.client.httpResponse = self.response

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
    """Builds the one :class:`ClientProtocol` of a connection attempt."""

    def __init__(self, client: Client, opened: Deferred[ClientProtocol]) -> None:
        config = client.config
        headers = dict(config.customHeaders)
        cookies = cookieHeader(config.cookies)
        if cookies:
            headers["Cookie"] = cookies
        super().__init__(client.target.url, protocols=list(config.subProtocols),
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
    """The ``onPing`` / ``onPong`` of a ``pingPongHandler``, bound to the client."""

    def __init__(self, handler: Any, client: Client) -> None:
        self.onPing: Callable[[bytes], Any] | None = None
        self.onPong: Callable[[bytes], Any] | None = None
        if handler is not None:
            methods = ServiceMethods(handler, client, WSServiceConfig())
            self.onPing = methods.onPing
            self.onPong = methods.onPong


class _Read:
    """One pending ``read*`` call."""

    def __init__(self, kind: str, binder: Any) -> None:
        self.kind = kind
        self.binder = binder
        self.deferred: Deferred[Any] = Deferred()
        self.timer: IDelayedCall | None = None


#: Opens a transport for a protocol factory: ``connector(factory) -> Deferred``.
Connector = Callable[[Any], "Deferred[Any]"]


class Client:
    """A WebSocket client connection (spec §4); make one with :meth:`Client.connect`.

    Reads take queued messages in arrival order; writes return Deferreds that fire once
    the transport took the data (flow control). See the module docstring for closing,
    retries and errors.
    """

    log = Logger()

    def __init__(self, target: Target, config: ClientConfiguration, reactor: Any,
                 clock: IReactorTime, connector: Connector | None = None) -> None:
        self.target = target
        self.config = config
        self.reactor = reactor
        self.clock = clock
        self.connector = connector or self._connectTCP
        self.pingHandlers = _PingHandlers(config.pingPongHandler, self)
        self.httpResponse: HttpResponse | None = None
        self.protocol: ClientProtocol | None = None
        self.attributes: dict[str, Any] = {}
        self._queue: deque[tuple[bytes, bool]] = deque()
        self._queuedBytes = 0
        self._reads: deque[_Read] = deque()
        #: Why reads end once the queue is empty (None while open or reconnecting).
        self._endError: Error | None = None
        self._closedLocally = False
        self._needsReconnect = False
        self._reconnecting: Deferred[None] | None = None

    # -- connecting -------------------------------------------------------------------

    @classmethod
    def connect(cls, url: str, *, reactor: Any = None, clock: IReactorTime | None = None,
                connector: Connector | None = None, **config: Any) -> Deferred[Client]:
        """Connect to ``url`` (``ws://`` or ``wss://``) with :class:`~bws.ClientConfiguration`
        fields as keywords; the Deferred fires with the open ``Client``.

        :param reactor: connects the socket (the global reactor by default).
        :param clock: times every timeout and retry (``reactor`` by default).
        :param connector: opens the transport for a protocol factory (``bws.testing``
            uses it to connect in memory); by default TCP to the URL's host and port.
        """
        try:
            cfg = build(ClientConfiguration, config)
            target = parseUrl(url)
        except Error as e:
            return fail(e)
        if reactor is None:
            from twisted.internet import reactor as globalReactor

            reactor = globalReactor
        client = cls(target, cfg, reactor, clock or reactor, connector)
        return client._connectWithRetries(initial=True).addCallback(lambda _: client)

    def _connectTCP(self, factory: Any) -> Deferred[Any]:
        from twisted.internet.endpoints import HostnameEndpoint

        if self.target.secure:
            factory = self._tlsFactory(factory)
        endpoint = HostnameEndpoint(self.reactor, self.target.host, self.target.port)
        return endpoint.connect(factory)  # type: ignore[no-any-return]

    def _tlsFactory(self, factory: Any) -> Any:
        from bws.tls import clientTLSFactory

        return clientTLSFactory(self.config.secureSocket, self.target.host, factory,
                                self.clock)

    def _connectOnce(self) -> Deferred[ClientProtocol]:
        """One attempt: TCP (and TLS), then the opening handshake, within the deadline."""
        opened: Deferred[ClientProtocol] = Deferred()
        factory = ClientFactory(self, opened)
        try:
            connecting = self.connector(factory)
        except Error as e:
            return fail(e)

        def timedOut() -> None:
            if opened.called:
                return
            proto = factory.built
            opened.errback(HandshakeTimedOut("Handshake timed out"))
            connecting.cancel()
            if proto is not None and proto.transport is not None:
                proto.transport.abortConnection()

        timer = self.clock.callLater(self.config.handShakeTimeout, timedOut)

        def connectFailed(failure: Failure) -> None:
            if not opened.called:
                opened.errback(self.lostDuringHandshake(failure))

        connecting.addErrback(connectFailed)

        def done(result: Any) -> Any:
            if timer.active():
                timer.cancel()
            return result

        return opened.addBoth(done)

    def lostDuringHandshake(self, reason: Failure) -> Error:
        """The error for an attempt that ended before the handshake completed."""
        if reason.check(Error):
            return reason.value  # type: ignore[return-value]
        if self.target.secure:
            try:
                from OpenSSL.SSL import Error as SSLError

                if reason.check(SSLError):
                    from bws.tls import sslErrorFromFailure

                    return sslErrorFromFailure(reason)
            except ImportError:  # pragma: no cover
                pass
        detail = reason.getErrorMessage()
        return ConnectionError(f"IO Error: {detail}" if detail else "IO Error")

    async def _retrying(self, initial: bool) -> None:
        retry = self.config.retryConfig
        attempt = 0
        while True:
            if not initial or attempt:
                assert retry is not None
                await deferLater(self.clock, retry.delay(attempt - (0 if not initial else 1)))
            try:
                proto = await self._connectOnce()
            except Error as e:
                failure = Failure(e)
                if retry is None or not isIOFailure(failure) or self._closedLocally:
                    raise
                retries = attempt if initial else attempt + 1
                if retry.maxCount and retries >= retry.maxCount:
                    raise ConnectionError(
                        f"IO Error: gave up after {retries} retries ({e})") from e
                attempt += 1
                continue
            self._adopt(proto)
            return

    def _connectWithRetries(self, initial: bool) -> Deferred[None]:
        return Deferred.fromCoroutine(self._retrying(initial))

    def _adopt(self, proto: ClientProtocol) -> None:
        self.protocol = proto
        self._needsReconnect = False
        self._endError = None
        if self._closedLocally:  # close() was called while reconnecting
            proto.startClose(1000, None, None).addErrback(lambda f: None)

    def _reconnect(self) -> Deferred[None]:
        """Reconnect after a drop (shared by every read and write waiting for it)."""
        if self._reconnecting is None:
            d = self._connectWithRetries(initial=False)

            def finished(result: Any) -> Any:
                self._reconnecting = None
                if isinstance(result, Failure):
                    self._needsReconnect = False
                    error = result.value if isinstance(result.value, Error) else \
                        ConnectionError(f"IO Error: {result.getErrorMessage()}")
                    self._endError = error
                    self._flushReads()
                return result

            d.addBoth(finished)
            self._reconnecting = d
        waiter: Deferred[None] = Deferred()
        self._reconnecting.addCallbacks(lambda _: waiter.callback(None), waiter.errback)
        self._reconnecting.addErrback(lambda f: None)
        return waiter

    # -- events from the protocol ------------------------------------------------------

    def messageReceived(self, proto: ClientProtocol, payload: bytes, isBinary: bool) -> None:
        self._queue.append((payload, isBinary))
        self._queuedBytes += len(payload)
        if len(self._queue) >= QUEUE_MESSAGES or self._queuedBytes >= self.config.messageLimit:
            proto.pauseReading("queue")
        self._deliver()

    def peerClosed(self, proto: ClientProtocol, code: int, reason: str) -> None:
        if proto is not self.protocol:
            return
        text = f"{reason}: Status code: {code}" if reason else \
            f"Connection closed Status code: {code}"
        self._endError = ConnectionClosureError(text)
        self._deliver()

    def protocolFailed(self, proto: ClientProtocol, error: Error) -> None:
        if proto is self.protocol and self._endError is None:
            self._endError = error
            self._deliver()

    def connectionClosed(self, proto: ClientProtocol) -> None:
        if proto is not self.protocol:
            return
        if self._endError is not None or self._closedLocally:
            self._flushReads()
            return
        if proto.closeFrameReceived:
            self._endError = ConnectionClosureError("Connection closed")
        elif self.config.retryConfig is not None:
            self._needsReconnect = True
            if self._reads:
                self._reconnect().addErrback(lambda f: None)
            return
        else:
            self._endError = ConnectionClosureError(
                f"Connection closed abnormally: Status code: {CLOSE_ABNORMAL}")
        self._deliver()

    # -- reading --------------------------------------------------------------------

    def _read(self, kind: str, binder: Any = None) -> Deferred[Any]:
        if self._closedLocally:
            return fail(ConnectionClosureError("Connection already closed"))
        read = _Read(kind, binder)
        self._reads.append(read)
        timeout = self.config.readTimeout
        if timeout > 0:
            read.timer = self.clock.callLater(timeout, self._readTimedOut, read)
        self._deliver()
        if self._reads and self._needsReconnect and read in self._reads:
            self._reconnect().addErrback(lambda f: None)
        return read.deferred

    def _readTimedOut(self, read: _Read) -> None:
        read.timer = None
        if read in self._reads:
            self._reads.remove(read)
            read.deferred.errback(ReadTimeoutError("Read timed out"))

    def _finish(self, read: _Read) -> Deferred[Any]:
        if read.timer is not None and read.timer.active():
            read.timer.cancel()
        read.timer = None
        return read.deferred

    def _deliver(self) -> None:
        """Hand queued messages to pending reads, in order; end reads once closed."""
        reads, queue = self._reads, self._queue
        while reads and queue:
            read = reads.popleft()
            payload, isBinary = queue[0]
            if read.kind == "text" and isBinary or read.kind == "binary" and not isBinary:
                wanted, got = ("text", "binary") if isBinary else ("binary", "text")
                other = "readBinaryMessage" if isBinary else "readTextMessage"
                self._finish(read).errback(PayloadBindingError(
                    f"data binding failed: expected a {wanted} message, got a {got} "
                    f"message (it stays queued: read it with {other}() or readMessage())"))
                continue
            queue.popleft()
            self._queuedBytes -= len(payload)
            try:
                value = self._convert(payload, isBinary, read.binder)
            except Exception as e:
                self._finish(read).errback(e)
                continue
            self._finish(read).callback(value)
        proto = self.protocol
        if proto is not None and len(queue) < QUEUE_MESSAGES and \
                self._queuedBytes < self.config.messageLimit:
            proto.resumeReading("queue")
        if not queue:
            self._flushReads()

    def _flushReads(self) -> None:
        error = self._endError
        if self._closedLocally:
            error = ConnectionClosureError("Connection closed")
        if error is None or self._queue and not self._closedLocally:
            return
        reads, self._reads = self._reads, deque()
        for read in reads:
            self._finish(read).errback(error)

    @staticmethod
    def _convert(payload: bytes, isBinary: bool, binder: Any) -> Any:
        if binder is None:
            return payload if isBinary else payload.decode("utf-8")
        try:
            if isBinary:
                return binder.binary(payload)
            return binder.text(payload.decode("utf-8"))
        except PayloadBindingError:
            raise
        except Exception as e:
            raise PayloadBindingError(f"data binding failed: {e}") from e

    def readTextMessage(self) -> Deferred[str]:
        """The next message, which must be text; see the module docstring for binary."""
        return self._read("text")

    def readBinaryMessage(self) -> Deferred[bytes]:
        """The next message, which must be binary."""
        return self._read("binary")

    def readMessage(self, targetType: Any = None) -> Deferred[Any]:
        """The next message: ``str`` for text and ``bytes`` for binary, or bound to
        ``targetType`` as ``onMessage`` binds (failures: ``PayloadBindingError``
        ``"data binding failed: ..."``; the message is consumed, the connection stays)."""
        if targetType is None or targetType is Any:
            return self._read("any")
        from bws.binding import binderFor

        try:
            binder = binderFor(targetType, self.config.validation)
        except TypeError as e:
            return fail(e)
        return self._read("any", binder)

    # -- writing ------------------------------------------------------------------------

    def _ensureOpen(self) -> Deferred[None]:
        if self._needsReconnect and not self._closedLocally:
            return self._reconnect()
        return succeed(None)

    def _write(self, payload: bytes, isBinary: bool, kind: str) -> Deferred[None]:
        d = self._ensureOpen()
        d.addCallback(lambda _: self._writeNow(payload, isBinary, kind, True))
        return d

    def _writeNow(self, payload: bytes, isBinary: bool, kind: str,
                  mayRetry: bool) -> Deferred[None]:
        proto = self.protocol
        if proto is None:
            return fail(ConnectionClosureError("Connection already closed"))
        d = proto.writeMessage(payload, isBinary, kind)
        timeout = self.config.writeTimeout
        if timeout > 0 and not d.called:
            timer = self.clock.callLater(timeout, self._writeTimedOut, d)

            def stopTimer(result: Any) -> Any:
                if timer.active():
                    timer.cancel()
                return result

            d.addBoth(stopTimer)

        def failed(failure: Failure) -> Any:
            if mayRetry and self._retriesWrite(proto):
                self._needsReconnect = True
                return self._reconnect().addCallback(
                    lambda _: self._writeNow(payload, isBinary, kind, False))
            return failure

        return d.addErrback(failed)

    def _writeTimedOut(self, d: Deferred[None]) -> None:
        if not d.called:
            d.errback(Error("Write timed out"))

    def _retriesWrite(self, proto: ClientProtocol) -> bool:
        """A write failed: retry only when the connection dropped (no close handshake)."""
        return (self.config.retryConfig is not None and not self._closedLocally
                and not proto.closeFrameReceived and not proto.closedByMe
                and proto.state != STATE_OPEN)

    def writeTextMessage(self, data: str) -> Deferred[None]:
        """Send a text message (fragmented at ``maxFrameSize`` on UTF-8 boundaries)."""
        if not isinstance(data, str):
            return fail(TypeError(f"writeTextMessage needs str, got {type(data).__name__}"))
        return self._write(data.encode("utf-8"), False, "text")

    def writeBinaryMessage(self, data: bytes) -> Deferred[None]:
        """Send a binary message (fragmented at ``maxFrameSize``)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            return fail(TypeError(f"writeBinaryMessage needs bytes, got {type(data).__name__}"))
        return self._write(bytes(data), True, "binary")

    def writeMessage(self, data: Any) -> Deferred[None]:
        """Send ``str`` as text, bytes as binary, an XML element as text, anything else
        as JSON text."""
        from bws.binding import serialize

        try:
            payload, isBinary = serialize(data)
        except (TypeError, ValueError) as e:
            return fail(e)
        return self._write(payload, isBinary, "binary" if isBinary else "text")

    def ping(self, data: bytes) -> Deferred[None]:
        """Send a ping; more than 125 bytes fails with ``CorruptedFrameError``."""
        if self.protocol is None:
            return fail(ConnectionClosureError("Connection already closed"))
        return self.protocol.writeControl(9, data, "PING")

    def pong(self, data: bytes) -> Deferred[None]:
        """Send a pong; more than 125 bytes fails with ``CorruptedFrameError``."""
        if self.protocol is None:
            return fail(ConnectionClosureError("Connection already closed"))
        return self.protocol.writeControl(10, data, "PONG")

    # -- closing -----------------------------------------------------------------------

    def close(self, statusCode: int | None = 1000, reason: str | None = None,
              timeout: Any = 60) -> Deferred[None]:
        """Close the connection: fires when the server's close frame arrives, or fails
        with ``ConnectionClosureError`` after ``timeout`` seconds (then the TCP
        connection is dropped); ``-1`` waits forever."""
        proto = self.protocol
        if proto is None or self._closedLocally and proto.state != STATE_OPEN:
            return fail(ConnectionClosureError("Connection already closed"))
        d = proto.startClose(statusCode, reason, timeout)
        if proto.closedByMe and proto.state != STATE_OPEN:
            self._closedLocally = True
            self._needsReconnect = False
            self._flushReads()
        return d

    # -- describing ---------------------------------------------------------------------

    def isOpen(self) -> bool:
        """Whether messages can be written now."""
        return self.protocol is not None and not self._needsReconnect and \
            self.protocol.writeRefusal("text") is None

    def isSecure(self) -> bool:
        """Whether the connection runs over TLS (a ``wss://`` URL)."""
        return self.target.secure

    @property
    def connectionId(self) -> str:
        """A string unique to the current connection."""
        return self.protocol.connectionId if self.protocol is not None else ""

    def getConnectionId(self) -> str:
        """The connection id (a new one after a reconnect)."""
        return self.connectionId

    def getNegotiatedSubProtocol(self) -> str | None:
        """The subprotocol the server chose, or None."""
        if self.protocol is None:
            return None
        return self.protocol.websocket_protocol_in_use  # type: ignore[no-any-return]

    def getHttpResponse(self) -> HttpResponse | None:
        """The server's answer to the latest upgrade request (status, headers, cookies)."""
        return self.httpResponse

    def setAttribute(self, key: str, value: Any) -> None:
        """Store a value on this client (kept across reconnects)."""
        self.attributes[key] = value

    def getAttribute(self, key: str) -> Any:
        """A stored value, or None."""
        return self.attributes.get(key)

    def removeAttribute(self, key: str) -> Any:
        """Remove a stored value and return it (None if absent)."""
        return self.attributes.pop(key, None)

    def __repr__(self) -> str:
        return f"<bws.Client {self.target.url} {self.connectionId}>"
