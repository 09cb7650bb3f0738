"""A page and its WebSocket service on one port: browser_page.html at http://127.0.0.1:8080/
(or the port given) and the service at ws://127.0.0.1:8080/ws, open to that origin only."""

import sys
from pathlib import Path

from twisted.internet import reactor
from twisted.logger import Logger, globalLogBeginner, textFileLogObserver
from twisted.web.resource import Resource
from twisted.web.server import Site
from twisted.web.static import File
from zope.interface import implementer

import bws
from bws.config import setServiceConfig

HERE = Path(__file__).resolve().parent
MiB = 1024 * 1024
log = Logger()


@implementer(bws.IService)
class PageService:
    def onTextMessage(self, caller, text: str):
        if text == "bye":
            return caller.close(4001, "the server is done")  # the page's CloseEvent shows both
        return text

    def onBinaryMessage(self, caller, data: bytes) -> bytes:
        return data

    def onClose(self, caller, statusCode: int, reason: str):
        log.info("closed {statusCode} {reason!r}", statusCode=statusCode, reason=reason)


@implementer(bws.IUpgradeService)
class PageUpgrade:
    def get(self, request):
        return PageService()


def pageUpgrade(origin: str) -> PageUpgrade:
    """The service for pages of ``origin``: any other Origin is refused 403, messages of
    up to 1 MiB pass (a browser chooses its frame sizes: the frame limit is raised too)."""
    upgrade = PageUpgrade()
    setServiceConfig(upgrade, bws.WSServiceConfig(
        allowedOrigins=[origin], subProtocols=["chat"], maxFrameSize=MiB, maxMessageSize=MiB))
    return upgrade


def pageResource() -> Resource:
    """The page at / and its script at /browser_page.js."""
    root = Resource()
    root.putChild(b"", File(str(HERE / "browser_page.html")))
    root.putChild(b"browser_page.js", File(str(HERE / "browser_page.js")))
    return root


def main(port: int) -> None:
    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stdout)], redirectStandardIO=False)
    site = Site(pageResource())
    listening = reactor.listenTCP(port, site, interface="127.0.0.1")
    origin = f"http://127.0.0.1:{listening.getHost().port}"
    listener = bws.Listener(site)  # WebSocket paths on the page's own site
    listener.attach(pageUpgrade(origin), "/ws")
    listener.start()
    ws = origin.replace("http:", "ws:") + "/ws"
    print(f"open {origin}/?text={ws}&binary={ws}&large={ws}&chat={ws}&serverClose={ws}",
          flush=True)
    reactor.run()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 8080)
