"""The TOML file user store: schemes, load errors, timing, and the reference's three users
against a service that requires ``write`` (REFERENCE §1.12)."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterable
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.python import log
from twisted.trial.unittest import SynchronousTestCase, TestCase

import bws
import bws.testing
from bws.auth._file import (
    BCRYPT_MAX,
    FileUserStoreChecker,
    Verifier,
    fileChecker,
    loadUsers,
    verifierFor,
)
from bws.auth.credentials import UsernamePassword
from bws.auth.records import FileUserStoreConfig, FileUserStoreConfigWithScopes
from tests.auth.conformance import CheckerConformanceMixin


def pbkdf2(password: str, rounds: int = 1000) -> str:
    """A cheap PBKDF2-SHA256 hash of ``password`` (tests only: real stores use more rounds)."""
    from passlib.hash import pbkdf2_sha256

    return str(pbkdf2_sha256.using(rounds=rounds).hash(password))


def basic(username: str, password: str) -> str:
    """The ``Authorization`` header of Basic ``username``/``password`` (UTF-8)."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def writeStore(case: SynchronousTestCase, text: str) -> str:
    """A new file holding ``text``; its path."""
    path = case.mktemp()
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def referenceStore(case: SynchronousTestCase) -> str:
    """The reference's three users (REFERENCE §1.12), in its own layout; alice's password is
    hashed, bob's and eve's are plain."""
    return writeStore(case, f"""
[[ballerina.auth.users]]
username = "alice"
password = "{pbkdf2('xxx')}"
scopes = ["write", "update"]

[[ballerina.auth.users]]
username = "bob"
password = "yyy"
scopes = ["read"]

[[ballerina.auth.users]]
username = "eve"
password = "123"
""")


class FileCheckerConformanceTests(CheckerConformanceMixin, TestCase):
    """The file store keeps the checker contract, with colon-bearing and non-ASCII
    credentials among the good ones."""

    def setUp(self) -> None:
        path = writeStore(self, f"""
[[users]]
username = "alice"
password = "{pbkdf2('a:b:c')}"
scopes = ["write", "update"]

[[users]]
username = "josé"
password = "pässwörd:ü"
scopes = "read"

[[users]]
username = "eve"
password = "123"
""")
        self.checker = fileChecker(FileUserStoreConfig(path), None)

    def goodCredentials(self) -> Iterable[tuple[Any, bws.Principal | str]]:
        yield UsernamePassword(b"alice", b"a:b:c"), bws.Principal("alice", ("write", "update"))
        yield (UsernamePassword("josé".encode(), "pässwörd:ü".encode()),
               bws.Principal("josé", ("read",)))
        yield UsernamePassword(b"eve", b"123"), "eve"

    def badCredentials(self) -> Iterable[Any]:
        yield UsernamePassword(b"alice", b"a:b")
        yield UsernamePassword(b"alice", b"")
        yield UsernamePassword(b"alice ", b"a:b:c")
        yield UsernamePassword(b"ALICE", b"a:b:c")
        yield UsernamePassword(b"mallory", b"a:b:c")
        yield UsernamePassword(b"", b"")
        yield UsernamePassword(b"\xff\xfe", b"123")
        yield UsernamePassword("josé".encode("latin-1"), "pässwörd:ü".encode())
        yield UsernamePassword(b"eve", b"123\x00")


class SchemeTests(SynchronousTestCase):
    """Each hash scheme checks the right password and refuses others."""

    def assertScheme(self, stored: str, scheme: str, password: bytes = b"s3cret") -> Verifier:
        verifier = verifierFor(stored)
        self.assertEqual(verifier.scheme, scheme)
        self.assertTrue(verifier.verify(password))
        self.assertFalse(verifier.verify(password + b"x"))
        self.assertFalse(verifier.verify(b""))
        return verifier

    def test_plain(self) -> None:
        """A value that is no hash is a plain password, compared as bytes."""
        self.assertScheme("s3cret", "plain")

    def test_pbkdf2(self) -> None:
        """passlib's PBKDF2-SHA256 and -SHA512 forms."""
        from passlib.hash import pbkdf2_sha512

        self.assertScheme(pbkdf2("s3cret"), "pbkdf2-sha256")
        self.assertScheme(pbkdf2_sha512.using(rounds=1000).hash("s3cret"), "pbkdf2-sha512")

    def test_scrypt(self) -> None:
        """passlib's scrypt form."""
        from passlib.hash import scrypt

        self.assertScheme(scrypt.using(rounds=4, block_size=8, parallelism=1).hash("s3cret"),
                          "scrypt")

    def test_bcrypt(self) -> None:
        """bcrypt ($2b$, $2a$, $2y$); only the first 72 bytes of a password count."""
        import bcrypt

        stored = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()
        self.assertScheme(stored, "bcrypt")
        self.assertScheme("$2a$" + stored[4:], "bcrypt")
        long = b"x" * BCRYPT_MAX
        verifier = verifierFor(bcrypt.hashpw(long, bcrypt.gensalt(rounds=4)).decode())
        self.assertTrue(verifier.verify(long + b"ignored"))

    def test_argon2(self) -> None:
        """argon2id, argon2i (argon2-cffi's PHC strings)."""
        import argon2

        hasher = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
        self.assertScheme(hasher.hash("s3cret"), "argon2id")
        low = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1,
                                    type=argon2.Type.I)
        self.assertScheme(low.hash("s3cret"), "argon2i")

    def test_unknownSchemeRefused(self) -> None:
        """A value shaped like a hash of another scheme is refused, never taken as a plain
        password (which would make the hash itself the password)."""
        for stored in ("$1$abc$def", "$md5$x", "$6$rounds=5000$salt$hash", "$pbkdf2$1$x$y"):
            with self.assertRaises(ValueError) as caught:
                verifierFor(stored)
            self.assertIn("does not read", str(caught.exception))

    def test_malformedHashRefused(self) -> None:
        """A malformed hash of a known scheme is refused."""
        for stored in ("$2b$04$short", "$argon2id$v=19$nonsense", "$pbkdf2-sha256$x$y"):
            with self.assertRaises(ValueError):
                verifierFor(stored)

    def test_dummySameSchemeAndCost(self) -> None:
        """The dummy of a hash is of the same scheme and cost, for a password no one knows."""
        stored = pbkdf2("s3cret", rounds=1234)
        dummy = verifierFor(stored).dummy()
        self.assertEqual(dummy.scheme, "pbkdf2-sha256")
        self.assertIn("$1234$", dummy.stored)  # type: ignore[attr-defined]
        self.assertFalse(dummy.verify(b"s3cret"))


class LoadTests(SynchronousTestCase):
    """A missing or malformed store fails when read, naming the file and the line."""

    def assertLoadFails(self, text: str | None, *expected: str) -> str:
        path = writeStore(self, text) if text is not None else self.mktemp()
        with self.assertRaises(bws.ConfigurationError) as caught:
            loadUsers(path)
        message = str(caught.exception)
        self.assertIn(path, message)
        for part in expected:
            self.assertIn(part, message)
        return message

    def test_missing(self) -> None:
        """A missing file is named."""
        self.assertLoadFails(None, "not found")

    def test_notToml(self) -> None:
        """TOML syntax errors give the line."""
        self.assertLoadFails('[[users]]\nusername = "a"\npassword = \n', "not valid TOML",
                             "line 3")

    def test_noUsers(self) -> None:
        """A file without user tables is refused."""
        self.assertLoadFails('[other]\nx = 1\n', "no [[users]]")

    def test_missingPasswordNamesLine(self) -> None:
        """A user without a password: the line of its table."""
        self.assertLoadFails('[[users]]\nusername = "a"\npassword = "p"\n\n'
                             '[[users]]\nusername = "b"\n', ":5:", "'b'", "password")

    def test_inlineUsersNamesEntry(self) -> None:
        """Users written inline have no header line: the entry is counted instead."""
        self.assertLoadFails('users = [{username = "a", password = "p"}, {username = "b"}]\n',
                             "entry 2")

    def test_duplicate(self) -> None:
        """A name listed twice is refused."""
        self.assertLoadFails('[[users]]\nusername = "a"\npassword = "p"\n'
                             '[[users]]\nusername = "a"\npassword = "q"\n', ":4:", "twice")

    def test_colonInName(self) -> None:
        """A name with a colon could never log in with Basic (RFC 7617 §2)."""
        self.assertLoadFails('[[users]]\nusername = "a:b"\npassword = "p"\n', ":1:", "colon")

    def test_unknownKey(self) -> None:
        """A misspelt key (``scope``) is refused rather than ignored."""
        self.assertLoadFails('[[users]]\nusername = "a"\npassword = "p"\nscope = ["x"]\n',
                             "unknown key(s) scope")

    def test_badScopes(self) -> None:
        """Scopes are a list of names."""
        self.assertLoadFails('[[users]]\nusername = "a"\npassword = "p"\nscopes = [1]\n',
                             "scopes")

    def test_unknownHash(self) -> None:
        """An unsupported hash scheme is refused at load, naming the line and user."""
        self.assertLoadFails('\n[[users]]\nusername = "a"\npassword = "$1$salt$hash"\n',
                             ":2:", "'a'", "$1$")

    def test_bothLayouts(self) -> None:
        """``[[users]]`` and ``[[ballerina.auth.users]]`` are both read."""
        users = loadUsers(writeStore(
            self, '[[users]]\nusername = "a"\npassword = "p"\n'
                  '[[ballerina.auth.users]]\nusername = "b"\npassword = "q"\nscopes = ["s"]\n'))
        self.assertEqual(sorted(users), ["a", "b"])
        self.assertEqual(users["b"].scopes, ("s",))

    def test_attachFails(self) -> None:
        """Attaching a service whose store is missing fails then, naming the entry and file."""
        path = self.mktemp()

        @bws.serviceConfig(auth=[FileUserStoreConfigWithScopes({"path": path})])
        class Service:
            def get(self, request: bws.UpgradeRequest) -> None:
                return None

        listener = bws.testing.MemoryListener()
        with self.assertRaises(bws.ConfigurationError) as caught:
            listener.attach(Service(), "/")
        self.assertIn("WSServiceConfig.auth[0]", str(caught.exception))
        self.assertIn(path, str(caught.exception))


class RecordingVerifier(Verifier):
    """Wraps a verifier and records each password it checks."""

    def __init__(self, inner: Verifier) -> None:
        self.inner = inner
        self.scheme = inner.scheme
        self.checked: list[bytes] = []

    def verify(self, password: bytes) -> bool:
        self.checked.append(password)
        return self.inner.verify(password)


class TimingTests(SynchronousTestCase):
    """An unknown user name costs what a wrong password costs."""

    def setUp(self) -> None:
        path = writeStore(self, f'[[users]]\nusername = "alice"\npassword = "{pbkdf2("pw")}"\n')
        self.checker = fileChecker(FileUserStoreConfig(path), None)

    def test_unknownUserChecksDummy(self) -> None:
        """An unknown name is checked against the dummy hash (of the store's scheme)."""
        self.checker.dummy = dummy = RecordingVerifier(self.checker.dummy)
        self.assertEqual(dummy.scheme, "pbkdf2-sha256")
        self.failureResultOf(self.checker.requestAvatarId(UsernamePassword(b"mallory", b"pw")))
        self.assertEqual(dummy.checked, [b"pw"])

    def test_knownUserSkipsDummy(self) -> None:
        """A known name is checked against its own hash only."""
        self.checker.dummy = dummy = RecordingVerifier(self.checker.dummy)
        self.failureResultOf(self.checker.requestAvatarId(UsernamePassword(b"alice", b"no")))
        self.assertEqual(dummy.checked, [])

    def test_ratioLogged(self) -> None:
        """Wrong password vs unknown user over many tries: the ratio goes to the test log
        (no timed assertion; the dummy test above is the guarantee)."""
        tries = 200

        def timeOf(username: bytes) -> float:
            start = time.perf_counter()
            for _ in range(tries):
                self.failureResultOf(
                    self.checker.requestAvatarId(UsernamePassword(username, b"wrong")))
            return time.perf_counter() - start

        wrongPassword = timeOf(b"alice")
        unknownUser = timeOf(b"mallory")
        log.msg(f"file store timing over {tries} tries: unknown user / wrong password = "
                f"{unknownUser / wrongPassword:.3f}")


class ThreadTests(TestCase):
    """With a real reactor, hashes are checked in its thread pool."""

    def test_threaded(self) -> Deferred[Any]:
        """The check runs off the reactor thread and still answers the principal."""
        import threading

        path = writeStore(self, f'[[users]]\nusername = "a"\npassword = "{pbkdf2("p")}"\n')
        checker = FileUserStoreChecker(loadUsers(path), reactor, path)
        threads: list[threading.Thread] = []
        inner = checker.users["a"].verifier

        class Spy(Verifier):
            scheme, slow = inner.scheme, True

            def verify(self, password: bytes) -> bool:
                threads.append(threading.current_thread())
                return inner.verify(password)

        object.__setattr__(checker.users["a"], "verifier", Spy())
        d = checker.requestAvatarId(UsernamePassword(b"a", b"p"))
        d.addCallback(lambda principal: self.assertEqual(principal.userId, "a"))
        d.addCallback(lambda _: self.assertIsNot(threads[0], threading.main_thread()))
        return d


# -- the reference's scenario -------------------------------------------------------------


class Echo:
    """Answers each text message with the caller's principal."""

    def onTextMessage(self, caller: bws.Caller, text: str) -> str:
        principal = caller.principal
        assert principal is not None
        return f"{principal.userId} {' '.join(principal.scopes)}"


def upgradeService(auth: list[Any]) -> Any:
    """An upgrade service with ``auth`` entries, counting its ``get`` calls."""

    @bws.serviceConfig(auth=auth)
    class Upgrade:
        gets = 0

        def get(self, request: bws.UpgradeRequest) -> Echo:
            self.gets += 1
            self.principal = request.principal
            return Echo()

    return Upgrade()


class ReferenceScenarioTests(SynchronousTestCase):
    """alice (write update), bob (read) and eve (no scopes) against a service requiring
    ``write``: 101, 403, 403, and 401 without or with wrong credentials."""

    def setUp(self) -> None:
        self.path = referenceStore(self)
        self.service = upgradeService([{"fileUserStoreConfig": {"path": self.path},
                                        "scopes": ["write"]}])

    def status(self, header: str | None) -> int:
        headers = {"Authorization": header} if header is not None else {}
        try:
            conn = bws.testing.connect(self.service, "/", customHeaders=headers)
        except bws.InvalidHandshakeError as e:
            assert e.response is not None
            self.response = e.response
            return e.response.statusCode
        self.conn = conn
        return 101

    def test_alice(self) -> None:
        """alice holds write: 101, and her principal is on the request and the Caller."""
        self.assertEqual(self.status(basic("alice", "xxx")), 101)
        self.assertEqual(self.service.principal, bws.Principal("alice", ("write", "update")))
        self.conn.client.writeTextMessage("who")
        self.conn.flush()
        self.assertEqual(self.successResultOf(self.conn.client.readTextMessage()),
                         "alice write update")

    def test_bob(self) -> None:
        """bob holds only read: 403, and ``get`` is never called."""
        self.assertEqual(self.status(basic("bob", "yyy")), 403)
        self.assertEqual(self.service.gets, 0)

    def test_eve(self) -> None:
        """eve holds no scopes where scopes are required: 403."""
        self.assertEqual(self.status(basic("eve", "123")), 403)

    def test_noHeader(self) -> None:
        """No Authorization header: 401 with a Basic challenge."""
        self.assertEqual(self.status(None), 401)
        self.assertEqual(self.response.headers["www-authenticate"],
                         'Basic realm="bws", charset="UTF-8"')
        self.assertEqual(self.service.gets, 0)

    def test_wrongPassword(self) -> None:
        """A wrong password, an unknown user: 401."""
        self.assertEqual(self.status(basic("alice", "yyy")), 401)
        self.assertEqual(self.status(basic("mallory", "xxx")), 401)

    def test_bearerToFileStore(self) -> None:
        """A Bearer token never reaches the file store: 401."""
        self.assertEqual(self.status("Bearer xxx"), 401)

    def test_noScopesRequired(self) -> None:
        """Without required scopes, eve is let in."""
        self.service = upgradeService([FileUserStoreConfigWithScopes({"path": self.path})])
        self.assertEqual(self.status(basic("eve", "123")), 101)

    def test_clientCredentialsConfig(self) -> None:
        """The client's ``auth={"username", "password"}`` sends the same Basic header."""
        conn = bws.testing.connect(self.service, "/", auth={"username": "alice",
                                                            "password": "xxx"})
        self.assertTrue(conn.client.isOpen())
