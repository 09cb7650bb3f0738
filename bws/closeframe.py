# -*- test-case-name: tests.test_closeframe -*-
"""``CloseFrame`` values a callback returns to close its connection, and close-code rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, final

__all__ = [
    "MAX_CLOSE_REASON_BYTES",
    "CloseFrameType",
    "PredefinedCloseFrameType",
    "CustomCloseFrameType",
    "PREDEFINED_CLOSE_FRAME",
    "CUSTOM_CLOSE_FRAME",
    "CloseFrame",
    "NormalClosure",
    "GoingAway",
    "ProtocolError",
    "UnsupportedData",
    "InvalidPayload",
    "PolicyViolation",
    "MessageTooBig",
    "InternalServerError",
    "CustomCloseFrame",
    "NORMAL_CLOSURE",
    "GOING_AWAY",
    "PROTOCOL_ERROR",
    "UNSUPPORTED_DATA",
    "INVALID_PAYLOAD",
    "POLICY_VIOLATION",
    "MESSAGE_TOO_BIG",
    "INTERNAL_SERVER_ERROR",
    "isValidCloseCode",
    "closeFrameFault",
    "isCloseFrame",
    "checkCloseReason",
    "truncateUtf8",
]

MAX_CLOSE_REASON_BYTES: Final = 123
"""A close frame's payload is at most 125 bytes, two of them the status code (RFC 6455 §5.5)."""


class CloseFrameType:
    """The marker carried by every ``CloseFrame`` in its ``type`` attribute."""

    __slots__ = ()
    _name: ClassVar[str] = "CloseFrameType"

    def __repr__(self) -> str:
        return self._name


@final
class PredefinedCloseFrameType(CloseFrameType):
    """The marker of the predefined frames (``NormalClosure`` ... ``InternalServerError``)."""

    __slots__ = ()
    _name = "PREDEFINED_CLOSE_FRAME"


@final
class CustomCloseFrameType(CloseFrameType):
    """The marker of ``CustomCloseFrame``."""

    __slots__ = ()
    _name = "CUSTOM_CLOSE_FRAME"


PREDEFINED_CLOSE_FRAME: Final = PredefinedCloseFrameType()
"""The ``type`` of every predefined close frame."""

CUSTOM_CLOSE_FRAME: Final = CustomCloseFrameType()
"""The ``type`` of every ``CustomCloseFrame``."""


def isValidCloseCode(code: int, *, received: bool = False) -> bool:
    """
    Tell whether a close frame may carry ``code``: the one close-code rule of bws.

    On the wire (RFC 6455 §7.4.1-§7.4.2 and the IANA WebSocket Close Code Number Registry) a
    close frame may carry 1000-1003, 1007-1014 and 3000-4999: 1004 is reserved, 1005, 1006 and
    1015 are never put in a close frame, and 1016-2999 are unassigned or reserved for
    extensions. A received close frame with any of those is answered 1002 (RFC 6455 §7.1.7).

    bws itself sends the narrower range of the reference's ``close``: 1000-1003, 1007-1011
    and 3000-4999. 1012 (service restart), 1013 (try again later) and 1014 (bad gateway) are
    accepted and echoed when received, never sent first by ``close``; the one exception is
    bws's own 1013 to a group member that cannot keep up (``bws.Groups``).

    :param code: a close status code.
    :param received: ``True`` to ask about a close frame that arrived from the peer;
        ``False`` (the default) about one bws would send.
    :return: ``True`` if a close frame may carry ``code``.
    """
    if type(code) is not int:  # bool is not a close code
        return False
    if 3000 <= code <= 4999 or 1000 <= code <= 1003 or 1007 <= code <= 1011:
        return True
    return received and 1012 <= code <= 1014


def closeFrameFault(code: int | None, reason: bytes | None) -> tuple[int, str] | None:
    """
    Check a received close frame's code and reason (RFC 6455 §5.5.1, §7.4).

    :param code: the status code it carried, or ``None`` for an empty close frame.
    :param reason: the raw bytes after the code, or ``None``.
    :return: ``None`` for a well-formed close frame; else the close code to fail the
        connection with and why: 1002 for a code that is not valid on the wire
        (:func:`isValidCloseCode` with ``received``), 1007 for a reason that is not UTF-8.
    """
    if code is not None and not isValidCloseCode(code, received=True):
        return 1002, f"invalid close code {code}"
    if reason:
        try:
            reason.decode("utf-8")
        except UnicodeDecodeError:
            return 1007, "invalid close reason (non-UTF8 payload)"
    return None


def checkCloseReason(reason: str | None) -> None:
    """
    Check that ``reason`` fits in a close frame.

    :param reason: the close reason, or ``None`` for none.
    :raise TypeError: if ``reason`` is neither a ``str`` nor ``None``.
    :raise ValueError: if ``reason`` is longer than 123 bytes once UTF-8 encoded, or is not
        encodable (lone surrogates).
    """
    if reason is None:
        return
    if not isinstance(reason, str):
        raise TypeError(f"close reason must be a str or None, not {type(reason).__name__}")
    try:
        size = len(reason.encode("utf-8"))
    except UnicodeEncodeError as e:
        raise ValueError(f"close reason is not valid Unicode text: {e}") from None
    if size > MAX_CLOSE_REASON_BYTES:
        raise ValueError(
            f"close reason is {size} bytes in UTF-8; a close frame carries at most "
            f"{MAX_CLOSE_REASON_BYTES} bytes of reason"
        )


def truncateUtf8(text: str, limit: int, ellipsis: str = "...") -> str:
    """
    Cut ``text`` so that its UTF-8 encoding is at most ``limit`` bytes.

    A cut never splits a character; when ``text`` is cut, ``ellipsis`` is appended and counted
    in the limit. Text that already fits is returned unchanged.

    :param text: the text to fit.
    :param limit: the maximum size in bytes of the UTF-8 encoding of the result.
    :param ellipsis: what marks a cut; ``""`` for nothing.
    :return: ``text``, or a prefix of it followed by ``ellipsis``.
    """
    encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded) <= limit:
        return text
    room = limit - len(ellipsis.encode("utf-8"))
    if room < 0:
        return ""
    # Decoding with "ignore" drops the partial character at the cut, if there is one.
    return encoded[:room].decode("utf-8", "ignore") + ellipsis


@dataclass(frozen=True, slots=True)
class CloseFrame:
    """
    Returned from a callback, closes the connection with ``status`` and ``reason``.

    Use one of the subclasses (or the constants such as ``NORMAL_CLOSURE``); the base class is
    the union type the spec calls ``CloseFrame`` and is not built directly.

    :ivar status: the close status code.
    :ivar reason: the close reason, or ``None`` to send none.
    :cvar type: ``PREDEFINED_CLOSE_FRAME`` or ``CUSTOM_CLOSE_FRAME``.
    """

    status: int
    reason: str | None = None
    type: ClassVar[CloseFrameType]

    def __post_init__(self) -> None:
        if type(self) is CloseFrame:
            raise TypeError(
                "CloseFrame is the union of the close frame types; build one of them, "
                "e.g. NormalClosure() or CustomCloseFrame(4000, 'reason')"
            )
        if type(self.status) is not int:
            raise TypeError(f"close status must be an int, not {type(self.status).__name__}")
        checkCloseReason(self.reason)

    @property
    def isValid(self) -> bool:
        """
        Whether ``status`` may be sent.

        A frame whose status is not valid is not sent: the connection is dropped instead and
        the peer sees 1006 (abnormal closure).
        """
        return isValidCloseCode(self.status)


@dataclass(frozen=True, slots=True)
class NormalClosure(CloseFrame):
    """Close with 1000 (normal closure); no reason unless one is given."""

    status: int = field(default=1000, init=False)
    reason: str | None = None
    type: ClassVar[CloseFrameType] = PREDEFINED_CLOSE_FRAME


@dataclass(frozen=True, slots=True)
class GoingAway(CloseFrame):
    """Close with 1001 (going away); no reason unless one is given."""

    status: int = field(default=1001, init=False)
    reason: str | None = None
    type: ClassVar[CloseFrameType] = PREDEFINED_CLOSE_FRAME


@dataclass(frozen=True, slots=True)
class ProtocolError(CloseFrame):
    """Close with 1002 (protocol error)."""

    status: int = field(default=1002, init=False)
    reason: str | None = "Connection closed due to protocol error"
    type: ClassVar[CloseFrameType] = PREDEFINED_CLOSE_FRAME


@dataclass(frozen=True, slots=True)
class UnsupportedData(CloseFrame):
    """Close with 1003 (unsupported data)."""

    status: int = field(default=1003, init=False)
    reason: str | None = "Endpoint received unsupported frame"
    type: ClassVar[CloseFrameType] = PREDEFINED_CLOSE_FRAME


@dataclass(frozen=True, slots=True)
class InvalidPayload(CloseFrame):
    """Close with 1007 (invalid frame payload data)."""

    status: int = field(default=1007, init=False)
    reason: str | None = "Payload does not match the expected format or encoding"
    type: ClassVar[CloseFrameType] = PREDEFINED_CLOSE_FRAME


@dataclass(frozen=True, slots=True)
class PolicyViolation(CloseFrame):
    """Close with 1008 (policy violation)."""

    status: int = field(default=1008, init=False)
    reason: str | None = "Received message violates its policy"
    type: ClassVar[CloseFrameType] = PREDEFINED_CLOSE_FRAME


@dataclass(frozen=True, slots=True)
class MessageTooBig(CloseFrame):
    """Close with 1009 (message too big)."""

    status: int = field(default=1009, init=False)
    reason: str | None = "The received message exceeds the allowed size limit"
    type: ClassVar[CloseFrameType] = PREDEFINED_CLOSE_FRAME


@dataclass(frozen=True, slots=True)
class InternalServerError(CloseFrame):
    """Close with 1011 (internal error)."""

    status: int = field(default=1011, init=False)
    reason: str | None = "Internal server error occurred"
    type: ClassVar[CloseFrameType] = PREDEFINED_CLOSE_FRAME


@dataclass(frozen=True, slots=True)
class CustomCloseFrame(CloseFrame):
    """
    Close with an application status, normally 3000-4999.

    Any ``int`` status can be built; one that is not valid to send (see ``isValid``) makes the
    server drop the connection without a close frame, so the peer sees 1006.
    """

    type: ClassVar[CloseFrameType] = CUSTOM_CLOSE_FRAME


NORMAL_CLOSURE: Final = NormalClosure()
"""1000, no reason."""

GOING_AWAY: Final = GoingAway()
"""1001, no reason."""

PROTOCOL_ERROR: Final = ProtocolError()
"""1002, ``"Connection closed due to protocol error"``."""

UNSUPPORTED_DATA: Final = UnsupportedData()
"""1003, ``"Endpoint received unsupported frame"``."""

INVALID_PAYLOAD: Final = InvalidPayload()
"""1007, ``"Payload does not match the expected format or encoding"``."""

POLICY_VIOLATION: Final = PolicyViolation()
"""1008, ``"Received message violates its policy"``."""

MESSAGE_TOO_BIG: Final = MessageTooBig()
"""1009, ``"The received message exceeds the allowed size limit"``."""

INTERNAL_SERVER_ERROR: Final = InternalServerError()
"""1011, ``"Internal server error occurred"``."""


def isCloseFrame(value: Any) -> bool:
    """
    Tell whether a callback's return value is a ``CloseFrame``.

    :param value: anything.
    :return: ``True`` if ``value`` is an instance of one of the close frame types.
    """
    return isinstance(value, CloseFrame)
