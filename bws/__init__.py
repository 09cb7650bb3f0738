"""bws: the Ballerina WebSocket specification, Twisted-native.

The public names live here; the modules behind them hold one concern each.
"""

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
