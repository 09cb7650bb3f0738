"""``twistd bws --auth TYPE:ARGS``: one ``ICheckerFactory`` per bws credentials store.

Kept import-light (Twisted's own modules only): each factory imports its checker inside
``generateChecker``, so ``twistd --help`` works even when a store's library is missing.
"""

from __future__ import annotations

from typing import Any

from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import IUsernamePassword
from twisted.cred.strcred import ICheckerFactory
from twisted.plugin import IPlugin
from zope.interface import implementer

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
        " repeat; cert=PATH trusts that CA for ldaps://."
    )
    argStringFormat = (
        "connectionUrl=ldap(s)://host:port,connectionName=DN,connectionPassword=...,"
        "userSearchBase=DN[,userNameSearchFilter=(uid=?)][,groupSearchBase=DN]..."
    )
    credentialInterfaces = (IUsernamePassword,)

    def generateChecker(self, argstring: str = "") -> ICredentialsChecker:
        from bws.auth._ldap import checkerFromString

        return checkerFromString(argstring)


@implementer(ICheckerFactory, IPlugin)
class OAuth2IntrospectionCheckerFactory:
    """Bearer tokens validated by an RFC 7662 introspection endpoint."""

    authType = "oauth2"
    authHelp = (
        "Bearer tokens validated by an OAuth2 introspection endpoint (RFC 7662). Fields:"
        " url, tokenTypeHint, scopeKey (default scope), defaultTokenExpTime, clientId and"
        " clientSecret (sent as HTTP Basic), timeout (seconds), cert=PATH (a CA to trust),"
        " cache=N (cache up to N active answers until their exp)."
    )
    argStringFormat = "url=https://host/introspect,clientId=...,clientSecret=...[,cert=PATH]"

    @property
    def credentialInterfaces(self) -> tuple[Any, ...]:
        from bws.auth.credentials import IBearerToken

        return (IBearerToken,)

    def generateChecker(self, argstring: str = "") -> ICredentialsChecker:
        from bws.auth._oauth2 import checkerFromString

        return checkerFromString(argstring)


ldapCheckerFactory = LdapCheckerFactory()
oauth2IntrospectionCheckerFactory = OAuth2IntrospectionCheckerFactory()
