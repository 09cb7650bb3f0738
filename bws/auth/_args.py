# -*- test-case-name: tests.auth.test_credplugins -*-
"""The ``ARGS`` of ``twistd bws --auth TYPE:ARGS`` for the stores configured by fields."""

from __future__ import annotations

from collections.abc import Collection

from bws.errors import ConfigurationError

__all__ = ["fieldPairs", "secretFromFile"]


def fieldPairs(argstring: str, known: Collection[str], authType: str) -> list[tuple[str, str]]:
    """``field=value`` pairs joined by commas, in order. A value may hold commas and equals
    signs (a DN, a filter): a piece that does not start with a known field name continues
    the value before it.

    :raises bws.ConfigurationError: the string does not start with a known field.
    """
    pairs: list[list[str]] = []
    for piece in argstring.split(","):
        name, eq, value = piece.partition("=")
        if eq and name in known:
            pairs.append([name, value])
        elif pairs:
            pairs[-1][1] += "," + piece
        else:
            raise ConfigurationError(
                f"--auth {authType}: expected field=value, got {piece!r} (fields:"
                f" {', '.join(sorted(known))})")
    return [(name, value) for name, value in pairs]


def secretFromFile(path: str, what: str) -> str:
    """The secret held in the file at ``path`` (UTF-8, one trailing line end dropped):
    secrets are never given on the command line, where every user of the machine can read
    them.

    :raises bws.ConfigurationError: naming ``what`` and the file, when it cannot be read.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ConfigurationError(f"{what}: cannot read {path!r}: {e.strerror or e}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigurationError(f"{what}: {path!r} is not UTF-8 text") from None
    return text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text
