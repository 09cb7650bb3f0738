# -*- test-case-name: tests.test_tap -*-
"""``twistd bws``: command-line options and the service they make."""

from __future__ import annotations

import importlib
import os
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs
from twisted.application import service
from twisted.cred import strcred
from twisted.cred.checkers import InMemoryUsernamePasswordDatabaseDontUse
from twisted.cred.credentials import IUsernamePassword
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.error import CannotListenError
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.python import usage
from twisted.python.failure import Failure

from bws.auth.credentials import IBearerToken
from bws.auth.records import CheckerWithScopes
from bws.config import (
    ConfigurationError,
    ListenerConfiguration,
    serviceConfigOf,
    setServiceConfig,
)
from bws.configfile import ListenerEntry, MetricsEntry, ServerConfig, ServiceEntry
from bws.errors import SslError
from bws.server import Listener

if TYPE_CHECKING:
    from bws._groups import Groups
    from bws.tls import CertKey, KeyStore, ListenerSecureSocket

__all__ = ["BwsService", "Options", "buildService", "makeService", "serverConfigFrom",
           "serviceFromRecords"]

#: The service ``twistd bws`` serves without ``--service``, named as ``--service`` names one.
DEFAULT_SERVICE = "bws.testing.echo:EchoUpgradeService"

#: The options shown in the help's own TLS group.
TLS_OPTIONS = frozenset({
    "cert", "key", "key-password-file", "key-password-env", "keystore",
    "keystore-password-file", "keystore-password-env", "client-ca", "verify-client",
    "tls-versions", "ciphers",
})

#: The Autobahn testsuite sends 16 MiB messages in 9.*; frames and messages must fit.
CONFORMANCE_FRAME_SIZE = 16 * 1024 * 1024


def _positive(name: str, kind: Callable[[str], float] = int) -> Callable[[str], float]:
    def convert(value: str) -> float:
        try:
            number = kind(value)
        except ValueError:
            raise usage.UsageError(f"--{name}: expected a number, got {value!r}") from None
        if number < 0:
            raise usage.UsageError(f"--{name}: must not be negative, got {value!r}")
        return number

    return convert


def _workers(value: str) -> int:
    from bws.workers import parseWorkers

    number: int | str = value
    try:
        number = int(value)
    except ValueError:
        pass
    try:
        return parseWorkers(number, "--workers")
    except ConfigurationError as e:
        raise usage.UsageError(str(e)) from None


def _readSecret(path: str | None, env: str | None, what: str) -> str | None:
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                return f.read().strip("\r\n")
        except OSError as e:
            raise usage.UsageError(f"{what}: cannot read {path}: {e.strerror}") from None
    if env:
        value = os.environ.get(env)
        if value is None:
            raise usage.UsageError(f"{what}: environment variable {env} is not set")
        return value
    return None


def _utf8(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


class Options(usage.Options, strcred.AuthOptionMixin):
    """Serve WebSocket services: by default an echo service at ws://0.0.0.0:9090/."""

    #: ``--auth`` takes the checkers of Basic and Bearer credentials (spec §5.2).
    supportedInterfaces = (IUsernamePassword, IBearerToken)

    synopsis = "[options]"
    longdesc = (
        "Starts a bws WebSocket listener. Without --service it echoes every text and "
        "binary message. --service module:attribute names an IUpgradeService instance or "
        "a zero-argument factory of one (modules in the current directory are found, as "
        "with python -m). --port/--host is the simple form of one listener; --listen "
        "ENDPOINT (repeatable) takes Twisted endpoint strings instead, each a listener "
        "serving the same service. The TLS options make every listener wss://. --auth "
        "TYPE:ARGS (repeatable) authenticates every upgrade before the service sees it: "
        "toml:users.toml (bws's TOML user store), jwt:issuer=...,jwksUrl=https://... "
        "(JWTs), or Twisted's file:/memory: checkers (Basic); --auth-scopes requires one "
        "of the scopes; --help-auth lists the types. Passwords are read from files or "
        "environment variables, never from the command line. Every bad value stops "
        "twistd before it starts, in one line naming the option; so does a port that "
        "cannot be bound."
    )
    #: Shown after the options by getUsage, line breaks kept (longdesc is re-wrapped).
    examples = """\
Examples:
  twistd -n --pidfile= bws
      echo at ws://0.0.0.0:9090/
  twistd -n --pidfile= bws --service chat:Rooms --path '/rooms/{room}'
      chat.py's Rooms, from the current directory
  twistd -n --pidfile= bws --listen tcp:9090:interface=127.0.0.1 \\
                           --listen 'tcp6:9090:interface=\\:\\:1'
      two listeners (IPv4 and IPv6 loopback), one service
  twistd -n --pidfile= bws --port 8443 --cert server.pem --key server.key
      wss://0.0.0.0:8443/
  twistd -n --pidfile= bws --auth toml:users.toml --auth-scopes write
      Basic authentication against a TOML user store
  twistd -n --pidfile= bws --workers auto
      one process per core, all serving port 9090 (docs/workers.rst)
"""

    optParameters = [
        ["config", None, None, "A TOML file saying everything to serve: listeners, "
                               "services, their settings (docs/configfile.rst); no other "
                               "service option goes with it."],
        ["port", "p", 9090, "Port to listen on (0 picks a free one): the simple form; "
                            "--listen for anything else.", _positive("port")],
        ["host", None, "0.0.0.0", "Address to bind with --port."],
        ["path", None, "*", "Path the service is attached at ('*': every path)."],
        ["service", "s", DEFAULT_SERVICE,
         "module:attribute of an IUpgradeService (or a factory)."],
        ["max-frame-size", None, None, "Largest inbound frame in bytes (default 65536).",
         _positive("max-frame-size")],
        ["max-message-size", None, None, "Largest inbound message in bytes "
                                         "(default 16 frames).", _positive("max-message-size")],
        ["idle-timeout", None, None, "Seconds without traffic before onIdleTimeout.",
         _positive("idle-timeout", float)],
        ["ping-interval", None, None, "Seconds of silence from a peer before a keepalive "
                                      "ping (default 20; 0 turns keepalive off).",
         _positive("ping-interval", float)],
        ["ping-timeout", None, None, "Seconds a keepalive ping waits for the peer before "
                                     "closing 1011 (default 20; 0 never closes).",
         _positive("ping-timeout", float)],
        ["timeout", None, 120.0, "Seconds a client has to send its upgrade request "
                                 "(0 disables).", _positive("timeout", float)],
        ["server", None, None, "Server header value."],
        ["allowed-origin", None, None, "Allow only these Origins (comma-separated "
                                       "scheme://host[:port])."],
        ["cert", None, None, "PEM certificate (chain) for wss://."],
        ["key", None, None, "PEM private key for --cert."],
        ["key-password-file", None, None, "File holding the password of --key."],
        ["key-password-env", None, None, "Environment variable holding the --key password."],
        ["keystore", None, None, "PKCS#12 keystore (.p12) instead of --cert/--key."],
        ["keystore-password-file", None, None, "File holding the keystore password."],
        ["keystore-password-env", None, None, "Environment variable holding it."],
        ["client-ca", None, None, "CA certificate(s) for mutual TLS (PEM)."],
        ["verify-client", None, "require", "require or optional (with --client-ca)."],
        ["tls-versions", None, None, "Comma-separated TLS versions, e.g. TLSv1.2,TLSv1.3."],
        ["ciphers", None, None, "Comma-separated IANA cipher suite names."],
        ["auth-scopes", None, None, "With --auth: the scopes a principal must hold one of "
                                    "(comma-separated); 403 otherwise."],
        ["metrics", None, None, "Serve Prometheus metrics at /metrics on this endpoint, e.g. "
                                "tcp:9100:interface=127.0.0.1 (needs pip install "
                                "'txbws[metrics]')."],
        ["forwarded-header", None, "X-Forwarded-For",
         "With --trusted-proxy: the header the proxies write the client's address in, "
         "X-Forwarded-For or Forwarded (RFC 7239)."],
        ["broker", None, None, "redis://host[:port][/db]: group broadcasts (caller.groups) "
                               "reach the members in every process using this Redis."],
        ["group-max-backlog", None, None, "Bytes of group broadcasts a member that does not "
                                          "read may have waiting before it is closed 1013 "
                                          "(default 262144).", _positive("group-max-backlog")],
        ["workers", None, None, "Processes serving the listeners: N, or auto (one per "
                                "core). The listeners are bound once and shared; a worker "
                                "that dies is restarted (docs/workers.rst). Default: this "
                                "one process.", _workers],
    ]
    optFlags = [
        ["no-compression", None, "Do not negotiate permessage-deflate."],
        ["conformance", None, "Autobahn testsuite profile: 16 MiB frames and messages."],
    ]
    compData = usage.Completions(optActions={
        "cert": usage.CompleteFiles("*.pem"), "key": usage.CompleteFiles("*"),
        "keystore": usage.CompleteFiles("*.p12"), "client-ca": usage.CompleteFiles("*.pem"),
        "listen": usage.Completer(descr="endpoint string, e.g. tcp:9090:interface=127.0.0.1",
                                  repeat=True),
    })

    def __init__(self) -> None:
        super().__init__()
        self["listen"] = []
        self["trusted-proxy"] = []
        # An opt_ method's docstring is its help: one paragraph, not its source's lines.
        self.docs = {name: " ".join(doc.split()) if doc else doc
                     for name, doc in self.docs.items()}
        #: The arguments parsed, as given: ``--workers`` children parse the same ones.
        self.argv: list[str] = []

    def parseOptions(self, options: Sequence[str] | None = None) -> None:
        """Parse ``options`` (``sys.argv[1:]`` when None), remembering them in ``argv``."""
        self.argv = list(sys.argv[1:] if options is None else options)
        super().parseOptions(options)

    def opt_listen(self, endpoint: str) -> None:
        """A Twisted endpoint string to listen on instead of --port/--host, e.g.
        tcp:9090:interface=127.0.0.1 (repeatable: each one serves the same service)."""
        self["listen"].append(endpoint)

    def opt_trusted_proxy(self, network: str) -> None:
        """A proxy in front of bws (an IP address or CIDR network, repeatable) whose
        X-Forwarded-For (or --forwarded-header) and PROXY header name the client's address;
        from any other peer they are ignored."""
        from bws._forwarded import parseNetwork

        try:
            self["trusted-proxy"].append(parseNetwork(network))
        except ValueError as e:
            raise usage.UsageError(f"--trusted-proxy: {e}") from None

    def opt_version(self) -> None:
        """Display bws's, Twisted's and Python's versions and exit."""
        import platform

        from bws import __version__
        from twisted import version as twistedVersion

        print(f"bws {__version__} (Twisted {twistedVersion.short()}, "
              f"Python {platform.python_version()})")
        sys.exit(0)

    def getUsage(self, width: int | None = None) -> str:
        """The options in two groups (general, then TLS), the description, the examples."""
        longdesc, self.longdesc = self.longdesc, ""
        try:
            text = super().getUsage(width)
        finally:
            self.longdesc = longdesc
        general: list[list[str]] = []
        tls: list[list[str]] = []
        entry: list[str] = []
        for line in text.splitlines(keepends=True)[1:]:  # after "Options:"
            if line[:8].strip().startswith("-"):  # an option, not a wrapped doc line
                entry = []
                long = line.split("--", 1)[1].split("=", 1)[0].split()[0]
                (tls if long in TLS_OPTIONS else general).append(entry)
            entry.append(line)
        wrapped = textwrap.fill(longdesc, width or int(os.environ.get("COLUMNS", "80")))
        return ("Options:\n" + "".join("".join(e) for e in general)
                + "\nTLS options (wss://):\n" + "".join("".join(e) for e in tls)
                + "\n" + wrapped + "\n\n" + self.examples)

    def opt_auth(self, description: str) -> None:
        """Authenticate upgrades with TYPE:ARGS, e.g. toml:users.toml or
        jwt:issuer=idp,jwksUrl=https://idp/jwks (repeatable, tried in order; see
        --help-auth). A request without valid credentials is answered 401."""
        authType = description.partition(":")[0]
        try:
            checker = strcred.makeChecker(description)
            if isinstance(checker, InMemoryUsernamePasswordDatabaseDontUse):
                # Twisted's memory: plugin stores names and passwords as str; Basic
                # credentials carry UTF-8 bytes (RFC 7617 §2.1), as its file: checker reads.
                checker.users = {_utf8(name): _utf8(password)
                                 for name, password in checker.users.items()}
            self.addChecker(checker)
        except strcred.InvalidAuthType:
            raise usage.UsageError(
                f"--auth: unknown type {authType!r} (--help-auth lists them)") from None
        except strcred.UnsupportedInterfaces:
            raise usage.UsageError(
                f"--auth {authType}: it checks neither Basic nor Bearer credentials") from None
        except Exception as e:  # the checker's own refusal (a missing file, a bad key...)
            raise usage.UsageError(f"--auth {authType}: {e}") from None

    def postOptions(self) -> None:
        if self["config"]:
            from bws.configfile import checkListeners, load, refuseMixedOptions

            refuseMixedOptions(self)
            try:
                self["serverConfig"] = load(self["config"], loadService)
                checkListeners(self["serverConfig"])
            except ConfigurationError as e:
                raise usage.UsageError(_oneLine(e)) from None
            self["workers"] = self["serverConfig"].workers
            return
        if self["auth-scopes"] and not self.get("credCheckers"):
            raise usage.UsageError("--auth-scopes needs --auth")
        from bws._forwarded import HEADERS

        if self["forwarded-header"].lower() not in (h.lower() for h in HEADERS):
            raise usage.UsageError(f"--forwarded-header: expected {' or '.join(HEADERS)}, "
                                   f"got {self['forwarded-header']!r}")
        if self["verify-client"] not in ("require", "optional"):
            raise usage.UsageError("--verify-client: expected require or optional")
        if self["key"] and not self["cert"]:
            raise usage.UsageError("--key needs --cert")
        if self["cert"] and not (self["key"] or self["keystore"]):
            raise usage.UsageError("--cert needs --key")
        if self["client-ca"] and not (self["cert"] or self["keystore"]):
            raise usage.UsageError("--client-ca needs --cert/--key or --keystore")
        if self["conformance"] and self["max-frame-size"] is None:
            self["max-frame-size"] = CONFORMANCE_FRAME_SIZE
        if self["conformance"] and self["max-message-size"] is None:
            self["max-message-size"] = CONFORMANCE_FRAME_SIZE
        if not 0 <= self["port"] <= 65535:
            raise usage.UsageError(f"--port: must be 0..65535, got {self['port']}")
        if self["broker"] is not None:
            from bws._redisbroker import checkInstalled, parseRedisUrl

            try:
                parseRedisUrl(self["broker"])
                checkInstalled()
            except ValueError as e:
                raise usage.UsageError(f"--broker: {e}") from None
        if self["group-max-backlog"] == 0:
            raise usage.UsageError("--group-max-backlog: must be a positive number of bytes")
        for endpoint in self["listen"]:
            checkEndpoint(endpoint)
        if self["metrics"]:
            from bws.configfile import checkMetrics

            try:
                checkMetrics(self["metrics"], f"--metrics {self['metrics']}")
            except ConfigurationError as e:
                raise usage.UsageError(str(e)) from None
        self["upgradeService"] = loadService(self["service"])
        try:
            self["secureSocket"] = secureSocketFrom(self)
            applyServiceOptions(self["upgradeService"], self)
        except ConfigurationError as e:
            raise usage.UsageError(str(e)) from None
        from bws.server._routing import Attachment

        try:  # the path a Listener would refuse at attach(), refused now in one line
            Attachment(self["upgradeService"], self["path"],
                       serviceConfigOf(self["upgradeService"]))
        except ConfigurationError as e:
            raise usage.UsageError(f"--path: {_oneLine(e)}") from None
        if self["secureSocket"] is not None:
            checkSecureSocket(self["secureSocket"], self)


def loadService(spec: str) -> Any:
    """``module:attribute`` as an upgrade service (a class or zero-argument factory is called).

    :raise usage.UsageError: naming ``--service`` when the module cannot be imported, lacks
        the attribute, or the result has no ``get``.
    """
    moduleName, _, attribute = spec.partition(":")
    if not moduleName or not attribute:
        raise usage.UsageError(f"--service: expected module:attribute, got {spec!r}")
    here = os.getcwd()
    if here not in sys.path and "" not in sys.path:
        # As ``python -m`` does: modules in the directory the user stands in are found.
        sys.path.insert(0, here)
    try:
        module = importlib.import_module(moduleName)
    except ImportError as e:
        raise usage.UsageError(f"--service: cannot import {moduleName}: {e}") from None
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise usage.UsageError(f"--service: {moduleName} has no {attribute}") from None
    if isinstance(target, type) or (
            not callable(getattr(target, "get", None)) and callable(target)):
        try:
            target = target()  # a class or a zero-argument factory
        except Exception as e:
            raise usage.UsageError(
                f"--service: calling {spec} failed: {type(e).__name__}: {_oneLine(e)}") from None
    if not callable(getattr(target, "get", None)):
        raise usage.UsageError(f"--service: {spec} is not an upgrade service (no get())")
    return target


def _oneLine(error: BaseException) -> str:
    return " ".join(str(error).split())


def checkEndpoint(description: str) -> None:
    """Parse a ``--listen`` endpoint string now (nothing is bound).

    :raise usage.UsageError: naming ``--listen`` and the string.
    """
    from twisted.internet import reactor
    from twisted.internet.endpoints import serverFromString

    try:
        serverFromString(reactor, description)
    except Exception as e:
        raise usage.UsageError(f"--listen {description}: {_oneLine(e)}") from None


def checkSecureSocket(secureSocket: ListenerSecureSocket, options: Options) -> None:
    """Read the TLS files and build the ``SSL.Context`` now, as the listener will.

    :raise usage.UsageError: naming the option whose file or value cannot be used.
    """
    from bws.tls import listenerTLSFactory
    from bws.tls._files import loadIdentity, loadTrustedCertificates

    keyOptions = "--keystore" if options["keystore"] else "--cert/--key"
    try:
        loadIdentity(secureSocket.key)
    except SslError as e:
        message = _oneLine(e).replace(
            "keyPassword must be provided",
            "give --key-password-file or --key-password-env").replace(
            "keyPassword", "key password")
        if not options["keystore"]:
            keyOptions = "--cert" if message.startswith("Certificate") else "--key"
        raise usage.UsageError(f"{keyOptions}: {message}") from None
    if secureSocket.mutualSsl is not None:
        try:
            loadTrustedCertificates(secureSocket.mutualSsl.cert)
        except SslError as e:
            raise usage.UsageError(f"--client-ca: {_oneLine(e)}") from None
    try:
        listenerTLSFactory(secureSocket, Factory())
    except SslError as e:
        raise usage.UsageError(f"{keyOptions}: {_oneLine(e)}") from None


def applyServiceOptions(upgradeService: Any, options: Options) -> None:
    """Command-line service settings override the service's own ``serviceConfig``."""
    changes: dict[str, Any] = {}
    if options["max-frame-size"] is not None:
        changes["maxFrameSize"] = options["max-frame-size"]
    if options["max-message-size"] is not None:
        changes["maxMessageSize"] = options["max-message-size"]
    if options["idle-timeout"] is not None:
        changes["idleTimeout"] = options["idle-timeout"]
    if options["ping-interval"] is not None:
        changes["pingInterval"] = options["ping-interval"]
    if options["ping-timeout"] is not None:
        changes["pingTimeout"] = options["ping-timeout"]
    if options["allowed-origin"]:
        changes["allowedOrigins"] = [o for o in options["allowed-origin"].split(",") if o]
    checkers = options.get("credCheckers") or []
    if checkers:
        scopes = tuple((options["auth-scopes"] or "").replace(",", " ").split()) or None
        changes["auth"] = [CheckerWithScopes(checker, scopes) for checker in checkers]
    if changes:
        try:
            config = attrs.evolve(serviceConfigOf(upgradeService), **changes)
        except (TypeError, ValueError, ConfigurationError) as e:
            # Name the option the user typed, not the record's field.
            message = str(e)
            for field, option in SERVICE_OPTIONS.items():
                if field in changes and f"WSServiceConfig.{field}" in message:
                    message = message.replace(f"WSServiceConfig.{field}", option, 1)
                    break
            raise ConfigurationError(message) from None
        setServiceConfig(upgradeService, config)


#: The ``WSServiceConfig`` field each service option sets (for messages that name it).
SERVICE_OPTIONS = {
    "maxFrameSize": "--max-frame-size", "maxMessageSize": "--max-message-size",
    "idleTimeout": "--idle-timeout", "pingInterval": "--ping-interval",
    "pingTimeout": "--ping-timeout", "allowedOrigins": "--allowed-origin",
}


def secureSocketFrom(options: Options) -> ListenerSecureSocket | None:
    """A ``ListenerSecureSocket`` from the TLS options, or None for plain ws://."""
    if not (options["cert"] or options["keystore"]):
        return None
    from bws import tls

    def made(option: str, make: Callable[..., Any], **fields: Any) -> Any:
        try:
            return make(**fields)
        except Exception as e:  # the record's own check (bws.errors.SslError, ValueError)
            raise ConfigurationError(f"{option}: {_oneLine(e)}") from None

    key: CertKey | KeyStore
    if options["keystore"]:
        password = _readSecret(options["keystore-password-file"],
                               options["keystore-password-env"], "--keystore")
        if not password:
            raise ConfigurationError(
                f"--keystore {options['keystore']}: needs its password "
                "(--keystore-password-file or --keystore-password-env)")
        key = made("--keystore", tls.KeyStore, path=options["keystore"], password=password)
    else:
        password = _readSecret(options["key-password-file"], options["key-password-env"],
                               "--key")
        key = made("--cert/--key", tls.CertKey, certFile=options["cert"],
                   keyFile=options["key"], keyPassword=password)
    fields: dict[str, Any] = {"key": key}
    if options["client-ca"]:
        fields["mutualSsl"] = made(
            "--client-ca", tls.MutualSsl, verifyClient=options["verify-client"].upper(),
            cert=options["client-ca"])
    if options["tls-versions"]:
        fields["protocol"] = made(
            "--tls-versions", tls.Protocol, name="TLS",
            versions=[v for v in options["tls-versions"].split(",") if v])
    if options["ciphers"]:
        fields["ciphers"] = [c for c in options["ciphers"].split(",") if c]
    return made("--ciphers" if options["ciphers"] else "TLS options",
                tls.ListenerSecureSocket, **fields)


class BwsService(service.MultiService):
    """What ``twistd bws`` runs: its :class:`bws.Listener`\\ s (one per ``--listen``, the
    one of ``--port``/``--host``, or those of ``--config``'s file), each serving every
    upgrade service at its path; and, with ``metrics``, a ``bws.metrics.MetricsService``
    of those listeners (a registry of its own)."""

    log = Logger()

    def __init__(self, listeners: list[tuple[Listener, str]],
                 services: Sequence[tuple[str, str]], metrics: MetricsEntry | None = None,
                 reactor: Any = None) -> None:
        super().__init__()
        #: Each listener with the option (or the file's table) that made it, for messages.
        self.listeners = listeners
        #: Each service's name (``module:attribute``) and path, for the start-up lines.
        self.upgradeServices = list(services)
        for listener, _ in listeners:
            listener.setServiceParent(self)
        #: Where metrics are served, and their service (None without metrics).
        self.metricsEntry = metrics
        self.metrics: Any = None
        if metrics is not None:
            from bws.metrics import MetricsService  # prometheus_client: only with metrics

            self.metrics = MetricsService(metrics.endpoint, [each for each, _ in listeners],
                                          reactor)
            self.metrics.setServiceParent(self)

    def bind(self) -> None:
        """Bind every listener now (before twistd daemonizes or writes its pid file).

        :raise SystemExit: with one line naming the listener that cannot bind, after
            closing the ports already bound; twistd exits 1 with it.
        """
        for index, (listener, where) in enumerate(self.listeners):
            failures: list[Failure] = []
            listener.start().addErrback(failures.append)
            if failures:
                for bound, _ in self.listeners[:index]:
                    bound.immediateStop()
                error: Any = failures[0].value
                if isinstance(error, CannotListenError):
                    error = error.socketError
                reason = getattr(error, "strerror", None) or _oneLine(error)
                raise SystemExit(f"twistd bws: cannot listen on {where}: {reason}")
        if self.metrics is not None and self.metricsEntry is not None:
            failures = []
            self.metrics.listen().addErrback(failures.append)
            if failures:
                for bound, _ in self.listeners:
                    bound.immediateStop()
                error = failures[0].value
                if isinstance(error, CannotListenError):
                    error = error.socketError
                reason = getattr(error, "strerror", None) or _oneLine(error)
                raise SystemExit(
                    f"twistd bws: cannot listen on {self.metricsEntry.label}: {reason}")

    def served(self) -> list[tuple[str, str, str]]:
        """``(service, url, path)`` for every service on every bound listener."""
        served = []
        for listener, where in self.listeners:
            scheme = ("wss" if listener.config.secureSocket is not None
                      or where.startswith("ssl:") else "ws")
            address = listener.port.getHost() if listener.port is not None else None
            for serviceName, path in self.upgradeServices:
                shown = "/" if path == "*" else "/" + path.lstrip("/")
                if isinstance(address, IPv6Address):
                    url = f"{scheme}://[{address.host}]:{address.port}{shown}"
                elif isinstance(address, IPv4Address):
                    url = f"{scheme}://{address.host}:{address.port}{shown}"
                else:
                    url = f"{scheme} on {address or where}"
                served.append((serviceName, url, path))
        return served

    def urls(self) -> list[str]:
        """The ``ws://``/``wss://`` URL of each service on each bound listener."""
        return [url for _, url, _ in self.served()]

    def startService(self) -> None:
        super().startService()
        for serviceName, url, path in self.served():
            self.log.info("bws: serving {service} at {url} (path {path})",
                          service=serviceName, url=url, path=path)
        for listener, where in self.listeners:
            if (listener.endpointDescription or "").startswith("haproxy:"):
                self.log.info("bws: {where} reads a PROXY protocol header before each "
                              "request and believes the address it names: let only the "
                              "proxy reach it", where=where)


def serviceFromRecords(server: ServerConfig, reactor: Any = None) -> BwsService:
    """The listeners of ``server``, each serving every service, not yet bound: the one
    function ``--config``'s file and the command-line options both end in.

    :raise ConfigurationError: from :meth:`bws.Listener.attach` (an unreadable user file).
    """
    listeners: list[tuple[Listener, str]] = []
    groups, broker = groupsFromRecords(server, reactor)
    for entry in server.listeners:
        listener = Listener(entry.address, reactor=reactor, groups=groups,
                            **attrs.asdict(entry.config, recurse=False))
        listener.site.noisy = False  # the start-up line names the URL, not the factory
        for served in server.services:
            path = list(served.path) if isinstance(served.path, tuple) else served.path
            listener.attach(served.upgradeService, path)
        listeners.append((listener, entry.label))
    bwsService = BwsService(listeners, [(served.name, "/".join(served.path)
                                         if isinstance(served.path, tuple) else served.path)
                                        for served in server.services],
                            server.metrics, reactor)
    if broker is not None:
        broker.setServiceParent(bwsService)
    return bwsService


def groupsFromRecords(server: ServerConfig, reactor: Any = None) -> tuple[Groups, Any]:
    """The one :class:`bws.Groups` every listener shares, and its Redis broker (a child
    service of ``BwsService``, connected when it starts) if ``server.broker`` names one."""
    from bws._groups import DEFAULT_MAX_BACKLOG, Groups

    broker = None
    if server.broker is not None:
        from bws._redisbroker import RedisBroker

        broker = RedisBroker(server.broker, reactor=reactor)
    return Groups(maxBacklog=server.groupMaxBacklog or DEFAULT_MAX_BACKLOG,
                  broker=broker), broker


def buildService(options: Options) -> BwsService:
    """The listeners the options (or ``--config``'s file) describe, not yet bound."""
    return serviceFromRecords(serverConfigFrom(options))


def serverConfigFrom(options: Options) -> ServerConfig:
    """The records the options (or ``--config``'s file) describe: every listener and every
    service, as :func:`serviceFromRecords` takes them (``--workers`` children rebuild them
    from the same arguments, then swap each listener's address for an adopted socket)."""
    if options.get("serverConfig") is not None:
        server: ServerConfig = options["serverConfig"]
        return server
    config = ListenerConfiguration(
        host=options["host"], secureSocket=options["secureSocket"],
        timeout=options["timeout"], server=options["server"],
        webSocketCompressionEnabled=not options["no-compression"],
        trustedProxies=options["trusted-proxy"], forwardedHeader=options["forwarded-header"])
    if options["listen"]:
        listeners = tuple(ListenerEntry(endpoint, config, f"--listen {endpoint}")
                          for endpoint in options["listen"])
    else:
        listeners = (ListenerEntry(options["port"], config,
                                   f"{options['host']}:{options['port']} (--host/--port)"),)
    services = (ServiceEntry(options["upgradeService"], options["path"], options["service"]),)
    metrics = options["metrics"]
    return ServerConfig(
        listeners, services, MetricsEntry(metrics, f"--metrics {metrics}") if metrics else None,
        broker=options["broker"], groupMaxBacklog=options["group-max-backlog"],
        workers=options["workers"])


def makeService(options: Options) -> service.Service:
    """The service ``twistd bws`` runs, its ports already bound: the :class:`BwsService`,
    or with ``--workers`` a :class:`bws.workers.WorkersService` that shares its bound
    ports with the worker processes it starts.

    Binding here, before twistd logs, daemonizes or writes its pid file, is what makes a
    port that is taken (or an address that is not this host's) stop ``twistd bws`` at once
    with one line on stderr and exit status 1, as ``twistd web`` exits 1.
    """
    server = serverConfigFrom(options)
    if server.workers is not None:
        from bws.workers import checkShareable

        where = (f"{os.path.basename(options['config'])}:workers" if options["config"]
                 else "--workers")
        checkShareable(server, where)
    bwsService = serviceFromRecords(server)
    bwsService.bind()
    if server.workers is None:
        return bwsService
    from bws.workers import WorkersService, stopTimeoutFor

    return WorkersService(bwsService, server.workers, options.argv,
                          stopTimeout=stopTimeoutFor(server))
