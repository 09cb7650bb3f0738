"""A wss:// listener on localhost that asks clients for a certificate signed by your CA,
and greets them with the name in it.

    python mutual_tls.py [PORT [KIND [FILE ...]]]

    python mutual_tls.py 9443 require ca.pem
    python mutual_tls.py 9443 optional ca.pem
    python mutual_tls.py 9443 truststore truststore.p12 password.txt
    python mutual_tls.py 9443 revocation ca.pem ca.crl

Run it where make-test-ca.sh made its files (server.pem and server.key are read from there).
"""

import sys

from cryptography.x509.oid import NameOID
from twisted.internet import reactor
from zope.interface import implementer

import bws
from bws.tls import (
    OCSP_CRL,
    OPTIONAL,
    REQUIRE,
    CertKey,
    CertValidation,
    ListenerSecureSocket,
    MutualSsl,
    TrustStore,
)


@implementer(bws.IService)
class Greeting:
    def __init__(self, name):
        self.name = name

    def onTextMessage(self, caller, text: str) -> str:
        return f"{text}, {self.name}"


@implementer(bws.IUpgradeService)
class Greeter:
    def get(self, request):
        certificate = request.peerCertificate    # the client's, verified; None without one
        if certificate is None:
            return Greeting("stranger")
        [name] = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return Greeting(name.value)


def main(port=9443, kind="require", *files):
    secureSocket = KINDS[kind](*files)           # require(), optional() ... below
    listener = bws.Listener(int(port), host="127.0.0.1", secureSocket=secureSocket)
    listener.attach(Greeter(), "/hello")
    listener.start().addCallback(
        lambda _: print(f"serving wss://localhost:{listener.listeningPort}/hello", flush=True))
    reactor.run()


def require(caFile="ca.pem"):
    return ListenerSecureSocket(
        key=CertKey("server.pem", "server.key"),
        mutualSsl=MutualSsl(verifyClient=REQUIRE, cert=caFile),
    )


def optional(caFile="ca.pem"):
    return ListenerSecureSocket(
        key=CertKey("server.pem", "server.key"),
        mutualSsl=MutualSsl(verifyClient=OPTIONAL, cert=caFile),
    )


def truststore(path="truststore.p12", passwordFile="password.txt"):
    with open(passwordFile, encoding="utf-8") as f:
        password = f.read().strip()
    return ListenerSecureSocket(
        key=CertKey("server.pem", "server.key"),
        mutualSsl=MutualSsl(cert=TrustStore(path, password)),
    )


def revocation(caFile="ca.pem", crlFile="ca.crl"):
    return ListenerSecureSocket(
        key=CertKey("server.pem", "server.key"),
        mutualSsl=MutualSsl(cert=caFile),
        certValidation=CertValidation(
            type=OCSP_CRL, cacheSize=0, cacheValidityPeriod=0, crlFile=crlFile
        ),
    )


KINDS = {f.__name__: f for f in (require, optional, truststore, revocation)}

if __name__ == "__main__":
    main(*sys.argv[1:])
