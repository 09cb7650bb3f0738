# -*- test-case-name: tests.integration.test_redisgroups -*-
"""``RedisBroker``: group broadcasts between processes and hosts over Redis pub/sub.

Each group is a Redis channel, ``bws:group:<name>`` (the prefix is configurable). A process
subscribes to the channel of a group when the group gets its first member in that process
and unsubscribes when the last one leaves; a broadcast is delivered to the process's own
members at once (by :class:`bws.Groups`) and published, tagged with the publishing
broker's id, for the others: each broker skips the messages it published itself, so no
member gets a message twice, and local delivery goes on while Redis is down.

The client is txredisapi (Twisted-native; the only module that imports it), with its own
reconnection: backoff from one second up to ``maxDelay``. When the subscribing connection
is lost the broker logs one line; when it is back it subscribes again to the channel of
every group that has members here and logs ``group broker reconnected; resubscribed to N
groups``. Messages published while Redis is down are not queued: pub/sub delivers at
most once (a member that must not miss anything fetches the state again when it joins).
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import unquote, urlsplit

import attrs
from twisted.application import service
from twisted.internet.defer import Deferred, gatherResults, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from bws._groups import Deliver
from bws.errors import ConfigurationError

__all__ = ["RedisBroker", "RedisAddress", "parseRedisUrl", "CHANNEL_PREFIX"]

#: The channel of group ``name`` is ``CHANNEL_PREFIX + name``.
CHANNEL_PREFIX = "bws:group:"
#: What every message published starts with (then the publisher's id, the kind, the data).
_MAGIC = b"bws\x01"
_ID_SIZE = 8
_TEXT, _BINARY = b"t", b"b"
_HEAD = len(_MAGIC) + _ID_SIZE + 1


@attrs.frozen
class RedisAddress:
    """Where a Redis server is, from a ``redis://[[user]:password@]host[:port][/db]`` URL."""

    host: str
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = attrs.field(default=None, repr=False)

    def __str__(self) -> str:
        """The URL without its password (for log lines)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"redis://{host}:{self.port}/{self.db}"


def checkInstalled() -> None:
    """Check that txredisapi (the ``redis`` extra) can be imported, before anything starts.

    :raise ValueError: saying what to install.
    """
    try:
        import txredisapi  # noqa: F401
    except ImportError:
        raise ValueError("needs txredisapi, which is not installed: "
                         "pip install 'txbws[redis]'") from None


def parseRedisUrl(url: str) -> RedisAddress:
    """Read a ``redis://`` URL.

    :raise ValueError: naming what is wrong (scheme, host, port, db number, query).
    """
    if not isinstance(url, str):
        raise ValueError(f"expected a redis:// URL, got {url!r}")
    parts = urlsplit(url)
    if parts.scheme != "redis":
        raise ValueError(f"expected a redis://host[:port][/db] URL, got {url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"a redis:// URL takes no query or fragment, got {url!r}")
    try:
        port = parts.port or 6379
    except ValueError:
        raise ValueError(f"the port of {url!r} is not a number 0..65535") from None
    if not parts.hostname:
        raise ValueError(f"no host in {url!r}")
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise ValueError(f"the database of {url!r} must be a number, got {path!r}")
    return RedisAddress(parts.hostname, port, int(path or 0),
                        unquote(parts.username) if parts.username else None,
                        unquote(parts.password) if parts.password is not None else None)


class RedisBroker(service.Service):
    """A :class:`bws.Groups` broker over Redis pub/sub; a Twisted service: it connects
    when started and disconnects when stopped (``twistd bws --broker URL`` does both).

    ``Listener(9090, groups=bws.Groups(broker=RedisBroker("redis://127.0.0.1:6379/0")))``.

    Redis pub/sub channels belong to the server, not to a database: the ``/db`` of the
    URL does not separate deployments that share a Redis server; give them different
    ``channelPrefix`` values. Redis closes a subscriber that does not keep up with its
    ``client-output-buffer-limit pubsub`` (32 MB by default): the broker then reconnects
    as after any loss, and the messages in between are lost.

    :ivar address: the :class:`RedisAddress` of the URL.
    :ivar brokerId: 8 random bytes that tag the messages this broker publishes.
    :ivar dropped: broadcasts not published because Redis was unreachable.
    """

    log = Logger()

    def __init__(self, url: str, *, channelPrefix: str = CHANNEL_PREFIX,
                 maxDelay: float = 10.0, reactor: Any = None) -> None:
        """
        :param url: ``redis://[[user]:password@]host[:port][/db]``.
        :param channelPrefix: the channels are this plus the group's name.
        :param maxDelay: longest wait between two reconnection attempts, decimal seconds.
        :raise bws.ConfigurationError: ``RedisBroker.url: ...`` for a URL it cannot use.
        """
        try:
            self.address = parseRedisUrl(url)
        except ValueError as e:
            raise ConfigurationError(f"RedisBroker.url: {e}") from None
        self.prefix = channelPrefix.encode("utf-8")
        self.maxDelay = maxDelay
        self._reactor = reactor
        self.brokerId = os.urandom(_ID_SIZE)
        self.dropped = 0
        self._deliver: Deliver | None = None
        #: The groups with members in this process: their channels are subscribed to.
        self._groups: set[str] = set()
        self._subscriber: Any = None
        self._publisher: Any = None
        self._subscriberFactory: Any = None
        self._publisherFactory: Any = None
        self._connectedBefore = False
        self._lost = False
        #: How many groups were subscribed to on the current subscriber connection (None
        #: until it is up and they are).
        self._resubscribed: int | None = None
        self._connectedWaiters: list[Deferred[None]] = []
        self._badMessages = 0

    # -- GroupBroker -------------------------------------------------------------------

    def attach(self, deliver: Deliver) -> None:
        """Deliver other processes' broadcasts through ``deliver``."""
        self._deliver = deliver

    def channel(self, group: str) -> bytes:
        """The Redis channel of ``group``."""
        return self.prefix + group.encode("utf-8")

    def subscribe(self, group: str) -> Deferred[None]:
        """Subscribe to ``group``'s channel; fires once Redis confirmed it (at once while
        disconnected: every group is subscribed to again on reconnection)."""
        self._groups.add(group)
        subscriber = self._subscriber
        if subscriber is None:
            return succeed(None)
        d = subscriber.subscribe([self.channel(group)])
        return d.addCallbacks(lambda _: None, self._commandFailed, errbackArgs=("SUBSCRIBE",))

    def unsubscribe(self, group: str) -> None:
        """Unsubscribe from ``group``'s channel."""
        self._groups.discard(group)
        subscriber = self._subscriber
        if subscriber is not None:
            subscriber.unsubscribe([self.channel(group)]).addErrback(
                self._commandFailed, "UNSUBSCRIBE")

    def publish(self, group: str, payload: bytes, isBinary: bool) -> None:
        """Publish a broadcast for the other processes (dropped, and counted in
        :attr:`dropped`, while Redis is unreachable)."""
        publisher = self._publisher
        if publisher is None:
            self.dropped += 1
            return
        message = b"".join((_MAGIC, self.brokerId, _BINARY if isBinary else _TEXT, payload))
        publisher.publish(self.channel(group), message).addErrback(
            self._publishFailed)

    def _commandFailed(self, failure: Failure, command: str) -> None:
        self.log.info("group broker: {command} failed: {error}", command=command,
                      error=failure.getErrorMessage())

    def _publishFailed(self, failure: Failure) -> None:
        self.dropped += 1

    # -- what arrives -----------------------------------------------------------------

    def messageReceived(self, channel: bytes, message: bytes) -> None:
        """A message on a subscribed channel: deliver it unless this broker sent it."""
        if not message.startswith(_MAGIC) or len(message) < _HEAD or \
                not channel.startswith(self.prefix):
            self._badMessage(channel)
            return
        if message[4:4 + _ID_SIZE] == self.brokerId:
            return  # ours: delivered locally already
        kind = message[_HEAD - 1:_HEAD]
        payload = message[_HEAD:]
        try:
            group = channel[len(self.prefix):].decode("utf-8")
            if kind == _TEXT:
                payload.decode("utf-8")  # a text frame must carry UTF-8 (RFC 6455 §5.6)
            elif kind != _BINARY:
                raise ValueError(kind)
        except ValueError:
            self._badMessage(channel)
            return
        if self._deliver is not None:
            self._deliver(group, payload, kind == _BINARY)

    def _badMessage(self, channel: bytes) -> None:
        self._badMessages += 1
        if self._badMessages == 1:
            self.log.warn("group broker: ignoring a message on {channel} that no bws "
                          "broker published (later ones are ignored silently)",
                          channel=channel.decode("utf-8", "replace"))

    # -- connections ------------------------------------------------------------------

    def startService(self) -> None:
        """Connect to Redis (two connections: one subscribes, one publishes)."""
        super().startService()
        import txredisapi
        from twisted.internet.endpoints import HostnameEndpoint

        reactor = self._reactor
        if reactor is None:
            from twisted.internet import reactor as globalReactor

            reactor = globalReactor
        address = self.address
        broker = self

        class Subscriber(txredisapi.SubscriberProtocol):
            def messageReceived(self, pattern: Any, channel: bytes, message: bytes) -> None:
                broker.messageReceived(channel, message)

        class SubscriberFactory(txredisapi.SubscriberFactory):
            protocol = Subscriber

            def addConnection(self, conn: Any) -> None:
                super().addConnection(conn)
                if conn in self.pool:
                    broker._subscriberReady(conn)

            def delConnection(self, conn: Any) -> None:
                super().delConnection(conn)
                broker._subscriberLost(conn)

        class PublisherFactory(txredisapi.RedisFactory):
            def addConnection(self, conn: Any) -> None:
                super().addConnection(conn)
                if conn in self.pool:
                    broker._publisher = conn
                    broker._maybeConnected()

            def delConnection(self, conn: Any) -> None:
                super().delConnection(conn)
                if broker._publisher is conn:
                    broker._publisher = None
                    broker._connectionLost()

        subscriberFactory = SubscriberFactory(isLazy=True)
        publisherFactory = PublisherFactory(str(address), address.db, 1, isLazy=True,
                                            charset=None, password=address.password,
                                            username=address.username, convertNumbers=False)
        # Messages are bytes, as published: not decoded, never taken for numbers.
        subscriberFactory.charset = None
        subscriberFactory.convertNumbers = False
        subscriberFactory.password = address.password
        subscriberFactory.username = address.username
        for factory in (subscriberFactory, publisherFactory):
            factory.maxDelay = self.maxDelay
            factory.startConnecting(HostnameEndpoint(reactor, address.host, address.port))
        self._subscriberFactory = subscriberFactory
        self._publisherFactory = publisherFactory

    def _subscriberReady(self, conn: Any) -> None:
        self._subscriber = conn
        self._resubscribed = None
        groups = sorted(self._groups)
        subscribed = gatherResults(
            [conn.subscribe([self.channel(group)]) for group in groups], consumeErrors=True)

        def done(_: Any) -> None:
            if self._subscriber is conn:
                self._resubscribed = len(groups)
                self._maybeConnected()

        subscribed.addCallbacks(done, self._commandFailed, errbackArgs=("SUBSCRIBE",))

    def _maybeConnected(self) -> None:
        """Both connections are up and the groups subscribed to: say so, once."""
        if self._publisher is None or self._resubscribed is None or not self.running:
            return
        if not self._connectedBefore:
            self._connectedBefore = True
            self.log.info("group broker connected to {address}", address=self.address)
        elif self._lost:
            self.log.info("group broker reconnected; resubscribed to {count} groups",
                          count=self._resubscribed)
        self._lost = False
        waiters, self._connectedWaiters = self._connectedWaiters, []
        for d in waiters:
            d.callback(None)

    def whenConnected(self) -> Deferred[None]:
        """Fires once both connections to Redis are up and every group with members here
        is subscribed to (at once if they are now)."""
        if self._publisher is not None and self._resubscribed is not None:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._connectedWaiters.append(d)
        return d

    def _subscriberLost(self, conn: Any) -> None:
        if self._subscriber is conn:
            self._subscriber = None
            self._resubscribed = None
        self._connectionLost()

    def _connectionLost(self) -> None:
        """One of the connections is gone: say so, once until both are back."""
        if self.running and self._connectedBefore and not self._lost:
            self._lost = True
            self.log.info("group broker lost its connection to {address}; local delivery "
                          "goes on, reconnecting with backoff (up to {delay} s)",
                          address=self.address, delay=self.maxDelay)

    def stopService(self) -> Deferred[None]:
        """Disconnect; fires once both connections are closed."""
        super().stopService()
        factories = [f for f in (self._subscriberFactory, self._publisherFactory)
                     if f is not None]
        self._subscriberFactory = self._publisherFactory = None
        self._subscriber = self._publisher = None
        d = gatherResults([f.disconnect() for f in factories], consumeErrors=True)
        return d.addCallback(lambda _: None)
