# -*- test-case-name: tests.test_http -*-
"""Tests for ``bws._http``: handshake header rules on plain values."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from bws._http import REASONS, normalizeOrigin, parseTokens, validKey


class NormalizeOriginTests(SynchronousTestCase):
    """``normalizeOrigin``."""

    def test_lowerCased(self) -> None:
        """Scheme and host are lower-cased; the port is kept."""
        self.assertEqual(normalizeOrigin(" HTTPS://App.Example:8443 "), "https://app.example:8443")

    def test_trailingSlash(self) -> None:
        """A bare ``/`` path is dropped."""
        self.assertEqual(normalizeOrigin("http://a.example/"), "http://a.example")

    def test_ipv6(self) -> None:
        """An IPv6 host keeps its brackets."""
        self.assertEqual(normalizeOrigin("http://[::1]:9090"), "http://[::1]:9090")

    def test_notOrigins(self) -> None:
        """Values without scheme or host, with a path or query, or a bad port are refused."""
        for value in ("null", "a.example", "http://a.example/x", "http://a.example?q",
                      "http://a.example:99999", "http://"):
            self.assertIsNone(normalizeOrigin(value), value)


class ParseTokensTests(SynchronousTestCase):
    """``parseTokens``."""

    def test_split(self) -> None:
        """Lists across fields split on commas, trimmed, empties dropped, case kept."""
        self.assertEqual(parseTokens(["keep-alive,  Upgrade", ", ,\tx\t", ""]),
                         ["keep-alive", "Upgrade", "x"])


class ValidKeyTests(SynchronousTestCase):
    """``validKey``."""

    def test_valid(self) -> None:
        """Base64 of 16 bytes is valid, as text or bytes, with whitespace around it."""
        self.assertTrue(validKey("dGhlIHNhbXBsZSBub25jZQ=="))
        self.assertTrue(validKey(b" dGhlIHNhbXBsZSBub25jZQ== "))

    def test_invalid(self) -> None:
        """Other lengths, non-base64 and non-ASCII text are invalid."""
        for key in ("YWJj", "dGhlIHNhbXBsZSBub25jZQ", "!!!!", "é", b"\xff" * 24, ""):
            self.assertFalse(validKey(key), key)


class ReasonTests(SynchronousTestCase):
    """``REASONS``."""

    def test_phrases(self) -> None:
        """Every status a listener answers has its RFC 9110 reason phrase."""
        self.assertEqual(REASONS[426], b"Upgrade Required")
        self.assertEqual(REASONS[431], b"Request Header Fields Too Large")
        self.assertEqual(sorted(REASONS),
                         [400, 401, 403, 404, 405, 413, 414, 426, 431, 500, 503])
