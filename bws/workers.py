# -*- test-case-name: tests.test_workers -*-
"""``twistd bws --workers N``: the listeners bound once, N processes serving them.

The parent binds every listener as a single process would (so a taken port fails the same
way), never accepts on them itself, and starts N children (``python -m bws._worker``), each
given the listening sockets as file descriptors 3, 4, ... (``childFDs``). A child parses
the parent's own arguments, builds the same services, TLS contexts and auth checkers, and
adopts the sockets (``AdoptedStreamServerEndpoint``); the kernel hands each new connection
to one of them. The parent supervises them in the manner of ``twisted.runner.procmon``
(restart with a doubling delay after a quick death, a crash loop stops restarting) and on
``stopService`` (SIGTERM under twistd) closes its copy of the sockets, sends SIGTERM to
every child (each one's ``Listener.gracefulStop`` closes its connections with 1001) and
waits for them.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs
from twisted.application import service
from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.error import ProcessExitedAlready
from twisted.internet.interfaces import IDelayedCall, IProcessTransport
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from bws.config import serviceConfigOf
from bws.errors import ConfigurationError

if TYPE_CHECKING:
    from bws.configfile import ServerConfig
    from bws.tap import BwsService

__all__ = [
    "CHILD_MODULE",
    "RestartPolicy",
    "Restarts",
    "WorkersService",
    "checkShareable",
    "parseWorkers",
    "stopTimeoutFor",
]

#: What a child runs: ``python -m bws._worker --fds 3,4 -- ARGS``.
CHILD_MODULE = "bws._worker"

#: The child's file descriptor of the first shared socket (0, 1, 2 are its stdio).
FIRST_FD = 3

#: Seconds the parent waits for a child beyond its services' ``connectionClosureTimeout``.
STOP_MARGIN = 10.0


def parseWorkers(value: object, where: str) -> int:
    """``value`` as a number of worker processes: a positive integer up to
    :func:`maxWorkers`, or ``"auto"`` for ``os.cpu_count()``.

    :param where: what gave it, e.g. ``--workers`` or ``bws.toml:workers``.
    :raise ConfigurationError: naming ``where`` and the value.
    """
    if value == "auto":
        return os.cpu_count() or 1
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(
            f'{where}: must be a positive integer or "auto", got {value!r}')
    if value > maxWorkers():
        # A typo (99999) would otherwise fork until the machine stops answering.
        raise ConfigurationError(
            f"{where}: {value} is more than {maxWorkers()} (8 per core on this machine); "
            'use "auto" for one per core')
    return value


def maxWorkers() -> int:
    """The most worker processes ``--workers`` accepts: 8 per core (``os.cpu_count()``).
    More cannot serve faster, and a typo must not fork the machine to a halt."""
    return 8 * (os.cpu_count() or 1)


def checkShareable(server: ServerConfig, where: str) -> None:
    """Refuse, before anything is bound, a listener that workers cannot share:

    - an ``ssl:`` endpoint string: its TLS lives in the endpoint, which a worker adopting
      the bare socket would not have (give the certificate as ``--cert``/``--key`` or
      ``secureSocket``, with a ``tcp:`` endpoint);
    - a ``unix:`` endpoint string: Twisted's UNIX port removes the socket's file when it
      closes, so every process would, each but the first failing.

    Metrics are refused with workers too: each worker counts only its own connections and
    would try to bind the one metrics port (per-worker endpoints are not built yet).

    :raise SystemExit: one line naming ``where`` and the listener.
    """
    if server.metrics is not None:
        raise SystemExit(
            f"twistd bws: {where}: metrics ({server.metrics.label}) cannot be served with "
            "worker processes yet (each would bind the one metrics port); leave out one of them")
    for entry in server.listeners:
        if not isinstance(entry.address, str):
            continue
        kind = entry.address.partition(":")[0]
        if kind == "ssl":
            raise SystemExit(
                f"twistd bws: {where}: {entry.label} is an ssl: endpoint, which worker "
                "processes cannot share; give the certificate with --cert/--key (or the "
                "listener's secureSocket) and a tcp: endpoint")
        if kind == "unix":
            raise SystemExit(
                f"twistd bws: {where}: {entry.label} is a unix: endpoint, which worker "
                "processes cannot share yet (each would remove the socket file); use a "
                "tcp: endpoint")


def stopTimeoutFor(server: ServerConfig) -> float | None:
    """Seconds to wait for a child after SIGTERM before SIGKILL: the longest
    ``connectionClosureTimeout`` of the services plus :data:`STOP_MARGIN`; None (wait as
    long as it takes) when one of them waits forever (-1)."""
    timeouts = [serviceConfigOf(entry.upgradeService).connectionClosureTimeout
                for entry in server.services]
    if any(timeout < 0 for timeout in timeouts):
        return None
    return max(timeouts, default=0.0) + STOP_MARGIN


@attrs.frozen
class RestartPolicy:
    """When to restart a worker that exited, in ``twisted.runner.procmon``'s terms.

    :ivar threshold: seconds a worker must live for its exit not to count as quick
        (procmon's ``threshold``; larger than its 1 s because a worker imports Twisted,
        bws and the service before it serves).
    :ivar minRestartDelay: seconds before restarting after the first quick exit; each
        further quick exit in a row doubles it.
    :ivar maxRestartDelay: the most the delay grows to, in seconds.
    :ivar crashLoop: this many quick exits in a row and the worker is not restarted.
    """

    threshold: float = 30.0
    minRestartDelay: float = 0.2
    maxRestartDelay: float = 30.0
    crashLoop: int = 5


class Restarts:
    """One worker's restart bookkeeping: the delay and the quick exits in a row.

    Pure: times are given (``IReactorTime.seconds()``), decisions are returned.
    """

    def __init__(self, policy: RestartPolicy) -> None:
        self.policy = policy
        #: Seconds before the next restart after a quick exit.
        self.delay = policy.minRestartDelay
        #: Quick exits in a row (reset by a worker that lived past the threshold).
        self.quickExits = 0
        self.startedAt = 0.0

    def started(self, now: float) -> None:
        """A worker was started at ``now`` (seconds)."""
        self.startedAt = now

    def exited(self, now: float) -> float | None:
        """The worker exited at ``now``: seconds to wait before restarting it (0 after a
        worker that lived past the threshold, as procmon restarts at once), or None when
        this was quick exit number ``crashLoop`` in a row: do not restart."""
        if now - self.startedAt >= self.policy.threshold:
            self.quickExits = 0
            self.delay = self.policy.minRestartDelay
            return 0.0
        self.quickExits += 1
        if self.quickExits >= self.policy.crashLoop:
            return None
        delay, self.delay = self.delay, min(self.delay * 2, self.policy.maxRestartDelay)
        return delay


def exitAfterShutdown(status: int) -> None:
    """End the process with ``status`` once whoever runs the reactor returns: twistd has
    no exit status of its own (it exits 0 after the reactor stops), so this runs first
    among the ``atexit`` handlers, after twistd has removed its pid file."""

    def end() -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)

    atexit.register(end)


def describeExit(reason: Failure) -> str:
    """``exit status 0`` or ``killed by signal 9 (SIGKILL)``, from ``processEnded``'s
    reason (``ProcessDone`` or ``ProcessTerminated``)."""
    value = reason.value
    number = getattr(value, "signal", None)
    if number is not None:
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "?"
        return f"killed by signal {number} ({name})"
    return f"exit status {getattr(value, 'exitCode', None)}"


class _Worker(ProcessProtocol):
    """One child: its output relayed to the parent's log line by line, its end reported.

    :ivar ended: fires once the process has ended (stdio closed and reaped).
    """

    def __init__(self, supervisor: WorkersService, number: int) -> None:
        self.supervisor = supervisor
        self.number = number
        self.pid: int | None = None
        self.ended: Deferred[None] = Deferred()
        self._partial = {1: b"", 2: b""}

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        lines = (self._partial.get(childFD, b"") + data).split(b"\n")
        self._partial[childFD] = lines.pop()
        for line in lines:
            self.supervisor.relay(self, line)

    def processEnded(self, reason: Failure) -> None:
        for fd, rest in self._partial.items():
            if rest:
                self.supervisor.relay(self, rest)
            self._partial[fd] = b""
        self.supervisor.workerEnded(self, reason)
        self.ended.callback(None)


class _Slot:
    """A worker's place: its restarts, its running process, its pending restart."""

    def __init__(self, number: int, policy: RestartPolicy) -> None:
        self.number = number
        self.restarts = Restarts(policy)
        self.worker: _Worker | None = None
        self.process: IProcessTransport | None = None
        self.restart: IDelayedCall | None = None
        self.gaveUp = False


class WorkersService(service.Service):
    """Runs ``count`` worker processes sharing the bound listeners of ``served``.

    :param served: a bound, not started ``bws.tap.BwsService``: its listeners' ports are
        the sockets the workers adopt; this process never accepts on them.
    :param count: how many workers (>= 1).
    :param argv: the ``twistd bws`` arguments each worker parses to build the same
        services (``--workers`` in them is ignored by the workers).
    :param stopTimeout: seconds to wait for a worker after SIGTERM before SIGKILL; None
        waits as long as it takes.
    :param exit: called with 1 when the last worker is given up (the process must then end
        with that status; the default arranges it at interpreter exit).
    :param cwd: the workers' working directory (default: this one's, now).
    :param env: the workers' environment (default: a copy of this one's, now).
    """

    log = Logger()

    def __init__(self, served: BwsService, count: int, argv: Sequence[str], *,
                 reactor: Any = None, policy: RestartPolicy = RestartPolicy(),
                 stopTimeout: float | None = 70.0,
                 exit: Callable[[int], None] = exitAfterShutdown,
                 executable: str = sys.executable, cwd: str | None = None,
                 env: dict[str, str] | None = None) -> None:
        if reactor is None:
            from twisted.internet import reactor as globalReactor

            reactor = globalReactor
        self.reactor = reactor
        self.served = served
        self.argv = list(argv)
        self.policy = policy
        self.stopTimeout = stopTimeout
        self.exit = exit
        self.executable = executable
        self.cwd = os.getcwd() if cwd is None else cwd
        self.env = dict(os.environ) if env is None else env
        #: Set to 1 when the last worker was given up.
        self.exitStatus = 0
        self.slots = [_Slot(number, policy) for number in range(1, count + 1)]
        self.fds: list[int] = []
        for listener, where in served.listeners:
            port = listener.port
            fileno = getattr(port, "fileno", None)
            if port is None or fileno is None:
                raise SystemExit(f"twistd bws: --workers: {where} has no socket to share "
                                 "(it is not bound, or its endpoint is not a socket)")
            port.stopReading()  # type: ignore[attr-defined]  # only the workers accept
            self.fds.append(fileno())

    # -- lifecycle ------------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        for serviceName, url, path in self.served.served():
            self.log.info("bws: serving {service} at {url} (path {path})",
                          service=serviceName, url=url, path=path)
        self.log.info("bws: {count} worker {processes} the listeners",
                      count=len(self.slots), processes="process serves" if len(self.slots) == 1
                      else "processes share")
        for slot in self.slots:
            self.spawn(slot)

    def stopService(self) -> Deferred[None]:
        """Close this process's copy of the sockets, SIGTERM every worker, and fire once
        all have exited (SIGKILL after ``stopTimeout``)."""
        super().stopService()
        waits: list[Deferred[Any]] = []
        for listener, _ in self.served.listeners:
            waits.append(listener.immediateStop())
        running = [slot for slot in self.slots if slot.process is not None]
        for slot in self.slots:
            if slot.restart is not None and slot.restart.active():
                slot.restart.cancel()
            slot.restart = None
        if running:
            self.log.info("bws: stopping {count} workers (SIGTERM){wait}",
                          count=len(running), wait="" if self.stopTimeout is None
                          else f", SIGKILL after {self.stopTimeout:g} s")
        for slot in running:
            waits.append(self._terminate(slot))
        return DeferredList(waits).addCallback(self._stopped)

    def _stopped(self, result: object) -> None:
        """Every worker has exited: the drain asked for is complete, so the process exits
        0 instead of twistd's default of re-raising the signal that stopped it (status
        143 for SIGTERM), and a supervisor tells this orderly stop from a crash by the
        status alone."""
        if getattr(self.reactor, "_exitSignal", None) is not None:
            self.reactor._exitSignal = None

    def _terminate(self, slot: _Slot) -> Deferred[None]:
        process, worker = slot.process, slot.worker
        assert process is not None and worker is not None
        try:
            process.signalProcess("TERM")
        except ProcessExitedAlready:
            pass
        if self.stopTimeout is None:
            return worker.ended
        killer = self.reactor.callLater(self.stopTimeout, self._kill, slot, process)

        def stopKiller(result: None) -> None:
            if killer.active():
                killer.cancel()

        return worker.ended.addCallback(stopKiller)

    def _kill(self, slot: _Slot, process: IProcessTransport) -> None:
        self.log.warn("bws: worker {number} (pid {pid}) did not stop within {timeout:g} s; "
                      "SIGKILL", number=slot.number, pid=process.pid, timeout=self.stopTimeout)
        try:
            process.signalProcess("KILL")
        except ProcessExitedAlready:
            pass

    # -- workers --------------------------------------------------------------------

    def spawn(self, slot: _Slot) -> None:
        """Start the worker of ``slot``, giving it the shared sockets as fds 3, 4, ..."""
        slot.restart = None
        worker = _Worker(self, slot.number)
        childFDs: dict[int, int | str] = {0: "w", 1: "r", 2: "r"}
        for index, fd in enumerate(self.fds):
            childFDs[FIRST_FD + index] = fd
        fds = ",".join(str(FIRST_FD + index) for index in range(len(self.fds)))
        args = [self.executable, "-m", CHILD_MODULE, "--fds", fds, "--", *self.argv]
        slot.restarts.started(self.reactor.seconds())
        slot.worker = worker
        try:
            slot.process = self.reactor.spawnProcess(
                worker, self.executable, args, env=self.env, path=self.cwd, childFDs=childFDs)
        except OSError as e:
            slot.worker = None
            self.log.error("bws: worker {number} could not start: {error}",
                           number=slot.number, error=e)
            self._afterExit(slot)
            return
        worker.pid = slot.process.pid
        self.log.info("bws: worker {number} started (pid {pid})",
                      number=slot.number, pid=worker.pid)

    def relay(self, worker: _Worker, line: bytes) -> None:
        """One line a worker wrote, into this process's log."""
        text = line.decode("utf-8", "replace").rstrip("\r")
        self.log.info("[worker {number} pid {pid}] {line}", number=worker.number,
                      pid=worker.pid, line=text)

    def workerEnded(self, worker: _Worker, reason: Failure) -> None:
        """A worker's process ended: log it, then restart it, or give it up."""
        slot = self.slots[worker.number - 1]
        if slot.worker is not worker:
            return
        slot.worker = slot.process = None
        how = describeExit(reason)
        if not self.running:
            self.log.info("bws: worker {number} (pid {pid}) exited: {how}",
                          number=worker.number, pid=worker.pid, how=how)
            return
        self._afterExit(slot, worker, how)

    def _afterExit(self, slot: _Slot, worker: _Worker | None = None, how: str = "") -> None:
        delay = slot.restarts.exited(self.reactor.seconds())
        if worker is not None:
            then = ("not restarting it" if delay is None
                    else f"restarting it in {delay:g} s")
            self.log.info("bws: worker {number} (pid {pid}) exited: {how}; {then}",
                          number=worker.number, pid=worker.pid, how=how, then=then)
        if delay is not None:
            slot.restart = self.reactor.callLater(delay, self.spawn, slot)
            return
        slot.gaveUp = True
        self.log.error(
            "bws: worker {number} exited {count} times in a row within {threshold:g} s of "
            "starting: crash loop, not restarted", number=slot.number,
            count=slot.restarts.quickExits, threshold=self.policy.threshold)
        if all(s.gaveUp for s in self.slots):
            self.log.error("bws: no worker left; stopping with exit status 1")
            self.exitStatus = 1
            self.exit(1)
            self.reactor.stop()
