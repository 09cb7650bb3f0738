# -*- test-case-name: tests.server.test_stats -*-
"""What a listener counts for metrics: handshakes by status, messages and bytes, closes.

Nothing here runs unless metrics are on (:meth:`bws.Listener.enableStats`): a listener
without them builds plain :class:`~bws._connection.Connection` and
:class:`~bws.server._serving.ServiceRunner` objects and counts nothing. With them, its
connections are the counting subclasses below, whose counters are plain ``int``
attributes: a message costs two ``+=`` on the path that already handles it, and no
metrics library is called per message. A connection's counters are added to the
listener's totals when its TCP connection ends; a scrape (:meth:`ListenerStats.snapshot`)
sums the totals and the counters of the connections still open.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs
from twisted.internet.interfaces import IReactorTime

from bws._connection import Connection, closeOutcome
from bws.config import WSServiceConfig
from bws.request import UpgradeRequest
from bws.server._serving import ServiceRunner

if TYPE_CHECKING:
    from bws._groups import Groups

__all__ = ["ListenerStats", "Snapshot", "CountingConnection", "CountingRunner", "TRAFFIC"]

#: The traffic counters, in the order of :attr:`Snapshot.traffic`: messages and payload
#: bytes (after inflating, before deflating) by direction and type.
TRAFFIC = ("textIn", "binaryIn", "textBytesIn", "binaryBytesIn",
           "textOut", "binaryOut", "textBytesOut", "binaryBytesOut")


class CountingConnection(Connection):
    """A :class:`~bws._connection.Connection` that counts the messages it sends."""

    __slots__ = ("textOut", "binaryOut", "textBytesOut", "binaryBytesOut")

    def __init__(self, clock: IReactorTime, maxFrameSize: int, closureTimeout: float) -> None:
        super().__init__(clock, maxFrameSize, closureTimeout)
        self.textOut = self.binaryOut = self.textBytesOut = self.binaryBytesOut = 0

    def sendPayload(self, payload: bytes, isBinary: bool) -> None:
        """Count the message (one, and its payload's bytes), then send it."""
        if isBinary:
            self.binaryOut += 1
            self.binaryBytesOut += len(payload)
        else:
            self.textOut += 1
            self.textBytesOut += len(payload)
        Connection.sendPayload(self, payload, isBinary)


class CountingRunner(ServiceRunner):
    """A :class:`~bws.server._serving.ServiceRunner` that counts the messages it receives
    and adds its connection's counters to ``stats`` when the connection ends."""

    __slots__ = ("textIn", "binaryIn", "textBytesIn", "binaryBytesIn", "stats")

    def __init__(self, service: Any, config: WSServiceConfig, connection: CountingConnection,
                 request: UpgradeRequest, clock: IReactorTime, stats: ListenerStats,
                 groups: Groups | None = None) -> None:
        super().__init__(service, config, connection, request, clock, groups)
        self.textIn = self.binaryIn = self.textBytesIn = self.binaryBytesIn = 0
        self.stats = stats

    def messageReceived(self, payload: bytes, isBinary: bool, text: str | None = None) -> None:
        """Count the message (one, and its payload's bytes), then deliver it as
        :meth:`ServiceRunner.messageReceived` does (its body, inlined: calling it would
        cost more than the counting)."""
        if isBinary:
            self.binaryIn += 1
            self.binaryBytesIn += len(payload)
        else:
            self.textIn += 1
            self.textBytesIn += len(payload)
        try:
            self._deliver(payload, isBinary, text)
        except Exception:
            self.log.failure("Dispatch failed on connection {id}",
                             id=self.connection.connectionId)
            self.unexpectedCondition()

    def connectionLost(self, abnormal: bool) -> None:
        super().connectionLost(abnormal)
        self.stats.connectionEnded(self)

    def traffic(self) -> tuple[int, ...]:
        """This connection's counters, in :data:`TRAFFIC` order."""
        out: Any = self.connection
        return (self.textIn, self.binaryIn, self.textBytesIn, self.binaryBytesIn,
                out.textOut, out.binaryOut, out.textBytesOut, out.binaryBytesOut)


@attrs.frozen
class Snapshot:
    """What a listener counted, at one moment.

    :ivar open: WebSocket connections accepted (101 sent) whose TCP connection lasts.
    :ivar handshakes: upgrade requests answered, by HTTP status (101 accepted; 400, 401,
        403, 404, 413, 414, 426, 431, 500, 503... refused).
    :ivar closes: connections ended, by the code of the close that began their closing
        handshake (1006: none did).
    :ivar traffic: counts in :data:`TRAFFIC` order.
    """

    open: int
    handshakes: dict[int, int]
    closes: dict[int, int]
    traffic: tuple[int, ...]


class ListenerStats:
    """A listener's counters: handshakes, closes, and the traffic of ended connections."""

    def __init__(self) -> None:
        self.handshakes: dict[int, int] = {}
        self.closes: dict[int, int] = {}
        #: The traffic of connections that ended, in :data:`TRAFFIC` order.
        self.endedTraffic: list[int] = [0] * len(TRAFFIC)

    def handshake(self, status: int) -> None:
        """An upgrade request was answered with ``status``."""
        self.handshakes[status] = self.handshakes.get(status, 0) + 1

    def connectionEnded(self, runner: CountingRunner) -> None:
        """``runner``'s connection ended (TCP gone): keep its code and its counters."""
        code = closeOutcome(runner.connection)[0]
        self.closes[code] = self.closes.get(code, 0) + 1
        ended = self.endedTraffic
        for i, n in enumerate(runner.traffic()):
            ended[i] += n

    def snapshot(self, connections: Iterable[Connection]) -> Snapshot:
        """The counts now; ``connections``: the listener's open ones (their counters are
        added to those of the connections that ended)."""
        traffic = list(self.endedTraffic)
        count = 0
        for connection in connections:
            count += 1
            runner = connection.handler
            if isinstance(runner, CountingRunner):
                for i, n in enumerate(runner.traffic()):
                    traffic[i] += n
        return Snapshot(count, dict(self.handshakes), dict(self.closes), tuple(traffic))
