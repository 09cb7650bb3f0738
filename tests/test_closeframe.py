# -*- test-case-name: tests.test_closeframe -*-
"""Tests for ``bws.closeframe``."""

from __future__ import annotations

import dataclasses

from twisted.trial.unittest import SynchronousTestCase

from bws.closeframe import (
    CUSTOM_CLOSE_FRAME,
    GOING_AWAY,
    INTERNAL_SERVER_ERROR,
    INVALID_PAYLOAD,
    MAX_CLOSE_REASON_BYTES,
    MESSAGE_TOO_BIG,
    NORMAL_CLOSURE,
    POLICY_VIOLATION,
    PREDEFINED_CLOSE_FRAME,
    PROTOCOL_ERROR,
    UNSUPPORTED_DATA,
    CloseFrame,
    CustomCloseFrame,
    CustomCloseFrameType,
    GoingAway,
    InternalServerError,
    InvalidPayload,
    MessageTooBig,
    NormalClosure,
    PolicyViolation,
    PredefinedCloseFrameType,
    ProtocolError,
    UnsupportedData,
    checkCloseReason,
    isCloseFrame,
    isValidCloseCode,
    truncateUtf8,
)

PREDEFINED = [
    (NORMAL_CLOSURE, NormalClosure, 1000, None),
    (GOING_AWAY, GoingAway, 1001, None),
    (PROTOCOL_ERROR, ProtocolError, 1002, "Connection closed due to protocol error"),
    (UNSUPPORTED_DATA, UnsupportedData, 1003, "Endpoint received unsupported frame"),
    (
        INVALID_PAYLOAD,
        InvalidPayload,
        1007,
        "Payload does not match the expected format or encoding",
    ),
    (POLICY_VIOLATION, PolicyViolation, 1008, "Received message violates its policy"),
    (
        MESSAGE_TOO_BIG,
        MessageTooBig,
        1009,
        "The received message exceeds the allowed size limit",
    ),
    (INTERNAL_SERVER_ERROR, InternalServerError, 1011, "Internal server error occurred"),
]


class PredefinedCloseFrameTests(SynchronousTestCase):
    """The predefined close frames and their constants."""

    def test_constants(self) -> None:
        """Each constant has the spec's status and reason and is an instance of its record."""
        for constant, recordType, status, reason in PREDEFINED:
            self.assertIsInstance(constant, recordType)
            self.assertIsInstance(constant, CloseFrame)
            self.assertEqual((constant.status, constant.reason), (status, reason))

    def test_recordDefaultsEqualConstant(self) -> None:
        """Building a predefined record with no arguments gives a frame equal to its constant."""
        for constant, recordType, _, _ in PREDEFINED:
            self.assertEqual(recordType(), constant)
            self.assertEqual(hash(recordType()), hash(constant))

    def test_predefinedType(self) -> None:
        """Every predefined frame's ``type`` is ``PREDEFINED_CLOSE_FRAME``."""
        for constant, recordType, _, _ in PREDEFINED:
            self.assertIs(constant.type, PREDEFINED_CLOSE_FRAME)
            self.assertIs(recordType.type, PREDEFINED_CLOSE_FRAME)
        self.assertIsInstance(PREDEFINED_CLOSE_FRAME, PredefinedCloseFrameType)

    def test_reasonOverride(self) -> None:
        """A predefined record takes its own reason but keeps its status."""
        frame = ProtocolError("bad frame")
        self.assertEqual((frame.status, frame.reason), (1002, "bad frame"))
        self.assertEqual(NormalClosure(reason="bye").reason, "bye")

    def test_statusFixed(self) -> None:
        """A predefined record's status is not a constructor argument."""
        self.assertRaises(TypeError, NormalClosure, status=4000)  # type: ignore[call-arg]

    def test_frozen(self) -> None:
        """Close frames are immutable."""
        self.assertRaises(
            dataclasses.FrozenInstanceError, setattr, NORMAL_CLOSURE, "reason", "changed"
        )

    def test_predefinedAreValid(self) -> None:
        """Every predefined frame has a status that may be sent."""
        for constant, _, _, _ in PREDEFINED:
            self.assertTrue(constant.isValid)


class CustomCloseFrameTests(SynchronousTestCase):
    """``CustomCloseFrame`` and the ``CloseFrame`` base."""

    def test_custom(self) -> None:
        """A custom frame carries its status, reason and ``CUSTOM_CLOSE_FRAME`` type."""
        frame = CustomCloseFrame(4000, "custom")
        self.assertEqual((frame.status, frame.reason), (4000, "custom"))
        self.assertIs(frame.type, CUSTOM_CLOSE_FRAME)
        self.assertIsInstance(CUSTOM_CLOSE_FRAME, CustomCloseFrameType)
        self.assertTrue(frame.isValid)

    def test_customReasonOptional(self) -> None:
        """A custom frame's reason defaults to ``None``."""
        self.assertIsNone(CustomCloseFrame(3000).reason)

    def test_invalidStatusConstructible(self) -> None:
        """A custom frame with a status that cannot be sent can be built, and says so."""
        frame = CustomCloseFrame(5555, "nope")
        self.assertEqual(frame.status, 5555)
        self.assertFalse(frame.isValid)

    def test_baseNotConstructible(self) -> None:
        """The ``CloseFrame`` union base cannot be built directly."""
        self.assertRaises(TypeError, CloseFrame, 1000)

    def test_statusMustBeInt(self) -> None:
        """A status that is not an ``int`` (a ``bool`` included) is refused."""
        self.assertRaises(TypeError, CustomCloseFrame, "4000")
        self.assertRaises(TypeError, CustomCloseFrame, True)

    def test_reasonTooLong(self) -> None:
        """A reason over 123 UTF-8 bytes is refused with a message giving the size."""
        CustomCloseFrame(4000, "a" * MAX_CLOSE_REASON_BYTES)
        error = self.assertRaises(ValueError, CustomCloseFrame, 4000, "é" * 62)
        self.assertIn("124 bytes", str(error))
        self.assertIn("123", str(error))

    def test_reasonType(self) -> None:
        """A reason that is not a ``str`` is refused."""
        self.assertRaises(TypeError, CustomCloseFrame, 4000, b"bytes")

    def test_isCloseFrame(self) -> None:
        """``isCloseFrame`` recognises close frames and nothing else."""
        self.assertTrue(isCloseFrame(NORMAL_CLOSURE))
        self.assertTrue(isCloseFrame(CustomCloseFrame(4001)))
        self.assertFalse(isCloseFrame({"status": 1000}))
        self.assertFalse(isCloseFrame(1000))


class CloseCodeTests(SynchronousTestCase):
    """``isValidCloseCode`` and the reason helpers."""

    def test_validCodes(self) -> None:
        """1000-1003, 1007-1011 and 3000-4999 may be sent."""
        for code in [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4000, 4999]:
            self.assertTrue(isValidCloseCode(code), code)

    def test_invalidCodes(self) -> None:
        """Reserved, unassigned and out-of-range codes may not be sent."""
        for code in [0, 999, 1004, 1005, 1006, 1012, 1015, 2999, 5000, 5555, -1]:
            self.assertFalse(isValidCloseCode(code), code)

    def test_boolIsNotACode(self) -> None:
        """``True`` is not the close code 1."""
        self.assertFalse(isValidCloseCode(True))

    def test_checkCloseReason(self) -> None:
        """``checkCloseReason`` accepts ``None`` and short text and refuses long text."""
        checkCloseReason(None)
        checkCloseReason("x" * 123)
        self.assertRaises(ValueError, checkCloseReason, "x" * 124)
        self.assertRaises(TypeError, checkCloseReason, 12)

    def test_truncateFits(self) -> None:
        """Text that fits is returned unchanged."""
        self.assertEqual(truncateUtf8("hello", 5), "hello")

    def test_truncateAscii(self) -> None:
        """Cut text ends with the ellipsis, within the limit."""
        self.assertEqual(truncateUtf8("abcdefghij", 8), "abcde...")

    def test_truncateCharacterBoundary(self) -> None:
        """A cut never splits a multi-byte character."""
        result = truncateUtf8("é" * 100, 10)
        encoded = result.encode("utf-8")
        self.assertLessEqual(len(encoded), 10)
        self.assertEqual(result, "ééé...")

    def test_truncateTinyLimit(self) -> None:
        """A limit smaller than the ellipsis gives the empty string."""
        self.assertEqual(truncateUtf8("abcdef", 2), "")
