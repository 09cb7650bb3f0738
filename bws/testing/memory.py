# -*- test-case-name: tests.test_testing -*-
"""Test bws services in memory: a ``bws.Client`` talks to an upgrade service, no sockets.

Bytes move when you say so (``flush``) and time moves when you say so (``advance``), so a
``SynchronousTestCase`` can open a connection, send, read, wait out timeouts and close::

    from twisted.trial.unittest import SynchronousTestCase
    import bws.testing

    class EchoTests(SynchronousTestCase):
        def test_echo(self) -> None:
            conn = bws.testing.connect(MyUpgradeService(), "/chat")
            conn.client.writeTextMessage("hi")
            conn.flush()
            self.assertEqual(self.successResultOf(conn.client.readTextMessage()), "hi")

The server side is a real :class:`bws.Listener` (routing, handshake, dispatch) whose
``Site`` is connected to the client with :mod:`twisted.test.iosim`; both run on one
:class:`~twisted.internet.testing.MemoryReactorClock`.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IProtocol, IProtocolFactory
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from twisted.test.iosim import FakeTransport, IOPump
from twisted.test.iosim import connect as iosimConnect
from typing_extensions import Unpack

from bws.client import Client
from bws.config import ClientConfigurationFields, ListenerConfigurationFields
from bws.server import Listener

__all__ = ["MemoryListener", "MemoryConnection", "connect"]


class MemoryListener:
    """A :class:`bws.Listener` reached in memory: attach services, connect clients.

    :ivar clock: the ``MemoryReactorClock`` both sides use for time.
    :ivar listener: the real ``bws.Listener`` (never bound to a port).
    """

    #: The address clients connect from (their ports count up from 40000); set it to test
    #: what a service sees behind a proxy (``trustedProxies``), e.g. ``"10.0.0.2"`` or
    #: ``"::1"``.
    peerHost: str = "127.0.0.1"

    def __init__(self, clock: MemoryReactorClock | None = None,
                 **listenerConfig: Unpack[ListenerConfigurationFields]) -> None:
        self.clock = clock if clock is not None else MemoryReactorClock()
        listenerConfig.setdefault("host", "127.0.0.1")
        self.listener = Listener(0, reactor=self.clock, **listenerConfig)
        self.listener.resource.accepting = True
        self.pumps: list[IOPump] = []
        self._ports = iter(range(40000, 65000))

    def attach(self, upgradeService: Any, path: str | list[str] | None = "/") -> None:
        """Serve ``upgradeService`` at ``path``, as ``Listener.attach`` does."""
        self.listener.attach(upgradeService, path)

    def _connector(self, factory: IProtocolFactory) -> Deferred[IProtocol | None]:
        port = next(self._ports)
        clientAddress: IPv4Address | IPv6Address = (
            IPv6Address("TCP", self.peerHost, port) if ":" in self.peerHost
            else IPv4Address("TCP", self.peerHost, port))
        serverAddress = IPv4Address("TCP", "127.0.0.1", 9090)
        clientProto = factory.buildProtocol(serverAddress)
        serverProto = self.listener.site.buildProtocol(clientAddress)
        serverTransport = FakeTransport(serverProto, True, serverAddress, clientAddress)
        clientTransport = FakeTransport(clientProto, False, clientAddress, serverAddress)
        pump = iosimConnect(serverProto, serverTransport, clientProto, clientTransport,
                            greet=False, clock=self.clock)
        self.pumps.append(pump)
        return succeed(clientProto)

    def connect(self, path: str = "/",
                **clientConfig: Unpack[ClientConfigurationFields]) -> Deferred[Client]:
        """Start a client to ``path``; the Deferred fires once bytes are flushed."""
        url = "ws://127.0.0.1:9090" + (path if path.startswith("/") else "/" + path)
        d = Client.connect(url, reactor=self.clock, connector=self._connector,
                           **clientConfig)
        self.flush()
        return d

    def flush(self) -> bool:
        """Move bytes both ways until nothing moves; whether anything did."""
        moved = False
        again = True
        while again:
            again = False
            for pump in list(self.pumps):
                if pump.flush():
                    moved = again = True
        return moved

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass, moving bytes before and after."""
        self.flush()
        self.clock.advance(seconds)
        self.flush()


class MemoryConnection:
    """A connected :class:`bws.Client` and the :class:`MemoryListener` it talks to."""

    def __init__(self, listener: MemoryListener, client: Client) -> None:
        self.listener = listener
        self.client = client
        self.clock = listener.clock

    def flush(self) -> bool:
        """Move bytes both ways until nothing moves."""
        return self.listener.flush()

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass (idle timeouts, close timeouts), moving bytes around it."""
        self.listener.advance(seconds)


def connect(upgradeService: Any, path: str = "/", *, clock: MemoryReactorClock | None = None,
            listenerConfig: ListenerConfigurationFields | None = None,
            **clientConfig: Unpack[ClientConfigurationFields]) -> MemoryConnection:
    """Attach ``upgradeService`` at ``path`` on a new :class:`MemoryListener` and connect
    a client to it, synchronously.

    :param clientConfig: :class:`bws.ClientConfiguration` fields.
    :raise bws.Error: the handshake failed (for instance ``InvalidHandshakeError`` when
        ``get`` refused the upgrade).
    """
    listener = MemoryListener(clock, **(listenerConfig or {}))
    listener.attach(upgradeService, path)
    d = listener.connect(path, **clientConfig)
    results: list[Client | Failure] = []
    d.addBoth(results.append)
    if not results:
        raise AssertionError("the handshake did not complete in memory")
    result = results[0]
    if isinstance(result, Failure):
        result.raiseException()
    return MemoryConnection(listener, result)
