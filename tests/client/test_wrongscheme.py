"""A ``wss://`` client whose server does not speak TLS is told so, naming the server
(``bws.tls._wording.notTlsError`` and ``Client.lostDuringHandshake``)."""

from __future__ import annotations

from OpenSSL import SSL
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from bws.client._client import Client, parseUrl
from bws.config import ClientConfiguration
from bws.errors import ConnectionError, SslError
from bws.tls import sslErrorFromFailure
from bws.tls._wording import notTlsError


def openSSL(reason: str) -> SSL.Error:
    return SSL.Error([("SSL routines", "", reason)])


class NotTlsWordingTests(SynchronousTestCase):
    """``notTlsError``: OpenSSL's words for bytes that are not TLS records."""

    def test_plainAnswers(self) -> None:
        """"wrong version number" and "packet length too long" (a plain HTTP answer read
        as a record) say the server does not speak TLS; the OpenSSL error is the cause."""
        for reason in ("wrong version number", "packet length too long"):
            original = openSSL(reason)
            error = notTlsError(original, "chat.example", 9090)
            assert error is not None
            self.assertEqual(str(error), "TLS handshake failed: the server at chat.example:9090 "
                                         f"does not speak TLS (is it ws:// rather than wss://?) "
                                         f"[{reason}]")
            self.assertIs(error.__cause__, original)

    def test_wordedAlready(self) -> None:
        """An ``SslError`` the TLS transport already worded is looked through to its cause."""
        worded = sslErrorFromFailure(openSSL("wrong version number"))
        error = notTlsError(worded, "h", 1)
        assert error is not None
        self.assertIn("the server at h:1 does not speak TLS", str(error))

    def test_otherFailures(self) -> None:
        """Other TLS failures, other errors and no error at all are not this one."""
        for exception in (openSSL("certificate verify failed"), SslError("x"),
                          ValueError("wrong version number"), None):
            self.assertIsNone(notTlsError(exception, "h", 1))

    def test_genericWords(self) -> None:
        """Without a server to name, the TLS wording says the peer does not speak TLS."""
        self.assertIn("the peer does not speak TLS",
                      str(sslErrorFromFailure(openSSL("packet length too long"))))


class LostDuringHandshakeTests(SynchronousTestCase):
    """``Client.lostDuringHandshake`` names the server for ``wss://`` only."""

    def client(self, url: str) -> Client:
        return Client(parseUrl(url), ClientConfiguration(), None, None)  # type: ignore[arg-type]

    def test_wss(self) -> None:
        """A wss:// attempt ended by a plain answer: the server does not speak TLS."""
        error = self.client("wss://chat.example:9090/").lostDuringHandshake(
            Failure(sslErrorFromFailure(openSSL("wrong version number"))))
        self.assertIsInstance(error, SslError)
        self.assertTrue(str(error).startswith(
            "TLS handshake failed: the server at chat.example:9090 does not speak TLS "
            "(is it ws:// rather than wss://?)"), str(error))

    def test_otherTlsFailuresUnchanged(self) -> None:
        """Another TLS failure is the transport's own SslError, unchanged."""
        worded = sslErrorFromFailure(openSSL("certificate verify failed"))
        self.assertIs(self.client("wss://h/").lostDuringHandshake(Failure(worded)), worded)

    def test_plainLoss(self) -> None:
        """A ws:// attempt that lost TCP is an IO error, as before."""
        error = self.client("ws://h/").lostDuringHandshake(Failure(OSError("reset")))
        self.assertIsInstance(error, ConnectionError)
        self.assertEqual(str(error), "IO Error: reset")
