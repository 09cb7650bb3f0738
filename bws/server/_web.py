# -*- test-case-name: tests.test_server -*-
"""The twisted.web glue of the handshake: resource, site, channel limits, hand-over.

twisted.web parses the request (so a bws listener can share a ``Site`` with plain HTTP
resources); :class:`UpgradeResource` routes it, :mod:`bws.server._handshake` decides, and on
success the socket goes to a :class:`bws._autobahn.ServerAdapter` together with the
request bytes and whatever the peer sent after them (treated as WebSocket data, never as
HTTP). A request to an upgrade path never has a body: it is refused when its head ends,
before twisted.web reads or stores a byte of it (:class:`BodylessUpgrades`).
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, cast

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.protocol import ServerFactory, connectionDone
from twisted.logger import Logger
from twisted.protocols.policies import ProtocolWrapper
from twisted.python.failure import Failure
from twisted.web import http, server
from twisted.web.resource import IResource
from zope.interface import implementer

from bws._connection import Connection
from bws._forwarded import clientAddress, normalHost
from bws._http import NOT_TLS_ANSWER, REASONS, TLS_HANDSHAKE_RECORD, peerText
from bws.config import ListenerConfiguration, RequestLimitConfigs
from bws.request import Principal, UpgradeRequest
from bws.server._handshake import (
    INTERNAL_ERROR,
    NOT_FOUND,
    STOPPING,
    Accept,
    Reject,
    checkBody,
    checkUpgrade,
    limitsViolation,
    refusalFor,
)
from bws.server._routing import Attachment, ParamError, Router
from bws.server._serving import ServiceRunner
from bws.server._stats import CountingConnection, CountingRunner, ListenerStats

__all__ = ["UpgradeResource", "UpgradeChannel", "UpgradeSite", "UpgradeRequestWithLimits",
           "BodylessUpgrades", "guardSharedSite", "refuseAtHeaders"]

if TYPE_CHECKING:
    from bws._autobahn import ServerAdapter, ServerOptions
    from bws._groups import Groups
    from bws.auth.records import CheckerWithScopes

log = Logger()


def noteRefusal(resource: UpgradeResource | None, status: int, peer: Any,
                path: str | None) -> None:
    """The one ``refused`` line of a refused upgrade (its status, the peer and the path
    without the query; never a header or the refusal's text), counted in the listener's
    :class:`~bws.server._stats.ListenerStats` when metrics are on."""
    log.info("WebSocket upgrade refused {status} from {peer} at {path}", wsEvent="refused",
             side="server", status=status, peer=peerText(peer), path=path)
    stats = resource.stats if resource is not None else None
    if stats is not None:
        stats.handshake(status)


def respond(request: server.Request, reject: Reject) -> None:
    """Finish ``request`` with ``reject``'s status, headers and short plain-text body."""
    if request.finished or request.channel is None:
        return
    request.setResponseCode(reject.status, REASONS.get(reject.status))
    request.setHeader(b"content-type", b"text/plain; charset=utf-8")
    for name, value in reject.headers:
        request.setHeader(name.encode("latin-1"), value.encode("latin-1"))
    data = reject.body.encode("utf-8")
    request.setHeader(b"content-length", str(len(data)).encode("ascii"))
    if data and request.method != b"HEAD":
        request.write(data)
    request.finish()


def refuseAtHeaders(channel: http.HTTPChannel, reject: Reject) -> None:
    """
    Answer ``reject`` on ``channel`` and close it, before its request is complete: the
    rest of the connection's bytes (a body, pipelined requests) are never parsed.

    :param channel: the HTTP channel (its transport still connected).
    :param reject: the status, plain-text body and extra headers to answer with.
    """
    transport = channel.transport
    if transport is None:
        return
    body = reject.body.encode("utf-8")
    head = [b"HTTP/1.1 %d %s" % (reject.status, REASONS.get(reject.status, b"Error"))]
    if body:
        head.append(b"Content-Type: text/plain; charset=utf-8")
    head += [b"Content-Length: %d" % len(body), b"Connection: close"]
    head += [b"%s: %s" % (n.encode("latin-1"), v.encode("latin-1")) for n, v in reject.headers]
    transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
    # Nothing more of this connection is parsed, not even the rest of the current read
    # (LineReceiver hands it on once the head's last line has been taken).
    ignore: Any = lambda *a: None  # noqa: E731
    for name in ("dataReceived", "lineReceived", "rawDataReceived", "allContentReceived"):
        setattr(channel, name, ignore)
    # The channel's own close: it unregisters itself as the transport's producer first,
    # without which a TLS transport would wait for it before closing.
    channel.loseConnection()


def headerPairs(request: server.Request) -> tuple[tuple[str, str], ...]:
    """The request's headers as ``(lower-cased name, value)`` pairs, Latin-1 decoded."""
    return tuple((name.decode("latin-1").lower(), v.decode("latin-1"))
                 for name, values in request.requestHeaders.getAllRawHeaders()
                 for v in values)


class Upgrade:
    """One upgrade request on its way through the pipeline (DESIGN §2): route, checks,
    authentication (REFERENCE §1.12), ``get`` parameters, ``get``, hand-over.

    :ivar attachment: the attachment the path routed to.
    :ivar factory: that attachment's Autobahn factory (``UpgradeResource.factories``).
    :ivar bws: the request as the upgrade service sees it.
    :ivar decision: what :func:`bws.server._handshake.checkUpgrade` accepted.
    """

    def __init__(self, resource: UpgradeResource, request: server.Request) -> None:
        self.resource = resource
        self.request = request
        self.attachment: Attachment | None = None
        self.factory: ServerFactory | None = None
        self.bws: UpgradeRequest | None = None
        self.decision: Accept | None = None

    def refuse(self, reject: Reject) -> None:
        request = self.request
        if self.bws is not None:
            peer: object = self.bws.peer
        else:
            peer = clientPeer(request, headerPairs(request), self.resource.config)[0]
        noteRefusal(self.resource, reject.status, peer,
                    request.path.decode("utf-8", "replace"))
        respond(request, reject)

    def start(self) -> None:
        request = self.request
        resource = self.resource
        if not resource.accepting:
            self.refuse(STOPPING)
            return
        path = request.path.decode("utf-8", "replace")
        found = resource.router.route(path)
        if found is None:
            self.refuse(NOT_FOUND)
            return
        attachment, pathParams = found
        self.attachment = attachment
        self.factory = resource.factories[attachment]
        headers = headerPairs(request)
        config = attachment.config
        decision = checkUpgrade(request.method.decode("latin-1"), request.uri, headers,
                                resource.limits, config.allowedOrigins, config.subProtocols,
                                request.clientproto.decode("latin-1"))
        if isinstance(decision, Reject):
            self.refuse(decision)
            return
        self.decision = decision
        self.bws = makeUpgradeRequest(request, path, headers, resource.config)
        self.bws.pathParams = pathParams
        entries = resource.authEntries.get(attachment)
        if entries:
            self.authenticate(entries)
            return
        self.bindAndCall()

    def authenticate(self, entries: tuple[CheckerWithScopes, ...]) -> None:
        """Check the request's credentials against the service's auth entries before
        ``get``; a refusal is a 401/403/503 answer, never a WebSocket close."""
        assert self.bws is not None
        values = self.bws.getHeaders("authorization")
        # A repeated Authorization header is malformed (RFC 9110 §5.3: not a list field).
        header = values[0] if len(values) == 1 else (None if not values else "")
        # The auth machinery loads with the first request to a service that has auth.
        from bws.auth.listener import authenticate

        d = authenticate(header, entries)
        d.addCallbacks(self.authenticated, self.authFailed, errbackArgs=(entries, header))

    def authenticated(self, principal: Principal) -> None:
        request = self.request
        if request.finished or request.channel is None:
            return  # the peer went away while its credentials were checked
        assert self.bws is not None
        self.bws.principal = principal
        self.bindAndCall()

    def authFailed(self, failure: Failure, entries: tuple[CheckerWithScopes, ...],
                   header: str | None) -> None:
        from bws.auth.credentials import BackendUnavailable
        from bws.auth.listener import authRefusal

        path = self.bws.path if self.bws else "?"
        refusal = authRefusal(cast(BaseException, failure.value), entries, header)
        if refusal is None:
            log.failure("A credentials checker failed for {path}", failure, path=path)
            self.refuse(INTERNAL_ERROR)
            return
        if isinstance(failure.value, BackendUnavailable):
            log.warn("Upgrade to {path} refused 503: the auth store cannot answer ({why})",
                     path=path, why=failure.getErrorMessage())
        self.refuse(Reject(refusal.status, headers=refusal.headers))

    def bindAndCall(self) -> None:
        assert self.attachment is not None and self.bws is not None
        try:
            kwargs = self.attachment.signature.bind(self.bws)
        except ParamError as e:
            self.refuse(Reject(e.status, str(e)))
            return
        self.callGet(kwargs)

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
            result.addCallbacks(self.gotService, self.refused)
        else:
            self.gotService(result)

    def refused(self, failure: Failure) -> None:
        # Twisted's Failure.__init__ starts value at None; a built Failure always holds one.
        reject = refusalFor(cast(BaseException, failure.value))
        if reject is None:
            log.failure("Upgrade service get() failed for {path}", failure,
                        path=self.bws.path if self.bws else "?")
            reject = INTERNAL_ERROR
        self.refuse(reject)

    def gotService(self, service: Any) -> None:
        if service is None:
            log.error("Upgrade service get() returned None for {path}",
                      path=self.bws.path if self.bws else "?")
            self.refuse(INTERNAL_ERROR)
            return
        if isinstance(service, BaseException):
            self.refused(Failure(service))
            return
        request = self.request
        channel = request.channel
        if channel is None or channel.transport is None or request.finished:
            return  # the peer went away while get() ran
        self.accept(service)

    def accept(self, service: Any) -> None:
        """Hand the socket to a connection serving ``service``; it answers 101."""
        assert self.attachment is not None and self.bws is not None
        assert self.decision is not None
        headers: dict[str, list[str]] = {}
        added = self.bws.responseHeaders
        if not any(name.lower() == "server" for name, _ in added):
            # The listener's Server value, unless get() added its own: never both.
            headers["Server"] = [self.resource.config.server or "bws"]
        for name, value in added:
            headers.setdefault(name, []).append(value)
        config = self.attachment.config
        resource = self.resource
        clock = resource.clock
        stats = resource.stats
        if stats is None:
            connection = Connection(clock, config.maxFrameSize, config.connectionClosureTimeout)
            ServiceRunner(service, config, connection, self.bws, clock, resource.groups)
        else:
            # Metrics on: the same objects, counting messages and bytes (bws.server._stats).
            connection = CountingConnection(clock, config.maxFrameSize,
                                            config.connectionClosureTimeout)
            CountingRunner(service, config, connection, self.bws, clock, stats,
                           resource.groups)
            stats.handshake(101)
        options = cast("ServerOptions", self.factory)
        proto = options.buildAdapter(connection, self.decision.subProtocol, headers, self.bws)
        self.resource.track(connection)
        handOver(self.request, proto, self.decision.key, list(self.decision.offered))


def _hop(address: object) -> tuple[str, int] | None:
    host = getattr(address, "host", None)
    return None if host is None else (str(host), int(getattr(address, "port", 0) or 0))


def connectionHops(request: server.Request) -> list[tuple[str, int] | None]:
    """
    The addresses ``request``'s connection reports, left to right: ``[tcpPeer]``, or, when
    a wrapper between the socket and the channel reports another peer (the PROXY protocol
    of a ``haproxy:`` endpoint, :mod:`twisted.protocols.haproxy`), ``[thatPeer, tcpPeer]``.

    A TLS wrapper reports its transport's peer and adds no hop. ``None`` for an address
    without a host (a UNIX socket).
    """
    transport: Any = request.channel.transport if request.channel is not None else None
    if transport is None:
        return [_hop(request.getClientAddress())]
    outer = _hop(transport.getPeer())
    while isinstance(transport, ProtocolWrapper) and transport.transport is not None:
        transport = transport.transport
    inner = _hop(transport.getPeer())
    if inner == outer or outer is None:
        return [outer]
    return [(normalHost(outer[0]), outer[1]), inner]


def clientPeer(request: server.Request, headers: tuple[tuple[str, str], ...],
               config: ListenerConfiguration) -> tuple[tuple[str, int] | None,
                                                       tuple[str, int] | None]:
    """
    ``(client, connectionPeer)`` of ``request``: the client's address as
    :func:`bws._forwarded.clientAddress` reads it behind ``config.trustedProxies`` (the
    transport's own peer without them), and the TCP peer.

    :param headers: the request's ``(lower-cased name, value)`` pairs.
    """
    hops = connectionHops(request)
    tcpPeer = hops[-1]
    if not config.trustedProxies or any(hop is None for hop in hops):
        return hops[0], tcpPeer
    name = config.forwardedHeader.lower()
    values = [value for header, value in headers if header == name]
    known = cast("list[tuple[str, int]]", hops)  # no None: checked above
    return clientAddress(known, config.forwardedHeader, values, config.trustedProxies), tcpPeer


def makeUpgradeRequest(request: server.Request, path: str,
                       headers: tuple[tuple[str, str], ...],
                       config: ListenerConfiguration) -> UpgradeRequest:
    """The :class:`UpgradeRequest` of ``request``, with its ``headerPairs`` and its peer
    as ``config`` says to read it (:func:`clientPeer`)."""
    peer, tcpPeer = clientPeer(request, headers, config)
    secure = bool(request.isSecure())
    certificate = None
    if secure:
        from bws.tls._transport import peerCertificate

        certificate = peerCertificate(request.channel.transport)
    return UpgradeRequest(
        request.method.decode("latin-1"), request.uri.decode("utf-8", "replace"), path,
        headers, peer, secure, certificate, tcpPeer)


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

    def __init__(self, router: Router, config: ListenerConfiguration, clock: IReactorTime,
                 fallback: IResource | None = None) -> None:
        self.router = router
        self.limits = config.requestLimits
        self.config = config
        self.clock = clock
        self.fallback = fallback
        self.accepting = True
        #: The open WebSocket connections accepted here (``gracefulStop`` closes them).
        self.connections: set[Connection] = set()
        #: Each attachment's Autobahn factory, set by ``Listener.attach``.
        self.factories: dict[Attachment, ServerFactory] = {}
        #: Each attachment's auth entries with their checkers built (none: no auth).
        self.authEntries: dict[Attachment, tuple[CheckerWithScopes, ...]] = {}
        #: What is counted for metrics (``Listener.enableStats``); None: nothing is.
        self.stats: ListenerStats | None = None
        #: The groups the accepted connections' callers reach (``caller.groups``).
        self.groups: Groups | None = None

    def track(self, connection: Connection) -> None:
        """Keep ``connection`` in :attr:`connections` until its TCP connection is gone."""
        self.connections.add(connection)
        connection.registry = self.connections  # it leaves the set when TCP is gone

    def _ours(self, request: server.Request) -> bool:
        return self.claims(request.path, request.requestHeaders)

    def claims(self, path: bytes, headers: http.Headers) -> bool:
        """Whether a request for ``path`` (the target's path, as sent) with ``headers``
        comes here: every request on the listener's own site; on a shared ``Site``, an
        upgrade request to an attached path."""
        if self.fallback is None:
            return True
        if self.router.route(path.decode("utf-8", "replace")) is None:
            return False
        return bool(headers.getRawHeaders(b"upgrade"))

    def bodyRefusal(self, target: bytes, headers: http.Headers) -> Reject | None:
        """The answer to a request whose head just ended, if it is one for this resource
        and announces a body (:func:`~bws.server._handshake.checkBody`), else ``None``."""
        contentLengths = headers.getRawHeaders(b"content-length")
        transferEncodings = headers.getRawHeaders(b"transfer-encoding")
        if not contentLengths and not transferEncodings:
            return None
        if not self.claims(target.split(b"?", 1)[0], headers):
            return None
        return checkBody([v.decode("latin-1") for v in contentLengths or ()],
                         [v.decode("latin-1") for v in transferEncodings or ()],
                         self.limits.maxEntityBodySize)

    def getChildWithDefault(self, name: bytes, request: server.Request) -> IResource:
        fallback = self.fallback
        if fallback is None or self._ours(request):
            return _Leaf(self)
        if getattr(fallback, "isLeaf", False):
            assert request.postpath is not None and request.prepath is not None
            request.postpath.insert(0, request.prepath.pop())
            return fallback
        return fallback.getChildWithDefault(name, request)

    def putChild(self, path: bytes, child: IResource) -> None:
        if self.fallback is None:
            raise TypeError("a bws listener's own site has no HTTP children; share a Site instead")
        self.fallback.putChild(path, child)

    def render(self, request: server.Request) -> bytes | int:
        fallback = self.fallback
        if fallback is None or self._ours(request):
            return _Leaf(self).render(request)
        return fallback.render(request)


@implementer(IResource)
class _Leaf:
    isLeaf = True

    def __init__(self, resource: UpgradeResource) -> None:
        self.resource = resource

    def render(self, request: server.Request) -> bytes | int:
        server_ = self.resource.config.server
        request.setHeader(b"server", (server_ or "bws").encode("latin-1"))
        Upgrade(self.resource, request).start()
        return server.NOT_DONE_YET

    def getChildWithDefault(self, name: bytes, request: server.Request) -> IResource:
        return self

    def putChild(self, path: bytes, child: IResource) -> None:
        raise TypeError("an upgrade path has no children")


class UpgradeChannel(http.HTTPChannel):
    """An HTTP channel with the request limits and an absolute upgrade deadline."""

    limits: RequestLimitConfigs = RequestLimitConfigs()
    deadline: float = 120.0
    clock: IReactorTime | None = None
    #: The resource of the channel's site (its refusals are counted there).
    upgradeResource: UpgradeResource | None = None
    transport: Any

    def connectionMade(self) -> None:
        limits = self.limits
        self.MAX_LENGTH = limits.maxUriLength + limits.maxHeaderSize + 64
        self.totalHeadersSize = self.MAX_LENGTH + 64
        self.maxHeaders = limits.maxHeaderCount + 1
        self._fresh = True
        self._firstLine = True
        self._headerBytes = 0
        self._headerCount = 0
        self._deadlineCall: IDelayedCall | None = None
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

    def dataReceived(self, data: bytes) -> None:
        if self._fresh and data:
            self._fresh = False
            # A TLS ClientHello (RFC 8446 §5.1: a handshake record, 0x16 0x03 ...) cannot
            # begin an HTTP request (RFC 9112 §3: a method is a token): its client wants TLS
            # from a plain port, and waiting for a request line would only end at the
            # deadline. Answered at once, and closed.
            if data[0] == TLS_HANDSHAKE_RECORD:
                from bws.tls._transport import isSecureTransport

                if not isSecureTransport(self.transport):
                    noteRefusal(self.upgradeResource, 400, self.transport.getPeer(), None)
                    self._answerAndClose(NOT_TLS_ANSWER)
                    return
        super().dataReceived(data)

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
        # The request head broke requestLimits: no path is known yet (path None).
        noteRefusal(self.upgradeResource, status, self.transport.getPeer(), None)
        refuseAtHeaders(self, Reject(status))

    def _answerAndClose(self, answer: bytes) -> None:
        """Write ``answer`` and close; the rest of the connection's bytes are dropped
        unparsed."""
        self.transport.write(answer)
        self.dataReceived = _dropped  # type: ignore[method-assign]
        self.lineReceived = _dropped  # type: ignore[method-assign, assignment]
        self.loseConnection()

    def allContentReceived(self) -> None:
        self._cancelDeadline()
        super().allContentReceived()

    def requestDone(self, request: http.Request) -> None:
        super().requestDone(request)
        self._firstLine = True
        self._headerBytes = 0
        self._headerCount = 0
        if self.transport is not None and not self.transport.disconnecting:
            self._armDeadline()

    def upgraded(self) -> None:
        """The socket now belongs to a WebSocket connection."""
        self._cancelDeadline()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._cancelDeadline()
        super().connectionLost(reason)


def _dropped(data: bytes) -> None:
    """Bytes after a refusal are dropped unparsed."""


class BodylessUpgrades(http.Request):
    """A request class that refuses a body on requests for :attr:`upgradeResource`.

    The check runs in ``gotLength``, when the request's head has ended and before
    twisted.web makes the body's store (memory or a temporary file, its ``content``) or
    reads a byte of it; a refused request gets its answer at once
    (:func:`refuseAtHeaders`) and ``content`` is never made. Combined with a site's own
    request class by :func:`guardSharedSite`; :class:`UpgradeRequestWithLimits` is the
    listener's own.
    """

    #: The resource whose requests are checked; set on each per-site subclass.
    upgradeResource: UpgradeResource

    def gotLength(self, length: int | None) -> None:
        # Until the request is complete, twisted.web keeps the request target on the channel.
        target = getattr(self.channel, "_path", b"")
        resource = self.upgradeResource
        reject = resource.bodyRefusal(target, self.requestHeaders)
        if reject is not None:
            noteRefusal(resource, reject.status, self.getClientAddress(),
                        target.split(b"?", 1)[0].decode("utf-8", "replace"))
            # No "100 Continue" after the refusal (HTTPChannel answers Expect next).
            self.requestHeaders.removeHeader(b"expect")
            refuseAtHeaders(self.channel, reject)
            return
        super().gotLength(length)


class UpgradeRequestWithLimits(BodylessUpgrades, server.Request):
    """The listener's own request class: every request it serves is refused a body, with
    413 when ``Content-Length`` is over ``maxEntityBodySize`` and 400 otherwise."""


def guardSharedSite(site: server.Site, resource: UpgradeResource) -> None:
    """Make ``site``'s requests refuse a body on the upgrade paths ``resource`` serves.

    ``site.requestFactory`` becomes a subclass of it and :class:`BodylessUpgrades`; a
    factory that is not a class is left as it is (the upgrade then refuses the body at
    ``render``, after twisted.web has read it).
    """
    factory = site.requestFactory
    if isinstance(factory, type) and issubclass(factory, http.Request):
        site.requestFactory = cast("type[server.Request]", type(
            factory.__name__, (BodylessUpgrades, factory), {"upgradeResource": resource}))


class UpgradeSite(server.Site):
    """The Site a listener builds for its own port."""

    displayTracebacks = False

    def __init__(self, resource: UpgradeResource, config: ListenerConfiguration,
                 clock: IReactorTime) -> None:
        super().__init__(resource, reactor=clock)
        self.requestFactory = cast("type[server.Request]", type(
            "UpgradeRequestWithLimits", (UpgradeRequestWithLimits,),
            {"upgradeResource": resource}))
        # A channel class per site, carrying this listener's limits, deadline and clock.
        # HTTPFactory declares protocol as a function (_genericHTTPChannelProtocolFactory).
        self.protocol = type("UpgradeChannel", (UpgradeChannel,), {  # type: ignore[method-assign]
            "limits": config.requestLimits, "deadline": config.timeout, "clock": clock,
            "upgradeResource": resource})

    def log(self, request: http.Request) -> None:
        """No access log per upgrade: it would cost on the handshake path."""

