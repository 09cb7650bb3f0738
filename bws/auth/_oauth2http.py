# -*- test-case-name: tests.auth.test_oauth2 -*-
"""Calls to OAuth2 endpoints (introspection, token) through treq: a form POST with the
client's credentials, TLS from :class:`bws.tls.ClientSecureSocket`, bounded in time and size."""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Sequence
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

__all__ = ["EndpointError", "EndpointAnswer", "postForm", "clientBasic", "MAX_ANSWER_BYTES"]

#: An endpoint's answer larger than this is garbage (an RFC 7662 or RFC 6749 answer is a
#: small JSON object).
MAX_ANSWER_BYTES = 1 << 20


class EndpointError(Exception):
    """The endpoint could not be called, or did not answer in time: the message says why."""


@attrs.frozen
class EndpointAnswer:
    """An endpoint's answer: the status and the body, decoded as a JSON object when it is
    one (``json`` is ``None`` otherwise)."""

    status: int
    body: bytes
    json: dict[str, Any] | None


def clientBasic(clientId: str, clientSecret: str) -> str:
    """The ``Authorization`` value of OAuth2 client credentials: both form-urlencoded, then
    HTTP Basic (RFC 6749 §2.3.1)."""
    # %20 rather than "+" for a space: every form decoder reads it, and decoders that only
    # percent-decode (as several servers do for Basic) read it too.
    pair = f"{urllib.parse.quote(clientId, safe='')}:{urllib.parse.quote(clientSecret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


@implementer(IAgentEndpointFactory)
class _Endpoints:
    """Endpoints for an Agent: TCP within ``timeout``, and TLS configured by bws's
    ``ClientSecureSocket`` (verified against its CAs, or the platform's) for https."""

    def __init__(self, reactor: Any, secureSocket: ClientSecureSocket | None,
                 timeout: float) -> None:
        self._reactor = reactor
        self._secureSocket = secureSocket
        self._timeout = timeout

    def endpointForURI(self, uri: Any) -> Any:
        host = uri.host.decode("idna") if isinstance(uri.host, bytes) else uri.host
        from twisted.internet.endpoints import HostnameEndpoint  # loads the TLS stack

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


async def _post(client: Any, url: str, form: Sequence[tuple[str, str]],
                headers: dict[str, list[str]], clientConfig: OAuth2ClientConfig,
                ) -> EndpointAnswer:
    body = urllib.parse.urlencode(list(form))
    if clientConfig.customPayload:
        body = f"{body}&{clientConfig.customPayload}" if body else clientConfig.customPayload
    response = await client.post(
        url, data=body.encode("utf-8"), headers=headers, allow_redirects=False)
    chunks: list[bytes] = []
    size = 0

    def collect(data: bytes) -> None:
        nonlocal size
        size += len(data)
        if size > MAX_ANSWER_BYTES:
            raise EndpointError(f"the answer is larger than {MAX_ANSWER_BYTES} bytes")
        chunks.append(data)

    import treq

    await treq.collect(response, collect)
    raw = b"".join(chunks)
    decoded: dict[str, Any] | None = None
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        value = None
    if isinstance(value, dict):
        decoded = value
    return EndpointAnswer(response.code, raw, decoded)


def postForm(reactor: Any, clock: IReactorTime, url: str, form: Sequence[tuple[str, str]],
             clientConfig: OAuth2ClientConfig, authorization: str | None = None,
             ) -> Deferred[EndpointAnswer]:
    """POST ``form`` (``application/x-www-form-urlencoded``) to ``url`` and read the answer.

    The whole call (name resolution, connect, TLS, answer) gets ``clientConfig.timeout``
    seconds; redirects are not followed (credentials go only where configured); the
    connection is closed after the answer.

    :param reactor: connects (TCP, name resolution).
    :param clock: times the call out.
    :param authorization: the ``Authorization`` header to send, if any; ``clientConfig``'s
        ``customHeaders`` are sent too.
    :return: a Deferred firing with the :class:`EndpointAnswer` (whatever the status), or
        failing with :class:`EndpointError` saying why there is none.
    """
    from treq.client import HTTPClient
    from twisted.web.client import Agent, HTTPConnectionPool

    agent = Agent.usingEndpointFactory(
        reactor, _Endpoints(reactor, clientConfig.secureSocket, clientConfig.timeout),
        pool=HTTPConnectionPool(reactor, persistent=False))
    client = HTTPClient(agent)
    headers: dict[str, list[str]] = {
        "Content-Type": ["application/x-www-form-urlencoded"],
        "Accept": ["application/json"],
    }
    for name, value in clientConfig.customHeaders:
        headers.setdefault(name, []).append(value)
    if authorization is not None:
        headers["Authorization"] = [authorization]
    call = Deferred.fromCoroutine(_post(client, url, form, headers, clientConfig))

    def timedOut(result: Any, timeout: float) -> Failure:
        # Whatever the cancelled call failed with (treq wraps the CancelledError), say why.
        return Failure(EndpointError(f"no answer from {url} within {timeout} s"))

    call.addTimeout(clientConfig.timeout, clock, onTimeoutCancel=timedOut)

    def why(failure: Any) -> None:
        if failure.check(EndpointError):
            failure.raiseException()
        raise EndpointError(f"cannot call {url}: {_describe(failure.value)}")

    call.addErrback(why)
    return call


def _describe(error: BaseException) -> str:
    """A one-line account of a connection failure (treq wraps them in lists of reasons)."""
    reasons = getattr(error, "reasons", None)
    if reasons:
        return "; ".join(_describe(r.value) for r in reasons)
    text = str(error) or type(error).__name__
    return text.replace("\n", " ")
