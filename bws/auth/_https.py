# -*- test-case-name: tests.integration.test_jwks -*-
"""HTTPS requests of the auth stores (a JWKS endpoint, a token or introspection endpoint),
through treq on the reactor: the server certificate always verified, redirects never
followed, a deadline on the clock, and a cap on the body.
"""

from __future__ import annotations

import json
from typing import Any

from OpenSSL import crypto
from twisted.internet import ssl as twistedSSL
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator, IReactorTime
from twisted.web.client import Agent
from twisted.web.iweb import IPolicyForHTTPS
from zope.interface import implementer

from bws.errors import ConfigurationError, SslError
from bws.tls._files import loadTrustedCertificates
from bws.tls._records import TrustStore

__all__ = ["TrustedPolicy", "httpsClient", "getJson", "HttpsFailure", "MAX_BODY"]

#: The largest answer body read, in bytes (a key set or a token is a few kilobytes).
MAX_BODY = 1024 * 1024


class HttpsFailure(Exception):
    """The request failed: no connection, a TLS failure, a deadline passed, a status other
    than 200, an answer too large or not JSON. The message says which, without the body."""


@implementer(IPolicyForHTTPS)
class TrustedPolicy:
    """TLS for outgoing requests: the chain must lead to ``cert`` (or the platform's CAs)
    and the certificate must name the host (service_identity, RFC 6125).

    :param cert: a PEM CA file or a :class:`~bws.TrustStore`; ``None`` trusts the platform.
    :raise ConfigurationError: the file cannot be read.
    """

    def __init__(self, cert: str | TrustStore | None) -> None:
        if cert is None:
            self.trustRoot: Any = twistedSSL.platformTrust()
        else:
            try:
                certificates = loadTrustedCertificates(cert)
            except SslError as e:
                raise ConfigurationError(str(e)) from None
            self.trustRoot = twistedSSL.trustRootFromCertificates(
                [twistedSSL.Certificate(crypto.X509.from_cryptography(c)) for c in certificates])

    def creatorForNetloc(self, hostname: bytes, port: int) -> IOpenSSLClientConnectionCreator:
        return twistedSSL.optionsForClientTLS(hostname.decode("ascii"), trustRoot=self.trustRoot)


def httpsClient(reactor: Any, policy: TrustedPolicy) -> Any:
    """A treq ``HTTPClient`` on ``reactor`` using ``policy`` (no redirects, no pooling)."""
    from treq.client import HTTPClient

    return HTTPClient(Agent(reactor, contextFactory=policy))


async def _getJson(client: Any, url: str, maxBody: int) -> Any:
    import treq

    response = await client.get(url, headers={"Accept": ["application/json"]})
    if response.code != 200:
        # Read nothing more; the connection is dropped.
        response.deliverBody(_Discard())
        raise HttpsFailure(f"{url} answered HTTP {response.code}")
    parts: list[bytes] = []
    size = 0

    def collect(data: bytes) -> None:
        nonlocal size
        size += len(data)
        if size > maxBody:
            raise HttpsFailure(f"{url} answered more than {maxBody} bytes")
        parts.append(data)

    await treq.collect(response, collect)
    try:
        return json.loads(b"".join(parts))
    except ValueError:
        raise HttpsFailure(f"{url} did not answer JSON") from None


class _Discard:
    """A body consumer that stops the transfer at once."""

    def makeConnection(self, producer: Any) -> None:
        producer.stopProducing()

    def dataReceived(self, data: bytes) -> None:
        pass

    def connectionLost(self, reason: Any) -> None:
        pass


def getJson(client: Any, clock: IReactorTime, url: str, timeout: float,
            maxBody: int = MAX_BODY) -> Deferred[Any]:
    """GET ``url`` and parse its JSON answer within ``timeout`` seconds on ``clock``.

    :return: a Deferred firing with the parsed JSON, or failing with :class:`HttpsFailure`
        (every cause: connection, TLS, status, size, syntax, deadline).
    """
    d = Deferred.fromCoroutine(_getJson(client, url, maxBody))
    timedOut = []

    def expire() -> None:
        timedOut.append(True)
        d.cancel()

    timer = clock.callLater(timeout, expire)

    def done(result: Any) -> Any:
        if timer.active():
            timer.cancel()
        if hasattr(result, "check"):  # a Failure
            if timedOut:
                raise HttpsFailure(f"{url} did not answer within {timeout:g} s")
            if result.check(HttpsFailure):
                return result
            raise HttpsFailure(f"{url}: {result.getErrorMessage() or result.type.__name__}")
        return result

    return d.addBoth(done)
