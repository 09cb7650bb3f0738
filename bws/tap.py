# -*- test-case-name: tests.test_tap -*-
"""``twistd bws``: command-line options and the service they make."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
from twisted.application.service import IService
from twisted.cred import strcred
from twisted.cred.checkers import InMemoryUsernamePasswordDatabaseDontUse
from twisted.cred.credentials import IUsernamePassword
from twisted.python import usage

from bws.auth.credentials import IBearerToken
from bws.auth.records import CheckerWithScopes
from bws.config import (
    ConfigurationError,
    ListenerConfiguration,
    serviceConfigOf,
    setServiceConfig,
)

if TYPE_CHECKING:
    from bws.tls import CertKey, KeyStore, ListenerSecureSocket

__all__ = ["Options", "makeService"]

#: The service ``twistd bws`` serves without ``--service``, named as ``--service`` names one.
DEFAULT_SERVICE = "bws.testing.echo:EchoUpgradeService"

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
        "a zero-argument factory of one. Add --cert/--key (or --keystore) for wss://, and "
        "--client-ca for mutual TLS. --auth TYPE:ARGS (repeatable) authenticates every "
        "upgrade before the service sees it: toml:users.toml (bws's TOML user store), "
        "jwt:issuer=...,jwksUrl=https://... (JWTs), or Twisted's file:/memory: checkers "
        "(Basic); --auth-scopes requires one of the scopes; --help-auth lists the types. "
        "Passwords are read from files or environment variables, never from the command "
        "line."
    )
    optParameters = [
        ["config", None, None, "A TOML file saying everything to serve: listeners, "
                               "services, their settings (docs/configfile.rst); no other "
                               "service option goes with it."],
        ["port", "p", 9090, "Port to listen on (0 picks a free one).", _positive("port")],
        ["listen", "l", None, "A Twisted endpoint string instead of --port/--host "
                              "(e.g. tcp:9090:interface=127.0.0.1)."],
        ["host", None, "0.0.0.0", "Address to bind."],
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
    ]
    optFlags = [
        ["no-compression", None, "Do not negotiate permessage-deflate."],
        ["conformance", None, "Autobahn testsuite profile: 16 MiB frames and messages."],
    ]
    compData = usage.Completions(optActions={
        "cert": usage.CompleteFiles("*.pem"), "key": usage.CompleteFiles("*"),
        "keystore": usage.CompleteFiles("*.p12"), "client-ca": usage.CompleteFiles("*.pem"),
    })

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
            from bws.configfile import load, refuseMixedOptions

            refuseMixedOptions(self)
            try:
                self["serverConfig"] = load(self["config"], loadService)
            except ConfigurationError as e:
                raise usage.UsageError(str(e)) from None
            return
        if self["auth-scopes"] and not self.get("credCheckers"):
            raise usage.UsageError("--auth-scopes needs --auth")
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
        self["upgradeService"] = loadService(self["service"])
        try:
            self["secureSocket"] = secureSocketFrom(self)
            applyServiceOptions(self["upgradeService"], self)
        except ConfigurationError as e:
            raise usage.UsageError(str(e)) from None


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
        target = target()  # a class or a zero-argument factory
    if not callable(getattr(target, "get", None)):
        raise usage.UsageError(f"--service: {spec} is not an upgrade service (no get())")
    return target


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
        except (TypeError, ValueError) as e:
            raise ConfigurationError(str(e)) from None
        setServiceConfig(upgradeService, config)


def secureSocketFrom(options: Options) -> ListenerSecureSocket | None:
    """A ``ListenerSecureSocket`` from the TLS options, or None for plain ws://."""
    if not (options["cert"] or options["keystore"]):
        return None
    from bws import tls

    key: CertKey | KeyStore
    if options["keystore"]:
        password = _readSecret(options["keystore-password-file"],
                               options["keystore-password-env"], "--keystore")
        key = tls.KeyStore(path=options["keystore"], password=password or "")
    else:
        password = _readSecret(options["key-password-file"], options["key-password-env"],
                               "--key")
        key = tls.CertKey(certFile=options["cert"], keyFile=options["key"],
                          keyPassword=password)
    fields: dict[str, Any] = {"key": key}
    if options["client-ca"]:
        fields["mutualSsl"] = tls.MutualSsl(
            verifyClient=options["verify-client"].upper(), cert=options["client-ca"])
    if options["tls-versions"]:
        fields["protocol"] = tls.Protocol(
            name="TLS", versions=[v for v in options["tls-versions"].split(",") if v])
    if options["ciphers"]:
        fields["ciphers"] = [c for c in options["ciphers"].split(",") if c]
    try:
        return tls.ListenerSecureSocket(**fields)
    except Exception as e:
        raise ConfigurationError(str(e)) from None


def makeService(options: Options) -> IService:
    """What ``twistd bws`` runs: the listener(s) of ``--config``'s file, or the one the
    options describe, built by the same :func:`bws.configfile.buildService`."""
    from bws.configfile import ListenerEntry, ServerConfig, ServiceEntry, buildService

    if options.get("serverConfig") is not None:
        return buildService(options["serverConfig"])
    config = ListenerConfiguration(
        host=options["host"], secureSocket=options["secureSocket"],
        timeout=options["timeout"], server=options["server"],
        webSocketCompressionEnabled=not options["no-compression"])
    return buildService(ServerConfig(
        listeners=(ListenerEntry(options["listen"] or options["port"], config),),
        services=(ServiceEntry(options["upgradeService"], options["path"]),)))
