"""The one close-code rule of ``bws.closeframe``: what may be sent, what may be received."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from bws.closeframe import closeFrameFault, isValidCloseCode


class CloseCodeRuleTests(SynchronousTestCase):
    """``isValidCloseCode`` for both directions, and ``closeFrameFault``."""

    def test_receivedWireCodes(self) -> None:
        """Received, 1000-1003, 1007-1014 and 3000-4999 are valid (RFC 6455 §7.4, IANA)."""
        for code in [*range(1000, 1004), *range(1007, 1015), 3000, 3999, 4000, 4999]:
            self.assertTrue(isValidCloseCode(code, received=True), code)

    def test_receivedInvalidCodes(self) -> None:
        """Received, 0-999, 1004-1006, 1015-2999 and 5000 and up are invalid."""
        for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535, -1]:
            self.assertFalse(isValidCloseCode(code, received=True), code)

    def test_registeredCodesNotSentFirst(self) -> None:
        """1012-1014 are echoed when received but not sent first (the reference's range)."""
        for code in (1012, 1013, 1014):
            self.assertFalse(isValidCloseCode(code), code)
            self.assertTrue(isValidCloseCode(code, received=True), code)

    def test_receivedBoolIsNotACode(self) -> None:
        """``True`` is not a close code in either direction."""
        self.assertFalse(isValidCloseCode(True, received=True))

    def test_faultFree(self) -> None:
        """A valid code with a UTF-8 reason, or no code at all, is well-formed."""
        self.assertIsNone(closeFrameFault(1014, b"passerelle"))
        self.assertIsNone(closeFrameFault(4000, "é".encode()))
        self.assertIsNone(closeFrameFault(None, None))
        self.assertIsNone(closeFrameFault(1000, b""))

    def test_faultInvalidCode(self) -> None:
        """An invalid code is a 1002 fault naming the code."""
        self.assertEqual(closeFrameFault(1005, None), (1002, "invalid close code 1005"))
        self.assertEqual(closeFrameFault(5000, b"x"), (1002, "invalid close code 5000"))

    def test_faultReasonNotUtf8(self) -> None:
        """A reason that is not UTF-8 is a 1007 fault."""
        self.assertEqual(closeFrameFault(1000, b"\xff"),
                         (1007, "invalid close reason (non-UTF8 payload)"))
        self.assertEqual(closeFrameFault(1000, b"\xed\xa0\x80")[0], 1007)  # type: ignore[index]
