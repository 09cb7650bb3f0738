"""The wrong scheme over real sockets: a TLS ClientHello (and ``bws.Client`` with ``wss://``)
against a plain listener, plain HTTP (and ``ws://``) against a TLS listener. Each side
answers at once and says why, instead of waiting for the listener's 120 s deadline."""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

import bws
from bws._http import NOT_TLS_ANSWER, TLS_ONLY_ANSWER
from bws.testing.echo import EchoUpgradeService
from bws.tls import ClientSecureSocket
from tests.integration.helpers import ListenerMixin
from tests.server.test_wrongscheme import certificates, clientHello, secureSocket


class RawPeer(Protocol):
    """Sends ``data`` on connect; ``answered`` fires with every byte received once the
    server closes."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.received = b""
        self.answered: Deferred[bytes] = Deferred()

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.write(self.data)

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def connectionLost(self, reason: Failure = Failure(Exception())) -> None:
        self.answered.callback(self.received)


class WrongSchemeTests(ListenerMixin, TestCase):
    """Each listener answers the other scheme at once and keeps serving its own."""

    timeout = 30  # a safety net only: the listener's deadline would take 120 s

    def raw(self, data: bytes) -> Deferred[bytes]:
        """What the listener answers ``data`` with, once it closed the connection."""
        peer = RawPeer(data)
        assert self.port is not None
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", self.port)
        connecting = endpoint.connect(Factory.forProtocol(lambda: peer))
        return connecting.addCallback(lambda _: peer.answered)

    def secureUrl(self) -> str:
        return f"wss://localhost:{self.port}/"

    @inlineCallbacks
    def test_clientHelloOnPlainPort(self) -> Any:
        """A raw TLS ClientHello gets the plain 400 saying the port does not speak TLS;
        a ws:// client still gets its echo."""
        yield self.startListener(EchoUpgradeService())
        answer = yield self.raw(clientHello())
        self.assertEqual(answer, NOT_TLS_ANSWER)
        client = yield bws.Client.connect(self.url())
        yield client.writeTextMessage("still plain")
        self.assertEqual((yield client.readTextMessage()), "still plain")
        yield client.close()

    @inlineCallbacks
    def test_wssClientOnPlainPort(self) -> Any:
        """bws's client with wss:// fails at once with an SslError saying the server does
        not speak TLS, naming it."""
        yield self.startListener(EchoUpgradeService())
        d = bws.Client.connect(self.secureUrl(),
                               secureSocket=ClientSecureSocket(cert=certificates()[0]))
        error = yield self.assertFailure(d, bws.SslError)
        self.assertTrue(str(error).startswith(
            f"TLS handshake failed: the server at localhost:{self.port} does not speak TLS "
            f"(is it ws:// rather than wss://?) ["), str(error))

    @inlineCallbacks
    def test_plainRequestOnTlsPort(self) -> Any:
        """A raw plain HTTP request gets the clear-text 400 saying the port speaks TLS;
        a byte that begins neither is closed unanswered; wss:// still gets its echo."""
        yield self.startListener(EchoUpgradeService(), secureSocket=secureSocket())
        answer = yield self.raw(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        self.assertEqual(answer, TLS_ONLY_ANSWER)
        self.assertEqual((yield self.raw(b"\x00")), b"")
        client = yield bws.Client.connect(
            self.secureUrl(), secureSocket=ClientSecureSocket(cert=certificates()[0]))
        yield client.writeTextMessage("still secure")
        self.assertEqual((yield client.readTextMessage()), "still secure")
        yield client.close()

    @inlineCallbacks
    def test_wsClientOnTlsPort(self) -> Any:
        """bws's client with ws:// fails at once with an InvalidHandshakeError whose
        status line says the port speaks TLS."""
        yield self.startListener(EchoUpgradeService(), secureSocket=secureSocket())
        d = bws.Client.connect(f"ws://localhost:{self.port}/")
        error = yield self.assertFailure(d, bws.InvalidHandshakeError)
        self.assertEqual(str(error), "Invalid handshake response getStatus: "
                                     "400 Bad Request (this port speaks TLS: use wss://): "
                                     "This port speaks TLS: use wss:// (or https://) "
                                     "rather than ws:// (or http://).")
        self.assertEqual(error.response.statusCode, 400)
