# -*- test-case-name: tests.test_tls -*-
"""TLS for bws: the ``secureSocket`` records (spec §2.1, §5.1) and the factories that apply
them to Twisted's TLS, with failures worded as :class:`bws.errors.SslError`.

The implementation lives in private modules: ``_suites`` (cipher and version names),
``_records`` (the records), ``_files`` (certificate, key and CRL loading), ``_wording``
(failure messages), ``_contexts`` (the factories) and ``_transport`` (the TLS protocol).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bws.tls._records import (
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
    Protocol,
    TrustStore,
)
from bws.tls._suites import TLS_DEFAULT_CIPHERS, TLS_DEFAULT_VERSIONS

if TYPE_CHECKING:
    from bws.tls._contexts import clientTLSFactory, listenerTLSFactory
    from bws.tls._transport import isSecureTransport, peerCertificate
    from bws.tls._wording import sslErrorFromFailure

#: The names whose modules load OpenSSL and cryptography, and those modules: loaded on
#: first use (PEP 562), so that ``import bws`` stays quick.
_LAZY = {
    "clientTLSFactory": "bws.tls._contexts",
    "listenerTLSFactory": "bws.tls._contexts",
    "isSecureTransport": "bws.tls._transport",
    "peerCertificate": "bws.tls._transport",
    "sslErrorFromFailure": "bws.tls._wording",
}


def __getattr__(name: str) -> Any:
    import importlib

    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bws.tls' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's names, the lazy ones included (``dir()``, Sphinx autodoc)."""
    return sorted(set(globals()) | set(__all__))

__all__ = [
    "REQUIRE",
    "OPTIONAL",
    "OCSP_STAPLING",
    "OCSP_CRL",
    "TLS_DEFAULT_CIPHERS",
    "TLS_DEFAULT_VERSIONS",
    "CertKey",
    "KeyStore",
    "TrustStore",
    "MutualSsl",
    "Protocol",
    "CertValidation",
    "ListenerSecureSocket",
    "ClientSecureSocket",
    "listenerTLSFactory",
    "clientTLSFactory",
    "sslErrorFromFailure",
    "peerCertificate",
    "isSecureTransport",
]
