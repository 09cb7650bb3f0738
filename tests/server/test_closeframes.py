"""The server and the peer's close frames (RFC 6455 §5.5.1, §7.1.7, §7.4), raw bytes in memory.

Every close code the wire allows is echoed; a malformed close is answered with a close frame
the peer can read (1002, or 1007 for a reason that is not UTF-8), and TCP is closed after it,
never reset under it.
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

import bws
from bws.testing import MemoryListener
from tests.rawpeers import RawPeer, closeCode, closePayload, rawUpgrade

#: Every code a peer may put in a close frame (RFC 6455 §7.4, the IANA registry).
WIRE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
              3000, 3999, 4000, 4999]

#: Close payloads that are not valid on the wire, with the code that answers them.
MALFORMED = {
    "code 1005": (closePayload(1005), 1002),
    "code 1006": (closePayload(1006), 1002),
    "code 1015": (closePayload(1015), 1002),
    "code 1004": (closePayload(1004), 1002),
    "code 1016": (closePayload(1016), 1002),
    "code 2000": (closePayload(2000), 1002),
    "code 2999": (closePayload(2999), 1002),
    "code 999": (closePayload(999), 1002),
    "code 0": (closePayload(0), 1002),
    "code 5000": (closePayload(5000), 1002),
    "code 65535": (closePayload(65535), 1002),
    "a 1-byte payload": (b"\x03", 1002),
    "a reason that is not UTF-8": (closePayload(1000, b"\xff\xfe"), 1007),
    "a reason cut inside a character": (closePayload(1000, "é".encode()[:1]), 1007),
    "an encoded surrogate in the reason": (closePayload(1001, b"\xed\xa0\x80"), 1007),
}


class Recorder:
    """A service recording ``onClose`` and ``onError``."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.caller: Any = None

    def onOpen(self, caller: Any) -> None:
        self.caller = caller

    def onTextMessage(self, caller: Any, text: str) -> str:
        return text

    def onClose(self, caller: Any, statusCode: int, reason: str) -> None:
        self.events.append(("close", statusCode, reason))

    def onError(self, caller: Any, error: Exception) -> None:
        self.events.append(("error", type(error), str(error)))


class Upgrade:
    def __init__(self, service: Any) -> None:
        self.service = service

    def get(self, request: Any) -> Any:
        return self.service


def serve(compressed: bool = False) -> tuple[MemoryListener, Recorder, RawPeer]:
    """A listener, its service, and a raw peer upgraded to it (with permessage-deflate when
    ``compressed``)."""
    service = Recorder()
    listener = MemoryListener()
    listener.attach(Upgrade(service))
    extra = "Sec-WebSocket-Extensions: permessage-deflate\r\n" if compressed else ""
    peer = rawUpgrade(listener, extra=extra)
    return listener, service, peer


class ReceivedCodeTests(SynchronousTestCase):
    """Every close code valid on the wire is accepted, reported and echoed."""

    def assertEchoed(self, code: int, compressed: bool) -> None:
        listener, service, peer = serve(compressed)
        peer.sendClose(closePayload(code, b"bye"))
        listener.flush()
        self.assertEqual(service.events, [("close", code, "bye")], code)
        self.assertEqual(peer.takeFrames(), [(8, True, closePayload(code, b"bye"))], code)
        self.assertTrue(peer.disconnected, code)
        self.assertFalse(peer.wasReset, code)

    def test_everyWireCodeEchoed(self) -> None:
        """1000-1003, 1007-1014 and 3000-4999 are each echoed with their reason, then TCP
        is closed (not reset)."""
        for code in WIRE_CODES:
            self.assertEchoed(code, compressed=False)

    def test_everyWireCodeEchoedCompressed(self) -> None:
        """With permessage-deflate negotiated every wire code is echoed the same way."""
        for code in WIRE_CODES:
            self.assertEchoed(code, compressed=True)

    def test_1014Echoed(self) -> None:
        """1014 (bad gateway, IANA-registered) is echoed like 1012 and 1013, not refused."""
        self.assertEchoed(1014, compressed=False)

    def test_emptyCloseEchoedEmpty(self) -> None:
        """A close frame without a code reaches ``onClose`` as 1005 and is echoed empty."""
        listener, service, peer = serve()
        peer.sendClose(b"")
        listener.flush()
        self.assertEqual(service.events, [("close", 1005, "")])
        self.assertEqual(peer.takeFrames(), [(8, True, b"")])
        self.assertFalse(peer.wasReset)

    def test_answerToOwnCloseWith1014(self) -> None:
        """The server's own close answered with 1014 completes the handshake: ``close``
        fires and TCP is closed."""
        listener, service, peer = serve()
        closing = service.caller.close(4000, "done", 5)
        listener.flush()
        self.assertEqual(peer.takeFrames(), [(8, True, closePayload(4000, b"done"))])
        peer.sendClose(closePayload(1014))
        listener.flush()
        self.successResultOf(closing)
        self.assertTrue(peer.disconnected)
        self.assertFalse(peer.wasReset)


class MalformedCloseTests(SynchronousTestCase):
    """A malformed close is answered with a readable close frame, then TCP is closed."""

    def assertAnswered(self, name: str, payload: bytes, expected: int,
                       compressed: bool = False) -> None:
        listener, service, peer = serve(compressed)
        peer.sendClose(payload)
        listener.flush()
        frames = peer.takeFrames()
        self.assertEqual(len(frames), 1, name)
        opcode, fin, answer = frames[0]
        self.assertEqual((opcode, closeCode(answer)), (8, expected), name)
        self.assertTrue(peer.disconnected, name)
        self.assertFalse(peer.wasReset, name)
        errors = [event for event in service.events if event[0] == "error"]
        self.assertEqual(len(errors), 1, name)
        self.assertTrue(issubclass(errors[0][1], bws.CorruptedFrameError), name)
        self.assertNotIn("close", [event[0] for event in service.events], name)

    def test_code1005(self) -> None:
        """A close carrying 1005 gets a 1002 the peer reads, then TCP closed, not reset."""
        self.assertAnswered("1005", *MALFORMED["code 1005"])

    def test_onePayloadByte(self) -> None:
        """A close frame with a 1-byte payload gets 1002, then TCP closed, not reset."""
        self.assertAnswered("1 byte", *MALFORMED["a 1-byte payload"])

    def test_reasonNotUtf8(self) -> None:
        """A close reason that is not UTF-8 gets 1007, then TCP closed, not reset."""
        self.assertAnswered("utf-8", *MALFORMED["a reason that is not UTF-8"])

    def test_everyMalformedClose(self) -> None:
        """Every code invalid on the wire (0, 999, 1004-1006, 1015-2999, 5000 and up) gets
        1002, every non-UTF-8 reason 1007, each readable before TCP closes."""
        for name, (payload, expected) in MALFORMED.items():
            self.assertAnswered(name, payload, expected)

    def test_everyMalformedCloseCompressed(self) -> None:
        """With permessage-deflate negotiated the answers are the same."""
        for name, (payload, expected) in MALFORMED.items():
            self.assertAnswered(name, payload, expected, compressed=True)

    def test_malformedCloseAfterMessage(self) -> None:
        """A malformed close right behind a message (one read) still gets its close frame
        after the message's echo."""
        listener, service, peer = serve()
        peer.sendFrame(1, b"hello")
        peer.sendClose(closePayload(1006))
        listener.flush()
        frames = peer.takeFrames()
        self.assertEqual([(op, closeCode(p) if op == 8 else p) for op, _, p in frames],
                         [(1, b"hello"), (8, 1002)])
        self.assertFalse(peer.wasReset)

    def test_serverKeepsServing(self) -> None:
        """After a malformed close the listener still serves a well-behaved client."""
        listener, service, peer = serve()
        peer.sendClose(closePayload(5000))
        listener.flush()
        d = listener.connect("/")
        client = self.successResultOf(d)
        client.writeTextMessage("still here")
        listener.flush()
        self.assertEqual(self.successResultOf(client.readTextMessage()), "still here")

    def test_malformedAnswerToOwnClose(self) -> None:
        """A malformed answer to the server's own close ends the handshake: TCP closed,
        not reset (a second close frame cannot be sent)."""
        listener, service, peer = serve()
        service.caller.close(4000, "done", 5).addErrback(lambda f: None)
        listener.flush()
        peer.takeFrames()
        peer.sendClose(closePayload(1005))
        listener.flush()
        self.assertEqual(peer.takeFrames(), [])
        self.assertTrue(peer.disconnected)
        self.assertFalse(peer.wasReset)
