"""``bws.workers``: the restart policy, the ``--workers``/``workers`` values, and the
supervisor's decisions, in memory on a ``Clock`` (tests.integration.test_workers runs the
real processes)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessDone, ProcessExitedAlready, ProcessTerminated
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import globalLogPublisher
from twisted.python import usage
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from bws.config import ConfigurationError
from bws.tap import Options, makeService
from bws.workers import (
    CHILD_MODULE,
    RestartPolicy,
    Restarts,
    WorkersService,
    describeExit,
    maxWorkers,
    parseWorkers,
)


class RestartsTests(SynchronousTestCase):
    """procmon's shape: a quick exit doubles the delay, a long life resets it, and
    ``crashLoop`` quick exits in a row give up."""

    def test_quickExitsDouble(self) -> None:
        """Each quick exit waits twice as long as the one before, up to the maximum."""
        restarts = Restarts(RestartPolicy(threshold=10, minRestartDelay=1, maxRestartDelay=5,
                                          crashLoop=100))
        delays = []
        now = 0.0
        for _ in range(6):
            restarts.started(now)
            now += 2
            delays.append(restarts.exited(now))
        self.assertEqual(delays, [1, 2, 4, 5, 5, 5])

    def test_crashLoop(self) -> None:
        """The ``crashLoop``-th quick exit in a row: None, do not restart."""
        restarts = Restarts(RestartPolicy(threshold=10, minRestartDelay=0.5, crashLoop=3))
        restarts.started(0)
        self.assertEqual(restarts.exited(1), 0.5)
        restarts.started(1.5)
        self.assertEqual(restarts.exited(2), 1.0)
        restarts.started(3)
        self.assertIsNone(restarts.exited(12.9))
        self.assertEqual(restarts.quickExits, 3)

    def test_longLifeResets(self) -> None:
        """A worker that lived past the threshold is restarted at once, and the count
        of quick exits and the delay start over."""
        restarts = Restarts(RestartPolicy(threshold=10, minRestartDelay=0.5, crashLoop=3))
        restarts.started(0)
        self.assertEqual(restarts.exited(1), 0.5)
        restarts.started(2)
        self.assertEqual(restarts.exited(3), 1.0)
        restarts.started(4)
        self.assertEqual(restarts.exited(14), 0.0)
        self.assertEqual((restarts.quickExits, restarts.delay), (0, 0.5))
        restarts.started(14)
        self.assertEqual(restarts.exited(15), 0.5)
        restarts.started(16)
        self.assertEqual(restarts.exited(17), 1.0)


class ValueTests(SynchronousTestCase):
    """``--workers N|auto`` and ``workers = N|"auto"``."""

    def test_values(self) -> None:
        self.assertEqual(parseWorkers(3, "w"), 3)
        self.assertEqual(parseWorkers("auto", "w"), os.cpu_count() or 1)

    def test_refused(self) -> None:
        for value in (0, -1, True, 1.0, "3", None):
            error = self.assertRaises(ConfigurationError, parseWorkers, value, "f:workers")
            self.assertEqual(str(error),
                             f'f:workers: must be a positive integer or "auto", got {value!r}')

    def test_tooMany(self) -> None:
        """More than 8 workers per core is refused, naming the field and the limit: a typo
        such as 99999 must not fork the machine to a halt."""
        self.assertEqual(parseWorkers(maxWorkers(), "w"), maxWorkers())
        error = self.assertRaises(ConfigurationError, parseWorkers, 99999, "f:workers")
        self.assertEqual(str(error), f"f:workers: 99999 is more than {maxWorkers()} (8 per "
                         'core on this machine); use "auto" for one per core')

    def test_option(self) -> None:
        """The option: a number or auto; refused in one line naming --workers."""
        options = Options()
        options.parseOptions(["--workers", "2", "--port", "0"])
        self.assertEqual(options["workers"], 2)
        self.assertEqual(options.argv, ["--workers", "2", "--port", "0"])
        options = Options()
        options.parseOptions(["--workers=auto"])
        self.assertEqual(options["workers"], os.cpu_count() or 1)
        for value, shown in (("0", "0"), ("x", "'x'"), ("-3", "-3")):
            error = self.assertRaises(usage.UsageError, Options().parseOptions,
                                      ["--workers", value])
            self.assertEqual(str(error),
                             f'--workers: must be a positive integer or "auto", got {shown}')

    def test_notWithConfig(self) -> None:
        """--config says everything: --workers with it is refused (put it in the file)."""
        error = self.assertRaises(usage.UsageError, Options().parseOptions,
                                  ["--config", "bws.toml", "--workers", "2"])
        self.assertIn("cannot be combined with --workers", str(error))

    def test_notWithMetrics(self) -> None:
        """--metrics with --workers is refused before anything is bound, in one line: every
        worker would bind the one metrics port."""
        options = Options()
        options.parseOptions(["--workers", "2", "--port", "0", "--metrics",
                              "tcp:0:interface=127.0.0.1"])
        error = self.assertRaises(SystemExit, makeService, options)
        self.assertEqual(str(error), "twistd bws: --workers: metrics (--metrics "
                         "tcp:0:interface=127.0.0.1) cannot be served with worker processes "
                         "yet (each would bind the one metrics port); leave out one of them")

    def test_notShareable(self) -> None:
        """ssl: and unix: endpoints are refused with --workers, before anything is bound,
        in one line naming the option and the listener."""
        examples = Path(__file__).resolve().parents[1] / "docs" / "examples"
        tls = f"ssl:0:privateKey={examples / 'jwt-signer.key'}:certKey={examples / 'jwt-signer.crt'}"
        for endpoint, kind in ((tls, "an ssl:"),
                               ("unix:/tmp/bws-workers-test.sock", "a unix:")):
            options = Options()
            options.parseOptions(["--workers", "2", "--listen", endpoint])
            error = self.assertRaises(SystemExit, makeService, options)
            self.assertTrue(str(error).startswith(
                f"twistd bws: --workers: --listen {endpoint} is {kind} endpoint, which "
                "worker processes cannot share"), str(error))

    def test_describeExit(self) -> None:
        self.assertEqual(describeExit(Failure(ProcessDone(0))), "exit status 0")
        self.assertEqual(describeExit(Failure(ProcessTerminated(3))), "exit status 3")
        self.assertEqual(describeExit(Failure(ProcessTerminated(None, 9))),
                         "killed by signal 9 (SIGKILL)")


class FakePort:
    """The bound port of a listener: a file descriptor, reading switched off."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.reading = True

    def fileno(self) -> int:
        return self.fd

    def stopReading(self) -> None:
        self.reading = False


class FakeListener:
    def __init__(self, fd: int) -> None:
        self.port: FakePort | None = FakePort(fd)
        self.stopped = False

    def immediateStop(self) -> Deferred[None]:
        self.stopped = True
        d: Deferred[None] = Deferred()
        d.callback(None)
        return d


class FakeServed:
    """What WorkersService reads of a bound BwsService."""

    def __init__(self, *fds: int) -> None:
        self.listeners = [(FakeListener(fd), f"listener {fd}") for fd in fds]

    def served(self) -> list[tuple[str, str, str]]:
        return [("svc", "ws://127.0.0.1:1234/", "*")]


class FakeProcess:
    """A spawned worker: the signals it was sent."""

    def __init__(self, protocol: Any, pid: int) -> None:
        self.protocol = protocol
        self.pid = pid
        self.signals: list[str] = []
        self.ended = False

    def signalProcess(self, name: str) -> None:
        if self.ended:
            raise ProcessExitedAlready()
        self.signals.append(name)

    def end(self, reason: Exception) -> None:
        self.ended = True
        self.protocol.processEnded(Failure(reason))


class ProcessReactor(MemoryReactorClock):
    """A Clock that records spawnProcess calls."""

    def __init__(self) -> None:
        super().__init__()
        self.spawned: list[tuple[FakeProcess, list[str], dict[int, Any]]] = []

    def spawnProcess(self, protocol: Any, executable: str, args: list[str], env: Any = None,
                     path: Any = None, childFDs: Any = None, **kwargs: Any) -> FakeProcess:
        process = FakeProcess(protocol, 1000 + len(self.spawned))
        self.spawned.append((process, args, childFDs))
        return process

    def stop(self) -> None:
        self.hasStopped = True


class SupervisorTests(SynchronousTestCase):
    """WorkersService with recorded processes."""

    def setUp(self) -> None:
        self.events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)
        self.reactor = ProcessReactor()
        self.exits: list[int] = []
        self.served = FakeServed(7, 9)
        self.workers = WorkersService(
            self.served, 2, ["--port", "0"], reactor=self.reactor, stopTimeout=5,
            exit=self.exits.append, executable="/py", cwd="/here", env={"A": "1"},
            policy=RestartPolicy(threshold=10, minRestartDelay=1, crashLoop=2))

    def lines(self) -> list[str]:
        from twisted.logger import formatEvent

        return [formatEvent(event) for event in self.events
                if event.get("log_namespace", "").startswith("bws.workers")]

    def test_spawn(self) -> None:
        """Each worker runs ``python -m bws._worker`` with the sockets as fds 3, 4, ...
        and the parent's arguments; the parent stops reading its own copies."""
        self.workers.startService()
        self.assertEqual([port.reading for port in
                          (listener.port for listener, _ in self.served.listeners)],
                         [False, False])
        self.assertEqual(len(self.reactor.spawned), 2)
        _, args, childFDs = self.reactor.spawned[0]
        self.assertEqual(args, ["/py", "-m", CHILD_MODULE, "--fds", "3,4", "--",
                                "--port", "0"])
        self.assertEqual(childFDs, {0: "w", 1: "r", 2: "r", 3: 7, 4: 9})
        self.assertIn("bws: worker 1 started (pid 1000)", self.lines())
        self.assertIn("bws: worker 2 started (pid 1001)", self.lines())

    def test_relay(self) -> None:
        """A worker's output reaches the log a line at a time, even cut mid-line."""
        self.workers.startService()
        process = self.reactor.spawned[0][0]
        process.protocol.childDataReceived(1, b"one\ntw")
        process.protocol.childDataReceived(2, b"err\n")
        process.protocol.childDataReceived(1, b"o\nthree")
        process.end(ProcessDone(0))
        self.assertEqual([line for line in self.lines() if line.startswith("[worker")],
                         ["[worker 1 pid 1000] one", "[worker 1 pid 1000] err",
                          "[worker 1 pid 1000] two", "[worker 1 pid 1000] three"])

    def test_restart(self) -> None:
        """A worker that ends is started again after the policy's delay."""
        self.workers.startService()
        self.reactor.advance(3)
        self.reactor.spawned[0][0].end(ProcessTerminated(None, 9))
        self.assertIn("bws: worker 1 (pid 1000) exited: killed by signal 9 (SIGKILL); "
                      "restarting it in 1 s", self.lines())
        self.assertEqual(len(self.reactor.spawned), 2)
        self.reactor.advance(1)
        self.assertEqual(len(self.reactor.spawned), 3)
        self.assertIn("bws: worker 1 started (pid 1002)", self.lines())

    def test_crashLoop(self) -> None:
        """Every worker giving up: one line each, then exit status 1 and a stop."""
        self.workers.startService()
        for process, _, _ in list(self.reactor.spawned):
            process.end(ProcessTerminated(1))
        self.reactor.advance(1)
        self.assertEqual(len(self.reactor.spawned), 4)
        self.reactor.spawned[2][0].end(ProcessTerminated(1))
        self.assertEqual(self.exits, [])
        self.assertIn("bws: worker 1 exited 2 times in a row within 10 s of starting: "
                      "crash loop, not restarted", self.lines())
        self.assertFalse(self.reactor.hasStopped)
        self.reactor.spawned[3][0].end(ProcessTerminated(1))
        self.assertEqual(self.exits, [1])
        self.assertTrue(self.reactor.hasStopped)
        self.assertEqual(self.lines()[-1], "bws: no worker left; stopping with exit status 1")
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_stop(self) -> None:
        """stopService closes the parent's copies, sends SIGTERM to every worker, and
        fires once all have exited; none is restarted."""
        self.workers.startService()
        d = self.workers.stopService()
        self.assertTrue(all(listener.stopped for listener, _ in self.served.listeners))
        first, second = (process for process, _, _ in self.reactor.spawned)
        self.assertEqual((first.signals, second.signals), (["TERM"], ["TERM"]))
        first.end(ProcessDone(0))
        self.assertNoResult(d)
        second.end(ProcessDone(0))
        self.successResultOf(d)
        self.assertEqual(len(self.reactor.spawned), 2)
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_stopKills(self) -> None:
        """A worker still there ``stopTimeout`` seconds after SIGTERM gets SIGKILL."""
        self.workers.startService()
        d = self.workers.stopService()
        first, second = (process for process, _, _ in self.reactor.spawned)
        first.end(ProcessDone(0))
        self.reactor.advance(5)
        self.assertEqual((first.signals, second.signals), (["TERM"], ["TERM", "KILL"]))
        second.end(ProcessTerminated(None, 9))
        self.successResultOf(d)

    def test_stopCancelsRestart(self) -> None:
        """A restart still pending when the service stops never happens."""
        self.workers.startService()
        self.reactor.spawned[0][0].end(ProcessTerminated(1))
        d = self.workers.stopService()
        self.reactor.spawned[1][0].end(ProcessDone(0))
        self.successResultOf(d)
        self.reactor.advance(10)
        self.assertEqual(len(self.reactor.spawned), 2)
