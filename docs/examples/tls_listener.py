"""A wss:// echo listener on localhost, with its key given in one of five ways.

    python tls_listener.py [PORT [KIND [FILE ...]]]

    python tls_listener.py 9443 certkey server.pem server.key
    BWS_KEY_PASSWORD="$(cat password.txt)" \
        python tls_listener.py 9443 encrypted server.pem server-encrypted.key
    python tls_listener.py 9443 keystore server.p12 password.txt
    python tls_listener.py 9443 tls13 server.pem server.key
    python tls_listener.py 9443 ciphers server.pem server.key

Run it where make-test-ca.sh made its files: those are the defaults.
"""

import os
import sys

from twisted.internet import reactor

import bws
from bws.tls import CertKey, KeyStore, ListenerSecureSocket, Protocol
from echo_service import EchoUpgrade


def main(port=9443, kind="certkey", *files):
    secureSocket = KINDS[kind](*files)           # certkey(), encrypted() ... below
    listener = bws.Listener(int(port), host="127.0.0.1", secureSocket=secureSocket)
    listener.attach(EchoUpgrade(), "/echo")
    listener.start().addCallback(
        lambda _: print(f"serving wss://localhost:{listener.listeningPort}/echo", flush=True))
    reactor.run()


def certkey(certFile="server.pem", keyFile="server.key"):
    return ListenerSecureSocket(key=CertKey(certFile, keyFile))


def encrypted(certFile="server.pem", keyFile="server-encrypted.key"):
    # the password from the environment: never in source code or on the command line
    key = CertKey(certFile, keyFile, keyPassword=os.environ["BWS_KEY_PASSWORD"])
    return ListenerSecureSocket(key=key)


def keystore(path="server.p12", passwordFile="password.txt"):
    with open(passwordFile, encoding="utf-8") as f:    # or from the environment
        password = f.read().strip()
    return ListenerSecureSocket(key=KeyStore(path, password))


def tls13(certFile="server.pem", keyFile="server.key"):
    key = CertKey(certFile, keyFile)
    return ListenerSecureSocket(key=key, protocol=Protocol(versions=["TLSv1.3"]))


def ciphers(certFile="server.pem", keyFile="server.key"):
    key = CertKey(certFile, keyFile)
    return ListenerSecureSocket(
        key=key,
        ciphers=["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384"],
    )


KINDS = {f.__name__: f for f in (certkey, encrypted, keystore, tls13, ciphers)}

if __name__ == "__main__":
    main(*sys.argv[1:])
