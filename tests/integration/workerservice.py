"""Services for tests.integration.test_workers: each answers with the pid of the process
serving the connection, so a test sees which worker it reached."""

from __future__ import annotations

import os
from typing import Any

from zope.interface import implementer

from bws.interfaces import ICaller, IService, IUpgradeService


@implementer(IService)
class PidService:
    """Every text message is answered with this process's pid."""

    def onTextMessage(self, caller: ICaller, text: str) -> str:
        return str(os.getpid())


@implementer(IUpgradeService)
class PidUpgrade:
    """Accepts every upgrade."""

    def get(self, request: Any) -> PidService:
        return PidService()


def onlyInParent() -> PidUpgrade:
    """A factory that works in the process the test started (whose parent is the test,
    named by ``BWS_TEST_PID``) and fails in every worker process: a crash loop."""
    if os.getppid() != int(os.environ["BWS_TEST_PID"]):
        raise RuntimeError("this service cannot start in a worker")
    return PidUpgrade()
