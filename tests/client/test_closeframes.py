"""The client and the server's close frames (RFC 6455 §5.5.1, §7.1.7, §7.4), raw bytes in
memory.

Every close code the wire allows is echoed; a malformed close is answered with a close frame
the server can read (1002, or 1007 for a reason that is not UTF-8), and TCP is never reset
under it.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

import bws
from bws.client._attempt import SERVER_DROP_WAIT
from tests.rawpeers import closeCode, closePayload, rawServerClient
from tests.server.test_closeframes import MALFORMED, WIRE_CODES


class ReceivedCodeTests(SynchronousTestCase):
    """Every close code valid on the wire is accepted, reported and echoed."""

    def assertEchoed(self, code: int, extensions: str | None) -> None:
        conn = rawServerClient(extensions)
        read = conn.client.readTextMessage()
        conn.server.sendClose(closePayload(code, b"bye"))
        conn.flush()
        error = self.failureResultOf(read, bws.ConnectionClosureError).value
        self.assertEqual(str(error), f"bye: Status code: {code}")
        self.assertEqual(conn.server.takeFrames(), [(8, True, closePayload(code, b"bye"))])
        self.assertFalse(conn.server.wasReset, code)

    def test_everyWireCodeEchoed(self) -> None:
        """1000-1003, 1007-1014 and 3000-4999 each end the pending read with their code and
        are echoed with their reason."""
        for code in WIRE_CODES:
            self.assertEchoed(code, None)

    def test_everyWireCodeEchoedCompressed(self) -> None:
        """With permessage-deflate agreed every wire code is echoed the same way."""
        for code in WIRE_CODES:
            self.assertEchoed(code, "permessage-deflate")

    def test_1014Echoed(self) -> None:
        """1014 is echoed, not answered 1002 "invalid close code"."""
        self.assertEchoed(1014, None)


class MalformedCloseTests(SynchronousTestCase):
    """A malformed close from the server gets a close frame it can read."""

    def assertAnswered(self, name: str, payload: bytes, expected: int,
                       extensions: str | None = None) -> None:
        conn = rawServerClient(extensions)
        read = conn.client.readTextMessage()
        conn.server.sendClose(payload)
        conn.flush()
        self.failureResultOf(read, bws.CorruptedFrameError)
        frames = conn.server.takeFrames()
        self.assertEqual([(op, closeCode(p)) for op, _, p in frames], [(8, expected)], name)
        self.assertFalse(conn.server.wasReset, name)
        self.assertFalse(conn.client.isOpen(), name)

    def test_code1005(self) -> None:
        """A close carrying 1005 is answered 1002."""
        self.assertAnswered("1005", *MALFORMED["code 1005"])

    def test_onePayloadByte(self) -> None:
        """A close frame with a 1-byte payload is answered 1002."""
        self.assertAnswered("1 byte", *MALFORMED["a 1-byte payload"])

    def test_reasonNotUtf8(self) -> None:
        """A close reason that is not UTF-8 is answered 1007."""
        self.assertAnswered("utf-8", *MALFORMED["a reason that is not UTF-8"])

    def test_everyMalformedClose(self) -> None:
        """Every code invalid on the wire gets 1002, every non-UTF-8 reason 1007."""
        for name, (payload, expected) in MALFORMED.items():
            self.assertAnswered(name, payload, expected)

    def test_everyMalformedCloseCompressed(self) -> None:
        """With permessage-deflate agreed the answers are the same."""
        for name, (payload, expected) in MALFORMED.items():
            self.assertAnswered(name, payload, expected, "permessage-deflate")

    def test_serverClosesTcpFirst(self) -> None:
        """After answering, the client leaves TCP to the server for a while (RFC 6455
        §7.1.1), then drops it itself; the answer was delivered first."""
        conn = rawServerClient()
        conn.server.sendClose(closePayload(999))
        conn.flush()
        self.assertEqual([closeCode(p) for _, _, p in conn.server.takeFrames()], [1002])
        self.assertFalse(conn.server.disconnected)
        conn.advance(SERVER_DROP_WAIT)
        self.assertTrue(conn.server.disconnected)
