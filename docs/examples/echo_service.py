"""The README's service: text echoed back at ws://127.0.0.1:9090/echo (or the port given)."""

import sys

from twisted.internet import reactor
from zope.interface import implementer

import bws


@implementer(bws.IService)
class Echo:
    def onTextMessage(self, caller, text: str) -> str:
        return text                      # the return value is sent back


@implementer(bws.IUpgradeService)
@bws.serviceConfig(subProtocols=["chat"], idleTimeout=30)
class EchoUpgrade:
    def get(self, request):
        return Echo()                    # raise bws.UpgradeError("...") to answer 400


def main(port: int) -> None:
    listener = bws.Listener(port, host="127.0.0.1")
    listener.attach(EchoUpgrade(), "/echo")
    listener.start().addCallback(
        lambda _: print(f"serving ws://127.0.0.1:{listener.listeningPort}/echo", flush=True))
    reactor.run()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 9090)
