"""``twistd bws --auth``: bws's credentials checkers as ``twisted.cred`` checker factories.

Kept import-light: a checker's module (and bws itself) is imported only when the factory is
asked for its credential interfaces or a checker, so ``twistd --help`` never loads them.
"""

from __future__ import annotations

from typing import Any

from twisted.cred.credentials import IUsernamePassword
from twisted.cred.strcred import ICheckerFactory
from twisted.plugin import IPlugin
from zope.interface import implementer


@implementer(ICheckerFactory, IPlugin)
class TomlCheckerFactory:
    """Basic credentials against a TOML user store (bws.auth.records.FileUserStoreConfig)."""

    authType = "toml"
    authHelp = """
Checks Basic credentials against users in a TOML file:

  [[users]]
  username = "alice"
  password = "$argon2id$..."   # or $pbkdf2-sha256$, $scrypt$, $2b$ (bcrypt), or plain
  scopes = ["write"]

The reference's [[ballerina.auth.users]] tables are read too. The file is read at
start-up; a missing or malformed file stops twistd, naming the file and line.
"""
    argStringFormat = "PATH (a TOML file of [[users]] tables)"
    credentialInterfaces = (IUsernamePassword,)

    def generateChecker(self, argstring: str) -> Any:
        from bws.auth._file import checkerFromString

        return checkerFromString(argstring)


@implementer(ICheckerFactory, IPlugin)
class JwtCheckerFactory:
    """Bearer tokens validated as JWTs (bws.auth.records.JwtValidatorConfig)."""

    authType = "jwt"
    authHelp = """
Validates Bearer tokens as signed JWTs (exp required, algorithms pinned to the key,
jku/x5u never followed). Keys, comma-separated:

  issuer=ISS            the iss claim required
  audience=A[+B...]     aud must hold one of these
  username=SUB          the sub claim required
  clockSkew=SECONDS     leeway for exp and nbf (default 0)
  scopeKey=CLAIM        the claim holding scopes (default scope)
  and one key source:
  certFile=PEM          a certificate or public key file
  secretFile=FILE       a file holding the HMAC secret (never on the command line)
  jwksUrl=https://...   a JWKS endpoint (with jwksCa=PEM to trust a private CA)
"""
    argStringFormat = "issuer=...,audience=...,jwksUrl=https://...|certFile=...|secretFile=..."

    @property
    def credentialInterfaces(self) -> tuple[Any, ...]:
        from bws.auth.credentials import IBearerToken

        return (IBearerToken,)

    def generateChecker(self, argstring: str) -> Any:
        from bws.auth._jwt import checkerFromString

        return checkerFromString(argstring)


toml = TomlCheckerFactory()
jwt = JwtCheckerFactory()
