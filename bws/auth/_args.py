# -*- test-case-name: tests.auth.test_credplugins -*-
"""What the stores read their configuration from: the ``ARGS`` of ``twistd bws --auth
TYPE:ARGS``, and the files a configuration names (user stores, keys, secrets)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from bws.errors import ConfigurationError

__all__ = ["fieldPairs", "readFile", "secretFromFile", "recordFromArgs"]


def readFile(path: str, what: str) -> bytes:
    """The bytes of the file at ``path``.

    :param what: names the setting the path came from (``"FileUserStoreConfig.path"``).
    :raises bws.ConfigurationError: ``"<what>: cannot read '<path>': <why>"``.
    """
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise ConfigurationError(f"{what}: cannot read {path!r}: not found") from None
    except OSError as e:
        raise ConfigurationError(f"{what}: cannot read {path!r}: {e.strerror or e}") from None


def secretFromFile(path: str, what: str) -> str:
    """The secret held in the file at ``path`` (UTF-8, one trailing line end dropped):
    secrets are never given on the command line, where every user of the machine can read
    them.

    :raises bws.ConfigurationError: naming ``what`` and the file, when it cannot be read.
    """
    data = readFile(path, what)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigurationError(f"{what}: {path!r} is not UTF-8 text") from None
    return text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text


def fieldPairs(argstring: str, known: Collection[str], authType: str,
               secrets: Collection[str] = ()) -> list[tuple[str, str]]:
    """``field=value`` pairs joined by commas, in order. A value may hold commas and equals
    signs (a DN, a filter): a piece that does not start with a known field name continues
    the value before it; empty pieces are skipped.

    :param secrets: fields whose value is a secret: ``NAME=...`` is refused (the command
        line is readable by every user of the machine), ``NAMEFile=PATH`` gives the pair
        ``(NAME, the secret in PATH)`` (see :func:`secretFromFile`).
    :raises bws.ConfigurationError: the string does not start with a known field, a secret is
        given on the command line, or a secret's file cannot be read.
    """
    files = {f"{name}File": name for name in secrets}
    fields = set(known) | set(secrets) | set(files)
    pairs: list[list[str]] = []
    for piece in filter(None, argstring.split(",")):
        name, eq, value = piece.partition("=")
        if eq and name in fields:
            pairs.append([name, value])
        elif pairs:
            pairs[-1][1] += "," + piece
        else:
            raise ConfigurationError(
                f"--auth {authType}: expected field=value, got {piece!r} (fields:"
                f" {', '.join(sorted((set(known) - set(secrets)) | set(files)))})")
    result = []
    for name, value in pairs:
        if name in secrets:
            raise ConfigurationError(
                f"--auth {authType}: {name} on the command line is readable by every user of"
                f" the machine; give {name}File=PATH")
        if name in files:
            name, value = files[name], secretFromFile(value, f"--auth {authType}: {name}")
        result.append((name, value))
    return result


def recordFromArgs(recordType: type[Any], fields: dict[str, Any], authType: str) -> Any:
    """``recordType(**fields)``, a missing field reported as ``--auth TYPE: ...``.

    :raises bws.ConfigurationError: a missing field, or the record's own refusal.
    """
    try:
        return recordType(**fields)
    except TypeError as e:
        raise ConfigurationError(f"--auth {authType}: {e}") from None
