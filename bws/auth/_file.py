# -*- test-case-name: tests.auth.test_file -*-
"""The file user store (spec ``FileUserStoreConfig``): Basic credentials checked against
users in a TOML file.

::

    [[users]]
    username = "alice"
    password = "$argon2id$v=19$m=65536,t=3,p=4$..."
    scopes = ["write", "update"]

The reference's layout, ``[[ballerina.auth.users]]``, is read too. A password is plain
text, or a hash in its modular-crypt form: ``$pbkdf2-sha256$``/``$pbkdf2-sha512$`` and
``$scrypt$`` (passlib's formats, checked by passlib), ``$2a$``/``$2b$``/``$2y$`` (bcrypt,
checked by pyca's ``bcrypt``; only the first 72 bytes of a password count, as bcrypt
defines), ``$argon2id$``/``$argon2i$``/``$argon2d$`` (checked by ``argon2-cffi``). A value
that looks like a hash of any other scheme is refused when the file is read, so that an
unsupported hash is never taken for a plain password.

Against timing attacks: plain passwords are compared as SHA-256 digests with
``hmac.compare_digest`` (constant time, on bytes, whatever their lengths); an unknown user
name is checked against a dummy hash of the store's most used scheme and cost, so it costs
what a wrong password costs. Hashes are checked in the reactor's thread pool, when the
reactor has one, so that a slow hash does not stop the reactor.
"""

from __future__ import annotations

import abc
import collections
import hashlib
import hmac
import re
import secrets
import tomllib
from collections.abc import Callable, Mapping
from typing import Any

import attrs
from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import IUsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorThreads
from twisted.internet.threads import deferToThreadPool
from zope.interface import implementer

from bws.auth._args import readFile
from bws.auth.credentials import hasControl
from bws.auth.records import FileUserStoreConfig
from bws.errors import ConfigurationError
from bws.request import Principal

__all__ = ["FileUserStoreChecker", "User", "Verifier", "fileChecker", "loadUsers",
           "verifierFor", "checkerFromString"]

#: The table layouts holding users: ``[[users]]`` and the reference's.
LAYOUTS = (("users",), ("ballerina", "auth", "users"))
_USER_KEYS = {"username", "password", "scopes"}
_HASH_PREFIX = re.compile(r"^\$([A-Za-z0-9-]+)\$")
_BCRYPT = re.compile(r"^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$")
#: bcrypt reads this many bytes of a password, and no more.
BCRYPT_MAX = 72


# -- verifiers ----------------------------------------------------------------------------


class Verifier(abc.ABC):
    """A stored password: :meth:`verify` tells whether a given one matches.

    :ivar scheme: the scheme's name (``"plain"``, ``"pbkdf2-sha256"``, ``"bcrypt"``…).
    :ivar slow: whether checking costs real time (it then runs in a thread).
    """

    scheme = "plain"
    slow = False

    @abc.abstractmethod
    def verify(self, password: bytes) -> bool:
        """Whether ``password`` is the stored one (in constant time where it can be)."""

    def dummy(self) -> Verifier:
        """A verifier of the same scheme and cost for a random password no one knows.

        This default is a plain verifier that no password matches; every scheme with a
        cost overrides it, so that an unknown user costs what a known one does.
        """
        return PlainVerifier(secrets.token_bytes(32))


def _digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


class PlainVerifier(Verifier):
    """A plain-text password, compared in constant time as bytes."""

    def __init__(self, password: bytes) -> None:
        self._digest = _digest(password)

    def verify(self, password: bytes) -> bool:
        # Digests first: compare_digest's time depends on the lengths, not on the content.
        return hmac.compare_digest(_digest(password), self._digest)

    def dummy(self) -> Verifier:
        return PlainVerifier(secrets.token_bytes(32))


class PasslibVerifier(Verifier):
    """A passlib PBKDF2 or scrypt hash."""

    slow = True

    def __init__(self, scheme: str, handler: Any, stored: str) -> None:
        self.scheme = scheme
        self.handler = handler
        self.stored = stored
        self.parsed = handler.from_string(stored)  # ValueError when malformed

    def verify(self, password: bytes) -> bool:
        return bool(self.handler.verify(password, self.stored))

    def dummy(self) -> Verifier:
        parsed = self.parsed
        settings: dict[str, Any] = {"rounds": parsed.rounds}
        if self.scheme == "scrypt":
            settings.update(block_size=parsed.block_size, parallelism=parsed.parallelism)
        stored = self.handler.using(**settings).hash(secrets.token_bytes(32))
        return PasslibVerifier(self.scheme, self.handler, stored)


class BcryptVerifier(Verifier):
    """A bcrypt hash (pyca ``bcrypt``)."""

    scheme = "bcrypt"
    slow = True

    def __init__(self, stored: str) -> None:
        match = _BCRYPT.match(stored)
        if match is None:
            raise ValueError("not a bcrypt hash ($2b$NN$ and 53 characters)")
        self.cost = int(match.group(1))
        self.stored = stored.encode("ascii")

    def verify(self, password: bytes) -> bool:
        import bcrypt

        return bool(bcrypt.checkpw(password[:BCRYPT_MAX], self.stored))

    def dummy(self) -> Verifier:
        import bcrypt

        return BcryptVerifier(bcrypt.hashpw(secrets.token_bytes(32)[:BCRYPT_MAX],
                                            bcrypt.gensalt(rounds=self.cost)).decode("ascii"))


class Argon2Verifier(Verifier):
    """An Argon2 hash in its PHC string form (``argon2-cffi``)."""

    slow = True

    def __init__(self, scheme: str, stored: str) -> None:
        import argon2

        self.scheme = scheme
        self.stored = stored
        self.parameters = argon2.extract_parameters(stored)  # InvalidHashError

    def verify(self, password: bytes) -> bool:
        import argon2

        try:
            return bool(argon2.PasswordHasher.from_parameters(self.parameters).verify(
                self.stored, password))
        except argon2.exceptions.VerificationError:
            return False
        except argon2.exceptions.InvalidHashError:
            return False

    def dummy(self) -> Verifier:
        import argon2

        hasher = argon2.PasswordHasher.from_parameters(self.parameters)
        return Argon2Verifier(self.scheme, hasher.hash(secrets.token_bytes(32)))


def _passlib(name: str) -> Callable[[str, str], Verifier]:
    def make(scheme: str, stored: str) -> Verifier:
        from passlib import hash as passlibHash

        return PasslibVerifier(scheme, getattr(passlibHash, name), stored)

    return make


#: The hash schemes read, by the name between the first two ``$``.
SCHEMES: dict[str, Callable[[str, str], Verifier]] = {
    "pbkdf2-sha256": _passlib("pbkdf2_sha256"),
    "pbkdf2-sha512": _passlib("pbkdf2_sha512"),
    "scrypt": _passlib("scrypt"),
    "2a": lambda scheme, stored: BcryptVerifier(stored),
    "2b": lambda scheme, stored: BcryptVerifier(stored),
    "2y": lambda scheme, stored: BcryptVerifier(stored),
    "argon2id": Argon2Verifier,
    "argon2i": Argon2Verifier,
    "argon2d": Argon2Verifier,
}


def verifierFor(password: str) -> Verifier:
    """The verifier of a stored password: a hash of a scheme in :data:`SCHEMES`, or plain.

    :raise ValueError: the value starts like a hash (``$name$``) of a scheme not read here,
        or is a malformed hash of one that is.
    """
    match = _HASH_PREFIX.match(password)
    if match is None:
        return PlainVerifier(password.encode("utf-8"))
    scheme = match.group(1)
    make = SCHEMES.get(scheme)
    if make is None:
        raise ValueError(f"the password looks like a ${scheme}$ hash, a scheme bws does not "
                         f"read (use one of {', '.join('$' + s + '$' for s in SCHEMES)})")
    try:
        return make(scheme, password)
    except Exception as e:
        raise ValueError(f"the password is a malformed ${scheme}$ hash ({e})") from None


# -- the file -------------------------------------------------------------------------------


@attrs.frozen
class User:
    """One user of the store."""

    username: str
    verifier: Verifier = attrs.field(repr=False)
    scopes: tuple[str, ...] = ()


def _tableLines(text: str, layout: tuple[str, ...]) -> list[int]:
    """The 1-based line of each ``[[a.b]]`` header of ``layout``, in order."""
    name = r"\s*\.\s*".join(re.escape(part) for part in layout)
    header = re.compile(rf"^\s*\[\[\s*{name}\s*\]\]\s*(#.*)?$")
    return [n for n, line in enumerate(text.splitlines(), 1) if header.match(line)]


def _userTables(data: Mapping[str, Any], layout: tuple[str, ...]) -> Any:
    node: Any = data
    for part in layout:
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def loadUsers(path: str) -> dict[str, User]:
    """Read the users of a TOML user store.

    :raise ConfigurationError: naming the file (and the line, where the problem is in a
        user's table): missing, unreadable, not TOML, no users, a user without a name or
        password, a repeated name, a name holding a colon (RFC 7617 §2), unknown keys, bad
        scopes, an unknown or malformed hash.
    """
    raw = readFile(path, "FileUserStoreConfig.path")
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError as e:
        raise ConfigurationError(f"{path}: not UTF-8 text ({e.reason})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigurationError(f"{path}: not valid TOML: {e}") from None
    users: dict[str, User] = {}
    found = False
    for layout in LAYOUTS:
        tables = _userTables(data, layout)
        if tables is None:
            continue
        found = True
        label = "[[" + ".".join(layout) + "]]"
        if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
            raise ConfigurationError(f"{path}: {'.'.join(layout)} must be an array of tables "
                                     f"({label})")
        lines = _tableLines(text, layout)
        if len(lines) != len(tables):
            lines = []  # written inline; say which entry instead
        for index, table in enumerate(tables):
            where = (f"{path}:{lines[index]}: {label}" if lines
                     else f"{path}: {label} entry {index + 1}")
            user = _user(table, where)
            if user.username in users:
                raise ConfigurationError(f"{where}: user {user.username!r} is listed twice")
            users[user.username] = user
    if not found:
        raise ConfigurationError(f"{path}: no [[users]] (or [[ballerina.auth.users]]) table")
    if not users:
        raise ConfigurationError(f"{path}: the user store lists no users")
    return users


def _user(table: Mapping[str, Any], where: str) -> User:
    unknown = sorted(set(table) - _USER_KEYS)
    if unknown:
        raise ConfigurationError(f"{where}: unknown key(s) {', '.join(unknown)}; "
                                 f"known: {', '.join(sorted(_USER_KEYS))}")
    username = table.get("username")
    if not isinstance(username, str) or not username:
        raise ConfigurationError(f"{where}: username must be non-empty text")
    if ":" in username or hasControl(username):
        raise ConfigurationError(
            f"{where}: username {username!r} holds a colon or a control character, which "
            "Basic credentials cannot carry (RFC 7617 §2)")
    password = table.get("password")
    if not isinstance(password, str) or not password:
        raise ConfigurationError(f"{where}: user {username!r} needs a non-empty password")
    scopes = table.get("scopes", ())
    if isinstance(scopes, str):
        scopes = scopes.split()
    if not isinstance(scopes, list | tuple) or not all(
            isinstance(s, str) and s and len(s.split()) == 1 for s in scopes):
        raise ConfigurationError(
            f"{where}: scopes of {username!r} must be a list of names without whitespace")
    try:
        verifier = verifierFor(password)
    except ValueError as e:
        raise ConfigurationError(f"{where}: user {username!r}: {e}") from None
    return User(username, verifier, tuple(scopes))


def dummyFor(users: Mapping[str, User]) -> Verifier:
    """A verifier for unknown user names: the store's most used scheme, at the cost of the
    first user of that scheme (a store using one scheme and cost throughout answers an
    unknown name as slowly as a wrong password)."""
    counts = collections.Counter(user.verifier.scheme for user in users.values())
    scheme = counts.most_common(1)[0][0]
    model = next(u.verifier for u in users.values() if u.verifier.scheme == scheme)
    return model.dummy()


# -- the checker ----------------------------------------------------------------------------


def _verify(verifier: Verifier, password: bytes) -> bool:
    """``verifier.verify(password)``; a password the hash library refuses (a NUL byte, say)
    matches nothing."""
    try:
        return verifier.verify(password)
    except (ValueError, TypeError):
        return False


@implementer(ICredentialsChecker)
class FileUserStoreChecker:
    """A ``twisted.cred`` checker of Basic credentials against a TOML user store.

    ``requestAvatarId`` fires with a :class:`bws.Principal` (the user name and its scopes),
    or fails with ``UnauthorizedLogin`` for a wrong password or an unknown user alike.

    :ivar users: the users by name.
    :ivar dummy: what an unknown name is checked against.
    :ivar path: the file the users came from (for messages).
    """

    credentialInterfaces = (IUsernamePassword,)

    def __init__(self, users: dict[str, User], reactor: Any = None, path: str = "") -> None:
        self.users = users
        self.dummy = dummyFor(users)
        self.reactor = reactor
        self.path = path

    def _check(self, verifier: Verifier, password: bytes) -> Deferred[bool]:
        reactor = self.reactor
        if verifier.slow and IReactorThreads.providedBy(reactor):
            return deferToThreadPool(reactor, reactor.getThreadPool(), _verify, verifier,
                                     password)
        return succeed(_verify(verifier, password))

    # Twisted types avatar ids as bytes; bws checkers answer a Principal (Deferred[Any]).
    def requestAvatarId(self, credentials: IUsernamePassword) -> Deferred[Any]:
        name = credentials.username
        password = credentials.password
        if isinstance(password, str):
            password = password.encode("utf-8")
        try:
            username = name.decode("utf-8") if isinstance(name, bytes) else str(name)
        except UnicodeDecodeError:
            username = ""
        user = self.users.get(username)
        d = self._check(user.verifier if user is not None else self.dummy, password)

        def checked(matches: bool) -> Principal:
            if user is None or not matches:
                raise UnauthorizedLogin("wrong user name or password")
            return Principal(user.username, user.scopes)

        return d.addCallback(checked)


def fileChecker(config: FileUserStoreConfig, reactor: Any) -> FileUserStoreChecker:
    """The checker of a :class:`~bws.auth.records.FileUserStoreConfig`: the file is read now.

    :raise ConfigurationError: see :func:`loadUsers`.
    """
    return FileUserStoreChecker(loadUsers(config.path), reactor, config.path)


def checkerFromString(argstring: str, reactor: Any = None) -> FileUserStoreChecker:
    """``twistd bws --auth toml:PATH``: the checker of the TOML file at ``PATH``, checking
    hashes in ``reactor``'s thread pool (the global reactor's by default)."""
    if reactor is None:
        from twisted.internet import reactor
    return fileChecker(FileUserStoreConfig(argstring), reactor)
