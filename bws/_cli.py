# -*- test-case-name: tests.test_cli -*-
"""``python -m bws``: a command-line WebSocket client for people debugging their services.

It connects to a ``ws://`` or ``wss://`` URL, sends each line of standard input as a text
message and prints what arrives, like ``wscat``. Lines that start with ``/`` are commands
(``/ping``, ``/binary``, ``/close``, ``/help``; ``//`` sends a leading slash). Everything runs
on the Twisted reactor: standard input and output through
:class:`twisted.internet.stdio.StandardIO`, the connection through a :class:`bws.Client`.

Output lines start with ``<`` (what the server sent), ``=`` (connection events) or ``!``
(input that could not be sent). The process exits 0 after a normal closing handshake, 1 with
one line on standard error when the connection failed, and 2 for a bad command line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import attrs
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IHalfCloseableProtocol, IReactorTime
from twisted.internet.protocol import Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from bws.client import Client, Target, parseUrl
from bws.client._client import Connector
from bws.closeframe import MAX_CLOSE_REASON_BYTES, isValidCloseCode
from bws.config import ClientConfiguration, ConfigurationError, build
from bws.errors import Error

__all__ = [
    "Arguments",
    "UsageError",
    "Outcome",
    "PushClient",
    "Session",
    "Console",
    "parseArguments",
    "readSecret",
    "parseAuth",
    "parseHeaders",
    "formatMessage",
    "formatClose",
    "connect",
    "Run",
    "main",
]

log = Logger()

#: Binary payloads up to this many bytes are printed whole, in hex; longer ones are
#: summarized by their length and their first this many bytes.
HEX_BYTES = 32
#: Seconds ``--timeout`` gives the opening handshake and the closing handshake by default.
DEFAULT_TIMEOUT = 10.0
#: The most a ping (or pong) may carry (RFC 6455 §5.5).
MAX_CONTROL_PAYLOAD = 125

# RFC 9110 §5.6.2: token = 1*tchar.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# Header fields the opening handshake writes itself (RFC 6455 §4.1, plus Autobahn's own
# User-Agent, Pragma and Cache-Control): a second copy would make the request ambiguous.
_HANDSHAKE_HEADERS = {
    "host": "",
    "upgrade": "",
    "connection": "",
    "pragma": "",
    "cache-control": "",
    "user-agent": "",
    "sec-websocket-key": "",
    "sec-websocket-version": "",
    "sec-websocket-accept": "",
    "sec-websocket-protocol": "; use --subprotocol",
    "sec-websocket-extensions": "; use --no-compression to offer none",
}

#: Close codes whose closing handshake counts as a normal end (exit status 0): normal
#: closure, going away and no status code (RFC 6455 §7.4.1); 3000-4999 are the
#: application's own (§7.4.2) and count too.
_NORMAL_CLOSE_CODES = frozenset({1000, 1001, 1005})
_CLOSE_NAMES = {
    1000: "normal closure",
    1001: "going away",
    1002: "protocol error",
    1003: "unsupported data",
    1005: "no status code",
    1006: "abnormal closure",
    1007: "invalid payload data",
    1008: "policy violation",
    1009: "message too big",
    1010: "mandatory extension",
    1011: "internal error",
    1012: "service restart",
    1013: "try again later",
    1014: "bad gateway",
    1015: "TLS handshake failure",
}

COMMANDS_HELP = """\
commands (a line of input that starts with /):
  /ping [TEXT]            send a ping carrying TEXT; the pong is shown when it
                          arrives, with the round trip
  /binary HEX             send a binary message: /binary 00 ff 10
  /close [CODE [REASON]]  close with CODE (default 1000) and REASON, then wait
                          for the server's answer
  /help                   list these commands
  //TEXT                  send the text /TEXT (a doubled slash sends one)
Any other line is sent as a text message. The end of input (Ctrl-D) closes
with 1000, Ctrl-C with 1001."""

EPILOG = COMMANDS_HELP.replace("%", "%%") + """

output:
  < TEXT                  a text message from the server
  < binary (N bytes): HEX a binary message (the first 32 bytes of a longer one)
  < ping: ..., < pong: .. control frames (pings are answered by themselves)
  = ...                   events: connected, closed (with code and reason)
  ! ...                   a line that was not sent, or a command that failed

exit status: 0 after a closing handshake with 1000, 1001, 1005, 3000-4999 or
the code you sent; 1 when the connection could not be made or ended otherwise
(one line on standard error says why); 2 for a bad command line.

examples:
  %(prog)s ws://localhost:9090/
  echo hello | %(prog)s ws://localhost:9090/
  %(prog)s -s chat -H 'Origin: https://example.com' wss://example.com/chat
  %(prog)s --cacert ca.pem wss://localhost:9443/
  %(prog)s --auth basic:alice:env:ALICE_PASSWORD wss://example.com/private
  %(prog)s --auth bearer:file:token.txt wss://example.com/events"""


class UsageError(Exception):
    """A bad command line; the message names the option."""


@attrs.frozen
class Arguments:
    """What the command line asks for.

    :ivar url: the ``ws://`` or ``wss://`` URL.
    :ivar config: :class:`~bws.config.ClientConfiguration` fields, as keywords.
    :ivar closeTimeout: decimal seconds to wait for the server's answer to a close.
    :ivar insecure: whether certificate verification is off (``--insecure``).
    :ivar verbose: whether bws's own log goes to standard error.
    """

    url: str
    config: dict[str, Any]
    closeTimeout: float = DEFAULT_TIMEOUT
    insecure: bool = False
    verbose: bool = False


@attrs.frozen
class Outcome:
    """How a run ended: the exit status and, for a failure, the one line that says why."""

    exitCode: int
    error: str | None = None


# -- the command line ------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors raise :class:`UsageError` instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {value!r}") from None
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {value!r}")
    return seconds


def _bytes(value: str) -> int:
    try:
        size = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of bytes, got {value!r}") from None
    if size < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 byte, got {value!r}")
    return size


def _parser(prog: str) -> _Parser:
    parser = _Parser(
        prog=prog,
        description=("Connect to a WebSocket URL, send each line of standard input as a text\n"
                     "message, and print what arrives."),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("url", metavar="URL", help="ws://host[:port]/path or wss://...")
    parser.add_argument(
        "-H", "--header", action="append", default=[], metavar="NAME:VALUE",
        help="add a header to the upgrade request (repeatable; a repeated name is joined)")
    parser.add_argument(
        "-s", "--subprotocol", action="append", default=[], metavar="NAME",
        help="offer this subprotocol (repeatable, in order of preference)")
    parser.add_argument(
        "--auth", metavar="SCHEME:...",
        help="send credentials: basic:USER:SECRET or bearer:SECRET, where SECRET is "
             "file:PATH (a file holding it) or env:NAME (an environment variable); "
             "never the secret itself, which would show in ps and in shell history")
    parser.add_argument(
        "--no-compression", action="store_true",
        help="do not offer permessage-deflate (RFC 7692)")
    parser.add_argument(
        "--max-size", type=_bytes, metavar="BYTES",
        help="largest frame and message to accept (default: 65536-byte frames, "
             "1 MiB messages)")
    parser.add_argument(
        "--timeout", type=_seconds, default=DEFAULT_TIMEOUT, metavar="SECONDS",
        help="how long the opening handshake, and the server's answer to a close, may "
             f"take (default {DEFAULT_TIMEOUT:g})")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="print bws's own log on standard error")
    parser.add_argument("--version", action="version", version=_versionLine())
    tls = parser.add_argument_group("TLS (wss:// only)")
    tls.add_argument(
        "--cacert", metavar="FILE",
        help="trust the CA certificate(s) in this PEM file instead of the system's store")
    tls.add_argument(
        "--cert", metavar="FILE", help="present this PEM client certificate (mutual TLS)")
    tls.add_argument("--key", metavar="FILE", help="the PEM private key of --cert (unencrypted)")
    tls.add_argument(
        "-k", "--insecure", action="store_true",
        help="do NOT check the server's certificate or host name: the traffic is still "
             "encrypted, but anyone between you and the server can pretend to be it. For "
             "a test server with a self-signed certificate, never for real credentials")
    return parser


def _versionLine() -> str:
    """``bws 0.1.0, twisted …, autobahn …, Python …``. bws's own version comes from the
    package, not the metadata: the distribution is named ``txbws``, and a checkout run
    without installing it has none."""
    from importlib.metadata import PackageNotFoundError, version

    from bws import __version__

    parts = [f"bws {__version__}"]
    for name in ("twisted", "autobahn"):
        try:
            parts.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            parts.append(f"{name} (not installed)")
    return ", ".join(parts) + f", Python {sys.version.split()[0]}"


def readSecret(source: str, what: str) -> str:
    """The secret that ``source`` names: ``file:PATH`` (the file's text without its final
    line break) or ``env:NAME`` (an environment variable).

    :raise UsageError: naming ``what``, for any other form (without repeating it: it may be
        a secret typed on the command line), an unreadable file or an unset variable.
    """
    kind, _, rest = source.partition(":")
    if kind == "file" and rest:
        try:
            with open(rest, encoding="utf-8") as f:
                return f.read().rstrip("\r\n")
        except OSError as e:
            raise UsageError(f"{what}: cannot read {rest}: {e.strerror}") from None
        except UnicodeDecodeError:
            raise UsageError(f"{what}: {rest} is not UTF-8 text") from None
    if kind == "env" and rest:
        value = os.environ.get(rest)
        if value is None:
            raise UsageError(f"{what}: environment variable {rest} is not set")
        return value
    raise UsageError(f"{what}: give the secret as file:PATH or env:NAME, not on the "
                     "command line")


def parseAuth(value: str) -> dict[str, str]:
    """``--auth``'s value as the client's ``auth`` field.

    ``basic:USER:SECRET`` gives ``{"username": USER, "password": ...}`` (RFC 7617: the
    user-id holds no colon, so the first colon after it starts the secret);
    ``bearer:SECRET`` gives ``{"token": ...}`` (RFC 6750 §2.1). The scheme is matched
    case-insensitively.

    :raise UsageError: naming ``--auth``.
    """
    scheme, _, rest = value.partition(":")
    scheme = scheme.lower()
    if scheme == "basic":
        user, colon, source = rest.partition(":")
        if not user or not colon:
            raise UsageError("--auth: expected basic:USER:SECRET (SECRET is file:PATH or "
                             "env:NAME)")
        if any(ord(c) < 0x20 or c == "\x7f" for c in user):
            raise UsageError("--auth: the user name holds a control character")
        return {"username": user, "password": readSecret(source, "--auth basic")}
    if scheme == "bearer":
        if not rest:
            raise UsageError("--auth: expected bearer:SECRET (SECRET is file:PATH or env:NAME)")
        token = readSecret(rest, "--auth bearer").strip()
        if not _B64TOKEN.fullmatch(token):
            raise UsageError("--auth bearer: the token holds characters a bearer token "
                             "cannot (RFC 6750 §2.1)")
        return {"token": token}
    raise UsageError(f"--auth: unknown scheme {scheme!r}: use basic:USER:SECRET or "
                     "bearer:SECRET")


def parseHeaders(values: Sequence[str]) -> dict[str, str]:
    """``--header NAME:VALUE`` values as the client's ``customHeaders``.

    The value's surrounding whitespace is dropped; a repeated name (in any case) is sent
    once, its values joined with ``", "`` (RFC 9110 §5.3), ``Cookie``'s with ``"; "``
    (RFC 6265 §5.4).

    :raise UsageError: naming ``--header``, for a missing colon, a name that is not a
        token (RFC 9110 §5.1), a value with a line break or NUL (§5.5), or a header the
        handshake writes itself.
    """
    headers: dict[str, str] = {}
    spelled: dict[str, str] = {}
    for item in values:
        name, colon, value = item.partition(":")
        name, value = name.strip(), value.strip(" \t")
        if not colon or not name:
            raise UsageError(f"--header: expected NAME:VALUE, got {item!r}")
        if not _TOKEN.fullmatch(name):
            raise UsageError(f"--header: {name!r} is not a valid header name")
        if any(c in value for c in "\r\n\0"):
            raise UsageError(f"--header {name}: the value holds a line break or NUL")
        key = name.lower()
        if key in _HANDSHAKE_HEADERS:
            raise UsageError(f"--header: {name} is written by the WebSocket handshake itself"
                             f"{_HANDSHAKE_HEADERS[key]}")
        if key in spelled:
            joiner = "; " if key == "cookie" else ", "
            headers[spelled[key]] = headers[spelled[key]] + joiner + value
        else:
            spelled[key] = name
            headers[name] = value
    return headers


def _secureSocket(options: argparse.Namespace) -> Any:
    from bws.tls import CertKey, ClientSecureSocket

    if options.insecure and options.cacert:
        raise UsageError("--insecure turns certificate checks off; --cacert is for checking "
                         "them: give one")
    if bool(options.cert) != bool(options.key):
        raise UsageError("--cert and --key go together")
    for option, path in (("--cacert", options.cacert), ("--cert", options.cert),
                         ("--key", options.key)):
        if path and not os.access(path, os.R_OK):
            reason = "no such file" if not os.path.exists(path) else "not readable"
            raise UsageError(f"{option}: cannot read {path}: {reason}")
    if not (options.insecure or options.cacert or options.cert):
        return None
    fields: dict[str, Any] = {}
    if options.insecure:
        fields["enable"] = False
    if options.cacert:
        fields["cert"] = options.cacert
    if options.cert:
        fields["key"] = CertKey(certFile=options.cert, keyFile=options.key)
    return ClientSecureSocket(**fields)


def parseArguments(argv: Sequence[str], prog: str = "python -m bws") -> Arguments:
    """The command line ``argv`` (without the program name) as :class:`Arguments`.

    Every value is checked here, before anything connects: files named by the TLS options
    must be readable, ``--auth`` secrets are read.

    :raise UsageError: with a one-line message naming the option.
    :raise SystemExit: for ``--help`` and ``--version`` (after printing them).
    """
    options = _parser(prog).parse_args(list(argv))
    try:
        target: Target = parseUrl(options.url)
    except Error as e:
        raise UsageError(str(e)) from None
    config: dict[str, Any] = {"handShakeTimeout": options.timeout}
    headers = parseHeaders(options.header)
    if options.auth is not None:
        if any(name.lower() == "authorization" for name in headers):
            raise UsageError("--auth and --header Authorization: give one")
        config["auth"] = parseAuth(options.auth)
    if headers:
        config["customHeaders"] = headers
    for name in options.subprotocol:
        if not _TOKEN.fullmatch(name):
            raise UsageError(f"--subprotocol: {name!r} is not a token (RFC 6455 §4.1)")
    if options.subprotocol:
        config["subProtocols"] = list(options.subprotocol)
    if options.no_compression:
        config["webSocketCompressionEnabled"] = False
    if options.max_size is not None:
        config["maxFrameSize"] = options.max_size
        config["maxMessageSize"] = options.max_size
    if not target.secure and (options.insecure or options.cacert or options.cert):
        raise UsageError(f"--cacert, --cert and --insecure are for wss:// URLs, not "
                         f"{options.url}")
    try:
        secureSocket = _secureSocket(options)
    except Error as e:
        raise UsageError(str(e)) from None
    if secureSocket is not None:
        config["secureSocket"] = secureSocket
    try:
        build(ClientConfiguration, config)
    except ConfigurationError as e:  # pragma: no cover - every field was checked above
        raise UsageError(str(e)) from None
    return Arguments(options.url, config, options.timeout, options.insecure, options.verbose)


# -- what the console shows -------------------------------------------------------------------


def _shown(payload: bytes) -> str:
    """A ping's or pong's payload: as text when it is UTF-8, else as hex."""
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return f"({len(payload)} bytes) {payload.hex(' ')}"


def formatMessage(payload: bytes, isBinary: bool) -> str:
    """The line (without its line break) that shows a message from the server.

    Text as it came; binary as hex, the first :data:`HEX_BYTES` bytes of a longer one
    followed by ``...``.
    """
    if not isBinary:
        return "< " + payload.decode("utf-8", "replace")
    size = len(payload)
    unit = "byte" if size == 1 else "bytes"
    if size <= HEX_BYTES:
        return f"< binary ({size} {unit}): {payload.hex(' ')}".rstrip()
    return f"< binary ({size} {unit}): {payload[:HEX_BYTES].hex(' ')} ..."


def formatClose(who: str, code: int | None, reason: str) -> str:
    """``= closed by <who>: code N (name), reason "..."``."""
    if code is None:
        code = 1005
    name = _CLOSE_NAMES.get(code)
    text = f"= closed by {who}: code {code}" + (f" ({name})" if name else "")
    if reason:
        text += ", reason " + json.dumps(reason, ensure_ascii=False)
    return text


def _isNormalClose(code: int | None) -> bool:
    return code is None or code in _NORMAL_CLOSE_CODES or 3000 <= code <= 4999


# -- the session ------------------------------------------------------------------------------


class PushClient(Client):
    """A :class:`bws.Client` that hands each message to :attr:`sink` as it arrives.

    The console prints messages as they come, including those that arrive after it sent
    a close frame (RFC 6455 §5.5.1: the peer may still send until it answers), which a
    ``read*`` call no longer gives out once ``close()`` was called. Messages that arrive
    before a sink is set wait in :attr:`early`.
    """

    def __init__(self, target: Target, config: ClientConfiguration, reactor: Any,
                 clock: IReactorTime, connector: Connector | None = None) -> None:
        super().__init__(target, config, reactor, clock, connector)
        self.sink: Callable[[bytes, bool], None] | None = None
        self.early: list[tuple[bytes, bool]] = []

    def messageReceived(self, connection: Any, payload: bytes, isBinary: bool) -> None:
        if self.sink is None:
            self.early.append((payload, isBinary))
        else:
            self.sink(payload, isBinary)


class _ControlFrames:
    """The client's ``pingPongHandler``: shows pings and pongs on the session's console."""

    def __init__(self) -> None:
        self.session: Session | None = None

    def onPing(self, caller: Any, data: bytes) -> bytes:
        if self.session is not None:
            self.session.pingReceived(data)
        return data  # the pong's payload (RFC 6455 §5.5.3)

    def onPong(self, caller: Any, data: bytes) -> None:
        if self.session is not None:
            self.session.pongReceived(data)


class Session:
    """One open connection driven from a console: input lines in, messages and events out.

    :ivar ended: fires with the run's :class:`Outcome` once the TCP connection is gone.
    :ivar pauseInput: called while a message waits for the connection to take it (flow
        control); ``resumeInput`` afterwards. The console sets both.
    """

    def __init__(self, client: PushClient, write: Callable[[str], None], clock: IReactorTime,
                 closeTimeout: float = DEFAULT_TIMEOUT, insecure: bool = False) -> None:
        connection = client.connection
        assert connection is not None
        self.client = client
        self.connection = connection
        self.write = write
        self.clock = clock
        self.closeTimeout = closeTimeout
        self.ended: Deferred[Outcome] = Deferred()
        self.pauseInput: Callable[[], None] = lambda: None
        self.resumeInput: Callable[[], None] = lambda: None
        #: The code and reason of the close this end sent, once sent.
        self.closeSent: tuple[int, str | None] | None = None
        self.closeError: str | None = None
        self._pings: dict[bytes, list[float]] = {}
        self._writing = 0
        self._toldClosing = False
        parts = []
        if connection.subProtocol:
            parts.append(f"subprotocol {connection.subProtocol}")
        if connection.compressed:
            parts.append("permessage-deflate")
        self.write(f"= connected to {client.target.url}"
                   + (f" ({', '.join(parts)})" if parts else ""))
        if insecure:
            self.write("= the server's certificate was not checked (--insecure)")
        early, client.early = client.early, []
        for payload, isBinary in early:
            self.messageReceived(payload, isBinary)
        client.sink = self.messageReceived
        handler = client.config.pingPongHandler
        if isinstance(handler, _ControlFrames):
            handler.session = self
        connection.whenLost().addCallback(self._lost)

    # -- what arrives ---------------------------------------------------------------

    def messageReceived(self, payload: bytes, isBinary: bool) -> None:
        """Show a message from the server."""
        self.write(formatMessage(payload, isBinary))

    def pingReceived(self, payload: bytes) -> None:
        """Show a ping from the server (the client answers it)."""
        self.write(f"< ping: {_shown(payload)}".rstrip())

    def pongReceived(self, payload: bytes) -> None:
        """Show a pong, with the round trip when it answers a ping of ours."""
        line = f"< pong: {_shown(payload)}".rstrip()
        sent = self._pings.get(payload)
        if sent:
            started = sent.pop(0)
            if not sent:
                del self._pings[payload]
            line += f" ({(self.clock.seconds() - started) * 1000:.1f} ms)"
        self.write(line)

    # -- what the user types ---------------------------------------------------------------

    def lineReceived(self, line: bytes) -> None:
        """One line of input (without its line break): a command, or a text message."""
        if self.closeSent is not None or self.connection.closeFrameReceived:
            if not self._toldClosing:
                self._toldClosing = True
                self.write("! the connection is closing: further input is not sent")
            return
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            self.write("! not sent: the line is not UTF-8 text (/binary HEX sends bytes)")
            return
        if text.startswith("//"):
            self._send(self.client.writeTextMessage(text[1:]))
        elif text.startswith("/"):
            self._command(text[1:])
        else:
            self._send(self.client.writeTextMessage(text))

    def _command(self, text: str) -> None:
        name, _, rest = text.partition(" ")
        if name == "ping":
            self._ping(rest)
        elif name == "binary":
            try:
                payload = bytes.fromhex(rest)
            except ValueError:
                self.write("! /binary needs hex digits, two per byte: /binary 00 ff 10")
                return
            self._send(self.client.writeBinaryMessage(payload))
        elif name == "close":
            self._closeCommand(rest)
        elif name == "help":
            for helpLine in COMMANDS_HELP.splitlines():
                self.write("= " + helpLine)
        else:
            self.write(f"! unknown command /{name} (/help lists them; // sends a leading /)")

    def _ping(self, text: str) -> None:
        payload = text.encode("utf-8")
        if len(payload) > MAX_CONTROL_PAYLOAD:
            self.write(f"! /ping: a ping carries at most {MAX_CONTROL_PAYLOAD} bytes "
                       "(RFC 6455 §5.5)")
            return
        self._pings.setdefault(payload, []).append(self.clock.seconds())
        self.client.ping(payload).addErrback(self._notSent)

    def _closeCommand(self, text: str) -> None:
        codeText, _, reason = text.strip().partition(" ")
        code = 1000
        if codeText:
            try:
                code = int(codeText)
            except ValueError:
                code = -1
            if not isValidCloseCode(code):
                self.write(f"! /close: {codeText} is not a close code one may send: "
                           "1000-1003, 1007-1011 or 3000-4999 (RFC 6455 §7.4)")
                return
        if len(reason.encode("utf-8")) > MAX_CLOSE_REASON_BYTES:
            self.write(f"! /close: a reason is at most {MAX_CLOSE_REASON_BYTES} bytes of "
                       "UTF-8 (RFC 6455 §5.5)")
            return
        self.close(code, reason or None)

    def _send(self, d: Deferred[None]) -> None:
        """Pause input until the connection took the message (flow control)."""
        if d.called:
            d.addErrback(self._notSent)
            return
        self._writing += 1
        if self._writing == 1:
            self.pauseInput()

        def taken(result: Any) -> Any:
            self._writing -= 1
            if self._writing == 0:
                self.resumeInput()
            return result

        d.addBoth(taken).addErrback(self._notSent)

    def _notSent(self, failure: Failure) -> None:
        if not self.ended.called:
            self.write(f"! not sent: {failure.getErrorMessage()}")

    # -- closing ----------------------------------------------------------------------

    def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Start the closing handshake, unless one has started; the session ends when the
        TCP connection is gone."""
        if self.closeSent is not None or self.ended.called:
            return
        if self.connection.closeFrameReceived:
            return  # the server closed first; the client has answered it
        self.closeSent = (code, reason)
        self.client.close(code, reason, self.closeTimeout).addErrback(self._closeFailed)

    def _closeFailed(self, failure: Failure) -> None:
        self.closeError = failure.getErrorMessage()

    def inputEnded(self) -> None:
        """The end of input: close normally (1000)."""
        self.close(1000)

    def _lost(self, _: Any) -> None:
        """TCP is gone: show how the connection ended and decide the exit status."""
        connection = self.connection
        if connection.failure is not None:
            error = f"the connection failed: {connection.failure}"
            self.write(f"= {error}")
            outcome = Outcome(1, error)
        elif not connection.closeFrameReceived:
            self.write("= connection lost: code 1006 (abnormal closure), no close frame")
            outcome = Outcome(1, self.closeError or
                              "the connection was lost without a closing handshake (1006)")
        elif self.closeSent is not None:
            sentCode, sentReason = self.closeSent
            self.write(formatClose("client", sentCode, sentReason or ""))
            outcome = Outcome(0)
        else:
            code = connection.closeStatus
            self.write(formatClose("server", code, connection.closeReason))
            if _isNormalClose(code):
                outcome = Outcome(0)
            else:
                outcome = Outcome(1, f"the server closed the connection with {code} "
                                     f"({_CLOSE_NAMES.get(code or 0, 'unknown code')})")
        self.ended.callback(outcome)


@implementer(IHalfCloseableProtocol)
class Console(Protocol):
    """Standard input and output (through ``StandardIO``) of a :class:`Session`.

    Input is cut into lines at ``\\n`` (a ``\\r`` before it is dropped) and handed over
    one at a time, none while the session waits for the connection to take a message; the
    end of input closes the connection once every line before it went. Output is written
    as UTF-8, one line per call of :meth:`show`.

    :ivar done: fires once standard output is flushed and closed (or lost).
    """

    def __init__(self) -> None:
        self.session: Session | None = None
        self.done: Deferred[None] = Deferred()
        self._buffer = b""
        self._paused = False
        self._inputEnded = False
        self._endDelivered = False
        self._outputLost = False

    def show(self, line: str) -> None:
        """Write one line to standard output."""
        if self.transport is not None and not self._outputLost:
            self.transport.write(line.encode("utf-8", "replace") + b"\n")

    def attach(self, session: Session) -> None:
        """Feed input to ``session`` from now on (input read before it waits)."""
        self.session = session
        session.pauseInput = self.pause
        session.resumeInput = self.resume
        self._feed()

    def pause(self) -> None:
        """Hand over no line, and read no input, until :meth:`resume`."""
        self._paused = True
        if self.transport is not None:
            self.transport.pauseProducing()  # type: ignore[attr-defined]

    def resume(self) -> None:
        """Hand over lines again."""
        self._paused = False
        if self.transport is not None:
            self.transport.resumeProducing()  # type: ignore[attr-defined]
        self._feed()

    def dataReceived(self, data: bytes) -> None:
        self._buffer += data
        self._feed()

    def _feed(self) -> None:
        session = self.session
        if session is None:
            return
        while not self._paused and b"\n" in self._buffer:
            line, _, self._buffer = self._buffer.partition(b"\n")
            session.lineReceived(line[:-1] if line.endswith(b"\r") else line)
        if not self._inputEnded or self._paused or self._endDelivered:
            return
        if self._buffer:  # a last line without its line break
            line, self._buffer = self._buffer, b""
            session.lineReceived(line[:-1] if line.endswith(b"\r") else line)
            if self._paused:
                return
        self._endDelivered = True
        session.inputEnded()

    def readConnectionLost(self) -> None:
        self._inputEnded = True
        self._feed()

    def writeConnectionLost(self) -> None:
        # Standard output is gone (``| head``): nobody sees more, so leave (1001).
        self._outputLost = True
        if self.session is not None:
            self.session.close(1001)

    def finish(self) -> Deferred[None]:
        """Flush and close standard output; the Deferred fires when that is done."""
        if self.transport is None or self._outputLost:
            if not self.done.called:
                self.done.callback(None)
        else:
            self.transport.loseConnection()
        return self.done

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._outputLost = True
        if not self.done.called:
            self.done.callback(None)


# -- running -----------------------------------------------------------------------------------


def connect(arguments: Arguments, reactor: Any, connector: Connector | None = None,
            clock: IReactorTime | None = None) -> Deferred[PushClient]:
    """Open the connection ``arguments`` describe (the handler of pings and pongs is set)."""
    config = dict(arguments.config)
    config["pingPongHandler"] = _ControlFrames()
    d = PushClient.connect(arguments.url, reactor=reactor, clock=clock, connector=connector,
                           **config)
    return d  # type: ignore[return-value]


def _describe(failure: Failure) -> str:
    """A connection failure in one line."""
    value = failure.value
    text = str(value).replace("\n", " ").strip()
    if isinstance(value, Error):
        return text or type(value).__name__
    return f"{type(value).__name__}: {text}" if text else type(value).__name__


class Run:
    """One run of the program: connect, drive the console until the connection ends, flush
    the output.

    :param reactor: connects, and times the handshakes and the pings' round trips.
    :param console: connects a :class:`Console` to standard input and output
        (``StandardIO`` by default); tests pass a fake.
    :param connector: passed to :meth:`bws.Client.connect` (tests connect in memory).
    :ivar outcome: fires with the :class:`Outcome` once the output is flushed; it never
        fails.
    :ivar session: the :class:`Session`, once connected.
    """

    def __init__(self, reactor: Any, arguments: Arguments,
                 console: Callable[[Console], object] | None = None,
                 connector: Connector | None = None) -> None:
        self.reactor = reactor
        self.arguments = arguments
        self.console = console if console is not None else _standardIO(reactor)
        self.connector = connector
        self.outcome: Deferred[Outcome] = Deferred()
        self.session: Session | None = None

    def start(self) -> Deferred[Outcome]:
        """Connect; returns :attr:`outcome`."""
        d = connect(self.arguments, self.reactor, self.connector)
        d.addCallbacks(self._connected, self._failed).addErrback(self._broken)
        return self.outcome

    def interrupt(self) -> Deferred[Outcome] | None:
        """The reactor is stopping (Ctrl-C): close with 1001 (going away, RFC 6455 §7.4.1)
        and return what to wait for, or None when no connection is open."""
        session = self.session
        if session is None or session.ended.called:
            return None
        session.close(1001)
        return session.ended

    def _end(self, outcome: Outcome) -> None:
        if not self.outcome.called:
            self.outcome.callback(outcome)

    def _failed(self, failure: Failure) -> None:
        if self.arguments.verbose:
            log.failure("could not connect to {url}", failure, url=self.arguments.url)
        self._end(Outcome(1, f"cannot connect to {self.arguments.url}: {_describe(failure)}"))

    def _broken(self, failure: Failure) -> None:
        log.failure("the session broke", failure)
        self._end(Outcome(1, _describe(failure)))

    def _connected(self, client: PushClient) -> None:
        arguments = self.arguments
        screen = Console()
        try:
            self.console(screen)
        except OSError as e:
            client.close(1001, None, arguments.closeTimeout).addErrback(lambda f: None)
            self._end(Outcome(1, f"cannot use standard input and output: {e}"))
            return
        session = self.session = Session(client, screen.show, self.reactor,
                                         arguments.closeTimeout, arguments.insecure)
        screen.attach(session)

        def ended(outcome: Outcome) -> Deferred[None]:
            return screen.finish().addCallback(lambda _: self._end(outcome))

        session.ended.addCallback(ended)


def _standardIO(reactor: Any) -> Callable[[Console], object]:
    def attach(screen: Console) -> object:
        from twisted.internet.stdio import StandardIO

        return StandardIO(screen, reactor=reactor)

    return attach


@contextmanager
def _restoredFileFlags(*fds: int) -> Iterator[None]:
    """Give ``fds`` their file status flags back afterwards: ``StandardIO`` makes standard
    input and output non-blocking, which would otherwise outlive the process on a shared
    terminal."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    saved = {}
    for fd in fds:
        try:
            saved[fd] = fcntl.fcntl(fd, fcntl.F_GETFL)
        except OSError:
            pass
    try:
        yield
    finally:
        for fd, flags in saved.items():
            try:
                fcntl.fcntl(fd, fcntl.F_SETFL, flags)
            except OSError:
                pass


def programName(argv0: str | None = None) -> str:
    """The name the help and errors use: ``python -m bws``, or the console script's."""
    name = os.path.basename(sys.argv[0] if argv0 is None else argv0)
    return "python -m bws" if name in ("__main__.py", "-m", "") else name


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """The ``python -m bws`` program: parse, run the reactor, exit with the outcome."""
    prog = programName()
    try:
        arguments = parseArguments(sys.argv[1:] if argv is None else argv, prog)
    except UsageError as e:
        sys.stderr.write(f"{prog}: {e} (see --help)\n")
        sys.exit(2)
    from twisted.internet import reactor

    if arguments.verbose:
        from twisted.logger import globalLogBeginner, textFileLogObserver

        globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stderr)])
    run = Run(reactor, arguments)
    results: list[Outcome] = []
    stopping: list[bool] = []

    def stop(_: object) -> None:
        if not stopping:
            reactor.stop()

    def shuttingDown() -> Deferred[Outcome] | None:
        stopping.append(True)
        return run.interrupt()

    reactor.addSystemEventTrigger("before", "shutdown", shuttingDown)
    reactor.callWhenRunning(lambda: run.start().addCallback(results.append).addCallback(stop))
    with _restoredFileFlags(0, 1):
        reactor.run()
    outcome = results[0] if results else Outcome(130, "interrupted")
    if outcome.error:
        sys.stderr.write(f"{prog}: {outcome.error}\n")
    sys.exit(outcome.exitCode)
