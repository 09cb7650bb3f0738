# -*- test-case-name: tests.test_upgrade -*-
"""The HTTP side of the handshake: limits, deadline, routing, checks, auth, ``get``, 101.

twisted.web parses the request (so a bws listener can share a ``Site`` with plain HTTP
resources); :class:`UpgradeResource` then decides, and on success hands the socket to a
:class:`bws._autobahn.ServerAdapter` together with the request bytes and whatever the
peer sent after them (treated as WebSocket data, never as HTTP).
"""

from __future__ import annotations

import base64
import binascii
import inspect
from typing import Any
from urllib.parse import urlsplit

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.protocol import connectionDone
from twisted.logger import Logger
from twisted.protocols.policies import ProtocolWrapper
from twisted.python.failure import Failure
from twisted.web import http, server
from twisted.web.resource import IResource
from zope.interface import implementer

from bws._autobahn import ServerAdapter
from bws._connection import Connection
from bws.config import ListenerConfiguration, RequestLimitConfigs
from bws.errors import AuthnError, AuthzError, UpgradeError
from bws.request import UpgradeRequest
from bws.routing import Attachment, ParamError, Router
from bws.server._serving import ServiceRunner

__all__ = ["UpgradeResource", "UpgradeChannel", "UpgradeSite", "normalizeOrigin",
           "parseTokens", "limitsViolation"]

log = Logger()
_REASONS = {
    400: b"Bad Request", 401: b"Unauthorized", 403: b"Forbidden", 404: b"Not Found",
    405: b"Method Not Allowed", 413: b"Payload Too Large", 414: b"URI Too Long",
    426: b"Upgrade Required", 431: b"Request Header Fields Too Large",
    500: b"Internal Server Error", 503: b"Service Unavailable",
}


def normalizeOrigin(value: str) -> str | None:
    """``scheme://host[:port]`` lower-cased in scheme and host, or None if not an origin."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname or parts.path not in ("", "/") or parts.query:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme.lower()}://{host}" + (f":{port}" if port is not None else "")


def parseTokens(values: list[str]) -> list[str]:
    """Comma-separated header tokens, trimmed, empties dropped (linear time)."""
    out: list[str] = []
    for value in values:
        for item in value.split(","):
            token = item.strip(" \t")
            if token:
                out.append(token)
    return out


def limitsViolation(uri: bytes, headerBytes: int, headerCount: int,
                    limits: RequestLimitConfigs) -> int | None:
    """The status the request limits demand (414 / 431), or None."""
    if len(uri) > limits.maxUriLength:
        return 414
    if headerBytes > limits.maxHeaderSize or headerCount > limits.maxHeaderCount:
        return 431
    return None


def respond(request: server.Request, status: int, body: str = "",
            headers: dict[str, str] | None = None) -> None:
    """Finish ``request`` with a short plain-text answer."""
    if request.finished or request.channel is None:
        return
    request.setResponseCode(status, _REASONS.get(status))
    request.setHeader(b"content-type", b"text/plain; charset=utf-8")
    for name, value in (headers or {}).items():
        request.setHeader(name.encode("latin-1"), value.encode("latin-1"))
    data = body.encode("utf-8")
    request.setHeader(b"content-length", str(len(data)).encode("ascii"))
    if data and request.method != b"HEAD":
        request.write(data)
    request.finish()


class Upgrade:
    """One upgrade request on its way through the pipeline (DESIGN §2)."""

    def __init__(self, resource: UpgradeResource, request: server.Request) -> None:
        self.resource = resource
        self.request = request
        self.attachment: Attachment | None = None
        self.bws: UpgradeRequest | None = None
        self.subProtocol: str | None = None
        self.offered: list[str] = []

    def fail(self, status: int, body: str = "", headers: dict[str, str] | None = None) -> None:
        respond(self.request, status, body, headers)

    def start(self) -> None:
        request = self.request
        resource = self.resource
        if not resource.accepting:
            self.fail(503, "The listener is stopping")
            return
        path = request.path.decode("utf-8", "replace")
        found = resource.router.route(path)
        if found is None:
            self.fail(404, "No service found to handle the service request")
            return
        attachment, pathParams = found
        self.attachment = attachment
        headers = request.requestHeaders
        status = limitsViolation(
            request.uri, sum(len(k) + 2 + len(v) for k, vs in headers.getAllRawHeaders()
                             for v in vs), sum(len(vs) for _, vs in headers.getAllRawHeaders()),
            resource.limits)
        if status is not None:
            self.fail(status)
            return
        if request.method != b"GET":
            self.fail(405, "WebSocket upgrades use GET", {"Allow": "GET"})
            return
        upgrade = [t.lower() for t in parseTokens(
            [v.decode("latin-1") for v in headers.getRawHeaders(b"upgrade", [])])]
        connection = [t.lower() for t in parseTokens(
            [v.decode("latin-1") for v in headers.getRawHeaders(b"connection", [])])]
        if "websocket" not in upgrade or "upgrade" not in connection:
            self.fail(426, "This service requires a WebSocket upgrade",
                      {"Upgrade": "websocket", "Connection": "Upgrade"})
            return
        if headers.getRawHeaders(b"sec-websocket-version", []) != [b"13"]:
            self.fail(426, "Unsupported WebSocket version; use 13",
                      {"Sec-WebSocket-Version": "13"})
            return
        keys = headers.getRawHeaders(b"sec-websocket-key", [])
        if len(keys) != 1 or not _validKey(keys[0]):
            self.fail(400, "Missing, duplicated or malformed Sec-WebSocket-Key")
            return
        if not headers.getRawHeaders(b"host"):
            self.fail(400, "Missing Host header")
            return
        config = attachment.config
        if config.allowedOrigins is not None:
            origins = headers.getRawHeaders(b"origin", [])
            origin = normalizeOrigin(origins[0].decode("latin-1")) if len(origins) == 1 else None
            if origin is None or origin not in config.allowedOrigins:
                self.fail(403, "Origin not allowed")
                return
        self.bws = makeUpgradeRequest(request, path)
        self.bws.pathParams = pathParams
        try:
            kwargs = attachment.signature.bind(self.bws)
        except ParamError as e:
            self.fail(e.status, str(e))
            return
        offered = parseTokens([v.decode("latin-1")
                               for v in headers.getRawHeaders(b"sec-websocket-protocol", [])])
        self.offered = offered
        self.subProtocol = next((p for p in offered if p in config.subProtocols), None)
        d = self.authenticate()
        if d is None:
            self.callGet(kwargs)
        else:
            d.addCallback(lambda _: self.callGet(kwargs))
            d.addErrback(self.refused)

    def authenticate(self) -> Deferred[Any] | None:
        """Authentication and authorization (spec §5.2) plug in here; None when open."""
        auth = self.attachment.config.auth if self.attachment is not None else None
        if not auth:
            return None
        from bws.auth.listener import authenticate

        assert self.bws is not None
        return maybeDeferred(authenticate, auth, self.bws)

    def callGet(self, kwargs: dict[str, Any]) -> None:
        assert self.attachment is not None and self.bws is not None
        try:
            result = self.attachment.upgradeService.get(self.bws, **kwargs)
        except Exception:
            self.refused(Failure())
            return
        if inspect.iscoroutine(result):
            result = Deferred.fromCoroutine(result)
        if isinstance(result, Deferred):
            result.addCallbacks(self.accept, self.refused)
        else:
            self.accept(result)

    def refused(self, failure: Failure) -> None:
        error = failure.value
        if isinstance(error, AuthnError):
            self.fail(401)
        elif isinstance(error, AuthzError):
            self.fail(403)
        elif isinstance(error, UpgradeError):
            self.fail(400, str(error))
        else:
            log.failure("Upgrade service get() failed for {path}", failure,
                        path=self.bws.path if self.bws else "?")
            self.fail(500, "Internal server error")

    def accept(self, service: Any) -> None:
        if service is None:
            log.error("Upgrade service get() returned None for {path}",
                      path=self.bws.path if self.bws else "?")
            self.fail(500, "Internal server error")
            return
        if isinstance(service, BaseException):
            self.refused(Failure(service))
            return
        request = self.request
        channel = request.channel
        if channel is None or channel.transport is None or request.finished:
            return  # the peer went away while get() ran
        assert self.attachment is not None and self.bws is not None
        headers: dict[str, Any] = {}
        for name, value in self.bws.responseHeaders:
            headers.setdefault(name, []).append(value)
        config = self.attachment.config
        connection = Connection(self.resource.clock, config.maxFrameSize,
                                config.connectionClosureTimeout)
        ServiceRunner(service, config, connection, self.bws, self.resource.clock)
        proto = ServerAdapter(connection, self.subProtocol, headers, self.bws)
        proto.factory = self.attachment.factory
        self.resource.track(connection)
        key = request.requestHeaders.getRawHeaders(b"sec-websocket-key", [b""])[0]
        handOver(request, proto, key.strip().decode("ascii"), self.offered)


def _validKey(key: bytes) -> bool:
    try:
        return len(base64.b64decode(key.strip(), validate=True)) == 16
    except (binascii.Error, ValueError):
        return False


def makeUpgradeRequest(request: server.Request, path: str) -> UpgradeRequest:
    headers = tuple((name.decode("latin-1").lower(), v.decode("latin-1"))
                    for name, values in request.requestHeaders.getAllRawHeaders()
                    for v in values)
    peer = request.getClientAddress()
    host = getattr(peer, "host", None)
    port = getattr(peer, "port", None)
    transport = request.channel.transport
    certificate = None
    if request.isSecure():
        try:
            from bws.tls import peerCertificate

            certificate = peerCertificate(transport)
        except ImportError:
            certificate = None
    return UpgradeRequest(
        request.method.decode("latin-1"), request.uri.decode("utf-8", "replace"), path,
        headers, (str(host), int(port or 0)) if host is not None else None,
        bool(request.isSecure()),
        certificate)


def handOver(request: server.Request, proto: ServerAdapter, key: str,
             offered: list[str]) -> None:
    """Move the socket from twisted.web's channel to ``proto``, which answers 101."""
    channel: Any = request.channel
    transport: Any = channel.transport
    channel.setTimeout(None)
    finish = getattr(channel, "upgraded", None)
    if finish is not None:
        finish()
    transport.unregisterProducer()
    if isinstance(transport, ProtocolWrapper):
        transport.wrappedProtocol = proto  # TLS: the wrapper feeds the protocol
    else:
        transport.protocol = proto
    # Bytes the peer sent after the request: buffered by the channel, or still on the
    # channel's stack (it passes the rest of the current read to rawDataReceived).
    pending = b"".join(getattr(channel, "_dataBuffer", []))
    channel._dataBuffer = []
    channel.rawDataReceived = proto.dataReceived
    channel.dataReceived = proto.dataReceived
    channel.transport = None
    proto.makeConnection(transport)
    transport.resumeProducing()
    proto.acceptUpgrade(key, offered)
    if pending:
        proto.dataReceived(pending)


@implementer(IResource)
class UpgradeResource:
    """The router in front of a site: upgrade requests to attached paths come here.

    With a ``fallback`` (a shared ``Site``'s own root), everything else goes there.
    """

    isLeaf = False

    def __init__(self, router: Router, config: ListenerConfiguration, clock: Any,
                 fallback: Any = None) -> None:
        self.router = router
        self.limits = config.requestLimits
        self.config = config
        self.clock = clock
        self.fallback = fallback
        self.accepting = True
        #: The open WebSocket connections accepted here (``gracefulStop`` closes them).
        self.connections: set[Connection] = set()

    def track(self, connection: Connection) -> None:
        """Keep ``connection`` in :attr:`connections` until its TCP connection is gone."""
        self.connections.add(connection)
        connection.whenLost().addCallback(lambda _: self.connections.discard(connection))

    def _ours(self, request: server.Request) -> bool:
        if self.fallback is None:
            return True
        if self.router.route(request.path.decode("utf-8", "replace")) is None:
            return False
        return bool(request.requestHeaders.getRawHeaders(b"upgrade"))

    def getChildWithDefault(self, name: bytes, request: server.Request) -> Any:
        if self._ours(request):
            return _Leaf(self)
        if getattr(self.fallback, "isLeaf", False):
            assert request.postpath is not None and request.prepath is not None
            request.postpath.insert(0, request.prepath.pop())
            return self.fallback
        return self.fallback.getChildWithDefault(name, request)

    def putChild(self, path: bytes, child: Any) -> None:
        if self.fallback is None:
            raise TypeError("a bws listener's own site has no HTTP children; share a Site instead")
        self.fallback.putChild(path, child)

    def render(self, request: server.Request) -> Any:
        if self._ours(request):
            return _Leaf(self).render(request)
        return self.fallback.render(request)


@implementer(IResource)
class _Leaf:
    isLeaf = True

    def __init__(self, resource: UpgradeResource) -> None:
        self.resource = resource

    def render(self, request: server.Request) -> Any:
        server_ = self.resource.config.server
        request.setHeader(b"server", (server_ or "bws").encode("latin-1"))
        Upgrade(self.resource, request).start()
        return server.NOT_DONE_YET

    def getChildWithDefault(self, name: bytes, request: server.Request) -> Any:
        return self

    def putChild(self, path: bytes, child: Any) -> None:
        raise TypeError("an upgrade path has no children")


class UpgradeChannel(http.HTTPChannel):  # type: ignore[misc]
    """An HTTP channel with the request limits and an absolute upgrade deadline."""

    limits: RequestLimitConfigs = RequestLimitConfigs()
    deadline: float = 120.0
    clock: Any = None
    transport: Any

    def connectionMade(self) -> None:
        limits = self.limits
        self.MAX_LENGTH = limits.maxUriLength + limits.maxHeaderSize + 64
        self.totalHeadersSize = self.MAX_LENGTH + 64
        self.maxHeaders = limits.maxHeaderCount + 1
        self._firstLine = True
        self._headerBytes = 0
        self._headerCount = 0
        self._deadlineCall: Any = None
        super().connectionMade()
        self.setTimeout(None)  # the deadline below replaces the idle timeout
        self._armDeadline()

    def _armDeadline(self) -> None:
        if self.deadline > 0 and self.clock is not None:
            self._deadlineCall = self.clock.callLater(self.deadline, self._deadlinePassed)

    def _cancelDeadline(self) -> None:
        if self._deadlineCall is not None and self._deadlineCall.active():
            self._deadlineCall.cancel()
        self._deadlineCall = None

    def _deadlinePassed(self) -> None:
        self._deadlineCall = None
        if self.transport is not None:
            self.transport.abortConnection()

    def lineReceived(self, line: bytes) -> None:
        if self._firstLine:
            if not line:
                return super().lineReceived(line)
            self._firstLine = False
            parts = line.split(b" ")
            uri = parts[1] if len(parts) == 3 else b""
            if limitsViolation(uri, 0, 0, self.limits) is not None:
                return self._refuse(414)
        elif line:
            self._headerBytes += len(line)
            self._headerCount += 1
            if limitsViolation(b"", self._headerBytes, self._headerCount,
                               self.limits) is not None:
                return self._refuse(431)
        return super().lineReceived(line)

    def lineLengthExceeded(self, line: bytes) -> None:
        self._refuse(414 if self._firstLine else 431)

    def _refuse(self, status: int) -> None:
        reason = _REASONS[status]
        self.transport.write(b"HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                             % (status, reason))
        self.dataReceived = self.lineReceived = lambda *a: None  # type: ignore[method-assign]
        self.transport.loseConnection()

    def allContentReceived(self) -> None:
        self._cancelDeadline()
        super().allContentReceived()

    def requestDone(self, request: Any) -> None:
        super().requestDone(request)
        self._firstLine = True
        self._headerBytes = 0
        self._headerCount = 0
        if self.transport is not None and not self.transport.disconnecting:
            self._armDeadline()

    def upgraded(self) -> None:
        """The socket now belongs to a WebSocket connection."""
        self._cancelDeadline()

    def connectionLost(self, reason: Failure = connectionDone) -> None:  # type: ignore[override]
        self._cancelDeadline()
        super().connectionLost(reason)


class UpgradeRequestWithLimits(server.Request):
    """Refuses a body larger than ``maxEntityBodySize`` with 413 before reading it."""

    channel: Any

    def gotLength(self, length: int | None) -> None:
        limit = self.channel.limits.maxEntityBodySize
        if limit >= 0 and length is not None and length > limit:
            self.channel._refuse(413)
            return
        self._bodyLimit = limit
        self._bodySeen = 0
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self.channel is None or self.channel.transport is None:
            return
        limit = getattr(self, "_bodyLimit", -1)
        self._bodySeen = getattr(self, "_bodySeen", 0) + len(data)
        if 0 <= limit < self._bodySeen:
            self.channel._refuse(413)
            return
        super().handleContentChunk(data)


class UpgradeSite(server.Site):
    """The Site a listener builds for its own port."""

    requestFactory = UpgradeRequestWithLimits
    displayTracebacks = False

    def __init__(self, resource: UpgradeResource, config: ListenerConfiguration,
                 clock: Any) -> None:
        super().__init__(resource, reactor=clock)
        # A channel class per site, carrying this listener's limits, deadline and clock.
        self.protocol = type("UpgradeChannel", (UpgradeChannel,), {  # type: ignore[assignment]
            "limits": config.requestLimits, "deadline": config.timeout, "clock": clock})

    def log(self, request: Any) -> None:
        """No access log per upgrade: it would cost on the handshake path."""

