"""Real HAProxy and nginx on loopback in front of two ``twistd bws`` backends, with the
configuration files docs/deploying.rst shows (docs/examples/haproxy.cfg and nginx-bws.conf,
their ports replaced by free ones) and the page's backend command.

Clients connect from 127.0.0.2 and the proxies reach the backends from 127.0.0.1, so the
address a backend reports tells the client from the proxy. Every wait is on an event: a
process's start-up line, a port that answers, a message, a process's end.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import ssl
import sys
from pathlib import Path
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults, inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.error import ConnectError, ProcessTerminated
from twisted.internet.interfaces import IProtocolFactory
from twisted.internet.protocol import ProcessProtocol, Protocol
from twisted.internet.task import deferLater
from twisted.python.failure import Failure
from twisted.trial.unittest import SkipTest, TestCase

import bws
from tests.integration.helpers import inThread

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
HAPROXY = "/usr/sbin/haproxy"
NGINX = "/usr/sbin/nginx"
TWISTD = "from twisted.scripts.twistd import run; run()"
SERVING = re.compile(r"bws: serving \S+ at wss?://[^:]+:(\d+)/")
#: Where the clients connect from: a loopback address that is not the proxies'.
CLIENT_HOST = "127.0.0.2"


def freePort() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clientHostUsable() -> bool:
    try:
        with socket.socket() as s:
            s.bind((CLIENT_HOST, 0))
    except OSError:
        return False
    return True


def consoleCommands(name: str, program: str) -> list[list[str]]:
    """The ``$ program ...`` commands of a page's console blocks, continuation lines joined."""
    text = (DOCS / name).read_text("utf-8")
    commands = []
    for block in re.findall(r"code-block:: console\n\n((?: {3}.*\n|\n)+)", text):
        for line in re.sub(r"\\\n\s*", "", block).splitlines():
            words = shlex.split(line)
            if words[:2] == ["$", program]:
                commands.append(words[2:])
    return commands


def anyPort(command: list[str]) -> list[str]:
    """``command`` with each listener's port 0 (the OS picks)."""
    return [re.sub(r"^(haproxy:)?tcp:(\d+|%i):", r"\1tcp:0:", word) for word in command]


def pageBackend() -> list[str]:
    """The page's backend command: twistd's arguments, a plain and a PROXY-protocol
    listener."""
    [command] = [c for c in consoleCommands("deploying.rst", "twistd") if "whoami:WhoAmI" in c]
    return anyPort(command)


def unitBackend() -> list[str]:
    """The ``ExecStart`` of docs/examples/bws@.service: twistd's arguments, one plain
    listener."""
    text = (EXAMPLES / "bws@.service").read_text("utf-8")
    [line] = re.findall(r"^ExecStart=((?:.*\\\n)*.*)", text, re.M)
    words = shlex.split(line.replace("\\\n", " "))
    if not words[0].endswith("/twistd"):
        raise AssertionError(f"bws@.service's ExecStart does not run twistd: {words[0]}")
    return anyPort(words[1:])


def fromFile(name: str, ports: dict[str, int]) -> str:
    """An example file with each ``127.0.0.1:PORT`` it names replaced by a free port."""
    text = (EXAMPLES / name).read_text("utf-8")
    for documented, port in ports.items():
        address = f"127.0.0.1:{documented}"
        if address not in text:
            raise AssertionError(f"{name} no longer names {address}")
        text = text.replace(address, f"127.0.0.1:{port}")
    return text


class Child(ProcessProtocol):
    """A child process: ``ready`` fires with the ports of its start-up lines once
    ``count`` are logged (twistd), ``ended`` with how it ended."""

    def __init__(self, name: str, count: int = 0, also: str = "") -> None:
        self.name = name
        self.count = count
        #: Text the output must hold too before ``ready`` fires.
        self.also = also
        self.ready: Deferred[list[int]] = Deferred()
        #: Fires with the exception saying how it ended (ProcessDone for status 0).
        self.ended: Deferred[BaseException] = Deferred()
        self.output = ""
        self.pid = 0

    def connectionMade(self) -> None:
        self.pid = self.transport.pid  # type: ignore[union-attr]

    def outReceived(self, data: bytes) -> None:
        self.output += data.decode("utf-8", "replace")
        ports = [int(p) for p in SERVING.findall(self.output)]
        if (self.count and len(ports) >= self.count and self.also in self.output
                and not self.ready.called):
            self.ready.callback(ports)

    errReceived = outReceived

    def processEnded(self, reason: Failure) -> None:
        if self.count and not self.ready.called:
            self.ready.errback(AssertionError(f"{self.name} exited: {self.output}"))
        self.ended.callback(reason.value)


class Backend:
    """One ``twistd bws`` backend: its pid and the ports of its listeners (the plain one,
    then the PROXY-protocol one when it has one)."""

    def __init__(self, child: Child, ports: list[int]) -> None:
        self.child = child
        self.name = f"{socket.gethostname()}:{child.pid}"
        self.plainPort = ports[0]
        self.proxyPort = ports[1] if len(ports) > 1 else 0


class Closed(Protocol):
    """Connects and goes away: proof that a port answers."""

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.loseConnection()


def connectFrom(host: str, port: int) -> Any:
    """A bws ``connector`` opening TCP from ``CLIENT_HOST`` to ``host:port``."""

    def connector(factory: IProtocolFactory) -> Deferred[Any]:
        endpoint = TCP4ClientEndpoint(reactor, host, port, bindAddress=(CLIENT_HOST, 0))
        return endpoint.connect(factory)

    return connector


def websocketsAsk(port: int, text: str, headers: dict[str, str] | None = None,
                  cafile: str | None = None) -> Any:
    """The ``websockets`` library's sync client, from ``CLIENT_HOST``: one message, the
    answer as JSON; ``wss://localhost`` trusting ``cafile`` when one is given."""
    from websockets.sync.client import connect

    sock = socket.create_connection(("127.0.0.1", port), timeout=30,
                                    source_address=(CLIENT_HOST, 0))
    tls: dict[str, Any] = {}
    url = f"ws://127.0.0.1:{port}/"
    if cafile is not None:
        tls = {"ssl": ssl.create_default_context(cafile=cafile),
               "server_hostname": "localhost"}
        url = f"wss://localhost:{port}/"
    with connect(url, sock=sock, additional_headers=headers, open_timeout=30, **tls) as ws:
        ws.send(text)
        return json.loads(ws.recv(timeout=30))


class ProxyTestCase(TestCase):
    """Starts backends and proxies as child processes and stops them at cleanup."""

    timeout = 90
    #: The proxy's executable and the Debian package that installs it.
    proxy: tuple[str, str] = ("", "")

    def setUp(self) -> None:
        executable, package = self.proxy
        if executable and not os.path.exists(executable):
            raise SkipTest(f"{executable} is not installed (Debian: apt-get install {package})")
        if not clientHostUsable():
            raise SkipTest(f"cannot bind {CLIENT_HOST} (loopback is 127.0.0.1 only here)")

    def spawn(self, child: Child, executable: str, args: list[str], path: Path,
              env: dict[str, str] | None = None) -> Child:
        transport = reactor.spawnProcess(  # type: ignore[attr-defined]
            child, executable, [executable, *args], env=env, path=str(path))

        def stop() -> Deferred[BaseException]:
            if not child.ended.called:
                transport.signalProcess("TERM")
            return child.ended

        self.addCleanup(stop)
        return child

    @inlineCallbacks
    def startBackend(self, command: list[str], trusted: bool = True) -> Any:
        """``twistd command`` in docs/examples (without ``--trusted-proxy`` unless
        ``trusted``), once it logs a line per listener."""
        command = list(command)
        if not trusted:
            at = command.index("--trusted-proxy")
            del command[at:at + 2]
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT)
        proxyListeners = [word for word in command if word.startswith("haproxy:")]
        # A PROXY-protocol listener is named in a warning line of its own.
        also = (f"--listen {proxyListeners[0]} reads a PROXY protocol header before each "
                "request and believes the address it names: let only the proxy reach it"
                if proxyListeners else "")
        child = self.spawn(Child("twistd bws", count=command.count("--listen"), also=also),
                           sys.executable, ["-c", TWISTD, *command], EXAMPLES, env)
        ports = yield child.ready
        return Backend(child, ports)

    @inlineCallbacks
    def twoBackends(self, command: list[str], trusted: bool = True) -> Any:
        backends = yield gatherResults([self.startBackend(command, trusted),
                                        self.startBackend(command, trusted)])
        return backends

    @inlineCallbacks
    def answering(self, port: int, child: Child) -> Any:
        """Wait until ``port`` accepts a connection (the proxy is listening)."""
        for _ in range(600):
            if child.ended.called:
                raise AssertionError(f"{child.name} exited: {child.output}")
            try:
                yield connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), Closed())
                return
            except ConnectError:
                pass
            yield deferLater(reactor, 0.05, lambda: None)
        raise AssertionError(f"{child.name} never answered on {port}: {child.output}")

    @inlineCallbacks
    def startHaproxy(self, backends: list[Backend]) -> Any:
        """docs/examples/haproxy.cfg with free ports: ``(proxyProtocolPort, forwardedPort)``."""
        front = {8080: freePort(), 8081: freePort()}
        folder = Path(self.mktemp()).resolve()
        folder.mkdir()
        config = folder / "haproxy.cfg"
        config.write_text(fromFile("haproxy.cfg", {
            **front, 9091: backends[0].plainPort, 9092: backends[1].plainPort,
            9191: backends[0].proxyPort, 9192: backends[1].proxyPort}), "utf-8")
        child = self.spawn(Child("haproxy"), HAPROXY, ["-db", "-f", str(config)], folder)
        yield self.answering(front[8080], child)
        yield self.answering(front[8081], child)
        return front[8080], front[8081]

    @inlineCallbacks
    def startNginx(self, backends: list[Backend]) -> Any:
        """docs/examples/nginx-bws.conf inside a minimal nginx.conf, with free ports."""
        port = freePort()
        folder = Path(self.mktemp()).resolve()
        folder.mkdir()
        (folder / "bws.conf").write_text(fromFile("nginx-bws.conf", {
            8080: port, 9091: backends[0].plainPort, 9092: backends[1].plainPort}), "utf-8")
        temp = "".join(f"    {kind}_temp_path {folder / kind};\n"
                       for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        (folder / "nginx.conf").write_text(
            "events {}\nhttp {\n    access_log off;\n" + temp
            + f"    include {folder / 'bws.conf'};\n}}\n", "utf-8")
        child = self.spawn(Child("nginx"), NGINX, [
            "-p", str(folder), "-c", str(folder / "nginx.conf"), "-g",
            f"daemon off; pid {folder / 'nginx.pid'}; error_log stderr notice;"], folder)
        yield self.answering(port, child)
        return port

    @inlineCallbacks
    def ask(self, port: int, text: str = "hello", **config: Any) -> Any:
        """A bws client from ``CLIENT_HOST`` through ``port``: one message, the answer as
        JSON, then a normal close."""
        client = yield bws.Client.connect(f"ws://127.0.0.1:{port}/",
                                          connector=connectFrom("127.0.0.1", port),
                                          readTimeout=30, **config)
        try:
            yield client.writeTextMessage(text)
            answer = json.loads((yield client.readTextMessage()))
        finally:
            yield client.close()
        return answer

    def assertAnswer(self, answer: Any, backends: list[Backend], client: str, via: str,
                     text: str = "hello") -> None:
        self.assertIn(answer["backend"], [b.name for b in backends])
        self.assertEqual((answer["client"], answer["via"], answer["echo"]), (client, via, text))

    @inlineCallbacks
    def drainAndMove(self, port: int, backends: list[Backend]) -> Any:
        """One backend stops (SIGTERM: ``gracefulStop``): its clients get 1001, it exits
        0, and a client with ``retryConfig`` reconnects through the proxy to the other."""
        retrying = yield bws.Client.connect(
            f"ws://127.0.0.1:{port}/", connector=connectFrom("127.0.0.1", port),
            retryConfig={"interval": 0.2, "maxCount": 25})
        self.addCleanup(lambda: retrying.close().addErrback(lambda f: None))
        yield retrying.writeTextMessage("who")
        first = json.loads((yield retrying.readTextMessage()))["backend"]
        [stopping] = [b for b in backends if b.name == first]
        [other] = [b for b in backends if b.name != first]
        # A client without retryConfig on the same backend; the others stay open, so the
        # balancer's connection counts keep alternating.
        plain = None
        for _ in range(8):
            client = yield bws.Client.connect(f"ws://127.0.0.1:{port}/",
                                              connector=connectFrom("127.0.0.1", port))
            self.addCleanup(lambda c=client: c.close().addErrback(lambda f: None))
            yield client.writeTextMessage("who")
            if json.loads((yield client.readTextMessage()))["backend"] == first:
                plain = client
                break
        assert plain is not None, "no second connection reached the first backend"
        waiting = retrying.readTextMessage()
        lost = plain.readTextMessage()
        os.kill(stopping.child.pid, signal.SIGTERM)
        error = yield self.assertFailure(lost, bws.ConnectionClosureError)
        self.assertEqual(str(error), "Connection closed Status code: 1001")
        ended = yield stopping.child.ended
        # twistd exits by the signal it was stopped with, once shut down (UNIX convention).
        self.assertIsInstance(ended, ProcessTerminated)
        self.assertEqual(ended.signal, signal.SIGTERM)
        self.assertIn("Server Shut Down.", stopping.child.output)
        yield retrying.writeTextMessage("again")
        answer = json.loads((yield waiting))
        self.assertEqual((answer["backend"], answer["echo"]), (other.name, "again"))
        self.assertEqual(answer["client"], CLIENT_HOST)


class NginxTests(ProxyTestCase):
    """nginx with docs/examples/nginx-bws.conf (X-Forwarded-For), in front of two backends
    run by docs/examples/bws@.service's ``ExecStart`` line."""

    proxy = (NGINX, "nginx-light")

    @inlineCallbacks
    def test_upgradeAndClientAddress(self) -> Any:
        """The upgrade passes through nginx for a bws client and a ``websockets`` client;
        the backend, trusting 127.0.0.1, sees the client's address, not one the client
        wrote in X-Forwarded-For."""
        backends = yield self.twoBackends(unitBackend())
        port = yield self.startNginx(backends)
        answer = yield self.ask(port)
        self.assertAnswer(answer, backends, CLIENT_HOST, "127.0.0.1")
        answer = yield self.ask(port, customHeaders={"X-Forwarded-For": "6.6.6.6"})
        self.assertAnswer(answer, backends, CLIENT_HOST, "127.0.0.1")
        answer = yield inThread(websocketsAsk, port, "hello", {"X-Forwarded-For": "6.6.6.6"})
        self.assertAnswer(answer, backends, CLIENT_HOST, "127.0.0.1")

    @inlineCallbacks
    def test_untrustedProxy(self) -> Any:
        """A backend that does not trust nginx sees nginx's address: neither the client's
        nor the one the client wrote; a client that writes X-Forwarded-For to a backend
        directly is not believed either."""
        backends = yield self.twoBackends(unitBackend(), trusted=False)
        port = yield self.startNginx(backends)
        answer = yield self.ask(port, customHeaders={"X-Forwarded-For": "6.6.6.6"})
        self.assertAnswer(answer, backends, "127.0.0.1", "127.0.0.1")
        answer = yield self.ask(backends[0].plainPort,
                                customHeaders={"X-Forwarded-For": "6.6.6.6"})
        self.assertAnswer(answer, backends, CLIENT_HOST, CLIENT_HOST)

    @inlineCallbacks
    def test_drainMovesClient(self) -> Any:
        """A draining backend closes its clients with 1001; a retrying client reconnects
        through nginx to the other backend."""
        backends = yield self.twoBackends(unitBackend())
        port = yield self.startNginx(backends)
        yield self.drainAndMove(port, backends)


class HaproxyTests(ProxyTestCase):
    """HAProxy with docs/examples/haproxy.cfg: PROXY protocol v2 and X-Forwarded-For."""

    proxy = (HAPROXY, "haproxy")

    @inlineCallbacks
    def test_upgradeAndClientAddress(self) -> Any:
        """The upgrade passes through both frontends for a bws client and a ``websockets``
        client; the backend sees the client's address from the PROXY header (on its
        ``haproxy:`` listener) and from X-Forwarded-For, never the one the client wrote."""
        backends = yield self.twoBackends(pageBackend())
        proxyProtocol, forwardedFor = yield self.startHaproxy(backends)
        for port in (proxyProtocol, forwardedFor):
            answer = yield self.ask(port, customHeaders={"X-Forwarded-For": "6.6.6.6"})
            self.assertAnswer(answer, backends, CLIENT_HOST, "127.0.0.1")
            answer = yield inThread(websocketsAsk, port, "hi", {"X-Forwarded-For": "6.6.6.6"})
            self.assertAnswer(answer, backends, CLIENT_HOST, "127.0.0.1", "hi")

    @inlineCallbacks
    def test_untrustedProxy(self) -> Any:
        """Without ``--trusted-proxy`` the X-Forwarded-For frontend's backend sees HAProxy's
        address; a ``haproxy:`` listener still takes its PROXY header (Twisted's endpoint
        believes it: such a port must be reachable by the proxy only)."""
        backends = yield self.twoBackends(pageBackend(), trusted=False)
        proxyProtocol, forwardedFor = yield self.startHaproxy(backends)
        answer = yield self.ask(forwardedFor, customHeaders={"X-Forwarded-For": "6.6.6.6"})
        self.assertAnswer(answer, backends, "127.0.0.1", "127.0.0.1")
        answer = yield self.ask(proxyProtocol)
        self.assertAnswer(answer, backends, CLIENT_HOST, "127.0.0.1")

    @inlineCallbacks
    def test_drainMovesClient(self) -> Any:
        """Through the PROXY-protocol frontend, a draining backend closes with 1001 and a
        retrying client lands on the other backend."""
        backends = yield self.twoBackends(pageBackend())
        proxyProtocol, _ = yield self.startHaproxy(backends)
        yield self.drainAndMove(proxyProtocol, backends)

    @inlineCallbacks
    def test_drainMovesClientHttpMode(self) -> Any:
        """The same through the X-Forwarded-For frontend (HTTP mode, tunnel after the
        upgrade)."""
        backends = yield self.twoBackends(pageBackend())
        _, forwardedFor = yield self.startHaproxy(backends)
        yield self.drainAndMove(forwardedFor, backends)

    @inlineCallbacks
    def test_tlsAtBackend(self) -> Any:
        """TLS at bws behind the PROXY-protocol frontend: HAProxy passes the encrypted bytes
        through, the backend's ``haproxy:`` listener reads the PROXY header, then speaks
        TLS, and still sees the client's address."""
        import trustme

        folder = Path(self.mktemp()).resolve()
        folder.mkdir()
        ca = trustme.CA()
        ca.cert_pem.write_to_path(str(folder / "ca.pem"))
        server = ca.issue_cert("localhost")
        server.cert_chain_pems[0].write_to_path(str(folder / "server.pem"))
        server.private_key_pem.write_to_path(str(folder / "server.key"))
        command = [*pageBackend(), "--cert", str(folder / "server.pem"),
                   "--key", str(folder / "server.key")]
        backends = yield self.twoBackends(command)
        proxyProtocol, _ = yield self.startHaproxy(backends)
        answer = yield inThread(websocketsAsk, proxyProtocol, "secret", None,
                                str(folder / "ca.pem"))
        self.assertAnswer(answer, backends, CLIENT_HOST, "127.0.0.1", "secret")
