"""A wss:// client that trusts your CA: it sends "hello" and prints the answer.

    python tls_client.py [URL [CAFILE [CERTFILE KEYFILE]]]

    python tls_client.py wss://localhost:9443/echo ca.pem
    python tls_client.py wss://localhost:9443/hello ca.pem client.pem client.key
    python tls_client.py wss://localhost:9443/echo ""    # the platform's trust store

Run it where make-test-ca.sh made its files: those are the defaults.
"""

import sys

from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import react

import bws
from bws.tls import CertKey, ClientSecureSocket


@inlineCallbacks
def main(reactor, url="wss://localhost:9443/echo", caFile="ca.pem", certFile=None,
         keyFile=None):
    secureSocket = ClientSecureSocket(
        cert=caFile or None,                                     # None: the platform's CAs
        key=CertKey(certFile, keyFile) if certFile else None,    # for mutual TLS
    )
    client = yield bws.Client.connect(url, secureSocket=secureSocket, readTimeout=5)
    yield client.writeTextMessage("hello")
    print((yield client.readTextMessage()))
    yield client.close()


if __name__ == "__main__":
    react(main, sys.argv[1:])
