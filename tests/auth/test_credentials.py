"""``credentialsFrom``: an ``Authorization`` header as ``twisted.cred`` credentials
(RFC 7617 Basic, RFC 6750 Bearer), and ``None`` for anything else."""

from __future__ import annotations

import base64

from twisted.cred.credentials import IUsernamePassword
from twisted.trial.unittest import SynchronousTestCase

from bws.auth.credentials import BearerToken, IBearerToken, UsernamePassword, credentialsFrom


def basic(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode("ascii")


class CredentialsFromTests(SynchronousTestCase):
    """Header values in, credentials out."""

    def test_basic(self) -> None:
        """Basic splits user-pass at the first colon; the password keeps the rest."""
        got = credentialsFrom(basic("josé:pä:ss:".encode()))
        assert isinstance(got, UsernamePassword)
        self.assertTrue(IUsernamePassword.providedBy(got))
        self.assertEqual((got.username, got.password), ("josé".encode(), "pä:ss:".encode()))

    def test_emptyParts(self) -> None:
        """An empty user or password is still credentials (the store refuses them)."""
        got = credentialsFrom(basic(b":"))
        assert isinstance(got, UsernamePassword)
        self.assertEqual((got.username, got.password), (b"", b""))

    def test_bearer(self) -> None:
        """Bearer gives the token as sent; the scheme matches in any case."""
        for header in ("Bearer abc.def", "bearer abc.def", "BEARER   abc.def  "):
            got = credentialsFrom(header)
            self.assertEqual(got, BearerToken("abc.def"))
            self.assertTrue(IBearerToken.providedBy(got))

    def test_nothing(self) -> None:
        """Missing, other schemes, no colon, bad base64, bad UTF-8: None."""
        for header in (None, "", "Digest x", "Basic", "Bearer", "Basic !!!",
                       basic(b"nocolon"), basic(b"\xff\xfe:\xfd"), "Basic YTpi=extra"):
            self.assertIsNone(credentialsFrom(header), header)
