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


# --- LDAP and OAuth2 introspection (auth-b) -----------------------------------------------------


@implementer(ICheckerFactory, IPlugin)
class LdapCheckerFactory:
    """Basic credentials checked against an LDAP directory (bind as the user)."""

    authType = "ldap"
    authHelp = (
        "Basic credentials checked against an LDAP directory: the user is searched with a"
        " service bind, then the password is checked by binding as the user; the user's"
        " groups are their scopes. Fields are those of bws.LdapUserStoreConfig, as"
        " field=value pairs joined by commas (a DN keeps its commas); groupSearchBase may"
        " repeat; cert=PATH trusts that CA for ldaps://; the service password is read from"
        " connectionPasswordFile=PATH (never given on the command line)."
    )
    argStringFormat = (
        "connectionUrl=ldap(s)://host:port,connectionName=DN,connectionPasswordFile=PATH,"
        "userSearchBase=DN[,userNameSearchFilter=(uid=?)][,groupSearchBase=DN]..."
    )
    credentialInterfaces = (IUsernamePassword,)

    def generateChecker(self, argstring: str) -> Any:
        from bws.auth._ldap import checkerFromString

        return checkerFromString(argstring)


@implementer(ICheckerFactory, IPlugin)
class OAuth2IntrospectionCheckerFactory:
    """Bearer tokens validated by an RFC 7662 introspection endpoint."""

    authType = "oauth2"
    authHelp = (
        "Bearer tokens validated by an OAuth2 introspection endpoint (RFC 7662). Fields:"
        " url, tokenTypeHint, scopeKey (default scope), defaultTokenExpTime, clientId and"
        " clientSecretFile=PATH (a file holding the secret; both sent as HTTP Basic),"
        " timeout (seconds), cert=PATH (a CA to trust), cache=N (cache up to N active"
        " answers until their exp)."
    )
    argStringFormat = "url=https://host/introspect,clientId=...,clientSecretFile=PATH[,cert=PATH]"

    @property
    def credentialInterfaces(self) -> tuple[Any, ...]:
        from bws.auth.credentials import IBearerToken

        return (IBearerToken,)

    def generateChecker(self, argstring: str) -> Any:
        from bws.auth._oauth2 import checkerFromString

        return checkerFromString(argstring)


ldap = LdapCheckerFactory()
oauth2 = OAuth2IntrospectionCheckerFactory()
