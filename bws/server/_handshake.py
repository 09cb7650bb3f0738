# -*- test-case-name: tests.server.test_handshake -*-
"""The upgrade request's checks as values: plain values in, ``Accept`` or ``Reject`` out.

Each rule takes what it needs from the request (the method, the HTTP version, the values of
one header, the request target's bytes) and returns ``None`` to go on or a :class:`Reject` to
answer with. :func:`checkUpgrade` runs them in the order a listener applies them (spec §2.2,
RFC 6455 §4.2.1). Routing (404) and the listener's state (503) come before these; the
binding of ``get``'s parameters, authentication and ``get`` itself come after.
:func:`checkBody` also runs alone, as soon as the request's headers are complete, so that no
byte of a body is ever read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

from bws._http import normalizeOrigin, parseTokens, validHost, validKey
from bws.config import RequestLimitConfigs
from bws.errors import AuthnError, AuthzError, UpgradeError

__all__ = [
    "Accept",
    "Reject",
    "STOPPING",
    "NOT_FOUND",
    "HAS_BODY",
    "INTERNAL_ERROR",
    "limitsViolation",
    "checkLimits",
    "checkHttpVersion",
    "checkBody",
    "checkMethod",
    "checkUpgradeHeaders",
    "checkVersion",
    "checkKey",
    "checkHost",
    "checkOrigin",
    "chooseSubProtocol",
    "checkUpgrade",
    "refusalFor",
]

HeaderPairs = Sequence[tuple[str, str]]


@attrs.frozen
class Reject:
    """Refuse the upgrade: answer ``status`` with ``body`` (plain text) and extra ``headers``.

    :ivar status: the HTTP status code.
    :ivar body: the response body, sent as UTF-8 ``text/plain``.
    :ivar headers: ``(name, value)`` pairs added to the response, in order.
    """

    status: int
    body: str = ""
    headers: tuple[tuple[str, str], ...] = ()


@attrs.frozen
class Accept:
    """Go on with the upgrade.

    :ivar subProtocol: the subprotocol chosen (RFC 6455 §4.2.2 item 5.4), or ``None``.
    :ivar offered: every subprotocol the peer offered, in its order of preference.
    :ivar key: the ``Sec-WebSocket-Key`` value, trimmed; the 101 answer derives its
        ``Sec-WebSocket-Accept`` from it.
    """

    subProtocol: str | None
    offered: tuple[str, ...] = ()
    key: str = ""


#: The listener is stopping (``gracefulStop`` / ``immediateStop``).
STOPPING = Reject(503, "The listener is stopping")
#: No attachment claims the request's path.
NOT_FOUND = Reject(404, "No service found to handle the service request")
#: ``get`` failed unexpectedly, or returned ``None``.
INTERNAL_ERROR = Reject(500, "Internal server error")


def limitsViolation(uri: bytes, headerBytes: int, headerCount: int,
                    limits: RequestLimitConfigs) -> int | None:
    """
    Apply ``ListenerConfiguration.requestLimits`` (spec §2.1) to counts.

    :param uri: the request target, as sent.
    :param headerBytes: the size of the header fields so far: name, ``": "`` and value.
    :param headerCount: the number of header fields so far.
    :param limits: the listener's limits.
    :return: 414 when ``uri`` is too long, 431 when the headers are too large or too many,
        else ``None``.
    """
    if len(uri) > limits.maxUriLength:
        return 414
    if headerBytes > limits.maxHeaderSize or headerCount > limits.maxHeaderCount:
        return 431
    return None


def checkLimits(uri: bytes, headers: HeaderPairs, limits: RequestLimitConfigs) -> Reject | None:
    """
    Apply the request limits to a whole request.

    :param uri: the request target, as sent.
    :param headers: ``(name, value)`` pairs, one per header field.
    :param limits: the listener's limits.
    :return: ``None`` to go on; a 414 or 431 with no body (see :func:`limitsViolation`).
    """
    status = limitsViolation(uri, sum(len(n) + 2 + len(v) for n, v in headers), len(headers),
                             limits)
    return None if status is None else Reject(status)


def checkHttpVersion(version: str) -> Reject | None:
    """
    Require HTTP/1.1 or later (RFC 6455 §4.1 item 1, §4.2.1 item 1).

    HTTP/1.0 gets 400, not 505: 505 refuses a *major* version (RFC 9110 §15.6.6), and
    HTTP/1.0 shares HTTP/1.1's.

    :param version: the request line's version, e.g. ``"HTTP/1.1"``.
    :return: ``None`` to go on; a 400 for HTTP/1.0 or anything that is not ``HTTP/x.y``.
    """
    if version == "HTTP/1.1":
        return None
    name, _, number = version.partition("/")
    major, _, minor = number.partition(".")
    if (name == "HTTP" and major.isdigit() and minor.isdigit() and len(major) == 1
            and len(minor) == 1 and (int(major), int(minor)) >= (1, 1)):
        return None
    return Reject(400, "WebSocket upgrades need HTTP/1.1 or later")


#: The answer to an upgrade request that carries a body.
HAS_BODY = Reject(400, "An upgrade request has no body")


def checkBody(contentLengths: Sequence[str], transferEncodings: Sequence[str],
              maxEntityBodySize: int) -> Reject | None:
    """
    An upgrade request has no body (RFC 9110 §9.3.1: a GET's content has no meaning; RFC
    6455 §4.2.2: every byte after the request's head is WebSocket data). Applied as soon as
    the head is complete, before any body byte is read or stored.

    :param contentLengths: every ``Content-Length`` value; ``"0"`` is no body.
    :param transferEncodings: every ``Transfer-Encoding`` value; any one announces a body
        (RFC 9112 §6.3).
    :param maxEntityBodySize: ``RequestLimitConfigs.maxEntityBodySize``; -1 is no limit.
    :return: ``None`` to go on; a 413 (no body text) for a ``Content-Length`` over
        ``maxEntityBodySize``, else a 400 (:data:`HAS_BODY`) for any body.
    """
    if transferEncodings:
        return HAS_BODY
    for value in contentLengths:
        text = value.strip()
        if not text.isdigit():
            return HAS_BODY
        length = int(text)
        if 0 <= maxEntityBodySize < length:
            return Reject(413)
        if length:
            return HAS_BODY
    return None


def checkMethod(method: str) -> Reject | None:
    """
    Only ``GET`` upgrades (RFC 6455 §4.2.1 item 1).

    :param method: the request method, e.g. ``"GET"``.
    :return: ``None`` to go on; a 405 with ``Allow: GET`` otherwise.
    """
    if method != "GET":
        return Reject(405, "WebSocket upgrades use GET", (("Allow", "GET"),))
    return None


def checkUpgradeHeaders(upgrade: Iterable[str], connection: Iterable[str]) -> Reject | None:
    """
    Require ``Upgrade: websocket`` and ``Connection: Upgrade`` (RFC 6455 §4.2.1 items 3, 4).

    :param upgrade: every ``Upgrade`` value; tokens compare case-insensitively.
    :param connection: every ``Connection`` value; tokens compare case-insensitively.
    :return: ``None`` to go on; a 426 naming both headers otherwise.
    """
    if ("websocket" not in (t.lower() for t in parseTokens(upgrade))
            or "upgrade" not in (t.lower() for t in parseTokens(connection))):
        return Reject(426, "This service requires a WebSocket upgrade",
                      (("Upgrade", "websocket"), ("Connection", "Upgrade")))
    return None


def checkVersion(versions: Sequence[str]) -> Reject | None:
    """
    Require exactly one ``Sec-WebSocket-Version: 13`` (RFC 6455 §4.2.1 item 6, §4.4).

    :param versions: every ``Sec-WebSocket-Version`` value.
    :return: ``None`` to go on; a 426 with ``Sec-WebSocket-Version: 13`` otherwise.
    """
    if list(versions) != ["13"]:
        return Reject(426, "Unsupported WebSocket version; use 13",
                      (("Sec-WebSocket-Version", "13"),))
    return None


def checkKey(keys: Sequence[str]) -> Reject | None:
    """
    Require exactly one well-formed ``Sec-WebSocket-Key`` (RFC 6455 §4.2.1 item 5).

    :param keys: every ``Sec-WebSocket-Key`` value.
    :return: ``None`` to go on; a 400 when the key is missing, repeated, or not base64 of
        16 bytes.
    """
    if len(keys) != 1 or not validKey(keys[0]):
        return Reject(400, "Missing, duplicated or malformed Sec-WebSocket-Key")
    return None


def checkHost(hosts: Sequence[str]) -> Reject | None:
    """
    Require exactly one well-formed ``Host`` header (RFC 6455 §4.2.1 item 2; RFC 9112 §3.2:
    a request with none, more than one, or an invalid value gets 400).

    :param hosts: every ``Host`` value.
    :return: ``None`` to go on; a 400 when there is none, more than one, or the value is not
        ``host[:port]``.
    """
    if not hosts:
        return Reject(400, "Missing Host header")
    if len(hosts) > 1:
        return Reject(400, "Duplicated Host header")
    if not validHost(hosts[0].strip()):
        return Reject(400, "Malformed Host header")
    return None


def checkOrigin(sent: Sequence[str], allowed: tuple[str, ...] | None) -> Reject | None:
    """
    Apply ``WSServiceConfig.allowedOrigins`` (RFC 6455 §4.2.2 item 4; RFC 6454 §7).

    :param sent: every ``Origin`` value the peer sent, in arrival order.
    :param allowed: normalised ``scheme://host[:port]`` origins; ``None`` allows any.
    :return: ``None`` to go on; a 403 when the origin is missing, repeated or not listed.
    """
    if allowed is None:
        return None
    origin = normalizeOrigin(sent[0]) if len(sent) == 1 else None
    if origin is None or origin not in allowed:
        return Reject(403, "Origin not allowed")
    return None


def chooseSubProtocol(offered: Iterable[str], supported: Sequence[str]) -> str | None:
    """
    Choose the subprotocol (RFC 6455 §4.2.2 item 5.4): the peer's first offer we support.

    :param offered: the peer's offers, in its order of preference.
    :param supported: ``WSServiceConfig.subProtocols``.
    :return: the chosen subprotocol, or ``None`` when none matches (the upgrade goes on
        without ``Sec-WebSocket-Protocol``).
    """
    return next((p for p in offered if p in supported), None)


def checkUpgrade(method: str, uri: bytes, headers: HeaderPairs, limits: RequestLimitConfigs,
                 allowedOrigins: tuple[str, ...] | None,
                 subProtocols: Sequence[str], httpVersion: str = "HTTP/1.1") -> Accept | Reject:
    """
    Run every header check, in order: limits, HTTP version, body, method, upgrade headers,
    version, key, Host, origin; then choose the subprotocol.

    :param method: the request method.
    :param uri: the request target, as sent.
    :param headers: ``(lower-cased name, value)`` pairs in arrival order, as
        ``UpgradeRequest.headerPairs``.
    :param limits: ``ListenerConfiguration.requestLimits``.
    :param allowedOrigins: ``WSServiceConfig.allowedOrigins``.
    :param subProtocols: ``WSServiceConfig.subProtocols``.
    :param httpVersion: the request line's version, e.g. ``"HTTP/1.1"``.
    :return: the first :class:`Reject` a rule gives, else an :class:`Accept`.
    """
    byName: dict[str, list[str]] = {}
    for name, value in headers:
        byName.setdefault(name, []).append(value)
    keys = byName.get("sec-websocket-key", [])
    rejected = (
        checkLimits(uri, headers, limits)
        or checkHttpVersion(httpVersion)
        or checkBody(byName.get("content-length", ()), byName.get("transfer-encoding", ()),
                     limits.maxEntityBodySize)
        or checkMethod(method)
        or checkUpgradeHeaders(byName.get("upgrade", ()), byName.get("connection", ()))
        or checkVersion(byName.get("sec-websocket-version", []))
        or checkKey(keys)
        or checkHost(byName.get("host", []))
        or checkOrigin(byName.get("origin", []), allowedOrigins)
    )
    if rejected is not None:
        return rejected
    offered = tuple(parseTokens(byName.get("sec-websocket-protocol", ())))
    return Accept(chooseSubProtocol(offered, subProtocols), offered, keys[0].strip())


def refusalFor(error: BaseException) -> Reject | None:
    """
    The answer to an upgrade service's refusal (spec §3.1: ``get`` returning or raising an
    error).

    :param error: what ``get`` raised or returned.
    :return: 401 for ``AuthnError``, 403 for ``AuthzError``, 400 with the message for
        ``UpgradeError``; ``None`` for anything else, which is a fault of the service (the
        listener logs it and answers :data:`INTERNAL_ERROR`).
    """
    if isinstance(error, AuthnError):
        return Reject(401)
    if isinstance(error, AuthzError):
        return Reject(403)
    if isinstance(error, UpgradeError):
        return Reject(400, str(error))
    return None
