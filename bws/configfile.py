# -*- test-case-name: tests.test_configfile -*-
"""``twistd bws --config bws.toml``: one TOML file → the records the options build.

The file (docs/configfile.rst) holds ``[[listeners]]`` tables (a ``port`` or an
``endpoint`` string, and the fields of :class:`bws.ListenerConfiguration`, with
``requestLimits``, ``http1Settings`` and ``secureSocket`` as tables) and ``[[services]]``
tables (``service = "module:attribute"``, a ``path``, and the fields of
:class:`bws.WSServiceConfig`, with ``auth`` entries as the spec's mappings). Every service
is served on every listener.

Everything is checked when the file is loaded, before the reactor starts: a wrong value
raises :class:`bws.ConfigurationError` whose message names ``file:[table].field``, e.g.
``bws.toml:[[services]][1].idleTimeout: must be >= 0, got -1.0`` (tables of an array
count from 0, as ``WSServiceConfig.auth[i]`` does).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
from twisted.internet.interfaces import IStreamServerEndpoint
from twisted.python import usage

from bws.auth._stores import buildEntries
from bws.auth.records import listenerEntry
from bws.config import (
    ListenerConfiguration,
    ListenerHttp1Settings,
    RequestLimitConfigs,
    WSServiceConfig,
    serviceConfigOf,
    setServiceConfig,
)
from bws.errors import ConfigurationError, SslError
from bws.tls._records import (
    CertKey,
    CertValidation,
    KeyStore,
    ListenerSecureSocket,
    MutualSsl,
    Protocol,
    TrustStore,
)

__all__ = [
    "ListenerEntry",
    "ServiceEntry",
    "ServerConfig",
    "MetricsEntry",
    "checkMetrics",
    "load",
    "parse",
    "checkListeners",
    "refuseMixedOptions",
]

#: ``loadService(spec)``: ``module:attribute`` → an upgrade service (``bws.tap.loadService``).
ServiceLoader = Callable[[str], Any]


@attrs.frozen
class ListenerEntry:
    """One listener: where it binds and its configuration.

    :ivar address: a port number (bound on ``config.host``), a Twisted server endpoint
        string (``"tcp:9090:interface=127.0.0.1"``), or an ``IStreamServerEndpoint`` (a
        ``--workers`` child's adopted socket).
    :ivar config: the listener's settings; its ``secureSocket`` makes it a wss:// listener.
    :ivar label: what made it, for messages (``bws.toml:[[listeners]][0]``, ``--listen X``).
    """

    address: int | str | IStreamServerEndpoint
    config: ListenerConfiguration = attrs.field(factory=ListenerConfiguration)
    label: str = ""


@attrs.frozen
class ServiceEntry:
    """One upgrade service, its ``WSServiceConfig`` already attached, and its path.

    :ivar upgradeService: the ``IUpgradeService`` object.
    :ivar path: what :meth:`bws.Listener.attach` takes (``"/chat"``, ``"*"``, a template).
    :ivar name: the ``module:attribute`` it was loaded from, for the start-up lines.
    """

    upgradeService: Any
    path: str | tuple[str, ...] = "/"
    name: str = ""


@attrs.frozen
class MetricsEntry:
    """Where Prometheus metrics are served (``bws.metrics``), at ``/metrics``.

    :ivar endpoint: a Twisted server endpoint string (``"tcp:9100:interface=127.0.0.1"``).
    :ivar label: what asked for it, for messages (``bws.toml:metrics``, ``--metrics X``).
    """

    endpoint: str
    label: str = ""


@attrs.frozen
class ServerConfig:
    """What ``twistd bws`` serves: every service on every listener
    (``bws.tap.serviceFromRecords`` makes the listeners), and optionally metrics, the
    groups' broker and worker processes.

    :ivar workers: how many worker processes share the listeners (``bws.workers``);
        None serves them in this process.
    """

    listeners: tuple[ListenerEntry, ...]
    services: tuple[ServiceEntry, ...]
    metrics: MetricsEntry | None = None
    #: Groups (``bws.Groups``): the ``redis://`` URL of the broker that carries broadcasts
    #: to other processes, or None; the bytes a member may have waiting, or None for the
    #: default.
    broker: str | None = None
    groupMaxBacklog: int | None = None
    workers: int | None = None


# -- loading -------------------------------------------------------------------------------


def load(path: str, loadService: ServiceLoader, reactor: Any = None) -> ServerConfig:
    """Read and check the TOML file at ``path``.

    Relative file names inside it (certificates, keys, user stores) are read from the
    working directory, as the command-line options' are.

    :param loadService: turns ``module:attribute`` into a service (``bws.tap.loadService``).
    :param reactor: given to the auth stores, which are built once here so that an
        unreadable user file or key fails now.
    :raise ConfigurationError: naming ``file:[table].field`` and what is wrong.
    """
    name = os.path.basename(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise ConfigurationError(f"{path}: cannot read: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigurationError(f"{name}: not valid TOML: {e}") from None
    return parse(data, name, loadService, reactor)


def parse(data: Mapping[str, Any], name: str, loadService: ServiceLoader,
          reactor: Any = None) -> ServerConfig:
    """The :class:`ServerConfig` of a parsed TOML document; ``name`` starts every message."""
    _known(data, name + ":", {"listeners", "services", "workers", "metrics", "broker",
                              "groupMaxBacklog"}, top=True)
    workers = None
    if "workers" in data:
        from bws.workers import parseWorkers

        workers = parseWorkers(data["workers"], f"{name}:workers")
    listeners = _array(data, "listeners", name)
    services = _array(data, "services", name)
    parsedServices = tuple(
        _service(table, f"{name}:[[services]][{i}]", loadService, reactor)
        for i, table in enumerate(services))
    seen: dict[int, str] = {}
    for i, entry in enumerate(parsedServices):
        where = f"{name}:[[services]][{i}].service"
        first = seen.setdefault(id(entry.upgradeService), where)
        if first != where:
            raise ConfigurationError(
                f"{where}: the same service object as {first.rpartition(':')[2]}; an object "
                "has one configuration (name a class or a factory to get one per table)")
    return ServerConfig(
        listeners=tuple(_listener(table, f"{name}:[[listeners]][{i}]")
                        for i, table in enumerate(listeners)),
        services=parsedServices, metrics=_metrics(data.get("metrics"), f"{name}:metrics"),
        workers=workers, **_groupsSettings(data, name))


def _metrics(value: Any, where: str) -> MetricsEntry | None:
    """The top-level ``metrics = "tcp:9100:interface=127.0.0.1"``, if given."""
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigurationError(
            f"{where}: must be a Twisted endpoint string such as "
            f"\"tcp:9100:interface=127.0.0.1\", got {_kind(value)}")
    return MetricsEntry(value, where)


def _groupsSettings(data: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The top-level ``broker`` and ``groupMaxBacklog`` keys (groups, DESIGN §3.7)."""
    settings: dict[str, Any] = {}
    if "broker" in data:
        from bws._redisbroker import checkInstalled, parseRedisUrl

        try:
            parseRedisUrl(data["broker"])
            checkInstalled()
        except ValueError as e:
            raise ConfigurationError(f"{name}:broker: {e}") from None
        settings["broker"] = data["broker"]
    if "groupMaxBacklog" in data:
        value = data["groupMaxBacklog"]
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigurationError(
                f"{name}:groupMaxBacklog: must be a positive number of bytes, got {value!r}")
        settings["groupMaxBacklog"] = value
    return settings


def refuseMixedOptions(options: usage.Options) -> None:
    """``--config`` says everything: refuse it with any other service option set.

    An option counts as set when its value differs from its default (``--auth`` when it
    added a checker).

    :raise usage.UsageError: naming the options mixed in.
    """
    mixed = sorted(f"--{key}" for key, default in options.defaults.items()
                   if key != "config" and options[key] != default)
    if options.get("listen"):
        mixed.append("--listen")
    if options.get("trusted-proxy"):
        mixed.append("--trusted-proxy")
    if options.get("credCheckers"):
        mixed.append("--auth")
    if mixed:
        raise usage.UsageError(
            f"--config: the file says what to serve; it cannot be combined with "
            f"{', '.join(mixed)} (put them in the file)")


def checkListeners(server: ServerConfig, reactor: Any = None) -> None:
    """Parse the endpoint strings and read the TLS files now (nothing is bound), as the
    listeners will when they start; check the metrics endpoint (:func:`checkMetrics`).

    :raise ConfigurationError: naming the listener's table and field (``.endpoint``,
        ``.secureSocket.key``, ``.secureSocket.mutualSsl.cert``, ``.secureSocket``).
    """
    from twisted.internet.endpoints import serverFromString
    from twisted.internet.protocol import Factory

    from bws.tls import listenerTLSFactory
    from bws.tls._files import loadIdentity, loadTrustedCertificates

    if reactor is None:
        from twisted.internet import reactor as globalReactor

        reactor = globalReactor
    if server.metrics is not None:
        checkMetrics(server.metrics.endpoint, server.metrics.label, reactor)
    for entry in server.listeners:
        where = entry.label
        try:
            if isinstance(entry.address, str):
                where = f"{entry.label}.endpoint"
                serverFromString(reactor, entry.address)
            secure = entry.config.secureSocket
            if secure is not None:
                where = f"{entry.label}.secureSocket.key"
                loadIdentity(secure.key)
                if secure.mutualSsl is not None:
                    where = f"{entry.label}.secureSocket.mutualSsl.cert"
                    loadTrustedCertificates(secure.mutualSsl.cert)
                where = f"{entry.label}.secureSocket"
                listenerTLSFactory(secure, Factory())
        except Exception as e:  # the endpoint parser's or bws.tls's own words
            raise ConfigurationError(f"{where}: {' '.join(str(e).split())}") from None


def checkMetrics(endpoint: str, where: str, reactor: Any = None) -> None:
    """Check that metrics can be served on ``endpoint``: ``prometheus_client`` is
    installed (the ``metrics`` extra) and the endpoint string parses (nothing is bound).

    :raise ConfigurationError: one line starting with ``where``.
    """
    try:
        import prometheus_client.twisted  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            f"{where}: needs prometheus_client, which is not installed: "
            "pip install 'txbws[metrics]'") from None
    from twisted.internet.endpoints import serverFromString

    if reactor is None:
        from twisted.internet import reactor as globalReactor

        reactor = globalReactor
    try:
        serverFromString(reactor, endpoint)
    except Exception as e:  # the endpoint parser's own words
        raise ConfigurationError(f"{where}: {' '.join(str(e).split())}") from None


# -- tables --------------------------------------------------------------------------------


def _array(data: Mapping[str, Any], key: str, name: str) -> list[Any]:
    value = data.get(key)
    if not isinstance(value, list) or not value:
        raise ConfigurationError(
            f"{name}:[[{key}]]: at least one [[{key}]] table is required"
            + ("" if value is None else f", got {_kind(value)}"))
    return value


def _kind(value: Any) -> str:
    kinds = {dict: "a table", list: "an array", str: "a string", bool: "a boolean",
             int: "an integer", float: "a float"}
    return kinds.get(type(value), type(value).__name__)


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigurationError(f"{where}: must be a table, got {_kind(value)}")
    return dict(value)


def _known(table: Mapping[str, Any], where: str, keys: Iterable[str],
           top: bool = False) -> None:
    known = set(keys)
    for key in table:
        if key not in known:
            at = f"{where}{key}" if top else f"{where}.{key}"
            raise ConfigurationError(
                f"{at}: unknown key; known: {', '.join(sorted(known))}")


_MISSING = re.compile(r"missing \d+ required (?:positional |keyword-only )?arguments?: (.*)")


def _record(recordType: type[Any], value: Any, where: str, **nested: Any) -> Any:
    """``recordType`` from a table: unknown keys refused, the record's own messages
    rewrapped to name ``where.field``. ``nested`` maps a key to the built value of its
    sub-table."""
    table = _table(value, where)
    keys = {a.name for a in attrs.fields(recordType)}
    _known(table, where, keys)
    table.update({key: built for key, built in nested.items() if key in table})
    try:
        return recordType(**table)
    except (ConfigurationError, SslError) as e:
        raise ConfigurationError(_rewrap(str(e), where, recordType.__name__, keys)) from None
    except TypeError as e:
        missing = _MISSING.search(str(e))
        if missing:
            fields = ", ".join(re.findall(r"'(\w+)'", missing.group(1)))
            raise ConfigurationError(f"{where}.{fields}: required") from None
        raise ConfigurationError(f"{where}: {e}") from None


def _rewrap(message: str, where: str, recordName: str, keys: set[str]) -> str:
    """A record's message with ``where`` in front: ``Record.field: problem`` (or
    ``field problem``) becomes ``where.field: problem``."""
    prefix = recordName + "."
    if message.startswith(prefix):
        field, colon, problem = message[len(prefix):].partition(": ")
        if colon and field.partition("[")[0] in keys:
            return f"{where}.{field}: {problem}"
    first, _, rest = message.partition(" ")
    if first in keys and rest:
        return f"{where}.{first}: {rest}"
    return f"{where}: {message}"


# -- listeners -----------------------------------------------------------------------------


_LISTENER_KEYS = {"port", "endpoint"} | {a.name for a in attrs.fields(ListenerConfiguration)}


def _listener(value: Any, where: str) -> ListenerEntry:
    table = _table(value, where)
    _known(table, where, _LISTENER_KEYS)
    port, endpoint = table.pop("port", None), table.pop("endpoint", None)
    address: int | str
    if (port is None) == (endpoint is None):
        raise ConfigurationError(f"{where}: give port (with host) or endpoint, not "
                                 + ("both" if port is not None else "neither"))
    if endpoint is not None:
        if not isinstance(endpoint, str) or not endpoint:
            raise ConfigurationError(
                f"{where}.endpoint: must be a Twisted endpoint string, got {endpoint!r}")
        if "host" in table:
            raise ConfigurationError(
                f"{where}.host: an endpoint names its own interface; give host with port")
        address = endpoint
    else:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ConfigurationError(f"{where}.port: must be an integer 0..65535, got {port!r}")
        address = port
    nested: dict[str, Any] = {}
    if "requestLimits" in table:
        nested["requestLimits"] = _record(
            RequestLimitConfigs, table["requestLimits"], f"{where}.requestLimits")
    if "http1Settings" in table:
        nested["http1Settings"] = _record(
            ListenerHttp1Settings, table["http1Settings"], f"{where}.http1Settings")
    if "secureSocket" in table:
        nested["secureSocket"] = _secureSocket(table["secureSocket"], f"{where}.secureSocket")
    return ListenerEntry(address, _record(ListenerConfiguration, table, where, **nested),
                         where)


def _secureSocket(value: Any, where: str) -> ListenerSecureSocket:
    table = _table(value, where)
    nested: dict[str, Any] = {}
    if "key" in table:
        nested["key"] = _key(table["key"], f"{where}.key")
    if "mutualSsl" in table:
        mutual = _table(table["mutualSsl"], f"{where}.mutualSsl")
        cert = {}
        if isinstance(mutual.get("cert"), dict):
            cert["cert"] = _record(TrustStore, mutual["cert"], f"{where}.mutualSsl.cert")
        nested["mutualSsl"] = _record(MutualSsl, mutual, f"{where}.mutualSsl", **cert)
    if "protocol" in table:
        nested["protocol"] = _record(Protocol, table["protocol"], f"{where}.protocol")
    if "certValidation" in table:
        nested["certValidation"] = _record(
            CertValidation, table["certValidation"], f"{where}.certValidation")
    secure: ListenerSecureSocket = _record(ListenerSecureSocket, table, where, **nested)
    return secure


def _key(value: Any, where: str) -> CertKey | KeyStore:
    """A ``CertKey`` (``certFile``, ``keyFile``, ``keyPassword``) or, when the table has
    ``path``, a PKCS#12 ``KeyStore`` (``path``, ``password``)."""
    table = _table(value, where)
    key: CertKey | KeyStore = _record(KeyStore if "path" in table else CertKey, table, where)
    return key


# -- services ------------------------------------------------------------------------------


_CONFIG_KEYS = {a.name for a in attrs.fields(WSServiceConfig)}


def _service(value: Any, where: str, loadService: ServiceLoader, reactor: Any) -> ServiceEntry:
    table = _table(value, where)
    _known(table, where, {"service", "path"} | _CONFIG_KEYS)
    spec = table.pop("service", None)
    if not isinstance(spec, str):
        raise ConfigurationError(f"{where}.service: required, a string module:attribute"
                                 + ("" if spec is None else f", got {_kind(spec)}"))
    path = table.pop("path", "/")
    if isinstance(path, list) and all(isinstance(p, str) for p in path):
        path = tuple(path)
    elif not isinstance(path, str) or not path:
        raise ConfigurationError(
            f"{where}.path: must be a path string (\"/chat\", \"*\") or a list of segments, "
            f"got {path!r}")
    try:
        upgradeService = loadService(spec)
    except usage.UsageError as e:
        problem = str(e).removeprefix("--service: ")
        raise ConfigurationError(f"{where}.service: {problem}") from None
    except Exception as e:  # the module or factory's own failure, in one line
        raise ConfigurationError(
            f"{where}.service: {spec} failed: {type(e).__name__}: {e}") from None
    if "auth" in table:
        table["auth"] = _authEntries(table["auth"], f"{where}.auth")
    try:
        config = attrs.evolve(serviceConfigOf(upgradeService), **table)
    except ConfigurationError as e:
        raise ConfigurationError(
            _rewrap(str(e), where, "WSServiceConfig", _CONFIG_KEYS)) from None
    except (TypeError, ValueError) as e:
        raise ConfigurationError(f"{where}: {e}") from None
    if config.auth:
        if reactor is None:
            from twisted.internet import reactor as globalReactor

            reactor = globalReactor
        try:
            buildEntries(config.auth, reactor)
        except ConfigurationError as e:
            raise ConfigurationError(
                _rewrap(str(e), where, "WSServiceConfig", _CONFIG_KEYS)) from None
    setServiceConfig(upgradeService, config)
    return ServiceEntry(upgradeService, path, spec)


def _authEntries(value: Any, where: str) -> tuple[Any, ...]:
    """The ``[[services.auth]]`` tables as the spec's listener records."""
    if not isinstance(value, list):
        raise ConfigurationError(f"{where}: must be an array of tables ([[services.auth]]), "
                                 f"got {_kind(value)}")
    entries = []
    for i, entry in enumerate(value):
        at = f"{where}[{i}]"
        table = _table(entry, at)
        try:
            entries.append(listenerEntry(table, at))
        except ConfigurationError as e:
            message = str(e)
            raise ConfigurationError(
                message if message.startswith(at) else f"{at}: {message}") from None
    return tuple(entries)
