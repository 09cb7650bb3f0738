# -*- test-case-name: tests.test_sync -*-
"""``bws.sync.Client``: the same client, blocking, for scripts without a reactor.

The reactor runs in a background thread (started by :mod:`crochet` on first use); every
method waits for the result and returns it or raises the ``bws`` error. Calling it from
the reactor thread raises ``RuntimeError`` instead of deadlocking: code that runs in the
reactor uses :class:`bws.Client` and its Deferreds.

An application that runs the reactor itself calls ``crochet.no_setup()`` before first use
and calls this client only from other threads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from typing_extensions import Unpack

from bws.client import Client as AsyncClient
from bws.config import ClientConfigurationFields
from bws.request import HttpResponse

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred

__all__ = ["Client"]

T = TypeVar("T")
_setUp = False


def _ensureSetup() -> None:
    global _setUp
    if not _setUp:
        import crochet

        crochet.setup()
        _setUp = True


def _call(fn: Callable[[], Deferred[T]], timeout: float | None = None) -> T:
    """Run ``fn`` in the reactor thread and wait for its (Deferred) result."""
    _ensureSetup()
    from twisted.python.threadable import isInIOThread

    if isInIOThread():
        raise RuntimeError(
            "bws.sync.Client cannot wait in the reactor thread (it would deadlock); "
            "use bws.Client and its Deferreds there")
    import crochet
    from twisted.internet.defer import maybeDeferred

    @crochet.run_in_reactor
    def inReactor() -> Deferred[T]:
        return maybeDeferred(fn)

    # crochet waits for the Deferred; its stub types the wait as returning the Deferred.
    return cast(T, inReactor().wait(timeout if timeout is not None else 10**9))


class Client:
    """A blocking :class:`bws.Client`: ``Client(url, **ClientConfiguration)`` connects.

    Methods have the names of :class:`bws.Client` and return values instead of
    Deferreds; errors are raised.
    """

    def __init__(self, url: str, **config: Unpack[ClientConfigurationFields]) -> None:
        self._client: AsyncClient = _call(lambda: AsyncClient.connect(url, **config))

    def writeTextMessage(self, data: str) -> None:
        """Send a text message."""
        _call(lambda: self._client.writeTextMessage(data))

    def writeBinaryMessage(self, data: bytes) -> None:
        """Send a binary message."""
        _call(lambda: self._client.writeBinaryMessage(data))

    def writeMessage(self, data: Any) -> None:
        """Send ``str`` as text, bytes as binary, anything else as JSON."""
        _call(lambda: self._client.writeMessage(data))

    def readTextMessage(self) -> str:
        """Wait for the next message, which must be text."""
        return _call(self._client.readTextMessage)

    def readBinaryMessage(self) -> bytes:
        """Wait for the next message, which must be binary."""
        return _call(self._client.readBinaryMessage)

    def readMessage(self, targetType: Any = None) -> Any:
        """Wait for the next message, as ``str``/``bytes`` or bound to ``targetType``."""
        return _call(lambda: self._client.readMessage(targetType))

    def ping(self, data: bytes) -> None:
        """Send a ping (at most 125 bytes)."""
        _call(lambda: self._client.ping(data))

    def pong(self, data: bytes) -> None:
        """Send a pong (at most 125 bytes)."""
        _call(lambda: self._client.pong(data))

    def close(self, statusCode: int | None = 1000, reason: str | None = None,
              timeout: Any = 60) -> None:
        """Close, waiting for the server's close frame at most ``timeout`` seconds."""
        _call(lambda: self._client.close(statusCode, reason, timeout))

    def isOpen(self) -> bool:
        """Whether messages can be written now."""
        return self._client.isOpen()

    def isSecure(self) -> bool:
        """Whether the connection runs over TLS."""
        return self._client.isSecure()

    def getConnectionId(self) -> str:
        """The connection id."""
        return self._client.getConnectionId()

    def getNegotiatedSubProtocol(self) -> str | None:
        """The subprotocol the server chose, or None."""
        return self._client.getNegotiatedSubProtocol()

    def getHttpResponse(self) -> HttpResponse | None:
        """The server's answer to the upgrade request."""
        return self._client.getHttpResponse()

    def setAttribute(self, key: str, value: Any) -> None:
        """Store a value on this client."""
        self._client.setAttribute(key, value)

    def getAttribute(self, key: str) -> Any:
        """A stored value, or None."""
        return self._client.getAttribute(key)

    def removeAttribute(self, key: str) -> Any:
        """Remove a stored value and return it."""
        return self._client.removeAttribute(key)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._client.isOpen():
            try:
                self.close()
            except Exception:
                pass
