"""wss:// end to end: the bws Listener and Client with TLS, against websockets and each other."""

from __future__ import annotations

import ssl
import threading
from typing import Any

from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase
from websockets.sync.client import connect

import bws
from bws.tap import Options, makeService
from bws.testing.echo import EchoUpgradeService
from bws.tls import CertKey, ClientSecureSocket, ListenerSecureSocket, MutualSsl
from tests.helpers import Upgrade
from tests.integration.helpers import ListenerMixin, inThread
from tests.tls.test_tls import _pki


class Peer:
    """A service that remembers what its caller and request say about TLS."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def onTextMessage(self, caller: Any, text: str) -> str:
        certificate = caller.getPeerCertificate()
        self.seen.append((caller.isSecure(), certificate))
        return text


class ListenerTlsTests(ListenerMixin, TestCase):
    """A TLS listener, reached by websockets' client and by bws's."""

    def url(self, path: str = "/") -> str:
        return f"wss://localhost:{self.port}{path}"

    def context(self, clientCert: Any = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=_pki().ca)
        if clientCert is not None:
            context.load_cert_chain(clientCert.cert, clientCert.key)
        return context

    @inlineCallbacks
    def test_websocketsClient(self) -> Any:
        """websockets' client verifies the listener's certificate and echoes; the caller
        reports the connection as secure."""
        service = Peer()
        yield self.startListener(Upgrade(service), secureSocket=ListenerSecureSocket(
            key=CertKey(_pki().server.cert, _pki().server.key)))

        def client() -> str:
            with connect(self.url(), ssl=self.context()) as ws:
                ws.send("over tls")
                return ws.recv()

        self.assertEqual((yield inThread(client)), "over tls")
        self.assertEqual(service.seen, [(True, None)])

    @inlineCallbacks
    def test_bwsClient(self) -> Any:
        """bws's client speaks wss:// to the bws listener, trusting the test CA."""
        yield self.startListener(EchoUpgradeService(), secureSocket=ListenerSecureSocket(
            key=CertKey(_pki().server.cert, _pki().server.key)))
        client = yield bws.Client.connect(
            self.url(), secureSocket=ClientSecureSocket(cert=_pki().ca))
        self.assertTrue(client.isSecure())
        yield client.writeTextMessage("bws to bws")
        self.assertEqual((yield client.readTextMessage()), "bws to bws")
        yield client.close()

    @inlineCallbacks
    def test_peerCloseWithOnCloseEndsTls(self) -> Any:
        """A service with ``onClose``: after the client's close is answered, the TLS
        connection ends (the listener's ``connections`` empties, so ``gracefulStop`` does
        not hang waiting for it)."""
        closed: list[tuple[int, str]] = []

        class Closing:
            def onTextMessage(self, caller: Any, text: str) -> str:
                return text

            def onClose(self, caller: Any, statusCode: int, reason: str) -> None:
                closed.append((statusCode, reason))

        yield self.startListener(Upgrade(Closing()), secureSocket=ListenerSecureSocket(
            key=CertKey(_pki().server.cert, _pki().server.key)))
        client = yield bws.Client.connect(
            self.url(), secureSocket=ClientSecureSocket(cert=_pki().ca))
        yield client.writeTextMessage("hi")
        self.assertEqual((yield client.readTextMessage()), "hi")
        [connection] = self.listener.resource.connections
        lost = connection.whenLost()
        yield client.close(1000, "bye")
        yield lost
        self.assertEqual(closed, [(1000, "bye")])
        yield self.listener.gracefulStop()

    test_peerCloseWithOnCloseEndsTls.timeout = 30  # type: ignore[attr-defined]

    @inlineCallbacks
    def test_untrustedRefused(self) -> Any:
        """Without the CA, bws's client refuses the listener with an SslError."""
        yield self.startListener(EchoUpgradeService(), secureSocket=ListenerSecureSocket(
            key=CertKey(_pki().server.cert, _pki().server.key)))
        d = bws.Client.connect(self.url(), secureSocket=ClientSecureSocket(cert=_pki().otherCa))
        error = yield self.assertFailure(d, bws.SslError)
        self.assertIn("certificate", str(error).lower())

    @inlineCallbacks
    def test_mutualTls(self) -> Any:
        """With mutual TLS required, a client certificate from the trusted CA is accepted
        and visible to the service; a client without one is refused."""
        service = Peer()
        yield self.startListener(Upgrade(service), secureSocket=ListenerSecureSocket(
            key=CertKey(_pki().server.cert, _pki().server.key),
            mutualSsl=MutualSsl(verifyClient=bws.tls.REQUIRE, cert=_pki().ca)))

        def client(cert: Any) -> str:
            with connect(self.url(), ssl=self.context(cert)) as ws:
                ws.send("mtls")
                return ws.recv()

        self.assertEqual((yield inThread(client, _pki().client)), "mtls")
        secure, certificate = service.seen[0]
        self.assertTrue(secure)
        self.assertIn("client.bws.test", certificate.subject.rfc4514_string() + str(
            certificate.extensions))
        d = inThread(client, None)
        yield self.assertFailure(d, Exception)

    @inlineCallbacks
    def test_twistdOptions(self) -> Any:
        """``twistd bws --cert --key --client-ca`` makes a listener that serves wss://."""
        options = Options()
        options.parseOptions(["--port", "0", "--host", "127.0.0.1",
                              "--cert", _pki().server.cert, "--key", _pki().server.key,
                              "--client-ca", _pki().ca, "--verify-client", "optional",
                              "--tls-versions", "TLSv1.3"])
        [(listener, _)] = makeService(options).listeners  # bound by makeService
        self.addCleanup(listener.immediateStop)
        self.port = listener.listeningPort

        def client() -> tuple[str, str]:
            with connect(self.url(), ssl=self.context()) as ws:
                ws.send("twistd tls")
                return ws.recv(), ws.socket.version()

        self.assertEqual((yield inThread(client)), ("twistd tls", "TLSv1.3"))


class ClientAgainstWebsocketsTests(TestCase):
    """bws's client against a websockets TLS server (an implementation bws did not write)."""

    @inlineCallbacks
    def test_echo(self) -> Any:
        """bws's client verifies the websockets server's certificate and echoes."""
        from websockets.sync.server import serve

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(_pki().server.cert, _pki().server.key)

        def echo(ws: Any) -> None:
            for message in ws:
                ws.send(message)

        server = serve(echo, "127.0.0.1", 0, ssl=context)
        thread = threading.Thread(target=server.serve_forever)
        thread.start()

        def shutdown() -> None:
            server.shutdown()
            thread.join(5)

        # Off the reactor thread: shutdown waits for the client's side to close its socket.
        self.addCleanup(inThread, shutdown)
        port = server.socket.getsockname()[1]
        client = yield bws.Client.connect(
            f"wss://localhost:{port}/", secureSocket=ClientSecureSocket(cert=_pki().ca))
        self.assertTrue(client.isSecure())
        yield client.writeTextMessage("to websockets")
        self.assertEqual((yield client.readTextMessage()), "to websockets")
        yield client.close()
