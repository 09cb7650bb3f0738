"""``twistd bws --workers N`` as real processes: one port, N workers answering on it, a
killed worker replaced while the port keeps answering, SIGTERM draining every worker with
1001, a crash loop ending the parent with status 1, TLS and auth in every worker.

The parent binds port 0 and logs its URL; the tests parse it, and the pid of every worker
from the parent's log. A service from this folder (``workerservice.PidUpgrade``) answers
every message with the pid of the process serving it. Nothing waits on the clock: each
step waits for a log line, an answer, or a process's end.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import trustme
from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks, succeed
from twisted.internet.error import ProcessDone
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.utils import getProcessOutputAndValue
from twisted.python.failure import Failure
from twisted.trial.unittest import SkipTest, TestCase

import bws
from bws.errors import ConnectionClosureError, InvalidHandshakeError
from bws.tls import ClientSecureSocket

ROOT = Path(__file__).resolve().parents[2]
TWISTD = ["-c", "from twisted.scripts.twistd import run; run()", "-n", "--pidfile=", "bws"]
#: Runs the rest of the command line in a process group of its own, as a shell's job.
SETSID = "import os, sys; os.setsid(); os.execv(sys.executable, [sys.executable] + sys.argv[1:])"
PID_SERVICE = "tests.integration.workerservice:PidUpgrade"
EXAMPLES = ROOT / "docs" / "examples"
USERS = EXAMPLES / "users.toml"

SERVING = re.compile(r"\] bws: serving \S+ at (wss?://\S+) \(path \S+\)$")
STARTED = re.compile(r"bws: worker (\d+) started \(pid (\d+)\)$")
WORKER_SERVING = re.compile(r"\[worker (\d+) pid (\d+)\] bws: serving ")


def environment(**extra: str) -> dict[str, str]:
    """This checkout's ``bws`` first."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


class Parent(ProcessProtocol):
    """A running ``twistd bws --workers``: its log lines, and Deferreds waiting for some."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.partial = b""
        self.waiting: list[tuple[re.Pattern[str], int, Deferred[re.Match[str]]]] = []
        #: Fires with None once the process has ended; ``reason`` says how.
        self.ended: Deferred[None] = Deferred()
        self.reason: Failure | None = None
        self.pid = 0

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        for line in lines:
            self.lines.append(line.decode("utf-8", "replace"))
        for entry in list(self.waiting):
            pattern, since, d = entry
            match = self._search(pattern, since)
            if match is not None:
                self.waiting.remove(entry)
                d.callback(match)

    def _search(self, pattern: re.Pattern[str], since: int) -> re.Match[str] | None:
        for line in self.lines[since:]:
            match = pattern.search(line)
            if match is not None:
                return match
        return None

    def waitFor(self, pattern: re.Pattern[str] | str, since: int = 0) -> Deferred[re.Match[str]]:
        """The first log line from number ``since`` on that matches ``pattern``."""
        compiled = re.compile(pattern) if isinstance(pattern, str) else pattern
        match = self._search(compiled, since)
        if match is not None:
            return succeed(match)
        d: Deferred[re.Match[str]] = Deferred()
        if self.ended.called:
            d.errback(AssertionError(f"twistd bws exited before {compiled.pattern!r}:\n"
                                     + self.log()))
        else:
            self.waiting.append((compiled, since, d))
        return d

    def log(self) -> str:
        return "\n".join(self.lines + [self.partial.decode("utf-8", "replace")])

    def processEnded(self, reason: Failure) -> None:
        if self.partial:
            self.lines.append(self.partial.decode("utf-8", "replace"))
            self.partial = b""
        for pattern, _, d in self.waiting:
            d.errback(AssertionError(f"twistd bws exited before {pattern.pattern!r}:\n"
                                     + self.log()))
        self.waiting = []
        self.reason = reason
        self.ended.callback(None)

    def workerPids(self) -> set[int]:
        """Every worker pid the parent logged as started."""
        return {int(m.group(2)) for line in self.lines if (m := STARTED.search(line))}


def alive(pid: int) -> bool:
    """Whether ``pid`` is a process that has not exited (a zombie has)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(b")") + 2:][:1] not in (b"Z", b"X")


@inlineCallbacks
def ready(parent: Parent, count: int = 2) -> Any:
    """The parent's URL once ``count`` workers said they serve, and their pids by number."""
    url = (yield parent.waitFor(SERVING)).group(1)
    pids: dict[int, int] = {}
    since = 0
    while len(pids) < count:
        match = yield parent.waitFor(WORKER_SERVING, since)
        since = parent.lines.index(match.string) + 1
        pids[int(match.group(1))] = int(match.group(2))
    return url, pids


def waitGone(pid: int) -> Deferred[None]:
    """Fires once no process has ``pid`` (an orphan is reaped by init): checked after
    each turn of the reactor, so it does not wait on the clock."""
    done: Deferred[None] = Deferred()

    def check() -> None:
        if alive(pid):
            reactor.callLater(0, check)  # type: ignore[attr-defined]
        else:
            done.callback(None)

    check()
    return done


def startParent(case: TestCase, *argv: str, env: dict[str, str] | None = None,
                ownGroup: bool = False) -> Parent:
    """``twistd -n --pidfile= bws ARGV`` run from the checkout's root, stopped in
    ``case``'s cleanup (SIGTERM, then SIGKILL to any worker left)."""
    parent = Parent()
    prefix = ["-c", SETSID] if ownGroup else []
    transport = reactor.spawnProcess(  # type: ignore[attr-defined]
        parent, sys.executable, [sys.executable, *prefix, *TWISTD, *argv],
        env=env or environment(), path=str(ROOT))
    parent.pid = transport.pid

    def stop() -> Deferred[Any]:
        if not parent.ended.called:
            transport.signalProcess("TERM")

        def noStrays(_: Any) -> None:
            for pid in parent.workerPids():
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)

        return parent.ended.addCallback(noStrays)

    case.addCleanup(stop)
    return parent


class WorkersTests(TestCase):
    """``twistd bws --workers 2`` serving ``PidUpgrade`` on a port the OS picks."""

    timeout = 180

    def start(self, *argv: str, env: dict[str, str] | None = None,
              ownGroup: bool = False) -> Parent:
        return startParent(self, *argv, env=env, ownGroup=ownGroup)

    def startWorkers(self, *extra: str, service: str = PID_SERVICE,
                     ownGroup: bool = False) -> Parent:
        return self.start("--workers", "2", "--port", "0", "--host", "127.0.0.1",
                          "--service", service, *extra, ownGroup=ownGroup)

    @inlineCallbacks
    def askPid(self, url: str, **config: Any) -> Any:
        """Connect, ask, close: the pid of the worker that answered."""
        client = yield bws.Client.connect(url, **config)
        yield client.writeTextMessage("pid?")
        pid = int((yield client.readTextMessage()))
        yield client.close()
        return pid

    @inlineCallbacks
    def reachBoth(self, url: str, pids: set[int], **config: Any) -> Any:
        """Connections one after the other until each of ``pids`` has answered one; the
        number of connections it took."""
        seen: set[int] = set()
        count = 0
        while seen != pids:
            pid = yield self.askPid(url, **config)
            self.assertIn(pid, pids)
            seen.add(pid)
            count += 1
        return count

    @inlineCallbacks
    def test_twoWorkersAnswer(self) -> Any:
        """Connections to the one port are served by the two workers, each its own
        process (neither is the parent)."""
        parent = self.startWorkers()
        url, pids = yield ready(parent)
        self.assertRegex(url, r"^ws://127\.0\.0\.1:\d+/$")
        self.assertEqual(len(set(pids.values())), 2)
        self.assertNotIn(parent.pid, pids.values())
        yield self.reachBoth(url, set(pids.values()))

    @inlineCallbacks
    def test_killedWorkerReplaced(self) -> Any:
        """A worker killed with SIGKILL is replaced by a new process; every connection
        made meanwhile is answered (by the other worker, then also by the new one)."""
        parent = self.startWorkers()
        url, pids = yield ready(parent)
        since = len(parent.lines)
        os.kill(pids[1], signal.SIGKILL)
        replaced = parent.waitFor(r"bws: worker 1 started \(pid (\d+)\)", since)
        answers = []
        while not replaced.called or int(replaced.result.group(1)) not in answers:
            answers.append((yield self.askPid(url)))
        newPid = int(replaced.result.group(1))
        self.assertNotIn(newPid, pids.values())
        self.assertEqual(set(answers) - {pids[2], newPid}, set())
        exited = yield parent.waitFor(r"bws: worker 1 \(pid \d+\) exited: .*", since)
        # 0.2 s: it lived less than the 30 s threshold, as it does unless the machine
        # took that long to start it (then 0 s).
        self.assertRegex(exited.group(0), rf"^bws: worker 1 \(pid {pids[1]}\) exited: killed "
                                          r"by signal 9 \(SIGKILL\); restarting it in 0(\.2)? s$")
        self.assertTrue(alive(pids[2]))

    @inlineCallbacks
    def test_sigtermDrains(self) -> Any:
        """SIGTERM to the parent: every open connection, on both workers, is closed with
        1001; the parent exits 0 and no worker is left."""
        parent = self.startWorkers()
        url, pids = yield ready(parent)
        clients: list[Any] = []
        reached: set[int] = set()
        while reached != set(pids.values()) or len(clients) < 4:
            client = yield bws.Client.connect(url)
            yield client.writeTextMessage("pid?")
            reached.add(int((yield client.readTextMessage())))
            clients.append(client)
        reads = [client.readTextMessage() for client in clients]
        os.kill(parent.pid, signal.SIGTERM)
        for read in reads:
            error = yield self.assertFailure(read, ConnectionClosureError)
            self.assertIn("Status code: 1001", str(error))
        yield parent.ended
        assert parent.reason is not None
        self.assertIsInstance(parent.reason.value, ProcessDone, parent.log())
        self.assertFalse([pid for pid in parent.workerPids() if alive(pid)])
        for number, pid in pids.items():
            self.assertIn(f"bws: worker {number} (pid {pid}) exited: exit status 0",
                          parent.log())

    @inlineCallbacks
    def test_groupSigterm(self) -> Any:
        """SIGTERM to the whole process group (a terminal's Ctrl-C, systemd's default
        KillMode): each worker drains once, ignoring the parent's SIGTERM that follows,
        and exits 0; so does the parent."""
        parent = self.startWorkers(ownGroup=True)
        url, pids = yield ready(parent)
        client = yield bws.Client.connect(url)
        closed = client.readTextMessage()
        os.killpg(parent.pid, signal.SIGTERM)
        error = yield self.assertFailure(closed, ConnectionClosureError)
        self.assertIn("Status code: 1001", str(error))
        yield parent.ended
        assert parent.reason is not None
        self.assertIsInstance(parent.reason.value, ProcessDone, parent.log())
        for number, pid in pids.items():
            self.assertIn(f"bws: worker {number} (pid {pid}) exited: exit status 0",
                          parent.log())

    @inlineCallbacks
    def test_parentKilled(self) -> Any:
        """The parent killed with SIGKILL: each worker sees its stdin end and drains by
        itself (1001 to its clients), then exits; none is left behind."""
        parent = self.startWorkers()
        url, pids = yield ready(parent)
        client = yield bws.Client.connect(url)
        yield client.writeTextMessage("pid?")
        yield client.readTextMessage()
        closed = client.readTextMessage()
        os.kill(parent.pid, signal.SIGKILL)
        error = yield self.assertFailure(closed, ConnectionClosureError)
        self.assertIn("Status code: 1001", str(error))
        yield parent.ended
        for pid in pids.values():
            yield waitGone(pid)

    @inlineCallbacks
    def test_crashLoop(self) -> Any:
        """A service that cannot start in a worker: each worker is restarted with a
        growing delay, then given up with one line; with none left the parent exits 1."""
        parent = self.start(
            "--workers", "2", "--port", "0", "--host", "127.0.0.1", "--service",
            "tests.integration.workerservice:onlyInParent",
            env=environment(BWS_TEST_PID=str(os.getpid())))
        yield parent.ended
        log = parent.log()
        assert parent.reason is not None
        self.assertEqual(getattr(parent.reason.value, "exitCode", None), 1, log)
        for number in (1, 2):
            self.assertIn(f"bws: worker {number} exited 5 times in a row within 30 s of "
                          "starting: crash loop, not restarted", log)
            self.assertEqual(len(re.findall(rf"bws: worker {number} started", log)), 5)
        self.assertIn("cannot start in a worker", log)
        self.assertIn("restarting it in 0.2 s", log)
        self.assertIn("restarting it in 1.6 s", log)
        self.assertIn("bws: no worker left; stopping with exit status 1", log)

    @inlineCallbacks
    def test_tlsAndAuth(self) -> Any:
        """wss:// with --workers 2: both workers present the certificate and check the
        credentials (401 without them)."""
        folder = Path(self.mktemp()).resolve()
        folder.mkdir()
        ca = trustme.CA()
        leaf = ca.issue_cert("127.0.0.1", "localhost")
        ca.cert_pem.write_to_path(str(folder / "ca.pem"))
        leaf.cert_chain_pems[0].write_to_path(str(folder / "server.pem"))
        leaf.private_key_pem.write_to_path(str(folder / "server.key"))
        parent = self.startWorkers("--cert", str(folder / "server.pem"),
                                   "--key", str(folder / "server.key"),
                                   "--auth", f"toml:{USERS}")
        url, pids = yield ready(parent)
        self.assertTrue(url.startswith("wss://127.0.0.1:"), url)
        secure = ClientSecureSocket(cert=str(folder / "ca.pem"))
        yield self.reachBoth(url, set(pids.values()), secureSocket=secure,
                             auth={"username": "eve", "password": "123"})
        error = yield self.assertFailure(
            bws.Client.connect(url, secureSocket=secure), InvalidHandshakeError)
        self.assertIn("401", str(error))

    @inlineCallbacks
    def test_badWorkers(self) -> Any:
        """--workers 0 or x: twistd exits 1 at once, its last line naming --workers."""
        for value, shown in (("0", "0"), ("x", "'x'")):
            out, err, code = yield getProcessOutputAndValue(
                sys.executable, [*TWISTD, "--workers", value], env=environment(),
                path=str(ROOT))
            output = (out + err).decode("utf-8", "replace").strip()
            self.assertEqual(code, 1, output)
            last = output.splitlines()[-1]
            self.assertTrue(last.endswith(
                f": --workers: must be a positive integer or \"auto\", got {shown}"), last)


def freePort() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SystemdUnitTests(TestCase):
    """docs/examples/bws.service: systemd accepts it, and its command serves with
    workers and stops as ``KillMode=mixed`` stops it (SIGTERM to the parent only)."""

    timeout = 180

    def unit(self) -> str:
        return (EXAMPLES / "bws.service").read_text("utf-8")

    def execStart(self) -> list[str]:
        [line] = [line for line in self.unit().splitlines() if line.startswith("ExecStart=")]
        return shlex.split(line.removeprefix("ExecStart="))

    @inlineCallbacks
    def test_verify(self) -> Any:
        """``systemd-analyze verify`` finds nothing to say (the paths made this host's)."""
        analyze = shutil.which("systemd-analyze")
        if analyze is None:
            raise SkipTest("systemd-analyze is not installed (Debian's systemd package)")
        twistd = Path(sys.executable).parent / "twistd"
        folder = Path(self.mktemp()).resolve()
        folder.mkdir()
        text = self.unit()
        self.assertIn("/srv/bws/.venv/bin/twistd ", text)
        text = text.replace("/srv/bws/.venv/bin/twistd", str(twistd))
        text = text.replace("/srv/bws", str(folder))
        (folder / "bws.service").write_text(text, "utf-8")
        out, err, code = yield getProcessOutputAndValue(
            analyze, ["verify", str(folder / "bws.service")], env=dict(os.environ))
        self.assertEqual((code, out + err), (0, b""))

    @inlineCallbacks
    def test_execStart(self) -> Any:
        """ExecStart, run in WorkingDirectory on the example file (two workers, a free
        port): both workers serve the echo; SIGTERM to the parent alone drains them and
        the parent exits 0."""
        argv = self.execStart()
        self.assertEqual(argv[:4], ["/srv/bws/.venv/bin/twistd", "--nodaemon", "--pidfile=",
                                    "bws"])
        self.assertEqual(argv[4:], ["--config", "/srv/bws/bws-workers.toml"])
        folder = Path(self.mktemp()).resolve()
        folder.mkdir()
        port = freePort()
        text = (EXAMPLES / "bws-workers.toml").read_text("utf-8")
        self.assertIn('workers = "auto"', text)
        self.assertIn("port = 9090\n", text)
        text = text.replace('workers = "auto"', "workers = 2")  # not one per core of CI
        (folder / "bws-workers.toml").write_text(text.replace("port = 9090\n",
                                                              f"port = {port}\n"), "utf-8")
        parent = Parent()
        args = [sys.executable, *TWISTD[:2], *argv[1:4], "--config",
                str(folder / "bws-workers.toml")]
        transport = reactor.spawnProcess(  # type: ignore[attr-defined]
            parent, sys.executable, args, env=environment(), path=str(folder))
        self.addCleanup(lambda: parent.ended if parent.ended.called
                        else (transport.signalProcess("KILL"), parent.ended)[1])
        url, pids = yield ready(parent)
        self.assertEqual(url, f"ws://0.0.0.0:{port}/echo")
        client = yield bws.Client.connect(f"ws://127.0.0.1:{port}/echo")
        yield client.writeTextMessage("hello")
        self.assertEqual((yield client.readTextMessage()), "hello")
        closed = client.readTextMessage()
        transport.signalProcess("TERM")
        error = yield self.assertFailure(closed, ConnectionClosureError)
        self.assertIn("Status code: 1001", str(error))
        yield parent.ended
        assert parent.reason is not None
        self.assertIsInstance(parent.reason.value, ProcessDone, parent.log())
        self.assertFalse([pid for pid in pids.values() if alive(pid)])
