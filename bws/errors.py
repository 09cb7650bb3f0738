# -*- test-case-name: tests.test_errors -*-
"""The bws error tree (spec §3.5 of DESIGN; names from the Ballerina spec).

::

    Error
    ├── InvalidHandshakeError        the server refused the upgrade (status in the message)
    ├── HandshakeTimedOut            (also TimeoutError) no handshake answer in time
    ├── PayloadTooLargeError         inbound frame or message over maxFrameSize (close 1009)
    ├── CorruptedFrameError          protocol violation (close 1002), ping/pong > 125 bytes
    │   └── InvalidContinuationFrameError
    ├── ConnectionError              (also builtins.ConnectionError) IO failure, refused
    │   └── ConnectionClosureError   close failures, reads/writes after close
    ├── ReadTimeoutError             (also TimeoutError; alias ReadTimedOutError)
    ├── UpgradeError                 raised by IUpgradeService.get → HTTP 400
    ├── AuthError                    client could not build its Authorization header
    ├── AuthnError                   listener: authentication failed → HTTP 401
    ├── AuthzError                   listener: authorization failed → HTTP 403
    ├── SslError                     TLS configuration or handshake failure
    ├── ConfigurationError           (also ValueError) a configuration value is wrong
    └── PayloadBindingError          inbound data did not bind to the target type
        └── PayloadValidationError   it bound, but broke a constraint
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bws.request import HttpResponse

__all__ = [
    "Error",
    "InvalidHandshakeError",
    "HandshakeTimedOut",
    "PayloadTooLargeError",
    "CorruptedFrameError",
    "InvalidContinuationFrameError",
    "ConnectionError",
    "ConnectionClosureError",
    "ReadTimeoutError",
    "ReadTimedOutError",
    "UpgradeError",
    "AuthError",
    "AuthnError",
    "AuthzError",
    "SslError",
    "ConfigurationError",
    "PayloadBindingError",
    "PayloadValidationError",
]


class Error(Exception):
    """Root of every error bws raises; ``str(error)`` is the message."""

    @property
    def message(self) -> str:
        """The message, as Ballerina's ``error.message()`` gives it."""
        return str(self)


class InvalidHandshakeError(Error):
    """The server answered the upgrade with something other than a valid 101."""

    #: The server's answer (status line and headers) when one arrived, else ``None``; set
    #: by the client before the error is raised.
    response: HttpResponse | None


class HandshakeTimedOut(Error, builtins.TimeoutError):
    """The opening handshake did not complete within ``handShakeTimeout``."""


class PayloadTooLargeError(Error):
    """An inbound frame or message was larger than ``maxFrameSize`` (close code 1009)."""


class CorruptedFrameError(Error):
    """A frame broke RFC 6455 (close code 1002), or a control payload was over 125 bytes."""


class InvalidContinuationFrameError(CorruptedFrameError):
    """A continuation frame arrived with no message to continue, or a new one interrupted it."""


class ConnectionError(Error, builtins.ConnectionError):
    """The connection failed at the IO level (refused, reset, out of retries)."""


class ConnectionClosureError(ConnectionError):
    """The connection is closing or closed: a close failed, or a read/write came too late."""


class ReadTimeoutError(Error, builtins.TimeoutError):
    """No message arrived within ``readTimeout``; the connection stays usable."""


ReadTimedOutError = ReadTimeoutError


class UpgradeError(Error):
    """Raise from ``IUpgradeService.get`` to refuse the upgrade with HTTP 400 and this message."""


class AuthError(Error):
    """The client could not produce its credentials (token endpoint down, bad key...)."""


class AuthnError(Error):
    """Authentication of the upgrade request failed (HTTP 401)."""


class AuthzError(Error):
    """The authenticated principal lacks the required scopes (HTTP 403)."""


class SslError(Error):
    """TLS configuration was wrong, or the TLS handshake failed; the message says why."""


class ConfigurationError(Error, ValueError):
    """A configuration value is wrong; the message names the record and field
    (``Record.field: problem``), or the file and line it came from."""


class PayloadBindingError(Error):
    """An inbound message could not be converted to the requested type."""


class PayloadValidationError(PayloadBindingError):
    """An inbound message converted, but broke a constraint of the requested type."""
