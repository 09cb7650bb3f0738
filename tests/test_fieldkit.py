"""The record-building, URL and text-pair parts of ``bws._fields``' kit."""

from __future__ import annotations

from typing import Any

import attrs
from twisted.trial.unittest import SynchronousTestCase

from bws._fields import Fields, textPairs


class _Refused(ValueError):
    """The error class the kit under test raises."""


_checks = Fields(_Refused)


@attrs.frozen(kw_only=True)
class _Inner:
    size: int = attrs.field(default=1, validator=_checks.checkInt(0))


def _asInner(value: Any) -> Any:
    return _checks.built(_Inner, value)


def _asInnerOrDefault(value: Any) -> Any:
    return _checks.built(_Inner, value, default=True)


@attrs.frozen(kw_only=True)
class _Outer:
    inner: Any = attrs.field(default=None, converter=_asInner)
    always: Any = attrs.field(default=None, converter=_asInnerOrDefault)
    url: str = attrs.field(default="https://h/x", validator=_checks.checkUrl("http", "https"))
    pairs: tuple[tuple[str, str], ...] = attrs.field(
        default=(), converter=textPairs, validator=_checks.checkTextPairs())
    headers: tuple[tuple[str, str], ...] = attrs.field(
        default=(), converter=textPairs, validator=_checks.checkTextPairs(singleLine=True))


class BuildTests(SynchronousTestCase):
    def test_build(self) -> None:
        """``build`` makes the record from a mapping of its fields."""
        self.assertEqual(_checks.build(_Inner, {"size": 3}), _Inner(size=3))

    def test_unknownField(self) -> None:
        """An unknown field name is refused, naming the record and the known fields."""
        error = self.assertRaises(_Refused, _checks.build, _Inner, {"sise": 3})
        self.assertEqual(str(error), "_Inner: unknown field(s) sise; known: size")

    def test_recordsOwnErrorsKept(self) -> None:
        """The kit's own refusal passes unchanged; a TypeError is named for the record."""
        error = self.assertRaises(_Refused, _checks.build, _Inner, {"size": -1})
        self.assertEqual(str(error), "_Inner.size: must be >= 0, got -1")
        required = self.assertRaises(_Refused, _checks.build, _Outer, {"url": None})
        self.assertIn("_Outer.url", str(required))

    def test_built(self) -> None:
        """Nested mappings become records; ``None`` stays, or becomes the default record."""
        outer = _Outer(inner={"size": 2})
        self.assertEqual((outer.inner, outer.always), (_Inner(size=2), _Inner()))
        self.assertEqual(_Outer(inner=_Inner()).inner, _Inner())
        self.assertRaises(_Refused, _Outer, inner={"nope": 1})


class UrlTests(SynchronousTestCase):
    def test_accepted(self) -> None:
        """URLs of the schemes, with a host, and maybe a port, pass."""
        for url in ["http://h", "https://h:8443/p?q=1", "https://[::1]:1/x"]:
            self.assertEqual(_Outer(url=url).url, url)

    def test_refused(self) -> None:
        """Other schemes, no host, a bad port or host, text split over lines, non-text."""
        for url in ["ftp://h/x", "https://", "/x", "", "https://h:99999/", "https://[::1/",
                    "https://h/\r\nx", None, 3]:
            error = self.assertRaises(_Refused, _Outer, url=url)
            self.assertTrue(str(error).startswith("_Outer.url: "), str(error))


class TextPairTests(SynchronousTestCase):
    def test_pairs(self) -> None:
        """A mapping becomes its pairs in order; ``None`` none."""
        self.assertEqual(_Outer(pairs={"b": "1", "a": "2"}).pairs, (("b", "1"), ("a", "2")))
        self.assertEqual(_Outer(pairs=None).pairs, ())

    def test_refused(self) -> None:
        """Empty names, non-text and malformed pairs are refused naming the field."""
        for value in [{"": "x"}, {"a": 1}, [("a",)], "a=b"]:
            error = self.assertRaises(_Refused, _Outer, pairs=value)
            self.assertTrue(str(error).startswith("_Outer.pairs: "), str(error))

    def test_singleLine(self) -> None:
        """With ``singleLine``, CR, LF and NUL are refused (they would split a header)."""
        self.assertEqual(_Outer(pairs={"a": "x\ny"}).pairs, (("a", "x\ny"),))
        for value in [{"a": "x\r\ny"}, {"a\n": "x"}, {"a": "\0"}]:
            self.assertRaises(_Refused, _Outer, headers=value)
