# -*- test-case-name: tests.test_config -*-
"""Configuration records (spec §2.1, §3.1.1, §4.1): frozen, validated when built."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import attrs
from typing_extensions import TypedDict, Unpack

from bws._fields import Fields, nameTuple
from bws._forwarded import HEADERS, X_FORWARDED_FOR, Network, trustedNetworks
from bws._http import CLIENT_OWNED, fieldProblem, normalizeOrigin, ownedHeaderProblem
from bws.errors import ConfigurationError
from bws.tls._records import ClientSecureSocket, ListenerSecureSocket

__all__ = [
    "ConfigurationError",
    "ListenerHttp1Settings",
    "RequestLimitConfigs",
    "ListenerConfiguration",
    "WSServiceConfig",
    "serviceConfig",
    "serviceConfigOf",
    "setServiceConfig",
    "RetryConfig",
    "ClientConfiguration",
    "DEFAULT_MAX_FRAME_SIZE",
    "KEEPALIVE_AUTO",
    "KEEPALIVE_ALWAYS",
    "KEEPALIVE_NEVER",
    # The keyword arguments of each record, for ``**config: Unpack[...]`` signatures.
    "ListenerHttp1SettingsFields",
    "RequestLimitConfigsFields",
    "ListenerConfigurationFields",
    "WSServiceConfigFields",
    "RetryConfigFields",
    "ClientConfigurationFields",
]

DEFAULT_MAX_FRAME_SIZE = 65536
#: A fragmented message may grow to this many frames' worth before it is refused (1009).
MESSAGE_FRAMES = 16
#: ``ListenerHttp1Settings.keepAlive`` values (spec §2.1): the spec's "respect the
#: ``Connection`` header", "always" and "never". Accepted for compatibility; bws gives
#: them no effect.
KEEPALIVE_AUTO = "AUTO"
#: See :data:`KEEPALIVE_AUTO`.
KEEPALIVE_ALWAYS = "ALWAYS"
#: See :data:`KEEPALIVE_AUTO`.
KEEPALIVE_NEVER = "NEVER"


_checks = Fields(ConfigurationError)


@attrs.frozen
class ListenerHttp1Settings:
    """HTTP/1.x settings for the upgrade request (spec §2.1)."""

    keepAlive: str = attrs.field(
        default=KEEPALIVE_AUTO,
        validator=_checks.checkOneOf(KEEPALIVE_AUTO, KEEPALIVE_ALWAYS, KEEPALIVE_NEVER))
    maxPipelinedRequests: int = attrs.field(default=10, validator=_checks.checkInt(1))


class ListenerHttp1SettingsFields(TypedDict, total=False):
    """The keywords of :class:`ListenerHttp1Settings` (its field names; all optional)."""

    keepAlive: str
    maxPipelinedRequests: int


@attrs.frozen
class RequestLimitConfigs:
    """Size limits of the upgrade request: 414, 431 and 413 when exceeded (spec §2.1)."""

    maxUriLength: int = attrs.field(default=4096, validator=_checks.checkInt(1))
    maxHeaderSize: int = attrs.field(default=8192, validator=_checks.checkInt(1))
    #: -1 means no limit.
    maxEntityBodySize: int = attrs.field(default=-1, validator=_checks.checkInt(-1))
    #: Header lines allowed before 431 (a bws addition: counts, not only bytes).
    maxHeaderCount: int = attrs.field(default=100, validator=_checks.checkInt(1))


class RequestLimitConfigsFields(TypedDict, total=False):
    """The keywords of :class:`RequestLimitConfigs` (its field names; all optional)."""

    maxUriLength: int
    maxHeaderSize: int
    maxEntityBodySize: int
    maxHeaderCount: int


def _coerceHttp1(value: Any) -> Any:
    return _checks.built(ListenerHttp1Settings, value)


def _coerceLimits(value: Any) -> Any:
    return _checks.built(RequestLimitConfigs, value)


def _trustedProxies(value: Any) -> tuple[Network, ...]:
    try:
        return trustedNetworks(value)
    except ValueError as e:
        where = "" if str(e).startswith("[") else ": "
        raise ConfigurationError(f"ListenerConfiguration.trustedProxies{where}{e}") from None


def _headerName(value: Any) -> Any:
    """``x-forwarded-for`` and ``FORWARDED`` as :data:`bws._forwarded.HEADERS` spell them."""
    if isinstance(value, str):
        return next((h for h in HEADERS if h.lower() == value.strip().lower()), value)
    return value


def _coerceRetry(value: Any) -> Any:
    return _checks.built(RetryConfig, value)


@attrs.frozen
class ListenerConfiguration:
    """Listener settings (spec §2.1) with the reference defaults."""

    host: str = attrs.field(default="0.0.0.0", validator=_checks.checkText())
    http1Settings: ListenerHttp1Settings = attrs.field(
        factory=ListenerHttp1Settings, converter=_coerceHttp1)
    secureSocket: ListenerSecureSocket | None = attrs.field(
        default=None, validator=_checks.checkInstanceOf(ListenerSecureSocket, optional=True))
    #: Seconds to receive the whole upgrade request; 0 disables the deadline.
    timeout: float = _checks.secondsField(120, message=(
        "Idle timeout cannot be negative. If you want to disable the timeout please use value 0"))
    server: str | None = attrs.field(
        default=None, validator=_checks.checkText(optional=True, singleLine=True))
    webSocketCompressionEnabled: bool = attrs.field(default=True, validator=_checks.checkBool)
    requestLimits: RequestLimitConfigs = attrs.field(
        factory=RequestLimitConfigs, converter=_coerceLimits)
    #: The proxies in front of this listener whose word on the client's address is taken
    #: (bws addition, docs/deploying.rst): IP addresses or CIDR networks (``"10.0.0.0/8"``,
    #: ``"::1"``). From a peer in them, ``UpgradeRequest.peer`` is read from
    #: ``forwardedHeader`` (walking from the right past every trusted proxy), and on a
    #: PROXY-protocol (``haproxy:``) endpoint the PROXY header is believed only from them.
    #: Empty (the default): no header is read; the peer is the transport's.
    trustedProxies: tuple[Network, ...] = attrs.field(default=(), converter=_trustedProxies)
    #: The header the trusted proxies write the chain of addresses in:
    #: ``"X-Forwarded-For"`` (nginx, HAProxy ``option forwardfor``) or ``"Forwarded"``
    #: (RFC 7239). The other one is never read: a proxy that appends to one header passes a
    #: client's forged other header on unchanged.
    forwardedHeader: str = attrs.field(default=X_FORWARDED_FOR, converter=_headerName,
                                       validator=_checks.checkOneOf(*HEADERS))


class ListenerConfigurationFields(TypedDict, total=False):
    """The keywords of :class:`ListenerConfiguration` (its field names; all optional): what
    :class:`bws.Listener` takes. Nested records may be given as their keywords' dict."""

    host: str
    http1Settings: ListenerHttp1Settings | ListenerHttp1SettingsFields
    secureSocket: ListenerSecureSocket | None
    timeout: float
    server: str | None
    webSocketCompressionEnabled: bool
    requestLimits: RequestLimitConfigs | RequestLimitConfigsFields
    trustedProxies: Sequence[str]
    forwardedHeader: str


def _listenerAuth(value: Any) -> tuple[Any, ...] | None:
    """Converter of ``WSServiceConfig.auth``: :func:`bws.auth.records.listenerEntries`,
    imported only for a service that has auth (the records load ``twisted.cred``)."""
    if value is None:
        return None
    from bws.auth.records import listenerEntries

    return listenerEntries(value)


def _clientAuth(value: Any) -> Any:
    """Converter of ``ClientConfiguration.auth``: :func:`bws.auth.records.clientAuth`,
    imported only for a client that has auth."""
    if value is None:
        return None
    from bws.auth.records import clientAuth

    return clientAuth(value)


def _frameSize(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(f"maxFrameSize must be an int, got {value!r}")
    return DEFAULT_MAX_FRAME_SIZE if value <= 0 else min(value, 2**31 - 1)


def _origin(value: str) -> str:
    normal = normalizeOrigin(value)
    if normal is None:
        raise ConfigurationError(
            f"WSServiceConfig.allowedOrigins: {value!r} is not a scheme://host[:port] origin")
    return normal


def _origins(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(_origin(v) for v in nameTuple(value))


@attrs.frozen
class WSServiceConfig:
    """Per upgrade service settings (spec §3.1.1 and the later upstream fields)."""

    subProtocols: tuple[str, ...] = attrs.field(
        default=(), converter=nameTuple, validator=_checks.checkNames())
    #: Seconds without traffic before ``onIdleTimeout``; 0 is off. It does not close.
    idleTimeout: float = _checks.secondsField(0)
    maxFrameSize: int = attrs.field(default=DEFAULT_MAX_FRAME_SIZE, converter=_frameSize)
    #: Largest (inflated) message, bws addition; <= 0 means 16 frames of ``maxFrameSize``.
    maxMessageSize: int = attrs.field(default=0, validator=_checks.checkInt())
    #: Listener auth entries (spec §5.2): the records of :mod:`bws.auth.records` (or mappings
    #: of them), ``CheckerWithScopes``, or bare ``twisted.cred`` checkers; tried in order.
    auth: tuple[Any, ...] | None = attrs.field(default=None, converter=_listenerAuth)
    validation: bool = attrs.field(default=True, validator=_checks.checkBool)
    dispatcherKey: str | None = None
    #: Accepted for compatibility; it has no runtime effect (as in the reference).
    dispatcherStreamId: str | None = attrs.field(default=None)
    #: Seconds to wait for the peer's close frame; -1 waits forever.
    connectionClosureTimeout: float = _checks.secondsField(
        60, allowMinusOne=True, message="must be >= 0, or -1 to wait forever")
    #: Exact ``scheme://host[:port]`` origins allowed to connect (None: any).
    allowedOrigins: tuple[str, ...] | None = attrs.field(default=None, converter=_origins)
    #: Keepalive (bws addition, DESIGN §3.7): seconds of silence from the peer before bws
    #: pings it; 0 turns keepalive off.
    pingInterval: float = _checks.secondsField(20)
    #: Seconds a keepalive ping waits for the peer before the connection is closed 1011
    #: and dropped; 0 pings without ever closing.
    pingTimeout: float = _checks.secondsField(20)

    @dispatcherStreamId.validator
    def _checkStreamId(self, attribute: attrs.Attribute[str | None], value: str | None) -> None:
        if value is not None and self.dispatcherKey is None:
            _checks.fail(self, attribute, "dispatcherStreamId needs dispatcherKey")

    @property
    def messageLimit(self) -> int:
        """The effective largest inbound message, in inflated bytes."""
        if self.maxMessageSize > 0:
            return max(self.maxMessageSize, self.maxFrameSize)
        return self.maxFrameSize * MESSAGE_FRAMES


class WSServiceConfigFields(TypedDict, total=False):
    """The keywords of :class:`WSServiceConfig` (its field names; all optional): what
    :func:`serviceConfig` takes. Seconds are decimal seconds, sizes bytes."""

    subProtocols: str | Sequence[str]
    idleTimeout: float
    maxFrameSize: int
    maxMessageSize: int
    #: One entry or a sequence of them (see :attr:`WSServiceConfig.auth`).
    auth: Any
    validation: bool
    dispatcherKey: str | None
    dispatcherStreamId: str | None
    connectionClosureTimeout: float
    allowedOrigins: str | Sequence[str] | None
    pingInterval: float
    pingTimeout: float


_CONFIG_ATTRIBUTE = "__bws_service_config__"
T = TypeVar("T")


def serviceConfig(**fields: Unpack[WSServiceConfigFields]) -> Callable[[T], T]:
    """Class decorator: attach a :class:`WSServiceConfig` to an upgrade service class.

    ``@bws.serviceConfig(subProtocols=["chat"], idleTimeout=30)``; the keywords are
    :class:`WSServiceConfigFields`.

    :raises ConfigurationError: at class definition, naming the field, for a wrong value or
        an unknown field name.
    """
    config = _checks.build(WSServiceConfig, fields)

    def decorate(cls: T) -> T:
        setattr(cls, _CONFIG_ATTRIBUTE, config)
        return cls

    return decorate


def serviceConfigOf(upgradeService: Any) -> WSServiceConfig:
    """The config attached with :func:`serviceConfig`, or the defaults."""
    config = getattr(upgradeService, _CONFIG_ATTRIBUTE, None)
    return config if isinstance(config, WSServiceConfig) else WSServiceConfig()


@attrs.frozen
class RetryConfig:
    """Client reconnection policy (spec §4.1 ``retryConfig``)."""

    interval: float = _checks.secondsField(1)
    backOffFactor: float = attrs.field(
        default=1.0, converter=float, validator=_checks.checkNumber(1.0, finite=True))
    maxWaitInterval: float = _checks.secondsField(30, minimum=None)
    #: 0 retries forever.
    maxCount: int = attrs.field(default=0, validator=_checks.checkInt(0))

    def __attrs_post_init__(self) -> None:
        if self.maxWaitInterval < 0:
            object.__setattr__(self, "maxWaitInterval", 30.0)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry ``attempt`` (0-based): exponential, capped."""
        try:
            wait = self.interval * self.backOffFactor**attempt
        except OverflowError:
            wait = float("inf")
        return min(wait, self.maxWaitInterval)


class RetryConfigFields(TypedDict, total=False):
    """The keywords of :class:`RetryConfig` (its field names; all optional)."""

    interval: float
    backOffFactor: float
    maxWaitInterval: float
    maxCount: int


def _checkRequestHeaders(instance: object, attribute: attrs.Attribute[Any],
                         value: Mapping[Any, Any]) -> None:
    """Refuse malformed fields, fields bws writes itself (RFC 6455 §4.1), and one name twice
    in different cases (each field goes out once)."""
    seen: dict[str, str] = {}
    for name, text in value.items():
        problem = fieldProblem(name, text) or ownedHeaderProblem(name, CLIENT_OWNED)
        if problem is None and name.lower() in seen:
            problem = f"{seen[name.lower()]} and {name} are the same header"
        if problem is not None:
            _checks.fail(instance, attribute, problem)
        seen[name.lower()] = name


@attrs.frozen
class ClientConfiguration:
    """Client settings (spec §4.1) with the reference defaults."""

    subProtocols: tuple[str, ...] = attrs.field(
        default=(), converter=nameTuple, validator=_checks.checkNames())
    #: Extra upgrade request headers. ``Host``, ``User-Agent`` and ``Origin`` replace what
    #: bws would send; the WebSocket fields (``Upgrade``, ``Connection``,
    #: ``Sec-WebSocket-*``) and body fields are bws's and refused.
    customHeaders: Mapping[str, str] = attrs.field(factory=dict, converter=dict,
                                                   validator=_checkRequestHeaders)
    #: Seconds a read waits; -1 waits forever.
    readTimeout: float = _checks.secondsField(-1, allowMinusOne=True)
    #: Seconds a write may wait for flow control; -1 waits forever.
    writeTimeout: float = _checks.secondsField(-1, allowMinusOne=True)
    secureSocket: ClientSecureSocket | None = None
    maxFrameSize: int = attrs.field(default=DEFAULT_MAX_FRAME_SIZE, converter=_frameSize)
    maxMessageSize: int = attrs.field(default=0, validator=_checks.checkInt())
    webSocketCompressionEnabled: bool = attrs.field(default=True, validator=_checks.checkBool)
    #: Seconds for the opening handshake; < 0 means the default, 300.
    handShakeTimeout: float = _checks.secondsField(300, minimum=None)
    cookies: Sequence[Any] = attrs.field(factory=tuple, converter=tuple)
    #: The ``Authorization`` header's source (spec §4.1, REFERENCE §1.13): see
    #: :func:`bws.auth.records.clientAuth` for what is accepted.
    auth: Any = attrs.field(default=None, converter=_clientAuth)
    pingPongHandler: Any = None
    retryConfig: RetryConfig | None = attrs.field(
        default=None, converter=_coerceRetry)
    validation: bool = attrs.field(default=True, validator=_checks.checkBool)
    #: Keepalive (bws addition, DESIGN §3.7): seconds of silence from the server before
    #: the client pings it; 0 turns keepalive off.
    pingInterval: float = _checks.secondsField(20)
    #: Seconds a keepalive ping waits for the server before the connection is closed 1011
    #: and dropped (then ``retryConfig`` reconnects); 0 pings without ever closing.
    pingTimeout: float = _checks.secondsField(20)

    def __attrs_post_init__(self) -> None:
        if self.handShakeTimeout < 0:
            object.__setattr__(self, "handShakeTimeout", 300.0)

    @property
    def messageLimit(self) -> int:
        """The effective largest inbound message, in inflated bytes."""
        if self.maxMessageSize > 0:
            return max(self.maxMessageSize, self.maxFrameSize)
        return self.maxFrameSize * MESSAGE_FRAMES


class ClientConfigurationFields(TypedDict, total=False):
    """The keywords of :class:`ClientConfiguration` (its field names; all optional): what
    :meth:`bws.Client.connect`, :class:`bws.sync.Client` and :func:`bws.testing.connect`
    take. Seconds are decimal seconds, sizes bytes."""

    subProtocols: str | Sequence[str]
    customHeaders: Mapping[str, str]
    readTimeout: float
    writeTimeout: float
    secureSocket: ClientSecureSocket | None
    maxFrameSize: int
    maxMessageSize: int
    webSocketCompressionEnabled: bool
    handShakeTimeout: float
    #: Cookie objects, ``{"name", "value", "path"}`` mappings or ``(name, value)`` pairs.
    cookies: Sequence[Any]
    #: See :func:`bws.auth.records.clientAuth` for what is accepted.
    auth: Any
    pingPongHandler: Any
    retryConfig: RetryConfig | RetryConfigFields | None
    validation: bool
    pingInterval: float
    pingTimeout: float


#: Build a record from keyword fields; an unknown field name is a ConfigurationError
#: (:meth:`bws._fields.Fields.build`).
build = _checks.build


def setServiceConfig(upgradeService: Any, config: WSServiceConfig) -> None:
    """Attach ``config`` to one upgrade service object (overrides its class's)."""
    setattr(upgradeService, _CONFIG_ATTRIBUTE, config)
