# -*- test-case-name: tests.auth.test_oauth2,tests.auth.test_grants,tests.integration.test_jwks -*-
"""The auth stores' one HTTP client (a JWKS, introspection or token endpoint), through treq:
TLS set up and verified by :mod:`bws.tls` as a :class:`~bws.tls.ClientSecureSocket` says,
redirects never followed, the answer read up to :data:`MAX_BODY` bytes, the whole call
bounded on the clock, and every failure one :class:`HttpsFailure`."""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IProtocol, IProtocolFactory, IReactorTime
from twisted.python.failure import Failure
from twisted.web.iweb import IAgentEndpointFactory
from zope.interface import implementer

from bws.auth.records import OAuth2ClientConfig
from bws.tls._records import ClientSecureSocket

if TYPE_CHECKING:
    from twisted.internet.endpoints import HostnameEndpoint

# ``import bws`` loads this module (the OAuth2 grants are public records): treq, the HTTP
# client, the endpoints and OpenSSL are imported on the first request only.

__all__ = ["MAX_BODY", "HttpsFailure", "Answer", "request", "postForm", "clientBasic"]

#: The largest answer body read, in bytes: a key set, an RFC 7662 or an RFC 6749 answer is a
#: few kilobytes; more is garbage.
MAX_BODY = 1 << 20


class HttpsFailure(Exception):
    """No answer: the endpoint could not be reached, TLS failed, the time bound passed, or
    the answer was larger than :data:`MAX_BODY`. The message says which (never the body)."""


@attrs.frozen
class Answer:
    """An endpoint's answer, whatever its status.

    :ivar status: the HTTP status code.
    :ivar body: the body (at most :data:`MAX_BODY` bytes).
    :ivar json: the body decoded, when it is a UTF-8 JSON object; ``None`` otherwise.
    """

    status: int
    body: bytes = attrs.field(repr=False)
    json: dict[str, Any] | None = attrs.field(repr=False)


def _jsonObject(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


@implementer(IAgentEndpointFactory)
class _Endpoints:
    """Endpoints for an Agent: TCP within ``timeout``, and for https TLS from
    :func:`bws.tls._contexts.clientTLSFactory` (the chain verified against
    ``secureSocket``'s CAs, or the platform's, and the host name checked)."""

    def __init__(self, reactor: Any, secureSocket: ClientSecureSocket | None,
                 timeout: float) -> None:
        self._reactor = reactor
        self._secureSocket = secureSocket
        self._timeout = timeout

    def endpointForURI(self, uri: Any) -> Any:
        from twisted.internet.endpoints import HostnameEndpoint  # loads the TLS stack

        host = uri.host.decode("idna") if isinstance(uri.host, bytes) else uri.host
        tcp = HostnameEndpoint(self._reactor, host, uri.port, timeout=self._timeout)
        if uri.scheme == b"https":
            return _TLSEndpoint(tcp, self._secureSocket, host, self._reactor)
        return tcp


class _TLSEndpoint:
    def __init__(self, tcp: HostnameEndpoint, secureSocket: ClientSecureSocket | None,
                 host: str, reactor: Any) -> None:
        self._tcp = tcp
        self._secureSocket = secureSocket
        self._host = host
        self._reactor = reactor

    def connect(self, factory: IProtocolFactory) -> Deferred[IProtocol]:
        from bws.tls._contexts import clientTLSFactory  # OpenSSL loads on first use

        tls = clientTLSFactory(self._secureSocket, self._host, factory, self._reactor)
        connecting: Deferred[Any] = self._tcp.connect(tls)
        return connecting.addCallback(lambda protocol: protocol.wrappedProtocol)


async def _call(client: Any, method: str, url: str, headers: Mapping[str, Sequence[str]],
                body: bytes | None) -> Answer:
    import treq

    response = await client.request(method, url, data=body, headers=dict(headers),
                                    allow_redirects=False)
    chunks: list[bytes] = []
    size = 0

    def collect(data: bytes) -> None:
        nonlocal size
        size += len(data)
        if size > MAX_BODY:
            raise HttpsFailure(f"the answer from {url} is larger than {MAX_BODY} bytes")
        chunks.append(data)

    await treq.collect(response, collect)
    raw = b"".join(chunks)
    return Answer(response.code, raw, _jsonObject(raw))


def request(reactor: Any, clock: IReactorTime, method: str, url: str, *,
            secureSocket: ClientSecureSocket | None, timeout: float,
            headers: Mapping[str, Sequence[str]], body: bytes | None = None,
            ) -> Deferred[Answer]:
    """Send one request to ``url`` (``http://`` or ``https://``) and read the answer.

    The connection is not kept (one per call); a redirect is an answer like any other,
    never followed (credentials go only where configured).

    :param reactor: connects (TCP, name resolution).
    :param clock: times the call out.
    :param method: ``"GET"``, ``"POST"``.
    :param secureSocket: TLS for ``https://``; ``None``: the platform's CAs, the host name
        checked.
    :param timeout: decimal seconds for the whole call (name resolution, connect, TLS,
        answer).
    :param headers: request headers, each name with its values.
    :param body: the request body, if any.
    :return: a Deferred firing with the :class:`Answer`, or failing with
        :class:`HttpsFailure` saying why there is none.
    """
    from treq.client import HTTPClient
    from twisted.web.client import Agent, HTTPConnectionPool

    agent = Agent.usingEndpointFactory(
        reactor, _Endpoints(reactor, secureSocket, timeout),
        pool=HTTPConnectionPool(reactor, persistent=False))
    call = Deferred.fromCoroutine(_call(HTTPClient(agent), method, url, headers, body))

    def timedOut(result: Any, timeout: float) -> Failure:
        # Whatever the cancelled call failed with (treq wraps the CancelledError), say why.
        return Failure(HttpsFailure(f"no answer from {url} within {timeout} s"))

    call.addTimeout(timeout, clock, onTimeoutCancel=timedOut)

    def why(failure: Failure) -> Failure:
        if failure.check(HttpsFailure):
            return failure
        return Failure(HttpsFailure(f"cannot call {url}: {_describe(failure.value)}"))

    return call.addErrback(why)


def _describe(error: BaseException | None) -> str:
    """A one-line account of a failure (treq wraps connection failures in lists of
    reasons)."""
    reasons = getattr(error, "reasons", None)
    if reasons:
        return "; ".join(_describe(r.value) for r in reasons)
    text = str(error) or type(error).__name__
    return text.replace("\n", " ")


def clientBasic(clientId: str, clientSecret: str) -> str:
    """The ``Authorization`` value of OAuth2 client credentials: both form-urlencoded, then
    HTTP Basic (RFC 6749 §2.3.1)."""
    # %20 rather than "+" for a space: every form decoder reads it, and decoders that only
    # percent-decode (as several servers do for Basic) read it too.
    pair = f"{urllib.parse.quote(clientId, safe='')}:{urllib.parse.quote(clientSecret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


def postForm(reactor: Any, clock: IReactorTime, url: str, form: Sequence[tuple[str, str]],
             clientConfig: OAuth2ClientConfig, authorization: str | None = None,
             ) -> Deferred[Answer]:
    """POST ``form`` (``application/x-www-form-urlencoded``) to an OAuth2 endpoint with
    :func:`request`: ``clientConfig`` gives the TLS settings, the time bound, the
    ``customHeaders`` and the ``customPayload`` (appended to the form).

    :param authorization: the ``Authorization`` header to send, if any.
    """
    body = urllib.parse.urlencode(list(form))
    if clientConfig.customPayload:
        body = f"{body}&{clientConfig.customPayload}" if body else clientConfig.customPayload
    headers: dict[str, list[str]] = {
        "Content-Type": ["application/x-www-form-urlencoded"],
        "Accept": ["application/json"],
    }
    for name, value in clientConfig.customHeaders:
        headers.setdefault(name, []).append(value)
    if authorization is not None:
        headers["Authorization"] = [authorization]
    return request(reactor, clock, "POST", url, secureSocket=clientConfig.secureSocket,
                   timeout=clientConfig.timeout, headers=headers, body=body.encode("utf-8"))
