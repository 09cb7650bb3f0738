# -*- test-case-name: tests.test_tap -*-
"""The echo service ``twistd bws`` serves by default: text and binary echoed back.

``python -m bws.testing.echo --port 9090`` runs it without twistd (benchmarks use it).
"""

from __future__ import annotations

import sys

from zope.interface import implementer

from bws.interfaces import ICaller, IService, IUpgradeService
from bws.request import UpgradeRequest

__all__ = ["EchoService", "EchoUpgradeService", "main"]


@implementer(IService)
class EchoService:
    """Returns every message as it came: the return value is sent back."""

    def onTextMessage(self, caller: ICaller, text: str) -> str:
        return text

    def onBinaryMessage(self, caller: ICaller, data: bytes) -> bytes:
        return data


@implementer(IUpgradeService)
class EchoUpgradeService:
    """Accepts every upgrade; all connections share one stateless echo service."""

    def __init__(self) -> None:
        self.service = EchoService()

    def get(self, request: UpgradeRequest) -> EchoService:
        return self.service


def main(argv: list[str] | None = None) -> None:
    """Run ``twistd bws``'s options in the foreground, without twistd's daemon machinery."""
    from twisted.internet import reactor
    from twisted.python import usage

    from bws.tap import Options, makeService

    options = Options()
    try:
        options.parseOptions(sys.argv[1:] if argv is None else argv)
    except usage.UsageError as e:
        sys.exit(f"bws.testing.echo: {e}")
    svc = makeService(options)
    svc.startService()
    reactor.addSystemEventTrigger("before", "shutdown", svc.stopService)
    reactor.run()


if __name__ == "__main__":
    main()
