# -*- test-case-name: tests.server.test_deflate,tests.client.test_deflate -*-
"""permessage-deflate negotiation on plain values (RFC 7692 §5, §7.1): offers judged one
by one, the server's answer, the client's check of that answer, and the frame-size slack a
compressed frame may need."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["EXTENSION", "CLIENT_OFFER", "CLIENT_WINDOW_BITS", "Agreement", "NegotiationError", "parseExtensions",
           "acceptOffers", "checkAnswer", "deflatedBound"]

#: The extension's registered name (RFC 7692 §7).
EXTENSION = "permessage-deflate"

#: What a bws client offers: the extension, and that the server may limit the client's
#: window (RFC 7692 §7.1.2.2). No ``client_no_context_takeover`` hint: the client does take
#: its context over unless the server's answer asks it not to (§7.1.1.2).
CLIENT_OFFER = "permessage-deflate; client_max_window_bits"

#: The largest window a server asks of a client that lets it choose
#: (``client_max_window_bits`` offered without a value, or with a larger one, RFC 7692
#: §7.1.2.2): the server's inflater then holds 2 KiB of history instead of 32 KiB.
CLIENT_WINDOW_BITS = 11

#: One ``name[=value]`` extension parameter; ``None`` when it has no value.
Param = tuple[str, str | None]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_QUOTED = re.compile(r'"((?:[^"\\\r\n]|\\[^\r\n])*)"')
_ESCAPE = re.compile(r"\\(.)")
_SPACE = " \t"
#: A window size: a decimal integer from 8 to 15 without leading zeros (RFC 7692 §7.1.2).
_BITS = re.compile(r"8|9|1[0-5]")


class NegotiationError(ValueError):
    """The server's answer names an extension or parameter the client cannot accept
    (RFC 6455 §9.1, RFC 7692 §5); the message says which."""


@dataclass(frozen=True)
class Agreement:
    """The agreed permessage-deflate parameters of one connection (RFC 7692 §7.1).

    A window size is the base-2 logarithm of the LZ77 window, 8 to 15; ``None`` leaves it
    at 15.
    """

    #: The server starts each message with an empty window (§7.1.1.1).
    serverNoContextTakeover: bool = False
    #: The client starts each message with an empty window (§7.1.1.2).
    clientNoContextTakeover: bool = False
    #: The largest window the server compresses with (§7.1.2.1).
    serverMaxWindowBits: int | None = None
    #: The largest window the client compresses with (§7.1.2.2).
    clientMaxWindowBits: int | None = None

    def responseHeader(self) -> str:
        """The ``Sec-WebSocket-Extensions`` value a server answers with."""
        parts = [EXTENSION]
        if self.serverNoContextTakeover:
            parts.append("server_no_context_takeover")
        if self.clientNoContextTakeover:
            parts.append("client_no_context_takeover")
        if self.serverMaxWindowBits is not None:
            parts.append(f"server_max_window_bits={self.serverMaxWindowBits}")
        if self.clientMaxWindowBits is not None:
            parts.append(f"client_max_window_bits={self.clientMaxWindowBits}")
        return "; ".join(parts)


def deflatedBound(size: int) -> int:
    """The most bytes ``size`` bytes can take once deflated, whatever the deflater's memory
    level (zlib's conservative ``deflateBound``, raw deflate).

    A compressed frame is allowed this much on the wire for ``maxFrameSize``, so that a
    frame of ``maxFrameSize`` incompressible bytes is not refused for being compressed.
    """
    return size + ((size + 7) >> 3) + ((size + 63) >> 6) + 5


# -- parsing ------------------------------------------------------------------------------

def parseExtensions(values: Sequence[str]) -> list[tuple[str, list[Param]] | None]:
    """Split ``Sec-WebSocket-Extensions`` values into their elements (RFC 6455 §9.1), in
    linear time.

    :param values: every value of the header, in arrival order (a request may repeat it,
        RFC 6455 §11.3.2).
    :return: one entry per comma-separated element: its name, lower-cased, and its
        parameters ``(name lower-cased, value or None)`` in order, a quoted value unescaped;
        ``None`` for an element that breaks the grammar (the rest are still read). Empty
        elements are dropped.
    """
    out: list[tuple[str, list[Param]] | None] = []
    for value in values:
        pos, end = 0, len(value)
        while pos < end:
            pos = _skipSpace(value, pos)
            if pos < end and value[pos] == ",":
                pos += 1
                continue  # an empty element
            if pos >= end:
                break
            element, pos = _element(value, pos)
            out.append(element)
    return out


def _skipSpace(text: str, pos: int) -> int:
    end = len(text)
    while pos < end and text[pos] in _SPACE:
        pos += 1
    return pos


def _element(text: str, pos: int) -> tuple[tuple[str, list[Param]] | None, int]:
    """One element from ``pos``: it and the position after its comma."""
    name = _TOKEN.match(text, pos)
    if name is None:
        return None, _skipElement(text, pos)
    params: list[Param] = []
    pos = _skipSpace(text, name.end())
    end = len(text)
    while pos < end and text[pos] == ";":
        pos = _skipSpace(text, pos + 1)
        param = _TOKEN.match(text, pos)
        if param is None:
            return None, _skipElement(text, pos)
        pos = _skipSpace(text, param.end())
        value: str | None = None
        if pos < end and text[pos] == "=":
            pos = _skipSpace(text, pos + 1)
            token = _TOKEN.match(text, pos)
            if token is not None:
                value, pos = token.group(), token.end()
            else:
                quoted = _QUOTED.match(text, pos)
                if quoted is None:
                    return None, _skipElement(text, pos)
                # RFC 6455 §9.1: once unescaped, a quoted value must still be a token.
                value = _ESCAPE.sub(r"\1", quoted.group(1))
                pos = quoted.end()
                if not _TOKEN.fullmatch(value):
                    return None, _skipElement(text, pos)
            pos = _skipSpace(text, pos)
        params.append((param.group().lower(), value))
    if pos < end and text[pos] != ",":
        return None, _skipElement(text, pos)
    return (name.group().lower(), params), pos + 1


def _skipElement(text: str, pos: int) -> int:
    """The position after the next comma outside a quoted string (or the end)."""
    end = len(text)
    quoted = False
    while pos < end:
        char = text[pos]
        if quoted:
            if char == "\\":
                pos += 1
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == ",":
            return pos + 1
        pos += 1
    return end


# -- the server: the first offer it can accept ---------------------------------------------

def acceptOffers(values: Sequence[str]) -> Agreement | None:
    """The server's choice among a request's ``Sec-WebSocket-Extensions`` offers.

    Offers are judged one at a time, in the client's order of preference (RFC 7692 §5): an
    offer with an unknown parameter, a repeated one, or a value outside its rules is
    declined on its own and the next one is tried; other extensions are not bws's and are
    declined too (RFC 6455 §9.1). None acceptable: no compression, never a refusal.

    The answer keeps the client's limits on the server: ``server_no_context_takeover`` and
    ``server_max_window_bits`` (8 to 15, answered with the same value, §7.1.2.1). A
    ``client_no_context_takeover`` hint is accepted and echoed (§7.1.1.2: the server then
    keeps no inflater between messages). A ``client_max_window_bits`` offer without a
    value, or with one above :data:`CLIENT_WINDOW_BITS`, is answered with
    :data:`CLIENT_WINDOW_BITS` (§7.1.2.2); one at or below it is accepted and left out of
    the answer, and bws inflates with the largest window, which decodes every smaller one
    (and tolerates a client that rounds 8 up to 9).

    :param values: the request's header values.
    :return: the agreement to answer with, or ``None``.
    """
    for element in parseExtensions(values):
        if element is None or element[0] != EXTENSION:
            continue
        agreement = _offered(element[1])
        if agreement is not None:
            return agreement
    return None


def _offered(params: list[Param]) -> Agreement | None:
    """The agreement for one offer, or ``None`` when bws must decline it (RFC 7692 §5)."""
    seen: set[str] = set()
    serverNoContextTakeover = clientNoContextTakeover = False
    serverMaxWindowBits: int | None = None
    clientMaxWindowBits: int | None = None
    for name, value in params:
        if name in seen:
            return None
        seen.add(name)
        if name in ("server_no_context_takeover", "client_no_context_takeover"):
            if value is not None:
                return None
            if name == "server_no_context_takeover":
                serverNoContextTakeover = True
            else:
                clientNoContextTakeover = True
        elif name == "server_max_window_bits":
            if value is None or not _BITS.fullmatch(value):
                return None
            serverMaxWindowBits = int(value)
        elif name == "client_max_window_bits":
            if value is not None and not _BITS.fullmatch(value):
                return None
            if value is None or int(value) > CLIENT_WINDOW_BITS:
                clientMaxWindowBits = CLIENT_WINDOW_BITS
        else:
            return None
    return Agreement(serverNoContextTakeover=serverNoContextTakeover,
                     clientNoContextTakeover=clientNoContextTakeover,
                     serverMaxWindowBits=serverMaxWindowBits,
                     clientMaxWindowBits=clientMaxWindowBits)


# -- the client: the server's answer to CLIENT_OFFER ---------------------------------------

def checkAnswer(values: Sequence[str], offered: bool) -> Agreement | None:
    """Judge the server's ``Sec-WebSocket-Extensions`` answer to a bws client.

    :param values: the response's header values (none: no extension in use).
    :param offered: whether the client sent :data:`CLIENT_OFFER` (compression enabled).
    :return: the agreement, or ``None`` when the server accepted no extension.
    :raise NegotiationError: the header appears more than once (RFC 6455 §11.3.2); it names
        an extension the client did not offer, or permessage-deflate twice (RFC 6455 §9.1);
        or a parameter that is unknown, repeated, or has a value outside its rules
        (RFC 7692 §5, §7.1). The message names the extension and the parameter.
    """
    if len(values) > 1:
        raise NegotiationError("Sec-WebSocket-Extensions appears more than once")
    agreement: Agreement | None = None
    for element in parseExtensions(values):
        if element is None:
            raise NegotiationError(
                f"malformed Sec-WebSocket-Extensions header {values[0]!r}")
        name, params = element
        if name != EXTENSION or not offered:
            raise NegotiationError(
                f"the server accepted extension '{name}', which the client did not offer")
        if agreement is not None:
            raise NegotiationError(f"the server accepted extension '{name}' more than once")
        agreement = _answered(params)
    return agreement


def _answered(params: list[Param]) -> Agreement:
    """The agreement of a permessage-deflate answer; every parameter is checked."""
    seen: set[str] = set()
    flags: dict[str, bool] = {}
    bits: dict[str, int] = {}
    for name, value in params:
        if name in seen:
            raise NegotiationError(f"{EXTENSION} parameter '{name}' appears more than once")
        seen.add(name)
        if name in ("server_no_context_takeover", "client_no_context_takeover"):
            if value is not None:
                raise NegotiationError(
                    f"{EXTENSION} parameter '{name}' has a value ('{value}'); it takes none")
            flags[name] = True
        elif name in ("server_max_window_bits", "client_max_window_bits"):
            # In an answer both need a value (§7.1.2); client_max_window_bits is allowed
            # because CLIENT_OFFER has it.
            if value is None or not _BITS.fullmatch(value):
                raise NegotiationError(
                    f"{EXTENSION} parameter '{name}' has an invalid value "
                    f"{'(none)' if value is None else repr(value)}; expected 8 to 15")
            bits[name] = int(value)
        else:
            raise NegotiationError(f"{EXTENSION} parameter '{name}' is unknown")
    return Agreement(
        serverNoContextTakeover=flags.get("server_no_context_takeover", False),
        clientNoContextTakeover=flags.get("client_no_context_takeover", False),
        serverMaxWindowBits=bits.get("server_max_window_bits"),
        clientMaxWindowBits=bits.get("client_max_window_bits"))
