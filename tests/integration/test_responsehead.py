"""A bws client against a real server socket that never ends its answer's head: the
handshake fails at once with the limit named, long before ``handShakeTimeout``."""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.interfaces import IPullProducer
from twisted.internet.protocol import Protocol, ServerFactory
from twisted.trial.unittest import TestCase
from zope.interface import implementer

import bws


@implementer(IPullProducer)
class Dripper:
    """Writes ``chunk`` each time the socket's buffer drains, up to ``most`` bytes."""

    def __init__(self, transport: Any, chunk: bytes, most: int) -> None:
        self.transport = transport
        self.chunk = chunk
        self.most = most
        self.sent = 0

    def resumeProducing(self) -> None:
        if self.sent >= self.most:
            self.transport.unregisterProducer()
            self.transport.loseConnection()
            return
        self.transport.write(self.chunk)
        self.sent += len(self.chunk)

    def stopProducing(self) -> None:
        pass


class EndlessHead(Protocol):
    """Answers the upgrade request with a status line, then ``chunk`` forever (2 MiB)."""

    factory: EndlessHeads

    def dataReceived(self, data: bytes) -> None:
        if self.factory.dripper is not None:
            return
        transport: Any = self.transport
        transport.write(self.factory.start)
        self.factory.dripper = Dripper(transport, self.factory.chunk, 2 * 1024 * 1024)
        transport.registerProducer(self.factory.dripper, False)


class EndlessHeads(ServerFactory[EndlessHead]):
    protocol = EndlessHead

    def __init__(self, start: bytes, chunk: bytes) -> None:
        self.start = start
        self.chunk = chunk
        self.dripper: Dripper | None = None


class EndlessHeadTests(TestCase):
    """The server drips its head forever; the client gives up at the bound."""

    timeout = 30  # a safety net only: a client that read to its 300 s handshake timeout

    @inlineCallbacks
    def refused(self, start: bytes, chunk: bytes) -> Any:
        """The client's error, and how many bytes the server got to write."""
        factory = EndlessHeads(start, chunk)
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        address: Any = port.getHost()
        d = bws.Client.connect(f"ws://127.0.0.1:{address.port}/")
        error = yield self.assertFailure(d, bws.InvalidHandshakeError)
        assert factory.dripper is not None
        return str(error), factory.dripper.sent

    @inlineCallbacks
    def test_endlessHeaderLines(self) -> Any:
        """2 MiB of 1 KiB header lines that never end: refused once over 8192 bytes,
        naming the limit; the client stops reading (the server could not write it all)."""
        message, sent = yield self.refused(b"HTTP/1.1 101 Switching Protocols\r\n",
                                           b"X-Filler: " + b"a" * 1012 + b"\r\n")
        self.assertEqual(message,
                         "Invalid handshake response: header fields larger than 8192 bytes")
        self.assertLess(sent, 2 * 1024 * 1024)

    @inlineCallbacks
    def test_endlessHeaderLine(self) -> Any:
        """One header line that never ends: refused the same way."""
        message, sent = yield self.refused(b"HTTP/1.1 101 Switching Protocols\r\nX-Long: ",
                                           b"a" * 1024)
        self.assertEqual(message,
                         "Invalid handshake response: header fields larger than 8192 bytes")
        self.assertLess(sent, 2 * 1024 * 1024)

    @inlineCallbacks
    def test_endlessStatusLine(self) -> Any:
        """A status line that never ends: refused once over 4096 bytes."""
        message, _ = yield self.refused(b"HTTP/1.1 101 ", b"x" * 1024)
        self.assertEqual(message,
                         "Invalid handshake response: status line longer than 4096 bytes")
