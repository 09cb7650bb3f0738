# -*- test-case-name: tests.test_fields -*-
"""The one attrs validator and converter kit: every failure names ``Record.field``."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit

import attrs

__all__ = [
    "Fields",
    "Validator",
    "fieldName",
    "nameTuple",
    "optionalNameTuple",
    "optionalPathText",
    "pathText",
    "seconds",
    "textPairs",
    "toSeconds",
    "upper",
]

R = TypeVar("R", bound=attrs.AttrsInstance)

#: What attrs calls a validator: ``(instance, attribute, value)``, raising when refused.
Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def fieldName(instance: object, attribute: attrs.Attribute[Any]) -> str:
    """``Record.field``: how every message of the kit names the field it refuses."""
    return f"{type(instance).__name__}.{attribute.name}"


# --- converters: they normalise what they understand and leave the rest to a validator ----


def seconds(value: Any) -> float:
    """Decimal seconds (``int``, ``float``, ``Decimal``, numeric ``str``) as ``float``.

    :raises TypeError: for a ``bool`` or a value that is not a number.
    :raises ValueError: (``ArithmeticError`` for ``Decimal``) for a non-numeric string.
    """
    if isinstance(value, bool):
        raise TypeError("a duration in seconds must be a number, not a bool")
    if isinstance(value, (int, float, Decimal)):
        return float(value)
    if isinstance(value, str):
        return float(Decimal(value))
    raise TypeError(f"a duration in seconds must be a number, not {type(value).__name__}")


def toSeconds(value: Any) -> Any:
    """Converter: :func:`seconds` when it can, else ``value`` unchanged for the validator."""
    try:
        return seconds(value)
    except (TypeError, ValueError, ArithmeticError):
        return value


def nameTuple(value: Any) -> Any:
    """Converter: a lone string is a list of one; any other iterable becomes a tuple (records
    are frozen). A value that is not iterable is left for the validator to report."""
    if isinstance(value, str):
        return (value,)
    try:
        return tuple(value)
    except TypeError:
        return value


def optionalNameTuple(value: Iterable[str] | str | None) -> Any:
    """:func:`nameTuple`, keeping ``None``."""
    return None if value is None else nameTuple(value)


def pathText(value: Any) -> Any:
    """Converter: an ``os.PathLike`` becomes text; ``None`` becomes ``""`` so that a
    required-text validator reports it as missing."""
    if value is None:
        return ""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def optionalPathText(value: Any) -> Any:
    """Converter: an ``os.PathLike`` becomes text; ``None`` stays ``None``."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def upper(value: Any) -> Any:
    """Converter: text in capitals (choices are spelled in capitals); other values unchanged."""
    return value.upper() if isinstance(value, str) else value


def textPairs(value: Any) -> Any:
    """Converter: a mapping becomes a tuple of its ``(name, value)`` pairs, in order (records
    are frozen); ``None`` becomes ``()``; anything else is left for
    :meth:`Fields.checkTextPairs`."""
    if value is None:
        return ()
    if isinstance(value, Mapping):
        return tuple(value.items())
    return value


# --- validators: bound to the error class of the records that use them --------------------


class Fields:
    """The validators of one family of records.

    Every refusal raises ``error(message)`` where the message starts ``Record.field:``.
    ``bws.config`` binds it to ``bws.ConfigurationError``, ``bws.tls`` to
    ``bws.errors.SslError``.

    :param error: the exception class to raise; it is called with one message string.
    """

    def __init__(self, error: Callable[[str], Exception]) -> None:
        self.error = error

    def fail(self, instance: object, attribute: attrs.Attribute[Any], problem: str) -> NoReturn:
        """Raise the error for ``instance``'s ``attribute``: ``"Record.field: problem"``."""
        raise self.error(f"{fieldName(instance, attribute)}: {problem}")

    # --- records from mappings (as a config file spells them) ---------------------------

    def build(self, recordType: type[R], fields: Mapping[str, Any]) -> R:
        """``recordType(**fields)``.

        :raises: the kit's error naming ``recordType`` for an unknown field name (listing the
            known ones), or for a ``TypeError``/``ValueError`` the record raised (a missing
            field, say); the kit's own errors pass unchanged.
        """
        names = {a.name for a in attrs.fields(recordType)}
        unknown = sorted(str(k) for k in set(fields) - names)
        if unknown:
            raise self.error(
                f"{recordType.__name__}: unknown field(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(names))}")
        try:
            return recordType(**fields)
        except (TypeError, ValueError) as e:
            if isinstance(self.error, type) and isinstance(e, self.error):
                raise
            raise self.error(f"{recordType.__name__}: {e}") from None

    def built(self, recordType: type[Any], value: Any, *, default: bool = False) -> Any:
        """Converter body (attrs wants a named function or a lambda around it): a mapping
        becomes a ``recordType`` through :meth:`build`; with ``default``, ``None`` becomes
        ``recordType()``; anything else is left for the validator."""
        if default and value is None:
            return recordType()
        return self.build(recordType, value) if isinstance(value, Mapping) else value

    def checkBool(self, instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        """Validator: ``True`` or ``False`` only (not ``0``, ``1`` or ``"yes"``)."""
        if not isinstance(value, bool):
            self.fail(instance, attribute, f"must be True or False, got {value!r}")

    def checkInt(self, minimum: int | None = None) -> Validator:
        """Validator: an ``int`` (not a ``bool``), at least ``minimum`` when one is given."""

        def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
            if isinstance(value, bool) or not isinstance(value, int):
                self.fail(instance, attribute, f"must be an int, got {value!r}")
            if minimum is not None and value < minimum:
                self.fail(instance, attribute, f"must be >= {minimum}, got {value!r}")

        return check

    def checkNumber(self, minimum: float | None = None, *, finite: bool = False) -> Validator:
        """Validator: an ``int``, ``float`` or ``Decimal`` (not a ``bool``, not NaN), at least
        ``minimum`` when one is given, and not infinite when ``finite``."""

        def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
            if (isinstance(value, bool) or not isinstance(value, (int, float, Decimal))
                    or value != value):
                self.fail(instance, attribute, f"must be a number, got {value!r}")
            if finite and not math.isfinite(value):
                self.fail(instance, attribute, f"must be a finite number, got {value!r}")
            if minimum is not None and value < minimum:
                self.fail(instance, attribute, f"must be a number >= {minimum}, got {value!r}")

        return check

    def checkSeconds(self, *, minimum: float | None = 0, positive: bool = False,
                     allowMinusOne: bool = False, optional: bool = False,
                     message: str | None = None) -> Validator:
        """Validator for decimal seconds converted by :func:`toSeconds`: a finite ``float``.

        :param minimum: the least value allowed; ``None`` for no bound.
        :param positive: refuse zero and below (``minimum`` is then not consulted).
        :param allowMinusOne: accept ``-1`` (the spec's "wait forever") whatever the bound.
        :param optional: accept ``None``.
        :param message: the problem to report for a value out of bounds, instead of the kit's.
        """

        def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
            if value is None and optional:
                return
            if not isinstance(value, float):
                self.fail(instance, attribute, f"must be a number of seconds, got {value!r}")
            if not math.isfinite(value):
                self.fail(instance, attribute, f"must be a finite number of seconds, got {value!r}")
            if allowMinusOne and value == -1:
                return
            if positive and value <= 0:
                self.fail(instance, attribute,
                          message or f"must be a positive number of seconds, got {value!r}")
            if not positive and minimum is not None and value < minimum:
                self.fail(instance, attribute, message or f"must be >= {minimum}, got {value!r}")

        return check

    def secondsField(self, default: float, **bounds: Any) -> Any:
        """An ``attrs.field`` of decimal seconds: :func:`toSeconds` then
        :meth:`checkSeconds` with ``bounds``."""
        return attrs.field(default=default, converter=toSeconds,
                           validator=self.checkSeconds(**bounds))

    def checkNames(self, *, optional: bool = False, nonEmpty: bool = False) -> Validator:
        """Validator for a tuple built by :func:`nameTuple`: every item non-empty text.

        :param optional: accept ``None``.
        :param nonEmpty: refuse an empty tuple.
        """

        def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
            if value is None and optional:
                return
            if not isinstance(value, tuple):
                self.fail(instance, attribute, f"must be a list of names, got {value!r}")
            if nonEmpty and not value:
                self.fail(instance, attribute, "must name at least one")
            for item in value:
                if not isinstance(item, str) or not item:
                    self.fail(instance, attribute, f"must be non-empty strings, got {item!r}")

        return check

    def checkOneOf(self, *choices: str) -> Validator:
        """Validator: one of ``choices`` exactly."""

        def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
            if value not in choices:
                self.fail(instance, attribute,
                          f"must be one of {', '.join(choices)}, got {value!r}")

        return check

    def checkInstanceOf(self, *types: type, optional: bool = False) -> Validator:
        """Validator: an instance of one of ``types`` (or ``None`` when ``optional``)."""

        def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
            if value is None and optional:
                return
            if not isinstance(value, types):
                names = " or ".join(t.__name__ for t in types)
                if optional:
                    names += " or None"
                self.fail(instance, attribute, f"must be a {names}, not {type(value).__name__}")

        return check

    def checkUrl(self, *schemes: str) -> Validator:
        """Validator: a URL (one line of text) of one of ``schemes`` (``"https"``), naming a
        host, with a valid port if it has one."""
        wanted = " or ".join(f"{scheme}://" for scheme in schemes)

        def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
            if not isinstance(value, str) or "\r" in value or "\n" in value:
                self.fail(instance, attribute, f"must be an {wanted} URL, got {value!r}")
            try:
                parts = urlsplit(value)
                parts.port  # noqa: B018 - a bad port raises here
            except ValueError:
                self.fail(instance, attribute, f"has a bad host or port: {value!r}")
            if parts.scheme not in schemes or not parts.hostname:
                self.fail(instance, attribute, f"must be an {wanted} URL, got {value!r}")

        return check

    def checkTextPairs(self, *, singleLine: bool = False) -> Validator:
        """Validator for a tuple built by :func:`textPairs`: ``(name, value)`` pairs of text,
        no name empty.

        :param singleLine: refuse a CR, LF or NUL in a name or value (it would split a
            header).
        """

        def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
            if not isinstance(value, tuple) or not all(
                    isinstance(p, tuple) and len(p) == 2 for p in value):
                self.fail(instance, attribute, f"must be a mapping of text to text, got {value!r}")
            for name, item in value:
                if not isinstance(name, str) or not name or not isinstance(item, str):
                    self.fail(instance, attribute,
                              f"must map non-empty text to text, got {name!r}: {item!r}")
                if singleLine and any(c in name + item for c in "\r\n\0"):
                    self.fail(instance, attribute, f"must hold no CR, LF or NUL, got {name!r}")

        return check

    def checkText(self, *, required: str | None = None, optional: bool = False,
                  singleLine: bool = False) -> Validator:
        """Validator: text.

        :param required: refuse ``None`` and ``""`` with exactly this message (no field
            prefix: some messages are the reference implementation's, word for word).
        :param optional: accept ``None``.
        :param singleLine: refuse text holding a CR or LF (it would split a header).
        """

        def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
            if required is not None and (value is None or value == ""):
                raise self.error(required)
            if value is None and optional:
                return
            if not isinstance(value, str):
                kind = "text or None" if optional else "text"
                self.fail(instance, attribute, f"must be {kind}, not {type(value).__name__}")
            if singleLine and ("\r" in value or "\n" in value):
                self.fail(instance, attribute, f"must be a single line, got {value!r}")

        return check
