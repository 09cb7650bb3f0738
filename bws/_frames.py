# -*- test-case-name: tests.test_frames -*-
"""Pure helpers for RFC 6455 frames: unmasking small payloads, cutting UTF-8 safely,
encoding a whole unmasked frame."""

from __future__ import annotations

import struct

__all__ = ["unmaskSmall", "utf8Cut", "serverFrame", "SMALL_UNMASK"]

_HEADER16 = struct.Struct("!BBH").pack
_HEADER64 = struct.Struct("!BBQ").pack

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


def serverFrame(first: int, payload: bytes) -> bytes:
    """One whole unmasked frame (a server's, RFC 6455 §5.2): ``first`` is the header's first
    byte (FIN|RSV|opcode), then the 7, 16 or 64-bit length and ``payload``."""
    n = len(payload)
    if n < 126:
        return bytes((first, n)) + payload
    if n < 65536:
        return _HEADER16(first, 126, n) + payload
    return _HEADER64(first, 127, n) + payload
