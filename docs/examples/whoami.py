"""Who served me? ``twistd -n bws --service whoami:WhoAmI``: each text message is answered
with JSON naming the backend process and the client's address as bws sees it."""

import os
import socket

from zope.interface import implementer

import bws


@implementer(bws.IService)
class Answer:
    def __init__(self, request):
        self.client = request.peer              # behind a trusted proxy: the real client
        self.via = request.connectionPeer       # the TCP peer: the proxy, if there is one

    def onTextMessage(self, caller, text: str):
        return {                                # anything but str/bytes is sent as JSON
            "backend": f"{socket.gethostname()}:{os.getpid()}",
            "client": self.client[0] if self.client else None,
            "via": self.via[0] if self.via else None,
            "echo": text,
        }


@implementer(bws.IUpgradeService)
class WhoAmI:
    def get(self, request):
        return Answer(request)
