"""The client's address behind proxies: the header algorithm on values
(:mod:`bws._forwarded`), then what a service and the logs see through a real ``Listener`` in
memory, with ``X-Forwarded-For``, ``Forwarded`` and the PROXY protocol."""

from __future__ import annotations

import os
from ipaddress import ip_network
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IProtocol, IProtocolFactory
from twisted.logger import globalLogPublisher
from twisted.protocols.haproxy import proxyEndpoint
from twisted.python import usage
from twisted.test.iosim import FakeTransport
from twisted.test.iosim import connect as iosimConnect
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource
from twisted.web.server import Site

import bws
from bws._forwarded import (
    FORWARDED,
    X_FORWARDED_FOR,
    clientAddress,
    forwardedHops,
    isTrusted,
    parseHop,
    parseNetwork,
    trustedNetworks,
    xForwardedForHops,
)
from bws.config import ListenerConfiguration
from bws.configfile import load
from bws.tap import Options, buildService, loadService
from bws.testing import MemoryListener

TEN = (ip_network("10.0.0.0/8"),)


class ParseHopTests(SynchronousTestCase):
    """One element of a chain."""

    def test_addresses(self) -> None:
        """IPv4 and IPv6, with and without a port, bracketed or not."""
        self.assertEqual(parseHop(" 192.0.2.7 "), ("192.0.2.7", 0))
        self.assertEqual(parseHop("192.0.2.7:4711"), ("192.0.2.7", 4711))
        self.assertEqual(parseHop("2001:db8::7"), ("2001:db8::7", 0))
        self.assertEqual(parseHop("[2001:db8::7]"), ("2001:db8::7", 0))
        self.assertEqual(parseHop("[2001:DB8:0::7]:4711"), ("2001:db8::7", 4711))

    def test_obfuscatedPort(self) -> None:
        """An obfuscated port (RFC 7239 §6.3) keeps the address, port 0."""
        self.assertEqual(parseHop("[2001:db8::7]:_port"), ("2001:db8::7", 0))
        self.assertEqual(parseHop("192.0.2.7:_x"), ("192.0.2.7", 0))

    def test_notAnAddress(self) -> None:
        """Names, ``unknown``, obfuscated nodes and garbage name no address."""
        for text in ["", "unknown", "_hidden", "example.com", "192.0.2.7:99999", "1.2.3",
                     "[192.0.2.7]", "[2001:db8::7", "[2001:db8::7]4711", "2001:db8::7:_x:",
                     "192.0.2.7:", "300.1.1.1", "\x00"]:
            self.assertIsNone(parseHop(text), text)


class NetworkTests(SynchronousTestCase):
    """Trusted proxies as written in a configuration."""

    def test_addressesAndNetworks(self) -> None:
        """An address is a network of one; CIDR networks of both families."""
        self.assertEqual(trustedNetworks(["10.0.0.7", "fd00::/8", "::1"]),
                         (ip_network("10.0.0.7/32"), ip_network("fd00::/8"),
                          ip_network("::1/128")))
        self.assertEqual(trustedNetworks("127.0.0.1"), (ip_network("127.0.0.1/32"),))
        self.assertEqual(trustedNetworks(None), ())
        self.assertEqual(parseNetwork(ip_network("10.0.0.0/8")), ip_network("10.0.0.0/8"))

    def test_wrongEntryNamed(self) -> None:
        """A wrong entry is named by its index and says what is wrong."""
        e = self.assertRaises(ValueError, trustedNetworks, ["10.0.0.0/8", "10.0.0.1/8"])
        self.assertEqual(str(e), "[1]: '10.0.0.1/8' has host bits set: write '10.0.0.0/8'")
        e = self.assertRaises(ValueError, trustedNetworks, ["proxy.example"])
        self.assertEqual(str(e), "[0]: 'proxy.example' is not an IP address or CIDR network")
        self.assertRaises(ValueError, trustedNetworks, 7)
        self.assertRaises(ValueError, trustedNetworks, {"10.0.0.0/8": True})

    def test_mappedAddress(self) -> None:
        """An IPv4-mapped IPv6 peer (a dual-stack socket) is matched as IPv4."""
        self.assertTrue(isTrusted("::ffff:10.1.2.3", TEN))
        self.assertFalse(isTrusted("::ffff:11.1.2.3", TEN))
        self.assertFalse(isTrusted("not an address", TEN))


class HeaderTests(SynchronousTestCase):
    """The two headers, split into hops."""

    def test_xForwardedFor(self) -> None:
        """Commas split; a repeated header continues the list in arrival order."""
        self.assertEqual(xForwardedForHops(["6.6.6.6, 198.51.100.7", "10.0.0.3"]),
                         [("6.6.6.6", 0), ("198.51.100.7", 0), ("10.0.0.3", 0)])
        self.assertEqual(xForwardedForHops(["a,,198.51.100.7"]),
                         [None, None, ("198.51.100.7", 0)])

    def test_forwarded(self) -> None:
        """RFC 7239's examples: quoted IPv6 with a port, other parameters, any case."""
        values = ['for="_gazonk"', 'For="[2001:db8:cafe::17]:4711"',
                  "for=192.0.2.60;proto=http;by=203.0.113.43", "for=192.0.2.43, for=198.51.100.17"]
        self.assertEqual(forwardedHops(values), [
            None, ("2001:db8:cafe::17", 4711), ("192.0.2.60", 0), ("192.0.2.43", 0),
            ("198.51.100.17", 0)])

    def test_forwardedQuotes(self) -> None:
        """Commas and semicolons inside quoted strings do not split; escapes are undone."""
        values = ['by="a,b;c";for="198.51.100.7", for="\\1\\9\\2.0.2.1"']
        self.assertEqual(forwardedHops(values), [("198.51.100.7", 0), ("192.0.2.1", 0)])

    def test_forwardedMalformed(self) -> None:
        """An element without ``for``, with it twice, without ``=``, or with an unclosed
        quote names no address; the elements around it still count."""
        values = ["proto=https", "for=192.0.2.1;for=192.0.2.2", "for", "=x",
                  'for="192.0.2.3', 'for=192.0.2.4"', "for=192.0.2.5"]
        self.assertEqual(forwardedHops(values), [None] * 6 + [("192.0.2.5", 0)])
        self.assertEqual(forwardedHops(['for="192.0.2.6, for=192.0.2.7']), [None])


class ClientAddressTests(SynchronousTestCase):
    """The walk from the right."""

    def walk(self, header: str | list[str], *connection: tuple[str, int],
             name: str = X_FORWARDED_FOR, trusted: Any = TEN) -> tuple[str, int]:
        values = [header] if isinstance(header, str) else header
        return clientAddress(list(connection), name, values, trusted)

    def test_untrustedPeerIgnored(self) -> None:
        """A peer that is not a trusted proxy is the client, whatever it writes."""
        self.assertEqual(self.walk("6.6.6.6", ("203.0.113.9", 5000)), ("203.0.113.9", 5000))

    def test_noTrustedProxies(self) -> None:
        """With no trusted proxies the header is never read."""
        self.assertEqual(self.walk("6.6.6.6", ("10.0.0.2", 5000), trusted=()),
                         ("10.0.0.2", 5000))

    def test_chain(self) -> None:
        """Through several trusted proxies, the right-most untrusted hop is the client:
        what the client wrote left of it is not believed."""
        self.assertEqual(self.walk("6.6.6.6, 198.51.100.7, 10.0.0.3", ("10.0.0.2", 5000)),
                         ("198.51.100.7", 0))
        self.assertEqual(self.walk(["6.6.6.6", "198.51.100.7", "10.9.9.9, 10.0.0.3"],
                                   ("10.0.0.2", 5000)), ("198.51.100.7", 0))

    def test_allTrusted(self) -> None:
        """When every hop is trusted, the left-most is the client."""
        self.assertEqual(self.walk("10.1.1.1, 10.0.0.3", ("10.0.0.2", 5000)),
                         ("10.1.1.1", 0))

    def test_noHeader(self) -> None:
        """A trusted proxy that wrote no header is the client (a health check, say)."""
        self.assertEqual(self.walk([], ("10.0.0.2", 5000)), ("10.0.0.2", 5000))

    def test_malformedStops(self) -> None:
        """A hop that names no address stops the walk at the proxy that passed it on."""
        self.assertEqual(self.walk("198.51.100.7, garbage, 10.0.0.3", ("10.0.0.2", 5000)),
                         ("10.0.0.3", 0))
        self.assertEqual(self.walk("unknown", ("10.0.0.2", 5000)), ("10.0.0.2", 5000))
        self.assertEqual(self.walk(",", ("10.0.0.2", 5000)), ("10.0.0.2", 5000))
        self.assertEqual(self.walk("\x00\xff" * 100, ("10.0.0.2", 5000)), ("10.0.0.2", 5000))

    def test_malformedLeftOfClientHarmless(self) -> None:
        """Garbage the client wrote left of its own address is never reached."""
        self.assertEqual(self.walk("garbage, 198.51.100.7", ("10.0.0.2", 5000)),
                         ("198.51.100.7", 0))

    def test_ipv6(self) -> None:
        """IPv6 proxies and clients, with ports from ``Forwarded``."""
        trusted = (ip_network("fd00::/8"), ip_network("::1/128"))
        self.assertEqual(self.walk("2001:db8::7, fd00::3", ("::1", 5000), trusted=trusted),
                         ("2001:db8::7", 0))
        self.assertEqual(self.walk('for="[2001:db8::7]:4711", for="[fd00::3]"', ("::1", 5000),
                                   name=FORWARDED, trusted=trusted), ("2001:db8::7", 4711))

    def test_forwardedIgnoresXForwardedFor(self) -> None:
        """The header read is the one named; ``Forwarded`` is walked like the other."""
        self.assertEqual(self.walk("for=6.6.6.6, for=198.51.100.7", ("10.0.0.2", 5000),
                                   name=FORWARDED), ("198.51.100.7", 0))

    def test_proxyProtocolHop(self) -> None:
        """With the PROXY protocol the source it names is the hop left of the TCP peer:
        believed from a trusted sender only; the header is read only if that source is
        itself a trusted proxy."""
        self.assertEqual(self.walk("6.6.6.6", ("198.51.100.7", 4711), ("10.0.0.2", 5000)),
                         ("198.51.100.7", 4711))
        self.assertEqual(self.walk("6.6.6.6", ("198.51.100.7", 4711), ("203.0.113.9", 5000)),
                         ("203.0.113.9", 5000))
        self.assertEqual(self.walk("198.51.100.7", ("10.0.0.9", 4711), ("10.0.0.2", 5000)),
                         ("198.51.100.7", 0))
        self.assertEqual(self.walk("6.6.6.6", ("198.51.100.7", 4711), ("10.0.0.2", 5000),
                                   trusted=()), ("198.51.100.7", 4711))


class Recorder:
    """Records each upgrade request; its connections echo text."""

    def __init__(self) -> None:
        self.requests: list[bws.UpgradeRequest] = []

    def get(self, request: bws.UpgradeRequest) -> Any:
        self.requests.append(request)
        return self

    def onTextMessage(self, caller: Any, text: str) -> str:
        return text


class ListenerTests(SynchronousTestCase):
    """What ``UpgradeRequest.peer`` and the logs say through a real ``Listener``."""

    def setUp(self) -> None:
        self.events: list[dict[str, Any]] = []

        def observe(event: dict[str, Any]) -> None:
            if "wsEvent" in event and event.get("side") == "server":
                self.events.append(event)

        globalLogPublisher.addObserver(observe)
        self.addCleanup(globalLogPublisher.removeObserver, observe)

    def serve(self, peerHost: str, **config: Any) -> tuple[MemoryListener, Recorder]:
        memory = MemoryListener(**config)
        memory.peerHost = peerHost
        recorder = Recorder()
        memory.attach(recorder, "/echo")
        return memory, recorder

    def request(self, peerHost: str, headers: dict[str, str],
                **config: Any) -> bws.UpgradeRequest:
        """Connect from ``peerHost`` with ``headers``; check the connection echoes; the
        request the service got."""
        memory, recorder = self.serve(peerHost, **config)
        client = self.successResultOf(memory.connect("/echo", customHeaders=headers))
        client.writeTextMessage("still serving")
        memory.flush()
        self.assertEqual(self.successResultOf(client.readTextMessage()), "still serving")
        [request] = recorder.requests
        return request

    def test_spoofFromUntrustedPeerIgnored(self) -> None:
        """A client that is not a trusted proxy cannot name another address."""
        request = self.request("203.0.113.9", {"X-Forwarded-For": "6.6.6.6"},
                               trustedProxies=["10.0.0.0/8"])
        self.assertEqual(request.peer, ("203.0.113.9", 40000))
        self.assertEqual(request.connectionPeer, request.peer)

    def test_withoutTrustedProxies(self) -> None:
        """Without ``trustedProxies`` (the default) the header is ignored from anyone."""
        request = self.request("10.0.0.2", {"X-Forwarded-For": "6.6.6.6"})
        self.assertEqual(request.peer, ("10.0.0.2", 40000))

    def test_throughTrustedProxies(self) -> None:
        """From a trusted proxy, the right-most untrusted hop is the peer; the proxy is the
        connection's peer; the open line logs the client."""
        request = self.request("10.0.0.2", {"X-Forwarded-For": "6.6.6.6, 198.51.100.7, 10.0.0.3"},
                               trustedProxies=["10.0.0.0/8"])
        self.assertEqual(request.peer, ("198.51.100.7", 0))
        self.assertEqual(request.connectionPeer, ("10.0.0.2", 40000))
        self.assertEqual(self.events[0]["peer"], "198.51.100.7")

    def test_malformedHeaderServed(self) -> None:
        """A malformed header from a trusted proxy is not a crash: the proxy is the peer
        and the connection serves."""
        for header in ["garbage", "", ",,,", "1.2.3.4:99999", "[::1", "\u00ff" * 50]:
            request = self.request("10.0.0.2", {"X-Forwarded-For": header},
                                   trustedProxies=["10.0.0.0/8"])
            self.assertEqual(request.peer, ("10.0.0.2", 40000), header)
        request = self.request("10.0.0.2", {"Forwarded": 'for="unclosed'},
                               trustedProxies=["10.0.0.0/8"], forwardedHeader="Forwarded")
        self.assertEqual(request.peer, ("10.0.0.2", 40000))

    def test_ipv6(self) -> None:
        """An IPv6 proxy and client, through ``Forwarded``; the client's forged
        ``X-Forwarded-For`` is not read when the listener reads ``Forwarded``."""
        request = self.request(
            "::1", {"Forwarded": 'for="[2001:db8::7]:4711";proto=https',
                    "X-Forwarded-For": "6.6.6.6"},
            trustedProxies=["::1"], forwardedHeader="forwarded")
        self.assertEqual(request.peer, ("2001:db8::7", 4711))
        self.assertEqual(request.connectionPeer, ("::1", 40000))
        self.assertEqual(self.events[0]["peer"], "[2001:db8::7]:4711")

    def test_sharedSite(self) -> None:
        """A listener sharing a ``Site`` takes ``trustedProxies`` and ``forwardedHeader``
        (how requests are read), and still refuses the port's own fields."""
        memory = MemoryListener()
        memory.peerHost = "10.0.0.2"
        site = Site(Resource(), reactor=memory.clock)
        listener = bws.Listener(site, reactor=memory.clock, trustedProxies=["10.0.0.0/8"],
                                forwardedHeader="Forwarded")
        recorder = Recorder()
        listener.attach(recorder, "/ws")
        self.successResultOf(listener.start())
        memory.listener = listener
        self.successResultOf(memory.connect("/ws", customHeaders={
            "Forwarded": "for=198.51.100.7", "X-Forwarded-For": "6.6.6.6"}))
        self.assertEqual(recorder.requests[0].peer, ("198.51.100.7", 0))
        e = self.assertRaises(bws.ConfigurationError, bws.Listener, site,
                              trustedProxies=["10.0.0.0/8"], timeout=5)
        self.assertIn("(got timeout)", str(e))

    def test_refusalLogsClient(self) -> None:
        """A refused upgrade behind a trusted proxy logs the client's address."""
        memory, _ = self.serve("10.0.0.2", trustedProxies=["10.0.0.0/8"])
        self.failureResultOf(memory.connect("/nowhere",
                                            customHeaders={"X-Forwarded-For": "198.51.100.7"}),
                             bws.InvalidHandshakeError)
        self.assertEqual([(e["status"], e["peer"]) for e in self.events],
                         [(404, "198.51.100.7")])


class CapturingEndpoint:
    """A server endpoint that keeps the factory it is asked to listen with."""

    factory: IProtocolFactory

    def listen(self, factory: IProtocolFactory) -> Deferred[None]:
        self.factory = factory
        return succeed(None)


def proxiedConnector(memory: MemoryListener, header: bytes, tcpHost: str) -> Any:
    """Connect in memory through the PROXY-protocol wrapper that a ``haproxy:`` endpoint
    (:func:`twisted.protocols.haproxy.proxyEndpoint`) puts in front of the site, sending
    ``header`` before the client's bytes."""
    captured = CapturingEndpoint()
    proxyEndpoint(captured).listen(memory.listener.site)  # type: ignore[arg-type]

    def connector(factory: IProtocolFactory) -> Deferred[IProtocol | None]:
        clientAddress = IPv4Address("TCP", tcpHost, 50000)
        serverAddress = IPv4Address("TCP", "127.0.0.1", 9090)
        clientProto = factory.buildProtocol(serverAddress)
        serverProto = captured.factory.buildProtocol(clientAddress)
        assert clientProto is not None and serverProto is not None
        serverTransport = FakeTransport(serverProto, True, serverAddress, clientAddress)
        clientTransport = FakeTransport(clientProto, False, clientAddress, serverAddress)
        pump = iosimConnect(serverProto, serverTransport, clientProto, clientTransport,
                            greet=False, clock=memory.clock)
        serverProto.dataReceived(header)
        memory.pumps.append(pump)
        return succeed(clientProto)

    return connector


class ProxyProtocolTests(SynchronousTestCase):
    """A PROXY-protocol wrapper's address reaches the request, trusted as configured."""

    V1 = b"PROXY TCP4 198.51.100.7 127.0.0.1 4711 9090\r\n"

    def request(self, header: bytes, tcpHost: str, headers: dict[str, str] | None = None,
                **config: Any) -> bws.UpgradeRequest:
        memory = MemoryListener(**config)
        recorder = Recorder()
        memory.attach(recorder, "/")
        d = bws.Client.connect("ws://127.0.0.1:9090/", reactor=memory.clock,
                               connector=proxiedConnector(memory, header, tcpHost),
                               customHeaders=headers or {})
        memory.flush()
        client = self.successResultOf(d)
        client.writeTextMessage("through")
        memory.flush()
        self.assertEqual(self.successResultOf(client.readTextMessage()), "through")
        [request] = recorder.requests
        return request

    def test_withoutTrustedProxies(self) -> None:
        """Without ``trustedProxies`` the PROXY header is believed, as Twisted's endpoint
        does: the listener must be reachable only by the proxy."""
        request = self.request(self.V1, "203.0.113.9")
        self.assertEqual(request.peer, ("198.51.100.7", 4711))
        self.assertEqual(request.connectionPeer, ("203.0.113.9", 50000))

    def test_trustedSender(self) -> None:
        """From a trusted sender the PROXY source is the peer, in the open log line too; a
        header the client wrote is not read past it."""
        events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        request = self.request(self.V1, "10.0.0.2", {"X-Forwarded-For": "6.6.6.6"},
                               trustedProxies=["10.0.0.0/8"])
        self.assertEqual(request.peer, ("198.51.100.7", 4711))
        self.assertEqual(request.connectionPeer, ("10.0.0.2", 50000))
        [opened] = [e for e in events if e.get("wsEvent") == "open"
                    and e.get("side") == "server"]
        self.assertEqual(opened["peer"], "198.51.100.7:4711")

    def test_untrustedSender(self) -> None:
        """With ``trustedProxies``, a PROXY header from elsewhere is not believed."""
        request = self.request(self.V1, "203.0.113.9", trustedProxies=["10.0.0.0/8"])
        self.assertEqual(request.peer, ("203.0.113.9", 50000))

    def test_version2(self) -> None:
        """PROXY protocol v2 (HAProxy's ``send-proxy-v2``), an IPv6 source."""
        source = bytes.fromhex("20010db8000000000000000000000007")
        header = (b"\r\n\r\n\x00\r\nQUIT\n" + b"\x21\x21" + (36).to_bytes(2, "big")
                  + source + bytes(15) + b"\x01" + (4711).to_bytes(2, "big")
                  + (9090).to_bytes(2, "big"))
        request = self.request(header, "10.0.0.2", trustedProxies=["10.0.0.0/8"])
        self.assertEqual(request.peer, ("2001:db8::7", 4711))


class ConfigurationTests(SynchronousTestCase):
    """The two fields, as the records check them."""

    def test_defaults(self) -> None:
        """No trusted proxy, ``X-Forwarded-For``."""
        config = ListenerConfiguration()
        self.assertEqual((config.trustedProxies, config.forwardedHeader),
                         ((), "X-Forwarded-For"))

    def test_wrongValuesNamed(self) -> None:
        """A wrong entry or header fails naming the field."""
        e = self.assertRaises(bws.ConfigurationError, ListenerConfiguration,
                              trustedProxies=["10.0.0.0/8", "localhost"])
        self.assertEqual(str(e), "ListenerConfiguration.trustedProxies[1]: 'localhost' is "
                                 "not an IP address or CIDR network")
        e = self.assertRaises(bws.ConfigurationError, ListenerConfiguration,
                              trustedProxies=8080)
        self.assertIn("ListenerConfiguration.trustedProxies: expected a list", str(e))
        e = self.assertRaises(bws.ConfigurationError, ListenerConfiguration,
                              forwardedHeader="X-Real-IP")
        self.assertIn("ListenerConfiguration.forwardedHeader: must be one of", str(e))

    def test_listenerKeyword(self) -> None:
        """``Listener`` takes them as keywords, as its other fields."""
        listener = bws.Listener(0, trustedProxies="127.0.0.1", forwardedHeader="FORWARDED")
        self.assertEqual(listener.config.trustedProxies, (ip_network("127.0.0.1/32"),))
        self.assertEqual(listener.config.forwardedHeader, "Forwarded")


class EntryPointTests(SynchronousTestCase):
    """``twistd bws --trusted-proxy`` and a config file's ``trustedProxies``."""

    def test_options(self) -> None:
        """``--trusted-proxy`` is repeatable; ``--forwarded-header`` picks the header; every
        listener gets them."""
        options = Options()
        options.parseOptions(["--listen", "tcp:0", "--listen", "haproxy:tcp:0",
                              "--trusted-proxy", "127.0.0.1", "--trusted-proxy", "fd00::/8",
                              "--forwarded-header", "forwarded"])
        listeners = buildService(options).listeners
        self.assertEqual(len(listeners), 2)
        for listener, _ in listeners:
            self.assertEqual(listener.config.trustedProxies,
                             (ip_network("127.0.0.1/32"), ip_network("fd00::/8")))
            self.assertEqual(listener.config.forwardedHeader, "Forwarded")

    def test_badOptions(self) -> None:
        """A wrong value fails in one line naming the option."""
        for argv, message in [
            (["--trusted-proxy", "10.0.0.1/8"],
             "--trusted-proxy: '10.0.0.1/8' has host bits set: write '10.0.0.0/8'"),
            (["--trusted-proxy", "proxy"],
             "--trusted-proxy: 'proxy' is not an IP address or CIDR network"),
            (["--forwarded-header", "X-Real-IP"],
             "--forwarded-header: expected X-Forwarded-For or Forwarded, got 'X-Real-IP'"),
        ]:
            e = self.assertRaises(usage.UsageError, Options().parseOptions, argv)
            self.assertEqual(str(e), message)

    def test_configFile(self) -> None:
        """``trustedProxies`` and ``forwardedHeader`` in a ``[[listeners]]`` table; a wrong
        entry names ``file:[table].field[i]``; ``--trusted-proxy`` does not mix with
        ``--config``."""
        folder = self.mktemp()
        os.mkdir(folder)
        path = os.path.join(folder, "bws.toml")
        services = '[[services]]\nservice = "bws.testing.echo:EchoUpgradeService"\n'
        with open(path, "w") as f:
            f.write('[[listeners]]\nport = 9090\ntrustedProxies = ["10.0.0.0/8", "::1"]\n'
                    'forwardedHeader = "Forwarded"\n' + services)
        [entry] = load(path, loadService).listeners
        self.assertEqual(entry.config.trustedProxies,
                         (ip_network("10.0.0.0/8"), ip_network("::1/128")))
        self.assertEqual(entry.config.forwardedHeader, "Forwarded")
        with open(path, "w") as f:
            f.write('[[listeners]]\nport = 9090\ntrustedProxies = ["10.0.0.0/8", "nginx"]\n'
                    + services)
        e = self.assertRaises(bws.ConfigurationError, load, path, loadService)
        self.assertEqual(str(e), "bws.toml:[[listeners]][0].trustedProxies[1]: 'nginx' is not "
                                 "an IP address or CIDR network")
        e = self.assertRaises(usage.UsageError, Options().parseOptions,
                              ["--config", path, "--trusted-proxy", "10.0.0.1"])
        self.assertIn("combined with --trusted-proxy", str(e))
