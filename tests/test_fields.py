# -*- test-case-name: tests.test_fields -*-
"""Tests for ``bws._fields``: the one validator kit of the configuration and TLS records."""

from __future__ import annotations

import os
from collections.abc import Callable
from decimal import Decimal
from pathlib import PurePosixPath
from typing import Any

import attrs
from twisted.trial.unittest import SynchronousTestCase

import bws
from bws._fields import (
    Fields,
    nameTuple,
    optionalNameTuple,
    optionalPathText,
    pathText,
    seconds,
    toSeconds,
    upper,
)
from bws.config import ListenerConfiguration, RetryConfig, WSServiceConfig
from bws.errors import SslError
from bws.tls._records import ClientSecureSocket, MutualSsl


class _Refused(Exception):
    """The error class the kit under test raises."""


_checks = Fields(_Refused)


@attrs.frozen(kw_only=True)
class _Sample:
    """One field per validator of the kit."""

    flag: bool = attrs.field(default=True, validator=_checks.checkBool)
    count: int = attrs.field(default=1, validator=_checks.checkInt(1))
    anyInt: int = attrs.field(default=-5, validator=_checks.checkInt())
    ratio: float = attrs.field(default=1.0, validator=_checks.checkNumber(1.0, finite=True))
    size: float = attrs.field(default=0, validator=_checks.checkNumber(0))
    wait: float = _checks.secondsField(1)
    forever: float = _checks.secondsField(-1, allowMinusOne=True)
    window: float = _checks.secondsField(5, minimum=None)
    deadline: float | None = attrs.field(
        default=None, converter=toSeconds,
        validator=_checks.checkSeconds(positive=True, optional=True))
    idle: float = _checks.secondsField(0, message="cannot be negative")
    names: tuple[str, ...] = attrs.field(
        default=(), converter=nameTuple, validator=_checks.checkNames())
    someNames: tuple[str, ...] | None = attrs.field(
        default=None, converter=optionalNameTuple,
        validator=_checks.checkNames(optional=True, nonEmpty=True))
    mode: str = attrs.field(default="A", converter=upper, validator=_checks.checkOneOf("A", "B"))
    thing: int | str = attrs.field(default=0, validator=_checks.checkInstanceOf(int, str))
    maybe: int | None = attrs.field(
        default=None, validator=_checks.checkInstanceOf(int, optional=True))
    path: str = attrs.field(
        default="p", converter=pathText, validator=_checks.checkText(required="path is missing"))
    optionalPath: str | None = attrs.field(
        default=None, converter=optionalPathText, validator=_checks.checkText(optional=True))
    line: str = attrs.field(default="", validator=_checks.checkText(singleLine=True))


class ConverterTests(SynchronousTestCase):
    """The converters normalise what they understand and leave the rest to a validator."""

    def test_seconds(self) -> None:
        """``seconds`` takes ints, floats, ``Decimal`` and numeric text as decimal seconds."""
        self.assertEqual([seconds(2), seconds(0.5), seconds(Decimal("1.25")), seconds("2.5")],
                         [2.0, 0.5, 1.25, 2.5])
        self.assertIsInstance(seconds(2), float)

    def test_secondsRefuses(self) -> None:
        """``seconds`` refuses a bool, a non-number and non-numeric text."""
        self.assertRaises(TypeError, seconds, True)
        self.assertRaises(TypeError, seconds, [1])
        self.assertRaises(ArithmeticError, seconds, "soon")

    def test_toSeconds(self) -> None:
        """``toSeconds`` converts like ``seconds`` and passes anything else through."""
        self.assertEqual(toSeconds(Decimal("1.5")), 1.5)
        for value in (None, True, "soon", [1]):
            self.assertIs(toSeconds(value), value)

    def test_nameTuple(self) -> None:
        """A lone string is a list of one; iterables become tuples; the rest passes through."""
        self.assertEqual(nameTuple("chat"), ("chat",))
        self.assertEqual(nameTuple(["a", "b"]), ("a", "b"))
        self.assertEqual(nameTuple(5), 5)
        self.assertIsNone(optionalNameTuple(None))
        self.assertEqual(optionalNameTuple("a"), ("a",))

    def test_pathText(self) -> None:
        """Paths become text; ``None`` is ``""`` (missing) or stays ``None`` (optional)."""
        self.assertEqual(pathText(PurePosixPath("/c.pem")), os.fspath(PurePosixPath("/c.pem")))
        self.assertEqual(pathText(None), "")
        self.assertEqual(pathText("c.pem"), "c.pem")
        self.assertIsNone(optionalPathText(None))
        self.assertEqual(optionalPathText(PurePosixPath("/c.pem")), "/c.pem")

    def test_upper(self) -> None:
        """Text is put in capitals; other values are left for the validator."""
        self.assertEqual(upper("optional"), "OPTIONAL")
        self.assertEqual(upper(3), 3)


class ValidatorTests(SynchronousTestCase):
    """Each validator accepts its values and refuses others with the kit's error naming
    ``Record.field``."""

    def assertRefused(self, field: str, build: Callable[[], object], fragment: str = "") -> None:
        error = self.assertRaises(_Refused, build)
        self.assertTrue(str(error).startswith(f"_Sample.{field}: "), str(error))
        self.assertIn(fragment, str(error))

    def test_defaults(self) -> None:
        """The sample's defaults pass every validator."""
        _Sample()

    def test_checkBool(self) -> None:
        """Only ``True`` and ``False`` are booleans."""
        self.assertFalse(_Sample(flag=False).flag)
        self.assertRefused("flag", lambda: _Sample(flag=1), "True or False")

    def test_checkInt(self) -> None:
        """Ints at or above the minimum; bools and floats are refused."""
        self.assertEqual(_Sample(count=1).count, 1)
        self.assertEqual(_Sample(anyInt=-100).anyInt, -100)
        self.assertRefused("count", lambda: _Sample(count=0), ">= 1")
        self.assertRefused("count", lambda: _Sample(count=True), "an int")
        self.assertRefused("anyInt", lambda: _Sample(anyInt=1.5), "an int")

    def test_checkNumber(self) -> None:
        """Numbers at or above the minimum; NaN, bools, text and (when finite) infinity refused."""
        self.assertEqual(_Sample(ratio=2.5, size=Decimal("0")).ratio, 2.5)
        self.assertEqual(_Sample(size=float("inf")).size, float("inf"))
        self.assertRefused("ratio", lambda: _Sample(ratio=0.5), ">= 1.0")
        self.assertRefused("ratio", lambda: _Sample(ratio=float("inf")), "finite")
        self.assertRefused("ratio", lambda: _Sample(ratio=float("nan")), "a number")
        self.assertRefused("size", lambda: _Sample(size=False), "a number")
        self.assertRefused("size", lambda: _Sample(size="1"), "a number")

    def test_checkSeconds(self) -> None:
        """Decimal seconds within their bounds, converted to ``float``."""
        sample = _Sample(wait=Decimal("0.5"), forever=-1, window=-3, deadline="2.5", idle=0)
        self.assertEqual((sample.wait, sample.forever, sample.window, sample.deadline),
                         (0.5, -1.0, -3.0, 2.5))
        self.assertRefused("wait", lambda: _Sample(wait=-0.5), ">= 0")
        self.assertRefused("wait", lambda: _Sample(wait="soon"), "number of seconds")
        self.assertRefused("wait", lambda: _Sample(wait=True), "number of seconds")
        self.assertRefused("wait", lambda: _Sample(wait=float("inf")), "finite")
        self.assertRefused("forever", lambda: _Sample(forever=-2), ">= 0")
        self.assertRefused("deadline", lambda: _Sample(deadline=0), "positive")
        self.assertRefused("idle", lambda: _Sample(idle=-1), "cannot be negative")

    def test_checkNames(self) -> None:
        """Tuples of non-empty text; ``nonEmpty`` refuses an empty list."""
        self.assertEqual(_Sample(names="chat").names, ("chat",))
        self.assertIsNone(_Sample(someNames=None).someNames)
        self.assertRefused("names", lambda: _Sample(names=["a", ""]), "non-empty strings")
        self.assertRefused("names", lambda: _Sample(names=[1]), "non-empty strings")
        self.assertRefused("names", lambda: _Sample(names=5), "list of names")
        self.assertRefused("someNames", lambda: _Sample(someNames=[]), "at least one")

    def test_checkOneOf(self) -> None:
        """One of the choices (after conversion); anything else names the choices."""
        self.assertEqual(_Sample(mode="b").mode, "B")
        self.assertRefused("mode", lambda: _Sample(mode="C"), "one of A, B")

    def test_checkInstanceOf(self) -> None:
        """An instance of the types (``None`` only when optional), naming them."""
        self.assertEqual(_Sample(thing="x", maybe=3).thing, "x")
        self.assertRefused("thing", lambda: _Sample(thing=1.5), "int or str, not float")
        self.assertRefused("maybe", lambda: _Sample(maybe="3"), "int or None, not str")

    def test_checkText(self) -> None:
        """Text; a required field missing raises exactly its own message."""
        self.assertEqual(_Sample(path=PurePosixPath("a/b")).path, "a/b")
        error = self.assertRaises(_Refused, _Sample, path=None)
        self.assertEqual(str(error), "path is missing")
        self.assertRaises(_Refused, _Sample, path="")
        self.assertRefused("path", lambda: _Sample(path=3), "must be text, not int")
        self.assertRefused("optionalPath", lambda: _Sample(optionalPath=3), "text or None")
        self.assertRefused("line", lambda: _Sample(line="a\r\nb"), "single line")

    def test_fail(self) -> None:
        """``fail`` raises the kit's error class, prefixed with ``Record.field``."""
        attribute = attrs.fields(_Sample).count
        error = self.assertRaises(_Refused, _checks.fail, _Sample(), attribute, "is wrong")
        self.assertEqual(str(error), "_Sample.count: is wrong")


class ErrorClassTests(SynchronousTestCase):
    """The records of ``bws.config`` and ``bws.tls`` raise their own error from the kit."""

    def assertNames(self, error: type[Exception], field: str, build: Callable[[], Any]) -> None:
        raised = self.assertRaises(error, build)
        self.assertIn(field, str(raised))

    def test_config(self) -> None:
        """Configuration records raise ``bws.ConfigurationError`` naming ``Record.field``."""
        self.assertNames(bws.ConfigurationError, "WSServiceConfig.idleTimeout",
                         lambda: WSServiceConfig(idleTimeout="soon"))
        self.assertNames(bws.ConfigurationError, "WSServiceConfig.subProtocols",
                         lambda: WSServiceConfig(subProtocols=[""]))
        self.assertNames(bws.ConfigurationError, "RetryConfig.backOffFactor",
                         lambda: RetryConfig(backOffFactor=0.5))
        self.assertNames(bws.ConfigurationError, "ListenerConfiguration.secureSocket",
                         lambda: ListenerConfiguration(secureSocket="server.pem"))
        self.assertNames(bws.ConfigurationError, "ListenerConfiguration.server",
                         lambda: ListenerConfiguration(server="a\nb"))

    def test_tls(self) -> None:
        """TLS records raise ``SslError`` naming ``Record.field``."""
        self.assertNames(SslError, "ClientSecureSocket.handshakeTimeout",
                         lambda: ClientSecureSocket(handshakeTimeout=-1))
        self.assertNames(SslError, "MutualSsl.verifyClient",
                         lambda: MutualSsl(verifyClient="SOMETIMES", cert="ca.pem"))
