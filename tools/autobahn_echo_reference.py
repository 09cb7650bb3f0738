"""Raw Autobahn echo server: the reference that bws's Autobahn|Testsuite results are read against.

    python tools/autobahn_echo_reference.py PORT [HOST]

Serves a plain ``autobahn.twisted.websocket`` echo service at ``ws://HOST:PORT/`` (HOST
defaults to 127.0.0.1) with the settings ``twistd -n bws --max-frame-size 16777216`` uses for
the conformance run: permessage-deflate accepted as offered, frame and message payloads up to
16 MiB, ``failByDrop=False`` (protocol errors are answered with a close frame, not a dropped
connection). No bws code is involved, so the numbers it gets are what Autobahn itself does::

    tools/autobahn-server --server-cmd 'python tools/autobahn_echo_reference.py {port}'
"""

import sys

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.compress import PerMessageDeflateOffer, PerMessageDeflateOfferAccept
from twisted.internet import reactor
from twisted.python import log

MAX_PAYLOAD = 16 * 1024 * 1024


class EchoProtocol(WebSocketServerProtocol):
    def onMessage(self, payload, isBinary):
        self.sendMessage(payload, isBinary)


def acceptDeflate(offers):
    """Accept the first permessage-deflate offer with the parameters the client asked for."""
    for offer in offers:
        if isinstance(offer, PerMessageDeflateOffer):
            return PerMessageDeflateOfferAccept(offer)
    return None


def main(argv):
    if len(argv) not in (2, 3):
        sys.exit(__doc__)
    port = int(argv[1])
    host = argv[2] if len(argv) == 3 else "127.0.0.1"
    log.startLogging(sys.stdout)
    factory = WebSocketServerFactory(f"ws://{host}:{port}")
    factory.protocol = EchoProtocol
    factory.setProtocolOptions(
        perMessageCompressionAccept=acceptDeflate,
        maxFramePayloadSize=MAX_PAYLOAD,
        maxMessagePayloadSize=MAX_PAYLOAD,
        failByDrop=False,
    )
    reactor.listenTCP(port, factory, interface=host)
    reactor.run()


if __name__ == "__main__":
    main(sys.argv)
