# -*- test-case-name: tests.test_server -*-
"""``Listener``: a port (or a shared ``Site``) with upgrade services attached (spec §2)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from twisted.application import service
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.interfaces import (
    IListeningPort,
    IProtocolFactory,
    IReactorTime,
    IStreamServerEndpoint,
)
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.server import Site
from typing_extensions import Unpack

from bws._groups import Groups
from bws.config import (
    ConfigurationError,
    ListenerConfiguration,
    ListenerConfigurationFields,
    build,
    serviceConfigOf,
)
from bws.server._routing import Attachment, Router
from bws.server._stats import ListenerStats, Snapshot
from bws.server._web import UpgradeResource, UpgradeSite, guardSharedSite

if TYPE_CHECKING:
    from bws.auth._stores import CheckerCache

__all__ = ["Listener"]

#: The configuration fields a listener sharing a ``Site`` takes: how it reads the client's
#: address behind proxies (the others belong to the Site's own port).
SHARED_SITE_FIELDS = frozenset({"trustedProxies", "forwardedHeader"})


class Listener(service.Service):
    """Serves attached upgrade services on a port, an endpoint, or a shared ``Site``.

    ``Listener(9090, host="127.0.0.1", timeout=30)``; ``Listener("tcp:9090")``; any
    ``IStreamServerEndpoint`` (``Listener(AdoptedStreamServerEndpoint(reactor, fd,
    AF_INET))``: a socket bound elsewhere, as ``--workers`` children adopt theirs; with a
    ``secureSocket`` the TLS wrapping is bws's, as for a port); ``Listener(site)`` adds
    WebSocket paths to an existing twisted.web ``Site`` whose
    other resources keep answering (of the configuration, it takes ``trustedProxies`` and
    ``forwardedHeader`` only). Configuration fields are those of
    :class:`bws.ListenerConfiguration`; a wrong one fails here, naming the field.

    :ivar groups: the :class:`bws.Groups` its services' callers reach as
        ``caller.groups``: the one given as ``groups=`` (listeners that share one share
        their groups; one with a broker reaches other processes), else its own.
    """

    log = Logger()

    def __init__(self, listener: int | str | Site | IStreamServerEndpoint, *,
                 reactor: Any = None, clock: IReactorTime | None = None,
                 groups: Groups | None = None,
                 **config: Unpack[ListenerConfigurationFields]) -> None:
        if reactor is None:
            from twisted.internet import reactor as globalReactor

            reactor = globalReactor
        self.reactor = reactor
        #: Time for deadlines, idle and close timeouts (tests pass a ``Clock``).
        self.clock: IReactorTime = clock if clock is not None else reactor
        self.portNumber: int | None = None
        self.endpointDescription: str | None = None
        #: The endpoint given as an object (None for a port, a string or a Site).
        self.endpoint: IStreamServerEndpoint | None = None
        self.sharedSite: Site | None = None
        if IStreamServerEndpoint.providedBy(listener):
            self.endpoint = listener
        elif isinstance(listener, Site):
            portFields = sorted(set(config) - SHARED_SITE_FIELDS)
            if portFields:
                raise ConfigurationError(
                    "Listener: configuration cannot be given with a shared Site "
                    f"(got {', '.join(portFields)}); configure the Site's own port")
            self.sharedSite = listener
        elif isinstance(listener, bool) or not isinstance(listener, (int, str)):
            raise ConfigurationError(
                "Listener: expected a port, an endpoint string, an IStreamServerEndpoint or "
                f"a Site, got {listener!r}")
        elif isinstance(listener, int):
            if not 0 <= listener <= 65535:
                raise ConfigurationError(f"Listener.port: must be 0..65535, got {listener}")
            self.portNumber = listener
        else:
            self.endpointDescription = listener
        self.config: ListenerConfiguration = build(ListenerConfiguration, config)
        self.router = Router()
        self.groups = groups if groups is not None else Groups()
        fallback = self.sharedSite.resource if self.sharedSite is not None else None
        self.resource = UpgradeResource(self.router, self.config, self.clock, fallback)
        self.resource.groups = self.groups
        if self.sharedSite is not None:
            self.sharedSite.resource = self.resource
            guardSharedSite(self.sharedSite, self.resource)
            self.site: Site = self.sharedSite
        else:
            self.site = UpgradeSite(self.resource, self.config, self.clock)
        #: The auth checkers built for attached services, one per record (made with the
        #: first service that has auth: the auth machinery loads then).
        self.checkers: CheckerCache | None = None
        self.port: IListeningPort | None = None
        self._stopping: Deferred[None] | None = None

    # -- services -------------------------------------------------------------

    def attach(self, upgradeService: Any, path: str | list[str] | None = "/") -> None:
        """Serve ``upgradeService`` at ``path``: ``"/chat"``, ``["chat", "v1"]``, a template
        (``"/rooms/{room}"``), or ``"*"`` for every path no other service claims.

        The checkers of the service's ``auth`` entries are built here: a user file, key or
        certificate that cannot be read raises :class:`bws.ConfigurationError` naming
        ``WSServiceConfig.auth[i]`` and the file.
        """
        if not callable(getattr(upgradeService, "get", None)):
            raise ConfigurationError(
                f"attach: {upgradeService!r} is not an upgrade service (it has no get())")
        config = serviceConfigOf(upgradeService)
        # Stores are read now (a missing user file fails here, not at the first request).
        entries: tuple[Any, ...] = ()
        if config.auth:
            from bws.auth._stores import CheckerCache, buildEntries

            if self.checkers is None:
                self.checkers = CheckerCache()
            entries = buildEntries(config.auth, self.reactor, self.checkers)
        from bws._autobahn import serverFactory  # Autobahn loads with the first service

        factory = serverFactory(config, self.config, self.clock)
        attachment = Attachment(upgradeService, path, config)
        self.router.add(attachment)
        self.resource.factories[attachment] = factory
        if entries:
            self.resource.authEntries[attachment] = entries

    def _closeCheckers(self) -> Deferred[None]:
        """Close the auth checkers built for the services (if any was)."""
        return self.checkers.close() if self.checkers is not None else succeed(None)

    def detach(self, upgradeService: Any) -> None:
        """Stop serving ``upgradeService``; open connections are left alone."""
        attachment = self.router.remove(upgradeService)
        del self.resource.factories[attachment]
        self.resource.authEntries.pop(attachment, None)

    # -- metrics --------------------------------------------------------------

    def enableStats(self) -> ListenerStats:
        """Count what metrics report (:doc:`observability`, ``bws.metrics``) from now on:
        handshakes by status, messages and payload bytes by direction and type, closes by
        code. Off by default, and then nothing is counted; on, a message costs two integer
        additions and no metrics library call. Connections accepted before are not counted.
        Calling it again returns the same counters."""
        if self.resource.stats is None:
            self.resource.stats = ListenerStats()
        return self.resource.stats

    def stats(self) -> Snapshot | None:
        """What was counted so far (with the open connections' counts), or None when
        :meth:`enableStats` was not called."""
        stats = self.resource.stats
        if stats is None:
            return None
        return stats.snapshot(self.resource.connections)

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> Deferred[None]:
        """Start listening; the Deferred fires once the port is open (see :attr:`port`)."""
        if self.sharedSite is not None or self.port is not None:
            self.resource.accepting = True
            return succeed(None)
        factory: IProtocolFactory = self.site
        secure = self.config.secureSocket
        if secure is not None:
            from bws.tls._contexts import listenerTLSFactory

            factory = listenerTLSFactory(secure, self.site, self.reactor)
        endpoint: IStreamServerEndpoint
        if self.endpoint is not None:
            endpoint = self.endpoint
        elif self.endpointDescription is not None:
            from twisted.internet.endpoints import serverFromString  # loads the TLS stack

            endpoint = serverFromString(self.reactor, self.endpointDescription)
        else:
            host = self.config.host
            from twisted.internet.endpoints import TCP4ServerEndpoint, TCP6ServerEndpoint

            endpointType = TCP6ServerEndpoint if ":" in host else TCP4ServerEndpoint
            endpoint = endpointType(self.reactor, self.portNumber, backlog=100, interface=host)
        def listening(port: IListeningPort) -> None:
            self.port = port
            self.resource.accepting = True

        return endpoint.listen(factory).addCallback(listening)

    @property
    def listeningPort(self) -> int | None:
        """The port number actually bound (useful with port 0)."""
        if self.port is None:
            return None
        # A TCP port (endpoint strings name TCP ports); IListeningPort.getHost says IAddress.
        return cast("IPv4Address | IPv6Address", self.port.getHost()).port

    def gracefulStop(self) -> Deferred[None]:
        """Refuse new connections, close open ones with 1001, fire when all are gone and
        the auth checkers built for the services' records are closed (those that have a
        ``close()``: the LDAP store's pooled connection; checkers you built are yours)."""
        self.resource.accepting = False
        closing = []
        for connection in list(self.resource.connections):
            closing.append(connection.whenLost())
            if connection.writeRefusal("text") is None:
                connection.close(1001, None, None).addErrback(lambda f: None)
        closing.append(self._stopListening())
        return DeferredList(closing).addCallback(lambda _: self._closeCheckers())

    def immediateStop(self) -> Deferred[None]:
        """Refuse new connections and drop open ones without a close handshake; fire once
        the port is closed and the auth checkers too (see :meth:`gracefulStop`)."""
        self.resource.accepting = False
        for connection in list(self.resource.connections):
            connection.abort()
        return self._stopListening().addCallback(lambda _: self._closeCheckers())

    def _stopListening(self) -> Deferred[None]:
        port, self.port = self.port, None
        if port is None:
            return succeed(None)
        return port.stopListening() or succeed(None)

    def startService(self) -> None:
        super().startService()
        self.start().addErrback(self._startFailed)

    def _startFailed(self, failure: Failure) -> None:
        self.log.failure("bws listener could not start", failure)
        if self.reactor.running:
            self.reactor.stop()

    def stopService(self) -> Deferred[None]:
        super().stopService()
        return self.gracefulStop()
