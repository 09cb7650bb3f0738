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
- after ``close()`` every read fails at once with ``"Connection already closed"``, every
  write with ``"Close frame already sent. Cannot push text data!"`` (``"... binary
  data."``), also once TCP is gone;
- a read pending when TCP drops without a close frame (and no ``retryConfig``) ends with
  ``"Connection closed Status code: 1006"``;
- with ``retryConfig``, a connection refused at connect time, a drop (1006) and a write
  that failed on a dropped connection make the client reconnect (pending reads keep
  waiting, the failed message is sent again); so does a server's close that says "come
  back" (:data:`RECONNECT_CODES`: 1001 Going Away, as a draining ``gracefulStop`` sends,
  1012 Service Restart, 1013 Try Again Later; a bws addition, so that behind a load
  balancer the client lands on another backend); a normal close or a refused handshake
  never does.

The queue and the reads are :class:`~bws.client._inbox.Inbox`'s, the reconnect loop is
:func:`~bws.client._retry.retrying`; this module holds the client object, its URL and
its cookies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import attrs
import idna
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IProtocol, IProtocolFactory, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from typing_extensions import Unpack

from bws._connection import CLOSE_ABNORMAL, OP_PING, OP_PONG, Connection, State
from bws._http import encodePath, encodeQuery, hasControl, isToken
from bws.client._attempt import Attempt, PingHandlers
from bws.client._inbox import Inbox, ReadKind
from bws.client._retry import retrying
from bws.config import ClientConfiguration, ClientConfigurationFields, build
from bws.errors import (
    AuthError,
    ConnectionClosureError,
    ConnectionError,
    Error,
    HandshakeTimedOut,
    InvalidHandshakeError,
)
from bws.request import HttpResponse

if TYPE_CHECKING:
    from bws.binding import Binder

__all__ = ["Client", "Target", "parseUrl", "cookieHeader", "Connector"]


@attrs.frozen
class Target:
    """A parsed ``ws://`` / ``wss://`` URL.

    :ivar url: the URL as given.
    :ivar secure: whether it is ``wss://``.
    :ivar host: the host to connect to: ASCII (IDNA for a non-ASCII name), an IPv6
        address without brackets.
    :ivar port: the port to connect to (80 or 443 when the URL has none).
    :ivar resource: the request target: path and query, percent-encoded as browsers do.
    :ivar hostHeader: the ``Host`` value: the host, and the port unless it is the scheme's.
    """

    url: str
    secure: bool
    host: str
    port: int
    resource: str = "/"
    hostHeader: str = ""


#: Code points a host may not hold (WHATWG URL standard, forbidden domain code points that
#: the URL split leaves in it).
_FORBIDDEN_HOST = frozenset(" <>[]\\^|%")


def parseUrl(url: Any) -> Target:
    """
    Check a WebSocket URL and encode it as browsers do (WHATWG URL standard).

    The path and query are percent-encoded as UTF-8 (``/chat room`` is ``/chat%20room``,
    ``?q=é`` is ``?q=%C3%A9``; ``%XX`` already there is kept, ``\\`` in the path is
    ``/``); a non-ASCII host is converted with IDNA (UTS #46), the port is left out of
    ``Host`` when it is the scheme's default.

    :param url: e.g. ``"ws://127.0.0.1:9090/ws/user/albanø?q=é"``.
    :raises Error: ``"Malformed URL: <url> (<why>)"`` for anything else: no ``ws``/``wss``
        scheme, no host or a host that cannot be written, a bad port, a control character
        (CR, LF, TAB, NUL, ...) anywhere, or a fragment (RFC 6455 §3).
    """
    if not isinstance(url, str) or not url:
        raise Error(f"Malformed URL: {url!r}")
    if hasControl(url):
        raise Error(f"Malformed URL: {url!r} (control characters are not allowed)")
    text = url.strip(" ")
    if "://" not in text.replace("\\", "/"):
        if ":" in text or "/" in text:
            raise Error(f"Malformed URL: {url} (no scheme: it must start with ws:// or wss://)")
        raise Error(f"Malformed URL: {url}")
    # In ws(s) URLs a backslash is a slash before the query (WHATWG: special URLs).
    head, querySep, query = text.partition("?")
    text = head.replace("\\", "/") + querySep + query
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as e:
        raise Error(f"Malformed URL: {url} ({e})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("ws", "wss"):
        raise Error(f"Malformed URL: {url} (scheme {parts.scheme!r}: use ws:// or wss://)")
    if "#" in text:
        raise Error(f"Malformed URL: {url} (a WebSocket URL has no fragment, RFC 6455 §3)")
    host = parts.hostname
    if not host:
        raise Error(f"Malformed URL: {url} (no host)")
    if "[" in parts.netloc:
        hostText = f"[{host}]"
    else:
        host = unquote(host).lower()
        if any(c in _FORBIDDEN_HOST for c in host) or hasControl(host):
            raise Error(f"Malformed URL: {url} (the host {host!r} cannot be written)")
        if not host.isascii():
            try:
                host = idna.encode(host, uts46=True).decode("ascii")
            except idna.IDNAError as e:
                raise Error(f"Malformed URL: {url} (host: {e})") from None
        hostText = host
    secure = scheme == "wss"
    default = 443 if secure else 80
    resource = encodePath(parts.path or "/")
    if querySep:
        resource += "?" + encodeQuery(parts.query)
    hostHeader = hostText if port is None or port == default else f"{hostText}:{port}"
    return Target(url, secure, host, default if port is None else port, resource, hostHeader)


def cookieHeader(cookies: Any) -> str | None:
    """The ``Cookie`` header for ``cookies`` (objects, mappings or pairs), longest path first.

    :raises Error: ``"Invalid cookie: <cookie>"`` for a cookie without a name, a name that
        is not a token, or a name or value holding a control character or ``;`` (it would
        end the field or start another cookie: RFC 6265 §4.2.1).
    """
    items = []
    for cookie in cookies:
        if isinstance(cookie, Mapping):
            name, value, path = cookie.get("name"), cookie.get("value"), cookie.get("path")
        elif isinstance(cookie, tuple):
            name, value, path = cookie[0], cookie[1], None
        else:
            name, value = getattr(cookie, "name", None), getattr(cookie, "value", None)
            path = getattr(cookie, "path", None)
        text = "" if value is None else str(value)
        if (not isinstance(name, str) or not isToken(name) or hasControl(text)
                or ";" in text):
            raise Error(f"Invalid cookie: {cookie!r}")
        items.append((len(path or ""), f"{name}={text}"))
    items.sort(key=lambda item: -item[0])
    return "; ".join(text for _, text in items) or None


#: A server's close codes after which a client with ``retryConfig`` reconnects: 1001 Going
#: Away (RFC 6455 §7.4.1; a draining server), 1012 Service Restart and 1013 Try Again Later
#: (IANA WebSocket Close Code Number Registry).
RECONNECT_CODES = frozenset({1001, 1012, 1013})

#: Opens a transport for a protocol factory: ``connector(factory) -> Deferred``.
Connector = Callable[[IProtocolFactory], "Deferred[Any]"]


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
        self.pingHandlers = PingHandlers(config.pingPongHandler, self)
        self.httpResponse: HttpResponse | None = None
        #: The current connection (a new one after each reconnect).
        self.connection: Connection | None = None
        #: The Autobahn protocol of the current connection (diagnostics and tests).
        self.protocol: IProtocol | None = None
        self.attributes: dict[str, Any] = {}
        #: Queued messages and pending reads; ``inbox.closed`` once ``close()`` was called.
        self.inbox = Inbox(clock, config.readTimeout, config.messageLimit,
                           self._pauseReading, self._resumeReading)
        self._needsReconnect = False
        self._reconnecting: Deferred[None] | None = None
        #: The ``Authorization`` header's source (``config.auth``), made on first use.
        self.authSource: Any = None
        #: The URL log lines name: without the query, where tokens travel.
        self.logUrl = (f"{'wss' if target.secure else 'ws'}://{target.hostHeader}"
                       f"{target.resource.partition('?')[0]}")

    # -- connecting -------------------------------------------------------------------

    @classmethod
    def connect(cls, url: str, *, reactor: Any = None, clock: IReactorTime | None = None,
                connector: Connector | None = None,
                **config: Unpack[ClientConfigurationFields]) -> Deferred[Client]:
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
            cookieHeader(cfg.cookies)  # a bad cookie fails here, before anything is sent
        except Error as e:
            return fail(e)
        if reactor is None:
            from twisted.internet import reactor as globalReactor

            reactor = globalReactor
        try:
            client = cls(target, cfg, reactor, clock or reactor, connector)
        except Error as e:
            return fail(e)
        return client._connectWithRetries(initial=True).addCallback(lambda _: client)

    def _connectTCP(self, factory: IProtocolFactory) -> Deferred[IProtocol]:
        from twisted.internet.endpoints import HostnameEndpoint

        if self.target.secure:
            factory = self._tlsFactory(factory)
        endpoint = HostnameEndpoint(self.reactor, self.target.host, self.target.port)
        return endpoint.connect(factory)

    def _tlsFactory(self, factory: IProtocolFactory) -> IProtocolFactory:
        from bws.tls import clientTLSFactory

        return clientTLSFactory(self.config.secureSocket, self.target.host, factory,
                                self.clock)

    def _upgradeHeaders(self, authorization: str | None = None) -> list[tuple[str, str]]:
        """The upgrade request's headers other than those bws writes itself: ``Host`` first
        (the URL's, or the one ``customHeaders`` gives: never both), then ``customHeaders``
        in order, then ``Cookie`` (a ``Cookie`` of ``customHeaders`` joined with
        ``cookies``: one field, RFC 6265 §5.4), then ``Authorization`` from ``auth``
        (which replaces one in ``customHeaders``)."""
        host = self.target.hostHeader
        headers: list[tuple[str, str]] = []
        cookieName, cookieValues = "Cookie", []
        for name, value in self.config.customHeaders.items():
            lower = name.lower()
            if lower == "host":
                host = value
            elif lower == "cookie":
                cookieName = name
                cookieValues.append(value)
            elif lower == "authorization" and authorization is not None:
                continue
            else:
                headers.append((name, value))
        cookies = cookieHeader(self.config.cookies)
        if cookies:
            cookieValues.append(cookies)
        if cookieValues:
            headers.append((cookieName, "; ".join(cookieValues)))
        if authorization is not None:
            headers.append(("Authorization", authorization))
        return [("Host", host), *headers]

    def _authorization(self) -> Deferred[str | None]:
        """The ``Authorization`` value of the next attempt from ``config.auth`` (asked anew
        each attempt, so a cached token is refreshed on reconnect), or None without auth.

        :return: fails with :class:`bws.AuthError` when no header can be made.
        """
        if self.config.auth is None:
            return succeed(None)
        # The auth machinery (twisted.cred, the records) loads for a client that uses it.
        from bws.auth.client import authorizationSource, checkHeaderValue

        try:
            if self.authSource is None:
                self.authSource = authorizationSource(self.config.auth)
            d: Deferred[str] = self.authSource.authorizationHeader(self.clock, self.reactor)
        except Exception as e:
            d = fail(e)

        def failed(failure: Failure) -> Failure:
            if not failure.check(Error):
                return Failure(AuthError(
                    f"Failed to enrich request with auth token. {failure.getErrorMessage()}"))
            return failure

        return d.addCallbacks(checkHeaderValue, failed)

    def _connectOnce(self) -> Deferred[Attempt]:
        """One attempt: the auth header, then TCP (and TLS) and the opening handshake
        within the deadline."""
        return self._authorization().addCallback(self._handshake).addErrback(self._refused)

    def _refused(self, failure: Failure) -> Failure:
        """Log the failed attempt (one line: ``refused`` with the HTTP status the server
        answered, else ``failed`` with the error). After a 401 (RFC 6750 §3.1: the token
        is invalid, e.g. expired or revoked), an auth source that caches a token forgets
        it, so the next attempt fetches another."""
        error = failure.value
        response = getattr(error, "response", None)
        status = response.statusCode if response is not None else 0
        if status and status != 101:
            # The status only: a refusal's text is the server's, and is not logged.
            self.log.info("WebSocket upgrade to {url} refused: {status}", wsEvent="refused",
                          side="client", url=self.logUrl, status=status)
        else:
            self.log.info("WebSocket connection to {url} failed: {error}", wsEvent="failed",
                          side="client", url=self.logUrl, error=failure.getErrorMessage())
        if (isinstance(error, InvalidHandshakeError) and response is not None
                and response.statusCode == 401):
            invalidate = getattr(self.authSource, "invalidate", None)
            if callable(invalidate):
                invalidate()
        return failure

    def _handshake(self, authorization: str | None) -> Deferred[Attempt]:
        config = self.config
        from bws._autobahn import ClientFactory, clientOptions  # loads on first connect

        attempt = Attempt(self, self.logUrl)
        opened = attempt.whenOpen
        factory = ClientFactory(
            self.target.resource, self._upgradeHeaders(authorization), list(config.subProtocols),
            clientOptions(config.maxFrameSize, config.messageLimit,
                          config.webSocketCompressionEnabled),
            self.clock, attempt.connection, attempt,
            (self.target.host, self.target.port, self.target.secure))
        try:
            connecting = self.connector(factory)
        except Error as e:
            return fail(e)

        def timedOut() -> None:
            if opened.called:
                return
            proto = factory.built
            if proto is not None:
                proto.finishRefusal()  # a refusal whose body is late still says its status
            opened.errback(attempt.handshakeError or HandshakeTimedOut("Handshake timed out"))
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

        return opened.addBoth(done).addCallback(lambda _: attempt)

    def lostDuringHandshake(self, reason: Failure) -> Error:
        """The error for an attempt that ended before the handshake completed."""
        target = self.target
        if target.secure:
            try:
                from OpenSSL.SSL import Error as SSLError

                from bws.tls._wording import notTlsError

                # A plain server's answer (the listener's 400) read as a TLS record.
                notTls = notTlsError(reason.value, target.host, target.port)
                if notTls is not None:
                    return notTls
                if reason.check(SSLError):
                    from bws.tls import sslErrorFromFailure

                    return sslErrorFromFailure(reason)
            except ImportError:  # pragma: no cover
                pass
        if isinstance(reason.value, Error):
            return reason.value
        detail = reason.getErrorMessage()
        return ConnectionError(f"IO Error: {detail}" if detail else "IO Error")

    def _connectWithRetries(self, initial: bool) -> Deferred[None]:
        """Connect (``initial``) or reconnect after a drop, as ``retryConfig`` allows."""
        d = retrying(self._connectOnce, self.config.retryConfig, self.clock,
                     failures=0 if initial else 1, keepTrying=lambda: not self.inbox.closed,
                     url=self.logUrl)
        return d.addCallback(self._adopt)

    def _adopt(self, attempt: Attempt) -> None:
        connection = self.connection = attempt.connection
        self.protocol = attempt.protocol
        self._needsReconnect = False
        self.inbox.reopen()
        if self.inbox.closed:  # close() was called while reconnecting
            connection.close(1000, None, None).addErrback(lambda f: None)

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
                    self.inbox.end(error)
                return result

            d.addBoth(finished)
            self._reconnecting = d
        waiter: Deferred[None] = Deferred()
        self._reconnecting.addCallbacks(lambda _: waiter.callback(None), waiter.errback)
        self._reconnecting.addErrback(lambda f: None)
        return waiter

    # -- events from the protocol (its AttemptOwner interface) ----------------------------

    def handshakeAnswered(self, response: HttpResponse) -> None:
        """Keep the server's answer to the latest upgrade request for ``getHttpResponse``."""
        self.httpResponse = response

    def messageReceived(self, connection: Connection, payload: bytes, isBinary: bool) -> None:
        """Queue a message for the reads."""
        self.inbox.messageReceived(payload, isBinary)

    def _pauseReading(self) -> None:
        if self.connection is not None:
            self.connection.pauseReading("queue")

    def _resumeReading(self) -> None:
        if self.connection is not None:
            self.connection.resumeReading("queue")

    def _comesBack(self, code: int | None) -> bool:
        """Whether a server's close with ``code`` is one to reconnect after."""
        return (code in RECONNECT_CODES and self.config.retryConfig is not None
                and not self.inbox.closed)

    def peerClosed(self, connection: Connection, code: int, reason: str) -> None:
        """The server closed first: reads end with its code and reason (or wait for the
        reconnect, after one of :data:`RECONNECT_CODES` with ``retryConfig``)."""
        if connection is not self.connection or self._comesBack(code):
            return
        text = f"{reason}: Status code: {code}" if reason else \
            f"Connection closed Status code: {code}"
        self.inbox.end(ConnectionClosureError(text))

    def protocolFailed(self, connection: Connection, error: Error) -> None:
        """The connection failed (protocol error, too large a message): reads end with it."""
        if connection is self.connection and self.inbox.endError is None:
            self.inbox.end(error)

    def connectionClosed(self, connection: Connection) -> None:
        """TCP is gone: end the reads, or reconnect for them after a drop."""
        if (connection is not self.connection or self.inbox.endError is not None
                or self.inbox.closed):
            return
        if connection.closeFrameReceived and not self._comesBack(connection.closeStatus):
            self.inbox.end(ConnectionClosureError("Connection closed"))
        elif self.config.retryConfig is not None:
            self._needsReconnect = True
            if self.inbox.pendingReads:
                self._reconnect().addErrback(lambda f: None)
        else:
            # The reference's format for a close without a reason (REFERENCE §1.8).
            self.inbox.end(ConnectionClosureError(
                f"Connection closed Status code: {CLOSE_ABNORMAL}"))

    # -- reading --------------------------------------------------------------------

    def _read(self, kind: ReadKind, binder: Binder | None = None) -> Deferred[Any]:
        d = self.inbox.read(kind, binder)
        if not d.called and self._needsReconnect:
            self._reconnect().addErrback(lambda f: None)
        return d

    def readTextMessage(self) -> Deferred[str]:
        """The next message, which must be text; see the module docstring for binary."""
        return self._read(ReadKind.TEXT)

    def readBinaryMessage(self) -> Deferred[bytes]:
        """The next message, which must be binary."""
        return self._read(ReadKind.BINARY)

    def readMessage(self, targetType: Any = None) -> Deferred[Any]:
        """The next message: ``str`` for text and ``bytes`` for binary, or bound to
        ``targetType`` as ``onMessage`` binds (failures: ``PayloadBindingError``
        ``"data binding failed: ..."``; the message is consumed, the connection stays)."""
        if targetType is None or targetType is Any:
            return self._read(ReadKind.ANY)
        from bws.binding import binderFor

        try:
            binder = binderFor(targetType, self.config.validation)
        except TypeError as e:
            return fail(e)
        return self._read(ReadKind.ANY, binder)

    # -- writing ------------------------------------------------------------------------

    def _ensureOpen(self) -> Deferred[None]:
        if self._needsReconnect and not self.inbox.closed:
            return self._reconnect()
        return succeed(None)

    def _write(self, payload: bytes, isBinary: bool, kind: str) -> Deferred[None]:
        d = self._ensureOpen()
        d.addCallback(lambda _: self._writeNow(payload, isBinary, kind, True))
        return d

    def _writeNow(self, payload: bytes, isBinary: bool, kind: str,
                  mayRetry: bool) -> Deferred[None]:
        connection = self.connection
        if connection is None:
            return fail(ConnectionClosureError("Connection already closed"))
        d = connection.writeMessage(payload, isBinary, kind)
        timeout = self.config.writeTimeout
        if timeout > 0 and not d.called:
            timer = self.clock.callLater(timeout, self._writeTimedOut, d)

            def stopTimer(result: Any) -> Any:
                if timer.active():
                    timer.cancel()
                return result

            d.addBoth(stopTimer)

        def failed(failure: Failure) -> Any:
            if mayRetry and self._retriesWrite(connection):
                self._needsReconnect = True
                return self._reconnect().addCallback(
                    lambda _: self._writeNow(payload, isBinary, kind, False))
            return failure

        return d.addErrback(failed)

    def _writeTimedOut(self, d: Deferred[None]) -> None:
        if not d.called:
            d.errback(Error("Write timed out"))

    def _retriesWrite(self, connection: Connection) -> bool:
        """A write failed: retry only when the connection dropped (no close handshake) or
        the server closed with one of :data:`RECONNECT_CODES`."""
        return (self.config.retryConfig is not None and not self.inbox.closed
                and (connection.closeStatus == CLOSE_ABNORMAL
                     or connection.closeStatus in RECONNECT_CODES))

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
        if self.connection is None:
            return fail(ConnectionClosureError("Connection already closed"))
        return self.connection.writeControl(OP_PING, data, "PING")

    def pong(self, data: bytes) -> Deferred[None]:
        """Send a pong; more than 125 bytes fails with ``CorruptedFrameError``."""
        if self.connection is None:
            return fail(ConnectionClosureError("Connection already closed"))
        return self.connection.writeControl(OP_PONG, data, "PONG")

    # -- closing -----------------------------------------------------------------------

    def close(self, statusCode: int | None = 1000, reason: str | None = None,
              timeout: Any = 60) -> Deferred[None]:
        """Close the connection: fires when the server's close frame arrives, or fails
        with ``ConnectionClosureError`` after ``timeout`` seconds (then the TCP
        connection is dropped); ``-1`` waits forever."""
        connection = self.connection
        if connection is None:
            return fail(ConnectionClosureError("Connection already closed"))
        if self._needsReconnect:
            # The connection is gone and a reconnect is due (retryConfig): closing ends it.
            self._needsReconnect = False
            self.inbox.close()
        d = connection.close(statusCode, reason, timeout)
        if connection.state is State.CLOSE_SENT:
            self._needsReconnect = False
            self.inbox.close()
        return d

    # -- describing ---------------------------------------------------------------------

    def isOpen(self) -> bool:
        """Whether messages can be written now."""
        return self.connection is not None and not self._needsReconnect and \
            self.connection.writeRefusal("text") is None

    def isSecure(self) -> bool:
        """Whether the connection runs over TLS (a ``wss://`` URL)."""
        return self.target.secure

    @property
    def connectionId(self) -> str:
        """A string unique to the current connection."""
        return self.connection.connectionId if self.connection is not None else ""

    def getConnectionId(self) -> str:
        """The connection id (a new one after a reconnect)."""
        return self.connectionId

    def getNegotiatedSubProtocol(self) -> str | None:
        """The subprotocol the server chose, or None."""
        if self.connection is None:
            return None
        return self.connection.subProtocol

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
