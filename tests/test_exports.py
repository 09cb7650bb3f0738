"""The public surface: ``bws.__all__``, ``bws.tls`` and ``bws.testing`` are pinned name by name.

A change here is a change of the public API: add the name on purpose, never by accident.
"""

from __future__ import annotations

import inspect
from types import ModuleType

from twisted.trial.unittest import SynchronousTestCase

import bws
import bws.testing
import bws.tls

BWS = [
    "AUTH_HEADER_BEARER", "AuthError", "AuthnError", "AuthzError", "BearerTokenConfig",
    "CUSTOM_CLOSE_FRAME", "CacheConfig", "Caller", "CertKey", "CertValidation",
    "CheckerWithScopes", "Client", "ClientConfiguration", "ClientSecureSocket", "CloseFrame",
    "ConfigurationError", "ConnectionClosureError", "ConnectionError", "CorruptedFrameError",
    "CredentialsConfig", "CustomCloseFrame", "Error", "FileUserStoreConfig",
    "FileUserStoreConfigWithScopes", "GOING_AWAY", "GoingAway", "Groups", "HandshakeTimedOut",
    "Header",
    "HttpResponse", "ICaller", "INFER_REFRESH_CONFIG", "INTERNAL_SERVER_ERROR",
    "INVALID_PAYLOAD", "IPingPongService", "IService", "IUpgradeService", "InternalServerError",
    "InvalidContinuationFrameError", "InvalidHandshakeError", "InvalidPayload",
    "JwtIssuerConfig", "JwtValidatorConfig", "JwtValidatorConfigWithScopes", "KEEPALIVE_ALWAYS",
    "KEEPALIVE_AUTO", "KEEPALIVE_NEVER", "KeyStore", "LdapUserStoreConfig",
    "LdapUserStoreConfigWithScopes", "Listener", "ListenerConfiguration",
    "ListenerHttp1Settings", "ListenerSecureSocket", "MESSAGE_TOO_BIG", "MessageTooBig",
    "MutualSsl", "NORMAL_CLOSURE", "NormalClosure", "OAuth2ClientConfig",
    "OAuth2ClientCredentialsGrantConfig", "OAuth2GrantConfig", "OAuth2IntrospectionConfig",
    "OAuth2IntrospectionConfigWithScopes", "OAuth2JwtBearerGrantConfig",
    "OAuth2PasswordGrantConfig", "OAuth2RefreshConfig", "OAuth2RefreshTokenGrantConfig",
    "OCSP_CRL", "OCSP_STAPLING", "OPTIONAL", "POLICY_VIOLATION", "POST_BODY_BEARER",
    "PREDEFINED_CLOSE_FRAME", "PROTOCOL_ERROR", "PayloadBindingError", "PayloadTooLargeError",
    "PayloadValidationError", "PolicyViolation", "Principal", "ProtocolError", "REQUIRE",
    "ReadTimedOutError", "ReadTimeoutError", "RedisBroker", "RequestLimitConfigs", "RetryConfig", "SslError",
    "TrustStore", "UNSUPPORTED_DATA", "UnsupportedData", "UpgradeError", "UpgradeRequest",
    "WSServiceConfig", "dispatcherValue", "serviceConfig",
]

TLS = [
    "CertKey", "CertValidation", "ClientSecureSocket", "KeyStore", "ListenerSecureSocket",
    "MutualSsl", "OCSP_CRL", "OCSP_STAPLING", "OPTIONAL", "Protocol", "REQUIRE",
    "TLS_DEFAULT_CIPHERS", "TLS_DEFAULT_VERSIONS", "TrustStore", "clientTLSFactory",
    "isSecureTransport", "listenerTLSFactory", "peerCertificate", "sslErrorFromFailure",
]

TESTING = ["MemoryConnection", "MemoryListener", "connect"]


class ExportTests(SynchronousTestCase):
    """Each public module exports exactly its pinned names, and each name resolves."""

    def assertExports(self, module: ModuleType, expected: list[str]) -> None:
        exported = list(module.__all__)
        self.assertEqual(len(exported), len(set(exported)), f"{module.__name__}: duplicates")
        self.assertEqual(sorted(exported), expected)
        missing = [name for name in exported if not hasattr(module, name)]
        self.assertEqual(missing, [], f"{module.__name__}.__all__ names what it lacks")
        namespace: dict[str, object] = {}
        exec(f"from {module.__name__} import *", namespace)
        namespace.pop("__builtins__")
        self.assertEqual(sorted(namespace), expected)

    def test_bws(self) -> None:
        """``bws.__all__`` is the pinned list and every name in it resolves."""
        self.assertExports(bws, BWS)

    def test_bwsHasNoStrayNames(self) -> None:
        """The top package holds its public names and ``__all__`` only: any other public
        attribute is a submodule (or ``__version__``)."""
        stray = [name for name, value in vars(bws).items()
                 if not name.startswith("_") and name not in BWS
                 and not inspect.ismodule(value)]
        self.assertEqual(stray, [])
        self.assertIsInstance(bws.__version__, str)

    def test_tls(self) -> None:
        """``bws.tls``'s public names are the pinned list (``bws.tls.Protocol`` included,
        which ``bws`` leaves out so as not to hide Twisted's ``Protocol``)."""
        self.assertExports(bws.tls, TLS)
        self.assertNotIn("Protocol", BWS)
        for name in set(TLS) & set(BWS):
            self.assertIs(getattr(bws, name), getattr(bws.tls, name), name)

    def test_testing(self) -> None:
        """``bws.testing``'s public names are the pinned list; its echo services resolve."""
        self.assertExports(bws.testing, TESTING)
        from bws.testing.echo import EchoService, EchoUpgradeService

        self.assertTrue(callable(EchoService) and callable(EchoUpgradeService))
