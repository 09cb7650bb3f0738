"""Authentication and authorization of upgrade requests (spec §5.2) and the client's
``Authorization`` header (spec §4.1 ``auth``), through ``twisted.cred``.

The records are public here (and in :mod:`bws`); the stores behind them live in private
modules, imported only when a service or client uses them.
"""

from bws.auth.credentials import BackendUnavailable, BearerToken, IBearerToken
from bws.auth.records import (
    BearerTokenConfig,
    CacheConfig,
    CheckerWithScopes,
    CredentialsConfig,
    FileUserStoreConfig,
    FileUserStoreConfigWithScopes,
    IClientAuth,
    IssuerSignatureConfig,
    JwksConfig,
    JwtIssuerConfig,
    JwtValidatorConfig,
    JwtValidatorConfigWithScopes,
    KeyStoreConfig,
    LdapUserStoreConfig,
    LdapUserStoreConfigWithScopes,
    OAuth2ClientConfig,
    OAuth2IntrospectionConfig,
    OAuth2IntrospectionConfigWithScopes,
    PrivateKeyConfig,
    TrustStoreConfig,
    ValidatorSignatureConfig,
)

__all__ = [
    "BackendUnavailable",
    "BearerToken",
    "IBearerToken",
    "IClientAuth",
    "CheckerWithScopes",
    "FileUserStoreConfig",
    "FileUserStoreConfigWithScopes",
    "JwtValidatorConfig",
    "JwtValidatorConfigWithScopes",
    "ValidatorSignatureConfig",
    "JwksConfig",
    "TrustStoreConfig",
    "CredentialsConfig",
    "BearerTokenConfig",
    "JwtIssuerConfig",
    "IssuerSignatureConfig",
    "PrivateKeyConfig",
    "KeyStoreConfig",
    "LdapUserStoreConfig",
    "LdapUserStoreConfigWithScopes",
    "OAuth2IntrospectionConfig",
    "OAuth2IntrospectionConfigWithScopes",
    "OAuth2ClientConfig",
    "CacheConfig",
]
