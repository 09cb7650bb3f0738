"""The ``twistd --auth`` plugins of the LDAP and OAuth2 introspection stores."""

from __future__ import annotations

import os
import subprocess
import sys

from twisted.cred.credentials import IUsernamePassword
from twisted.cred.strcred import ICheckerFactory, findCheckerFactories, makeChecker
from twisted.plugin import IPlugin
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from bws.auth._ldap import LdapChecker
from bws.auth._oauth2 import IntrospectionChecker
from bws.auth.credentials import IBearerToken


def factory(authType: str) -> ICheckerFactory:
    for found in findCheckerFactories():
        if found.authType == authType:
            return found
    raise AssertionError(f"no {authType} checker factory among the plugins")


class CheckerFactoryTests(SynchronousTestCase):
    def secret(self) -> str:
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("secret\n")
        return path

    def test_ldap(self) -> None:
        """``--auth ldap:...`` finds bws's factory, which builds an LdapChecker."""
        ldap = factory("ldap")
        self.assertTrue(verifyObject(ICheckerFactory, ldap))
        self.assertTrue(IPlugin.providedBy(ldap))
        self.assertEqual(ldap.credentialInterfaces, (IUsernamePassword,))
        checker = makeChecker("ldap:connectionUrl=ldap://127.0.0.1:389,connectionName="
                              f"cn=admin,dc=example,dc=org,connectionPasswordFile={self.secret()},"
                              "userSearchBase=ou=users,dc=example,dc=org")
        self.assertIsInstance(checker, LdapChecker)
        assert isinstance(checker, LdapChecker)
        self.assertEqual(checker.config.connectionName, "cn=admin,dc=example,dc=org")

    def test_oauth2(self) -> None:
        """``--auth oauth2:...`` finds bws's factory, which builds an IntrospectionChecker
        of bearer tokens."""
        oauth2 = factory("oauth2")
        self.assertTrue(verifyObject(ICheckerFactory, oauth2))
        self.assertEqual(tuple(oauth2.credentialInterfaces), (IBearerToken,))
        checker = oauth2.generateChecker("url=https://127.0.0.1/introspect,clientId=a,"
                                         f"clientSecretFile={self.secret()}")
        self.assertIsInstance(checker, IntrospectionChecker)

    def test_badArguments(self) -> None:
        """Wrong arguments fail naming what is wrong."""
        with self.assertRaises(Exception) as caught:
            factory("ldap").generateChecker("connectionUrl=http://x,connectionName=cn=a,"
                                            f"connectionPasswordFile={self.secret()},"
                                            "userSearchBase=o=x")
        self.assertIn("LdapUserStoreConfig.connectionUrl", str(caught.exception))
        with self.assertRaises(Exception) as caught:
            factory("ldap").generateChecker("connectionUrl=ldap://x")
        self.assertIn("userSearchBase", str(caught.exception))

    def test_pluginImportsNoStore(self) -> None:
        """Loading the plugin module imports neither ldaptor, treq nor the checkers."""
        code = ("import sys, twisted.plugins.bws_cred as p; p.oauth2;"
                "print(sorted(m for m in ('ldaptor', 'treq', 'bws.auth._ldap',"
                " 'bws.auth._oauth2') if m in sys.modules))")
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, cwd=root)
        self.assertEqual(out.stdout.strip(), "[]")
