"""bws: the Ballerina WebSocket specification, Twisted-native.

The public names live here; the modules behind them hold one concern each. They load on first
use (PEP 562 ``__getattr__``): ``import bws`` itself loads neither Twisted nor attrs, Autobahn
or the TLS stack, and ``bws.Listener`` loads what a listener needs, no more.
"""

# Not ``typing.TYPE_CHECKING``: importing typing alone costs more than this module. Type
# checkers take any ``TYPE_CHECKING`` as theirs; the name is deleted below.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from bws._groups import Groups
    from bws._redisbroker import RedisBroker
    from bws.auth import (
        BearerTokenConfig,
        CacheConfig,
        CheckerWithScopes,
        CredentialsConfig,
        FileUserStoreConfig,
        FileUserStoreConfigWithScopes,
        JwtIssuerConfig,
        JwtValidatorConfig,
        JwtValidatorConfigWithScopes,
        LdapUserStoreConfig,
        LdapUserStoreConfigWithScopes,
        OAuth2ClientConfig,
        OAuth2IntrospectionConfig,
        OAuth2IntrospectionConfigWithScopes,
    )
    from bws.auth._grants import (
        AUTH_HEADER_BEARER,
        INFER_REFRESH_CONFIG,
        POST_BODY_BEARER,
        OAuth2ClientCredentialsGrantConfig,
        OAuth2GrantConfig,
        OAuth2JwtBearerGrantConfig,
        OAuth2PasswordGrantConfig,
        OAuth2RefreshConfig,
        OAuth2RefreshTokenGrantConfig,
    )
    from bws.client import Client
    from bws.closeframe import (
        CUSTOM_CLOSE_FRAME,
        GOING_AWAY,
        INTERNAL_SERVER_ERROR,
        INVALID_PAYLOAD,
        MESSAGE_TOO_BIG,
        NORMAL_CLOSURE,
        POLICY_VIOLATION,
        PREDEFINED_CLOSE_FRAME,
        PROTOCOL_ERROR,
        UNSUPPORTED_DATA,
        CloseFrame,
        CustomCloseFrame,
        GoingAway,
        InternalServerError,
        InvalidPayload,
        MessageTooBig,
        NormalClosure,
        PolicyViolation,
        ProtocolError,
        UnsupportedData,
    )
    from bws.config import (
        KEEPALIVE_ALWAYS,
        KEEPALIVE_AUTO,
        KEEPALIVE_NEVER,
        ClientConfiguration,
        ConfigurationError,
        ListenerConfiguration,
        ListenerHttp1Settings,
        RequestLimitConfigs,
        RetryConfig,
        WSServiceConfig,
        serviceConfig,
    )
    from bws.errors import (
        AuthError,
        AuthnError,
        AuthzError,
        ConnectionClosureError,
        ConnectionError,
        CorruptedFrameError,
        Error,
        HandshakeTimedOut,
        InvalidContinuationFrameError,
        InvalidHandshakeError,
        PayloadBindingError,
        PayloadTooLargeError,
        PayloadValidationError,
        ReadTimedOutError,
        ReadTimeoutError,
        SslError,
        UpgradeError,
    )
    from bws.interfaces import ICaller, IPingPongService, IService, IUpgradeService
    from bws.request import Header, HttpResponse, Principal, UpgradeRequest
    from bws.server import Listener
    from bws.server._caller import Caller
    from bws.server._dispatch import dispatcherValue
    from bws.tls import (
        OCSP_CRL,
        OCSP_STAPLING,
        OPTIONAL,
        REQUIRE,
        CertKey,
        CertValidation,
        ClientSecureSocket,
        KeyStore,
        ListenerSecureSocket,
        MutualSsl,
        TrustStore,
    )

__version__ = "0.1.0"

__all__ = [
    "Caller", "Client", "HttpResponse", "CloseFrame", "CustomCloseFrame", "GoingAway", "InternalServerError",
    "InvalidPayload", "MessageTooBig", "NormalClosure", "PolicyViolation", "ProtocolError",
    "UnsupportedData", "NORMAL_CLOSURE", "GOING_AWAY", "PROTOCOL_ERROR", "UNSUPPORTED_DATA",
    "INVALID_PAYLOAD", "POLICY_VIOLATION", "MESSAGE_TOO_BIG", "INTERNAL_SERVER_ERROR",
    "PREDEFINED_CLOSE_FRAME", "CUSTOM_CLOSE_FRAME",
    "ClientConfiguration", "ConfigurationError", "ListenerConfiguration",
    "ListenerHttp1Settings", "RequestLimitConfigs", "RetryConfig", "WSServiceConfig",
    "serviceConfig", "KEEPALIVE_AUTO", "KEEPALIVE_ALWAYS", "KEEPALIVE_NEVER",
    "dispatcherValue",
    "Error", "AuthError", "AuthnError", "AuthzError", "ConnectionClosureError",
    "ConnectionError", "CorruptedFrameError", "HandshakeTimedOut",
    "InvalidContinuationFrameError", "InvalidHandshakeError", "PayloadBindingError",
    "PayloadTooLargeError", "PayloadValidationError", "ReadTimedOutError", "ReadTimeoutError",
    "SslError", "UpgradeError",
    "ICaller", "IPingPongService", "IService", "IUpgradeService",
    "Listener", "Header", "Principal", "UpgradeRequest",
    # Groups and broadcast (DESIGN §3.7)
    "Groups", "RedisBroker",
    # TLS (spec §5.1); the ``protocol`` record is ``bws.tls.Protocol`` (not exported here:
    # the name would hide Twisted's ``Protocol`` after ``from bws import *``).
    "CertKey", "KeyStore", "TrustStore", "MutualSsl", "CertValidation", "ListenerSecureSocket",
    "ClientSecureSocket", "REQUIRE", "OPTIONAL", "OCSP_STAPLING", "OCSP_CRL",
    # Auth (spec §5.2); the nested records are in bws.auth.
    "FileUserStoreConfig", "FileUserStoreConfigWithScopes", "JwtValidatorConfig",
    "JwtValidatorConfigWithScopes", "CheckerWithScopes", "CredentialsConfig",
    "BearerTokenConfig", "JwtIssuerConfig",
    "LdapUserStoreConfig", "LdapUserStoreConfigWithScopes", "OAuth2IntrospectionConfig",
    "OAuth2IntrospectionConfigWithScopes", "OAuth2ClientConfig", "CacheConfig",
    "OAuth2ClientCredentialsGrantConfig", "OAuth2PasswordGrantConfig",
    "OAuth2RefreshTokenGrantConfig", "OAuth2JwtBearerGrantConfig", "OAuth2RefreshConfig",
    "OAuth2GrantConfig", "AUTH_HEADER_BEARER", "POST_BODY_BEARER", "INFER_REFRESH_CONFIG",
]


#: Each public name's module, imported when the name is first asked for. Kept equal to the
#: imports above (for type checkers and readers) by ``tests.test_lazyimports``.
_LAZY: dict[str, tuple[str, ...]] = {
    "bws._groups": (
        "Groups",
    ),
    "bws._redisbroker": (
        "RedisBroker",
    ),
    "bws.auth": (
        "BearerTokenConfig", "CacheConfig", "CheckerWithScopes", "CredentialsConfig",
        "FileUserStoreConfig", "FileUserStoreConfigWithScopes", "JwtIssuerConfig",
        "JwtValidatorConfig", "JwtValidatorConfigWithScopes", "LdapUserStoreConfig",
        "LdapUserStoreConfigWithScopes", "OAuth2ClientConfig", "OAuth2IntrospectionConfig",
        "OAuth2IntrospectionConfigWithScopes",
    ),
    "bws.auth._grants": (
        "AUTH_HEADER_BEARER", "INFER_REFRESH_CONFIG", "POST_BODY_BEARER",
        "OAuth2ClientCredentialsGrantConfig", "OAuth2GrantConfig",
        "OAuth2JwtBearerGrantConfig", "OAuth2PasswordGrantConfig", "OAuth2RefreshConfig",
        "OAuth2RefreshTokenGrantConfig",
    ),
    "bws.client": (
        "Client",
    ),
    "bws.closeframe": (
        "CUSTOM_CLOSE_FRAME", "GOING_AWAY", "INTERNAL_SERVER_ERROR", "INVALID_PAYLOAD",
        "MESSAGE_TOO_BIG", "NORMAL_CLOSURE", "POLICY_VIOLATION", "PREDEFINED_CLOSE_FRAME",
        "PROTOCOL_ERROR", "UNSUPPORTED_DATA", "CloseFrame", "CustomCloseFrame",
        "GoingAway", "InternalServerError", "InvalidPayload", "MessageTooBig",
        "NormalClosure", "PolicyViolation", "ProtocolError", "UnsupportedData",
    ),
    "bws.config": (
        "KEEPALIVE_ALWAYS", "KEEPALIVE_AUTO", "KEEPALIVE_NEVER", "ClientConfiguration",
        "ConfigurationError", "ListenerConfiguration", "ListenerHttp1Settings",
        "RequestLimitConfigs", "RetryConfig", "WSServiceConfig", "serviceConfig",
    ),
    "bws.errors": (
        "AuthError", "AuthnError", "AuthzError", "ConnectionClosureError",
        "ConnectionError", "CorruptedFrameError", "Error", "HandshakeTimedOut",
        "InvalidContinuationFrameError", "InvalidHandshakeError", "PayloadBindingError",
        "PayloadTooLargeError", "PayloadValidationError", "ReadTimedOutError",
        "ReadTimeoutError", "SslError", "UpgradeError",
    ),
    "bws.interfaces": (
        "ICaller", "IPingPongService", "IService", "IUpgradeService",
    ),
    "bws.request": (
        "Header", "HttpResponse", "Principal", "UpgradeRequest",
    ),
    "bws.server": (
        "Listener",
    ),
    "bws.server._caller": (
        "Caller",
    ),
    "bws.server._dispatch": (
        "dispatcherValue",
    ),
    "bws.tls": (
        "OCSP_CRL", "OCSP_STAPLING", "OPTIONAL", "REQUIRE", "CertKey", "CertValidation",
        "ClientSecureSocket", "KeyStore", "ListenerSecureSocket", "MutualSsl",
        "TrustStore",
    ),
}

_MODULE_OF = {name: module for module, names in _LAZY.items() for name in names}

if not TYPE_CHECKING:  # type checkers see the imports above, and no __getattr__

    def __getattr__(name: str) -> object:
        """A public name, imported from its module on first use (then kept here); a public
        submodule (``bws.tls``, ``bws.testing``...) is imported when it is asked for."""
        import importlib

        module = _MODULE_OF.get(name)
        if module is not None:
            value = getattr(importlib.import_module(module), name)
        elif not name.startswith("_"):
            try:
                value = importlib.import_module(f"{__name__}.{name}")
            except ModuleNotFoundError as e:
                if e.name != f"{__name__}.{name}":
                    raise
                raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
        else:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(globals()) | set(__all__))

del TYPE_CHECKING
