# -*- test-case-name: tests.test_frames -*-
"""Pure helpers for RFC 6455 frames: unmasking small payloads, cutting UTF-8 safely."""

from __future__ import annotations

__all__ = ["unmaskSmall", "utf8Cut", "SMALL_UNMASK"]

#: Payloads up to this many bytes are unmasked with one big-integer XOR; larger ones are
#: worth a vectorised masker (the adapter uses Autobahn's C one).
SMALL_UNMASK = 2048


def unmaskSmall(payload: bytes, mask: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte ``mask`` (RFC 6455 §5.3) as one big integer."""
    n = len(payload)
    if not n:
        return b""
    key = mask * ((n + 3) >> 2)
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key[:n], "little")).to_bytes(
        n, "little")


def utf8Cut(payload: bytes, end: int) -> int:
    """The largest index <= ``end`` that does not split a UTF-8 sequence of ``payload``.

    Used to fragment text messages and to cut close reasons to 123 bytes between
    characters. When no boundary precedes ``end``, ``end`` itself is returned.
    """
    start = end
    while end > 0 and (payload[end] & 0xC0) == 0x80:
        end -= 1
    return end if end > 0 else start
