# -*- test-case-name: tests.integration.test_workers -*-
"""A ``twistd bws --workers`` child: ``python -m bws._worker --fds 3,4 -- ARGS``.

It parses ARGS (the parent's ``twistd bws`` arguments) with the same ``Options``, so it
builds the same services, TLS contexts and auth checkers; the listeners' addresses are
replaced, in order, by the sockets the parent passed as file descriptors (adopted with
``AdoptedStreamServerEndpoint``); it runs them as twistd runs an application (the
services stop on reactor shutdown: each ``Listener`` closes its connections with 1001).
Its log goes to stdout as plain lines, which the parent relays into its own log. SIGTERM
or SIGINT stops it gracefully (a second one is ignored), and so does the end of its stdin:
the parent is gone.
"""

from __future__ import annotations

import signal
import socket
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import attrs
from twisted.application import app, service
from twisted.internet import abstract, fdesc
from twisted.internet.endpoints import AdoptedStreamServerEndpoint
from twisted.logger import ILogObserver, eventAsText, globalLogBeginner
from twisted.python import usage
from twisted.python.failure import Failure
from zope.interface import implementer

__all__ = ["main"]


def parseArguments(argv: Sequence[str]) -> tuple[list[int], list[str]]:
    """``--fds 3,4 -- ARGS`` → ``([3, 4], ARGS)``.

    :raise usage.UsageError: when the form is not that.
    """
    args = list(argv)
    if len(args) < 3 or args[0] != "--fds" or args[2] != "--":
        raise usage.UsageError("expected --fds N[,N...] -- ARGS")
    try:
        fds = [int(fd) for fd in args[1].split(",")]
    except ValueError:
        raise usage.UsageError(f"--fds: expected numbers, got {args[1]!r}") from None
    return fds, args[3:]


def familyOf(fd: int) -> socket.AddressFamily:
    """The address family of the socket at ``fd`` (which stays open)."""
    sock = socket.socket(fileno=fd)
    try:
        return sock.family
    finally:
        sock.detach()


@implementer(ILogObserver)
class LineObserver:
    """Each log event as plain text lines (no timestamp: the parent's log adds its own)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def __call__(self, event: dict[str, Any]) -> None:
        text = eventAsText(event, includeTimestamp=False, includeSystem=False)
        try:
            self.out.write(text + "\n")
            self.out.flush()
        except OSError:
            pass  # the parent is gone; stdin's end stops this process


class ParentPipe(abstract.FileDescriptor):
    """Reads stdin (a pipe from the parent, which writes nothing) to learn when the parent
    is gone: its end calls ``gone``."""

    def __init__(self, reactor: Any, gone: Any) -> None:
        super().__init__(reactor)
        self.gone = gone
        fdesc.setNonBlocking(0)

    def fileno(self) -> int:
        return 0

    def doRead(self) -> Any:
        return fdesc.readFromFD(0, lambda data: None)

    def connectionLost(self, reason: Failure) -> None:
        super().connectionLost(reason)
        self.gone()


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the parent's services on the adopted sockets until stopped."""
    stopping: list[bool] = []

    def onSignal(number: int, frame: Any) -> None:
        stopping.append(True)
        if reactor is not None:
            reactor.callFromThread(stop)

    def installSignals() -> None:
        signal.signal(signal.SIGTERM, onSignal)
        signal.signal(signal.SIGINT, onSignal)

    # First, before the imports (seconds on a busy machine), and again once the reactor
    # has put its own in place (keeping its SIGCHLD handling for services that spawn
    # processes): one stop, every later signal ignored to the end (a terminal or systemd
    # may signal the worker as well as the parent, which then sends its own SIGTERM).
    reactor: Any = None
    installSignals()

    from twisted.internet import reactor as globalReactor

    from bws.tap import Options, serverConfigFrom, serviceFromRecords

    reactor = globalReactor
    if stopping:
        return

    stopped: list[bool] = []

    def stop() -> None:
        if reactor.running and not stopped:
            stopped.append(True)
            reactor.stop()

    try:
        fds, args = parseArguments(sys.argv[1:] if argv is None else argv)
        options = Options()
        options.parseOptions(args)
        server = serverConfigFrom(options)
        if len(fds) != len(server.listeners):
            raise usage.UsageError(f"{len(fds)} sockets for {len(server.listeners)} listeners")
        listeners = tuple(
            attrs.evolve(entry, address=AdoptedStreamServerEndpoint(reactor, fd, familyOf(fd)))
            for entry, fd in zip(server.listeners, fds, strict=True))
    except usage.UsageError as e:
        sys.exit(f"bws worker: {e}")
    if stopping:
        return
    bwsService = serviceFromRecords(attrs.evolve(server, listeners=listeners))
    application = service.Application("bws worker")
    bwsService.setServiceParent(application)
    globalLogBeginner.beginLoggingTo([LineObserver(sys.stdout)], redirectStandardIO=False)
    ParentPipe(reactor, stop).startReading()
    reactor.callWhenRunning(installSignals)
    app.startApplication(application, False)
    if stopping:
        reactor.callWhenRunning(stop)
    reactor.run()
    # Python puts the default actions back for the signals it handles when it exits; an
    # ignored signal is left ignored, so a late SIGTERM cannot kill the exit half-way.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


if __name__ == "__main__":
    main()
