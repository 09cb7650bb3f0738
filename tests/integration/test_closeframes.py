"""Close frames on a real socket: the peer reads the server's answer, then a clean end of file
(never ``ECONNRESET``), for a registered code (1014) and for malformed closes."""

from __future__ import annotations

import struct
from typing import Any

from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from bws.testing.echo import EchoUpgradeService
from tests.helpers import closeCode, frame
from tests.integration.helpers import ListenerMixin, inThread, rawUpgrade, readFrame


def closeThenEof(port: int, payload: bytes) -> tuple[int | None, bytes, bytes]:
    """Send a close frame carrying ``payload``; the answer's code and reason, and what the
    socket reads after it (``b""``: a clean end of file; a reset raises)."""
    s = rawUpgrade(port)
    try:
        s.sendall(frame(8, payload))
        op, _, answer = readFrame(s)
        assert op == 8, op
        return closeCode(answer), answer[2:], s.recv(1)
    finally:
        s.close()


class CloseFrameWireTests(ListenerMixin, TestCase):
    """The server's answers to a peer's close, byte for byte on loopback."""

    @inlineCallbacks
    def test_1014Echoed(self) -> Any:
        """A close with 1014 is echoed with its reason, then TCP ends cleanly."""
        yield self.startListener(EchoUpgradeService())
        result = yield inThread(closeThenEof, self.port, struct.pack("!H", 1014) + b"gw")
        self.assertEqual(result, (1014, b"gw", b""))

    @inlineCallbacks
    def test_code1005Answered1002(self) -> Any:
        """A close carrying 1005 is answered 1002, readable, then TCP ends cleanly."""
        yield self.startListener(EchoUpgradeService())
        code, _, rest = yield inThread(closeThenEof, self.port, struct.pack("!H", 1005))
        self.assertEqual((code, rest), (1002, b""))

    @inlineCallbacks
    def test_onePayloadByteAnswered1002(self) -> Any:
        """A close frame with a 1-byte payload is answered 1002, then TCP ends cleanly."""
        yield self.startListener(EchoUpgradeService())
        code, _, rest = yield inThread(closeThenEof, self.port, b"\x03")
        self.assertEqual((code, rest), (1002, b""))

    @inlineCallbacks
    def test_reasonNotUtf8Answered1007(self) -> Any:
        """A close reason that is not UTF-8 is answered 1007, then TCP ends cleanly."""
        yield self.startListener(EchoUpgradeService())
        code, _, rest = yield inThread(closeThenEof, self.port,
                                       struct.pack("!H", 1000) + b"\xff")
        self.assertEqual((code, rest), (1007, b""))
