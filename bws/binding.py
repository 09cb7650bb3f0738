# -*- test-case-name: tests.test_binding -*-
"""Data binding: inbound messages to typed values, and values to outbound messages."""

from __future__ import annotations

import dataclasses
import enum
import functools
import inspect
import json
import secrets
import sys
import types
import typing
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from decimal import Decimal
from typing import (
    TYPE_CHECKING,
    Annotated,
    Any,
    Final,
    Literal,
    NoReturn,
    Union,
    cast,
    get_args,
    get_origin,
)

import attrs
import defusedxml.ElementTree as SafeElementTree
import typing_extensions
from defusedxml import DefusedXmlException

from bws.closeframe import MAX_CLOSE_REASON_BYTES, CloseFrame, truncateUtf8
from bws.errors import PayloadBindingError, PayloadValidationError

if TYPE_CHECKING:
    import pydantic
    from _typeshed import DataclassInstance
    from pydantic import TypeAdapter, ValidationError
    from pydantic_core import core_schema

__all__ = [
    "BINDING_FAILED",
    "VALIDATION_FAILED",
    "Binder",
    "binderFor",
    "dataTypeOf",
    "isTextual",
    "isBinary",
    "serialize",
    "toJson",
    "bindingDetail",
]

BINDING_FAILED: Final = "data binding failed: "
"""The start of the message of every ``PayloadBindingError`` that is not a validation failure."""

VALIDATION_FAILED: Final = "data validation failed: "
"""The start of the message of every ``PayloadValidationError``."""

_Element: Final = ElementTree.Element

# pydantic error types that mean "the value converted, but broke a constraint"; every other
# known error type is a conversion failure. Error types pydantic does not know come from user
# validators (PydanticCustomError) and count as constraints.
_CONSTRAINT_ERRORS: Final = frozenset(
    {
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
        "multiple_of",
        "too_short",
        "too_long",
        "string_too_short",
        "string_too_long",
        "string_pattern_mismatch",
        "string_not_ascii",
        "bytes_too_short",
        "bytes_too_long",
        "value_error",
        "assertion_error",
        "date_past",
        "date_future",
        "datetime_past",
        "datetime_future",
        "timezone_naive",
        "timezone_aware",
        "timezone_offset",
        "decimal_max_digits",
        "decimal_max_places",
        "decimal_whole_digits",
        "url_too_long",
        "url_scheme",
        "uuid_version",
    }
)


@functools.cache
def _conversionErrors() -> frozenset[str]:
    """pydantic's error types that mean a conversion failed (pydantic loads with the first
    binder that needs it, not with ``import bws``)."""
    from pydantic_core import core_schema

    return frozenset(get_args(core_schema.ErrorType)) - _CONSTRAINT_ERRORS

_ANY_TYPES: Final = (Any, object, inspect.Parameter.empty)
_UNION_ORIGINS: Final = (Union, types.UnionType)


# -- binding in ------------------------------------------------------------------------------


@typing.final
class Binder:
    """
    Converts inbound messages to one target type; get one from ``binderFor``.

    The three converters are plain callables chosen when the binder is built, so binding to
    ``str`` or ``bytes`` is a function call that returns its argument. Each raises
    ``PayloadValidationError`` when the message converted but broke a constraint, and
    ``PayloadBindingError`` for any other failure.

    :ivar targetType: the type messages are bound to.
    :ivar validation: whether constraints are checked.
    :ivar text: binds a text message given as ``str``.
    :ivar textPayload: binds a text message given as its UTF-8 bytes, as Autobahn delivers
        it; JSON targets are parsed from the bytes without decoding them first.
    :ivar binary: binds a binary message (``bytes``).
    :ivar rawText: ``True`` when ``text`` returns its argument unchanged.
    :ivar rawBinary: ``True`` when ``binary`` returns its argument unchanged.
    """

    __slots__ = (
        "targetType",
        "validation",
        "text",
        "textPayload",
        "binary",
        "rawText",
        "rawBinary",
    )

    targetType: Any
    validation: bool
    text: Callable[[str], Any]
    textPayload: Callable[[bytes], Any]
    binary: Callable[[bytes], Any]
    rawText: bool
    rawBinary: bool

    def __init__(
        self,
        targetType: Any,
        validation: bool,
        text: Callable[[str], Any],
        textPayload: Callable[[bytes], Any],
        binary: Callable[[bytes], Any],
    ) -> None:
        self.targetType = targetType
        self.validation = validation
        self.text = text
        self.textPayload = textPayload
        self.binary = binary
        self.rawText = text is _identity
        self.rawBinary = binary is _identity

    def __repr__(self) -> str:
        return f"<Binder {self.targetType!r} validation={self.validation}>"


def binderFor(targetType: Any, validation: bool = True) -> Binder:
    """
    Build (or fetch from the cache) the ``Binder`` for ``targetType``.

    Call this once per callback, when the service is inspected, and keep the binder: it holds
    the compiled pydantic validators. Binders are cached (least recently used, 512 entries),
    so a ``client.readMessage(T)`` in a loop costs one dictionary lookup.

    :param targetType: the annotation of the data parameter: ``str``, ``bytes``, a JSON type,
        a dataclass, ``TypedDict``, pydantic model or attrs class, an ``Enum`` or
        ``Literal``, a union, a container of these, ``Annotated[T, <constraints>]``,
        ``xml.etree.ElementTree.Element``, or ``typing.Any`` / ``inspect.Parameter.empty``
        (no annotation) for the message as it came.
    :param validation: check constraints (``Annotated`` metadata, model field constraints).
        With ``False`` the ``Annotated`` metadata is dropped, see the ``docs/binding.rst``
        section on validation for the extent.
    :return: the binder.
    :raise TypeError: if messages cannot be bound to ``targetType``.
    """
    try:
        hash(targetType)
    except TypeError:
        return _buildBinder(targetType, bool(validation))
    return _cachedBinder(targetType, bool(validation))


@functools.lru_cache(maxsize=512)
def _cachedBinder(targetType: Any, validation: bool) -> Binder:
    return _buildBinder(targetType, validation)


def _identity(value: Any) -> Any:
    return value


def _decode(payload: bytes) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PayloadBindingError(
            f"{BINDING_FAILED}invalid UTF-8 ({e.reason}) at byte {e.start}"
        ) from None


def _encode(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise PayloadBindingError(f"{BINDING_FAILED}text is not valid Unicode: {e}") from None


def _parseXml(document: str | bytes) -> ElementTree.Element:
    try:
        return SafeElementTree.fromstring(document)
    except DefusedXmlException as e:
        raise PayloadBindingError(
            f"{BINDING_FAILED}failed to parse xml: {e} "
            "(entity declarations and external references are refused)"
        ) from None
    except (ElementTree.ParseError, ValueError) as e:
        raise PayloadBindingError(f"{BINDING_FAILED}failed to parse xml: {e}") from None


def _parseXmlPayload(payload: bytes) -> ElementTree.Element:
    return _parseXml(_decode(payload))


def _unannotated(targetType: Any) -> Any:
    """Strip ``Annotated`` and ``NewType`` wrappers to find the type underneath."""
    while True:
        if get_origin(targetType) is Annotated:
            targetType = get_args(targetType)[0]
        elif isinstance(targetType, typing.NewType):
            targetType = targetType.__supertype__
        else:
            return targetType


def _unionMembers(targetType: Any) -> tuple[Any, ...] | None:
    core = _unannotated(targetType)
    if get_origin(core) in _UNION_ORIGINS:
        return tuple(_unannotated(member) for member in get_args(core))
    return None


def _isTextLike(core: Any) -> bool:
    """``str``, an ``Enum`` of strings, or a ``Literal`` of strings: bound from raw text."""
    if isinstance(core, type):
        if issubclass(core, enum.Enum):
            return all(isinstance(member.value, str) for member in core)
        return issubclass(core, str)
    if get_origin(core) is Literal:
        return all(isinstance(value, str) for value in get_args(core))
    return False


def _isBytesLike(core: Any) -> bool:
    return isinstance(core, type) and issubclass(core, bytes)


def _isPlainText(core: Any) -> bool:
    """``str`` or a subclass that is not an ``Enum``: bound from binary by UTF-8 decoding."""
    return isinstance(core, type) and issubclass(core, str) and not issubclass(core, enum.Enum)


def isTextual(targetType: Any) -> bool:
    """
    Tell whether text messages bind to ``targetType`` from the raw text, without JSON parsing.

    That is so for ``str``, ``typing.Any`` (and no annotation), an ``Enum`` or ``Literal`` of
    strings, and a union containing any of these (``Annotated`` looked through).

    :param targetType: a data parameter's annotation.
    :return: ``True`` if the text itself, not a JSON document in it, is converted.
    """
    core = _unannotated(targetType)
    if core in _ANY_TYPES or _isTextLike(core):
        return True
    members = _unionMembers(targetType)
    return members is not None and any(_isTextLike(member) for member in members)


def isBinary(targetType: Any) -> bool:
    """
    Tell whether binary messages bind to ``targetType`` as raw bytes, without decoding.

    That is so for ``bytes``, ``typing.Any`` (and no annotation), and a union containing
    ``bytes`` (``Annotated`` looked through).

    :param targetType: a data parameter's annotation.
    :return: ``True`` if the payload bytes themselves are bound.
    """
    core = _unannotated(targetType)
    if core in _ANY_TYPES or _isBytesLike(core):
        return True
    members = _unionMembers(targetType)
    return members is not None and any(_isBytesLike(member) for member in members)


def dataTypeOf(callback: Callable[..., Any], parameter: str | None = None) -> Any:
    """
    Find the type a callback wants its message bound to.

    This is the annotation of the data parameter, with string annotations resolved and
    ``Annotated`` kept. The data parameter is ``parameter`` when given (dispatch names it:
    the one after the caller, REFERENCE §1.4), else the callback's last positional parameter
    (the one after the caller in ``onMessage(self, caller, data: T)``). An annotation on
    another parameter that cannot be resolved (an import under ``TYPE_CHECKING``) does not
    stop this one from resolving.

    :param callback: a function or bound method.
    :param parameter: the name of the data parameter, or ``None`` for the last positional one.
    :return: the annotation, or ``typing.Any`` if there is none.
    :raise TypeError: if the callback takes no positional parameter (or none called
        ``parameter``), or the data parameter's annotation cannot be resolved.
    """
    parameters = [
        candidate
        for candidate in inspect.signature(callback).parameters.values()
        if candidate.kind
        in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    if parameter is not None:
        parameters = [candidate for candidate in parameters if candidate.name == parameter]
    if not parameters:
        raise TypeError(f"{callback!r} takes no positional parameter to receive the message")
    found = parameters[-1]
    if found.annotation is inspect.Parameter.empty:
        return Any
    if not isinstance(found.annotation, str):
        return found.annotation
    function = inspect.unwrap(callback)
    try:
        hints = typing.get_type_hints(function, include_extras=True)
    except Exception:
        only = types.SimpleNamespace(__annotations__={found.name: found.annotation})
        try:
            hints = typing.get_type_hints(
                only, globalns=getattr(function, "__globals__", {}), include_extras=True)
        except Exception as e:
            raise TypeError(
                f"cannot resolve the annotation {found.annotation!r} of {found.name} "
                f"in {callback!r}: {e}"
            ) from e
    return hints.get(found.name, Any)


class _ValidatorPair:
    """A pydantic adapter for the target type, and one with its ``Annotated`` metadata gone."""

    __slots__ = ("targetType", "checked", "_unchecked", "_strippedType")

    def __init__(self, targetType: Any, validation: bool) -> None:
        self.targetType = targetType
        fullType = _rewrite(targetType, strip=False, seen=frozenset())
        strippedType = _rewrite(targetType, strip=True, seen=frozenset())
        if validation:
            self.checked = _adapter(targetType, fullType)
            # Only needed to tell a constraint failure from a conversion failure, so it is
            # built when the first failure happens.
            self._unchecked: TypeAdapter[Any] | None = None
            self._strippedType: Any = None if strippedType is fullType else strippedType
        else:
            self.checked = _adapter(targetType, strippedType)
            self._unchecked = None
            self._strippedType = None

    def unchecked(self) -> TypeAdapter[Any] | None:
        if self._unchecked is None and self._strippedType is not None:
            self._unchecked = _adapter(self.targetType, self._strippedType)
        return self._unchecked

    def fail(self, error: ValidationError, retry: Callable[[TypeAdapter[Any]], object]) -> NoReturn:
        """Raise the bws error for ``error``; ``retry`` repeats the attempt with an adapter."""
        from pydantic import ValidationError

        conversionTypes = _conversionErrors()
        errors = error.errors(include_url=False, include_context=False, include_input=False)
        conversion = [e for e in errors if e["type"] in conversionTypes]
        unchecked = self.unchecked() if conversion and len(conversion) < len(errors) else None
        if unchecked is not None:
            # Some members of a union (say) failed a constraint, others failed to convert:
            # without the constraints, does it convert?
            try:
                retry(unchecked)
            except ValidationError as uncheckedError:
                errors = uncheckedError.errors(
                    include_url=False, include_context=False, include_input=False
                )
                conversion = [e for e in errors if e["type"] in conversionTypes] or errors
            else:
                conversion = []
        if conversion:
            raise PayloadBindingError(BINDING_FAILED + _describe(conversion)) from error
        constraints = [e for e in errors if e["type"] not in conversionTypes] or errors
        raise PayloadValidationError(VALIDATION_FAILED + _describe(constraints)) from error


def _describe(errors: list[Any]) -> str:
    first = errors[0]
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"])
    detail = f"${path}: {first['msg']}" if path else first["msg"]
    if len(errors) > 1:
        more = len(errors) - 1
        detail += f" (and {more} more error{'s' if more > 1 else ''})"
    return detail


def _adapter(targetType: Any, rewritten: Any) -> TypeAdapter[Any]:
    import pydantic
    from pydantic import TypeAdapter

    try:
        return TypeAdapter(rewritten)
    except (pydantic.PydanticSchemaGenerationError, pydantic.PydanticUserError) as e:
        raise TypeError(f"cannot bind messages to {targetType!r}: {e}") from e


def _buildBinder(targetType: Any, validation: bool) -> Binder:
    def binder(
        text: Callable[[str], Any],
        textPayload: Callable[[bytes], Any],
        binary: Callable[[bytes], Any],
    ) -> Binder:
        return Binder(targetType, validation, text, textPayload, binary)

    core = _unannotated(targetType)
    if core in _ANY_TYPES:
        return binder(_identity, _decode, _identity)
    if core is _Element:
        return binder(_parseXml, _parseXmlPayload, _parseXml)
    # Exactly str or bytes (no constraints to check): no pydantic at all.
    if targetType is str or (core is str and not validation):
        return binder(_identity, _decode, _decode)
    if targetType is bytes or (core is bytes and not validation):
        return binder(_encode, _identity, _identity)

    from pydantic import ValidationError

    pair = _ValidatorPair(targetType, validation)
    validatePython = pair.checked.validate_python
    validateJson = pair.checked.validate_json

    def fromPython(value: Any) -> Any:
        try:
            return validatePython(value)
        except ValidationError as e:
            pair.fail(e, lambda adapter: adapter.validate_python(value))

    def fromJson(document: str | bytes) -> Any:
        try:
            return validateJson(document, strict=True)
        except ValidationError as e:
            pair.fail(e, lambda adapter: adapter.validate_json(document, strict=True))

    def fromTextOrJson(value: str) -> Any:
        # A union of text-like types and others: text that none of the text-like types
        # accepts, and that looks like a JSON object or array, is tried as JSON for the others.
        try:
            return fromPython(value)
        except PayloadBindingError:
            if value.lstrip(" \t\r\n")[:1] not in ("{", "["):
                raise
        return fromJson(value)

    members = _unionMembers(targetType)
    text: Callable[[str], Any]
    textPayload: Callable[[bytes], Any]
    if _isBytesLike(core):
        text = lambda value: fromPython(_encode(value))  # noqa: E731
        textPayload = fromPython
    elif isTextual(targetType):
        if members is not None and not all(_isTextLike(member) for member in members):
            text = fromTextOrJson
        else:
            text = fromPython
        textPayload = lambda payload: text(_decode(payload))  # noqa: E731
    else:
        text = fromJson
        textPayload = fromJson

    binary: Callable[[bytes], Any]
    if isBinary(targetType):
        binary = fromPython
    elif _isPlainText(core):
        binary = lambda payload: fromPython(_decode(payload))  # noqa: E731
    else:
        binary = fromJson
    return binder(text, textPayload, binary)


# -- type rewriting: attrs classes, typing.TypedDict, and constraint stripping -------------


class _RecordSchema:
    """``Annotated`` metadata that validates a record's fields as a TypedDict, then builds it."""

    def __init__(self, recordType: type, fieldsType: Any, keys: dict[str, str]) -> None:
        self.recordType = recordType
        self.fieldsType = fieldsType
        self.keys = keys  # JSON key -> constructor argument

    def build(self, values: dict[str, Any]) -> Any:
        arguments = {self.keys[key]: value for key, value in values.items()}
        try:
            return self.recordType(**arguments)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{self.recordType.__name__}: {e}") from e

    def __get_pydantic_core_schema__(
        self, source: Any, handler: pydantic.GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        from pydantic_core import core_schema

        return core_schema.no_info_after_validator_function(
            self.build, handler.generate_schema(self.fieldsType)
        )


def _typeHints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls, include_extras=True)
    except Exception as e:
        raise TypeError(f"cannot resolve the annotations of {cls!r}: {e}") from e


# TypedDict's functional form, called with a computed name and fields (mypy types only the
# literal form).
_makeTypedDict = cast("Callable[[str, dict[str, Any]], type]", typing_extensions.TypedDict)


def _fieldsTypedDict(name: str, fields: dict[str, tuple[Any, bool]]) -> Any:
    return _makeTypedDict(
        name,
        {
            key: typing_extensions.Required[tp] if required else typing_extensions.NotRequired[tp]
            for key, (tp, required) in fields.items()
        },
    )


_REQUIREDNESS: Final = (
    typing.Required,
    typing.NotRequired,
    typing_extensions.Required,
    typing_extensions.NotRequired,
)


def _unrequired(tp: Any) -> Any:
    while get_origin(tp) in _REQUIREDNESS:
        tp = get_args(tp)[0]
    return tp


def _rewrite(tp: Any, strip: bool, seen: frozenset[type]) -> Any:
    """
    Make ``tp`` something pydantic can validate, removing ``Annotated`` metadata if ``strip``.

    attrs classes become ``Annotated[cls, _RecordSchema]``; ``typing.TypedDict`` (which
    pydantic refuses before Python 3.12) becomes a ``typing_extensions.TypedDict``; with
    ``strip``, stdlib dataclasses with constrained fields become records too. Containers and
    unions are rebuilt when a member changed. Returns ``tp`` itself when nothing changed.
    """
    origin = get_origin(tp)
    if origin is Annotated:
        inner, *metadata = get_args(tp)  # noqa: B007
        new = _rewrite(inner, strip, seen)
        if strip:
            return new
        return tp if new is inner else Annotated[(new, *metadata)]
    if origin is Literal:
        return tp
    if origin is not None:
        args = get_args(tp)
        newArgs = tuple(
            arg if arg is Ellipsis or isinstance(arg, list) else _rewrite(arg, strip, seen)
            for arg in args
        )
        if all(new is old for new, old in zip(newArgs, args, strict=True)):
            return tp
        if origin in _UNION_ORIGINS:
            return Union[newArgs]  # noqa: UP007
        if isinstance(tp, types.GenericAlias):
            return types.GenericAlias(origin, newArgs)
        copyWith = getattr(tp, "copy_with", None)
        return copyWith(newArgs) if copyWith is not None else tp
    if isinstance(tp, typing.NewType):
        new = _rewrite(tp.__supertype__, strip, seen)
        return tp if new is tp.__supertype__ else new
    if not isinstance(tp, type):
        return tp
    if attrs.has(tp):
        return _attrsRecord(tp, strip, seen)
    if typing_extensions.is_typeddict(tp):
        return _typedDict(tp, strip, seen)
    if (
        dataclasses.is_dataclass(tp)
        and not _isPydanticDataclass(tp)
        and tp not in seen
    ):
        return _dataclassRecord(tp, strip, seen)
    return tp


def _isPydanticDataclass(tp: Any) -> bool:
    from pydantic.dataclasses import is_pydantic_dataclass

    return is_pydantic_dataclass(tp)


def _attrsRecord(cls: type, strip: bool, seen: frozenset[type]) -> Any:
    if cls in seen:
        raise TypeError(f"cannot bind messages to the recursive attrs class {cls!r}")
    seen = seen | {cls}
    hints = _typeHints(cls)
    fields: dict[str, tuple[Any, bool]] = {}
    keys: dict[str, str] = {}
    for attribute in attrs.fields(cls):
        if not attribute.init:
            continue
        key = attribute.alias or attribute.name
        tp = hints.get(attribute.name, attribute.type if attribute.type is not None else Any)
        fields[key] = (_rewrite(tp, strip, seen), attribute.default is attrs.NOTHING)
        keys[key] = key
    fieldsType = _fieldsTypedDict(cls.__name__, fields)
    return Annotated[cls, _RecordSchema(cls, fieldsType, keys)]


def _typedDict(cls: type, strip: bool, seen: frozenset[type]) -> Any:
    if cls in seen:
        return cls
    seen = seen | {cls}
    hints = _typeHints(cls)
    required = getattr(cls, "__required_keys__", frozenset(hints))
    # pydantic refuses typing.TypedDict before Python 3.12: rebuild it with typing_extensions.
    changed = type(cls).__module__ == "typing"
    fields: dict[str, tuple[Any, bool]] = {}
    for key, tp in hints.items():
        inner = _unrequired(tp)
        new = _rewrite(inner, strip, seen)
        changed = changed or new is not inner
        fields[key] = (new, key in required)
    return _fieldsTypedDict(cls.__name__, fields) if changed else cls


def _isInitVar(annotation: Any) -> bool:
    if isinstance(annotation, str):
        return "InitVar" in annotation
    return annotation is dataclasses.InitVar or isinstance(annotation, dataclasses.InitVar)


def _dataclassRecord(cls: type[DataclassInstance], strip: bool, seen: frozenset[type]) -> Any:
    declared = cls.__dataclass_fields__.values()
    if any(_isInitVar(f.type) for f in declared) or any(
        not f.init for f in dataclasses.fields(cls)
    ):
        return cls  # cannot be built from its fields alone: leave it to pydantic as declared
    seen = seen | {cls}
    hints = _typeHints(cls)
    fields: dict[str, tuple[Any, bool]] = {}
    changed = False
    for f in dataclasses.fields(cls):
        tp = hints.get(f.name, Any)
        new = _rewrite(tp, strip, seen)
        changed = changed or new is not tp
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        fields[f.name] = (new, required)
    if not changed:
        return cls
    fieldsType = _fieldsTypedDict(cls.__name__, fields)
    return Annotated[cls, _RecordSchema(cls, fieldsType, {key: key for key in fields})]


# -- serialising out -------------------------------------------------------------------------


def serialize(value: Any) -> tuple[bytes, bool]:
    """
    Turn a value into a message, for ``writeMessage`` and for callback return values.

    - ``str`` (and ``Enum`` members whose value is a ``str``): text, sent as-is, no quoting;
    - ``bytes``, ``bytearray``, ``memoryview``: binary;
    - ``xml.etree.ElementTree.Element``: text, ``ElementTree.tostring(value, "unicode")``;
    - anything else: JSON text, see ``toJson``.

    ``None`` gives the text ``null``; a dispatcher that sends nothing for a ``None`` return
    must check for it before calling this.

    :param value: the value to send.
    :return: ``(payload, isBinary)``, ready for Autobahn's ``sendMessage``.
    :raise TypeError: if ``value`` is a ``CloseFrame`` (which closes, it is not a message),
        or cannot be expressed as JSON.
    """
    kind = type(value)
    if kind is str:
        return value.encode("utf-8"), False
    if kind is bytes:
        return value, True
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value), True
    if isinstance(value, enum.Enum) and isinstance(value.value, str):
        return value.value.encode("utf-8"), False
    if isinstance(value, str):
        return str.encode(value, "utf-8"), False
    if isinstance(value, _Element):
        return ElementTree.tostring(value, encoding="unicode").encode("utf-8"), False
    if isinstance(value, CloseFrame):
        raise TypeError(
            f"{value!r} is a CloseFrame: return it from a callback (or call close()) to close "
            "the connection; it cannot be sent as a message"
        )
    return toJson(value).encode("utf-8"), False


class _DecimalFound(Exception):
    pass


def _jsonDefault(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal):
        raise _DecimalFound
    if isinstance(value, _Element | CloseFrame):
        raise TypeError(f"a {type(value).__name__} cannot be part of a JSON message")
    pydantic = sys.modules.get("pydantic")  # a model exists only once pydantic loaded
    if pydantic is not None and isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if attrs.has(type(value)):
        return {
            (a.alias or a.name): getattr(value, a.name) for a in attrs.fields(type(value)) if a.init
        }
    if isinstance(value, set | frozenset):
        return list(value)
    from pydantic_core import PydanticSerializationError, to_jsonable_python

    try:
        return to_jsonable_python(value)
    except PydanticSerializationError:
        raise TypeError(
            f"a {type(value).__module__}.{type(value).__qualname__} cannot be sent as a "
            "message: send str, bytes, an ElementTree.Element, or a JSON-compatible value "
            "(dict, list, number, bool, None, dataclass, TypedDict, pydantic model, attrs "
            "class, Enum, Decimal, datetime, UUID)"
        ) from None


_encodeJson: Final = json.JSONEncoder(
    default=_jsonDefault, ensure_ascii=False, separators=(",", ":"), allow_nan=False
).encode


def toJson(value: Any) -> str:
    """
    Encode ``value`` as compact JSON text.

    Handles what ``json`` does, plus dataclasses, pydantic models (``model_dump(mode="json",
    by_alias=True)``), attrs classes (by init name), ``Enum`` (its value), sets, ``Decimal``
    (a JSON number with exactly its digits, ``Decimal("1.10")`` gives ``1.10``), and what
    pydantic can make JSON of (``datetime`` and friends as ISO 8601, ``UUID``, ...). Non-ASCII
    characters are written as they are; quotes and control characters are escaped.

    :param value: the value.
    :return: the JSON text.
    :raise TypeError: if ``value`` holds something JSON cannot express: an unknown type, NaN
        or an infinity, or a reference cycle.
    """
    try:
        return _encodeJson(value)
    except _DecimalFound:
        return _toJsonWithDecimals(value)
    except ValueError as e:
        raise TypeError(f"cannot send {type(value).__name__} as JSON: {e}") from None


def _toJsonWithDecimals(value: Any) -> str:
    # json cannot write a number it did not format itself, so each Decimal is written as a
    # string holding a random marker, and the marked strings are replaced afterwards.
    marker = secrets.token_hex(8)
    decimals: list[str] = []

    def default(item: Any) -> Any:
        if isinstance(item, Decimal):
            if not item.is_finite():
                raise ValueError(f"Decimal {item} is not a JSON number")
            decimals.append(str(item))
            return f"{marker}:{len(decimals) - 1}"
        return _jsonDefault(item)

    try:
        text = json.dumps(
            value, default=default, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        )
    except ValueError as e:
        raise TypeError(f"cannot send {type(value).__name__} as JSON: {e}") from None
    for index, number in enumerate(decimals):
        text = text.replace(f'"{marker}:{index}"', number, 1)
    return text


# -- close reason ----------------------------------------------------------------------------


def bindingDetail(error: BaseException | str) -> str:
    """
    Build the reason of the 1003 close sent when binding failed and nothing handled it.

    The reason is ``"data binding failed: <msg>"``, where ``<msg>`` is the error's detail cut
    to its first 80 characters plus ``"..."`` when it is longer than 100 characters. A
    ``PayloadValidationError`` keeps its own start: ``"data validation failed: <msg>"``. The
    whole reason is then cut again if needed, on a character boundary, to fit the 123 bytes
    of UTF-8 a close reason can hold.

    :param error: the binding error, or its message; a message that does not start with
        ``"data binding failed: "`` or ``"data validation failed: "`` is taken as the detail.
    :return: the close reason.
    """
    message = error if isinstance(error, str) else str(error)
    prefix = BINDING_FAILED
    for start in (BINDING_FAILED, VALIDATION_FAILED):
        if message.startswith(start):
            prefix, message = start, message[len(start) :]
            break
    if len(message) > 100:
        message = message[:80] + "..."
    return truncateUtf8(prefix + message, MAX_CLOSE_REASON_BYTES)
