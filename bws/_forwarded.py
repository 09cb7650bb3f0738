# -*- test-case-name: tests.test_forwarded -*-
"""The client's address behind proxies: ``X-Forwarded-For`` or ``Forwarded`` (RFC 7239)
read from the right, believed only from the proxies a listener trusts.

The chain of addresses a connection carries is, left to right: the hops the header lists
(the client first, each proxy appending the address it received from), then the hops the
connection itself reports (with the PROXY protocol, the client the PROXY header names, then
the proxy that sent it; otherwise the one TCP peer). Walking from the right, a hop whose
address is in the trusted networks told the truth about the hop to its left; the first hop
that is not trusted is the client. A hop that does not name an IP address (garbage,
``unknown``, an obfuscated ``_name``) stops the walk: the client is then the trusted proxy
that passed it on. Nothing a client writes can move the answer past the first hop no
trusted proxy vouches for; the nginx ``real_ip_recursive on`` and Rack/Django-style
algorithms read the chain the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any, Final

__all__ = ["Network", "Hop", "X_FORWARDED_FOR", "FORWARDED", "HEADERS", "parseNetwork",
           "trustedNetworks", "parseHop", "normalHost", "xForwardedForHops", "forwardedHops", "isTrusted",
           "clientAddress"]

Network = IPv4Network | IPv6Network
#: ``(host, port)``: the port is 0 when the hop did not say it.
Hop = tuple[str, int]

X_FORWARDED_FOR: Final = "X-Forwarded-For"
FORWARDED: Final = "Forwarded"
#: The headers a listener can read the chain from (``ListenerConfiguration.forwardedHeader``).
HEADERS: Final = (X_FORWARDED_FOR, FORWARDED)


def parseNetwork(value: Any) -> Network:
    """
    One trusted proxy: an address (``"10.0.0.7"``, ``"::1"``) or a network in CIDR form
    (``"10.0.0.0/8"``, ``"fd00::/8"``); an ``ipaddress`` network or address is taken as is.

    :raises ValueError: saying what is wrong, e.g. ``'10.0.0.1/8' has host bits set: write
        '10.0.0.0/8'``.
    """
    if isinstance(value, (IPv4Network, IPv6Network)):
        return value
    if isinstance(value, (IPv4Address, IPv6Address)):
        return ip_network(value)
    if not isinstance(value, str):
        raise ValueError(f"expected an IP address or CIDR network string, got {value!r}")
    try:
        return ip_network(value.strip())
    except ValueError:
        pass
    try:
        network = ip_network(value.strip(), strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address or CIDR network") from None
    raise ValueError(f"{value!r} has host bits set: write {str(network)!r}")


def trustedNetworks(value: Any) -> tuple[Network, ...]:
    """
    The trusted proxies: a list of what :func:`parseNetwork` takes (a lone string is a list
    of one; ``None`` is none).

    :raises ValueError: naming the entry (``[2]: 'example.com' is not ...``) that is not an address
        or network.
    """
    if value is None:
        return ()
    if isinstance(value, (str, IPv4Network, IPv6Network, IPv4Address, IPv6Address)):
        value = [value]
    if isinstance(value, (Mapping, bytes)) or not isinstance(value, Iterable):
        raise ValueError(f"expected a list of IP addresses or networks, got {value!r}")
    networks = []
    for index, entry in enumerate(value):
        try:
            networks.append(parseNetwork(entry))
        except ValueError as e:
            raise ValueError(f"[{index}]: {e}") from None
    return tuple(networks)


def _address(text: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(text)
    except ValueError:
        return None


def _port(text: str) -> int | None:
    """A port number, 0 for an obfuscated one (RFC 7239 §6.3: ``_`` and a name), else None."""
    if text.isdigit() and len(text) <= 5 and int(text) <= 65535:
        return int(text)
    if text.startswith("_") and len(text) > 1:
        return 0
    return None


def parseHop(text: str) -> Hop | None:
    """
    One hop of a chain: ``192.0.2.7``, ``192.0.2.7:4711``, ``2001:db8::7``,
    ``[2001:db8::7]`` or ``[2001:db8::7]:4711`` (RFC 7239 §6 writes an IPv6 node in
    brackets; an ``X-Forwarded-For`` list usually does not).

    :return: ``(host, port)`` with the host in its normal text form and port 0 when none
        is given; ``None`` when ``text`` names no IP address (``unknown``, ``_hidden``,
        a host name, garbage).
    """
    text = text.strip()
    if text.startswith("["):
        inside, bracket, rest = text[1:].partition("]")
        address = _address(inside) if bracket else None
        if not isinstance(address, IPv6Address):
            return None
        if not rest:
            return str(address), 0
        port = _port(rest[1:]) if rest.startswith(":") else None
        return None if port is None else (str(address), port)
    address = _address(text)
    if address is not None:
        return str(address), 0
    host, colon, portText = text.rpartition(":")
    if colon and ":" not in host:
        address = _address(host)
        port = _port(portText)
        if isinstance(address, IPv4Address) and port is not None:
            return str(address), port
    return None


def normalHost(host: str) -> str:
    """An IP address in its normal text form (``2001:db8::7``, not
    ``2001:db8:0:0:0:0:0:7``); other text unchanged."""
    address = _address(host)
    return host if address is None else str(address)


def xForwardedForHops(values: Iterable[str]) -> list[Hop | None]:
    """
    The hops of ``X-Forwarded-For``: every value of the header in arrival order (a repeated
    header continues the list, RFC 9110 §5.3), split at commas.

    :return: left to right, ``None`` for an element that names no address.
    """
    return [parseHop(element) for value in values for element in value.split(",")]


def _split(text: str, separator: str) -> list[str]:
    """``text`` split at ``separator`` outside quoted strings (RFC 9110 §5.6.4); an
    unterminated quoted string runs to the end."""
    parts = []
    start = 0
    quoted = escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


def _unquote(value: str) -> str | None:
    """A token as it is, a quoted string without its quotes and escapes; None when a
    quoted string is not closed."""
    if not value.startswith('"'):
        return None if '"' in value else value
    if len(value) < 2 or not value.endswith('"'):
        return None
    out = []
    escaped = False
    for char in value[1:-1]:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            return None
        else:
            out.append(char)
    return None if escaped else "".join(out)


def _forwardedFor(element: str) -> Hop | None:
    """The ``for`` node of one ``forwarded-element`` (RFC 7239 §4), or None when the
    element is malformed, has no ``for``, has it twice, or names no address."""
    found: Hop | None = None
    seen = False
    for pair in _split(element, ";"):
        pair = pair.strip()
        if not pair:
            continue
        name, equals, value = pair.partition("=")
        if not equals or not name.strip():
            return None
        text = _unquote(value.strip())
        if text is None:
            return None
        if name.strip().lower() == "for":
            if seen:
                return None  # §4: a parameter occurs at most once per element
            seen = True
            found = parseHop(text)
    return found


def forwardedHops(values: Iterable[str]) -> list[Hop | None]:
    """
    The ``for`` hops of ``Forwarded`` (RFC 7239 §4, §5.2): every value of the header in
    arrival order, split into elements at commas outside quoted strings.

    :return: left to right, ``None`` for an element that is malformed or whose ``for``
        names no address (``unknown``, an obfuscated ``_name``, §6.2, §6.3).
    """
    return [_forwardedFor(element) for value in values for element in _split(value, ",")]


def isTrusted(host: str, networks: Sequence[Network]) -> bool:
    """Whether ``host`` (an IP address's text) is in one of ``networks``; an IPv4-mapped
    IPv6 address (``::ffff:10.0.0.7``, a dual-stack socket's view) counts as its IPv4
    address."""
    address = _address(host)
    if address is None:
        return False
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


def clientAddress(connectionHops: Sequence[Hop], headerName: str, headerValues: Sequence[str],
                  trusted: Sequence[Network]) -> Hop:
    """
    The client's address, walking the chain from the right (see the module docstring).

    :param connectionHops: what the connection reports, left to right and never empty:
        ``[tcpPeer]``, or ``[proxyProtocolSource, tcpPeer]``.
    :param headerName: :data:`X_FORWARDED_FOR` or :data:`FORWARDED`, the header whose
        ``headerValues`` (every value, in arrival order) are read.
    :param trusted: the trusted proxies' networks; with none, the header is never read and
        the answer is ``connectionHops[0]``, the transport's own view (with the PROXY
        protocol, the address its header names).
    :return: ``(host, port)``, port 0 when the hop that named it gave none.
    """
    if not trusted:
        return connectionHops[0]
    current = connectionHops[-1]
    for hop in reversed(connectionHops[:-1]):
        if not isTrusted(current[0], trusted):
            return current
        current = hop
    if not isTrusted(current[0], trusted) or not headerValues:
        return current
    hops = (forwardedHops if headerName == FORWARDED else xForwardedForHops)(headerValues)
    for named in reversed(hops):
        if named is None:
            return current  # a hop that names no address: the proxy that passed it on
        current = named
        if not isTrusted(current[0], trusted):
            return current
    return current
