"""Tests for ``bws.sync.Client``: the blocking facade, in a process whose reactor crochet runs.

``bws.sync`` is for scripts without a reactor: crochet starts one in a background thread. A
trial process already runs its reactor in the main thread, and trial fires the reactor's
``shutdown`` event after every test it runs in a ``-j`` worker, which stops crochet's result
registry for good. So the blocking calls run where they belong, in a script process of their
own (``tests.integration.syncpeer``) that talks to a listener of this test; only the refusal
in the reactor thread, which never reaches crochet, is checked in this process.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.task import deferLater
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import TestCase

import bws
import bws.sync
from bws.testing.echo import EchoUpgradeService

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class SyncClientTests(TestCase):
    """The blocking client against bws's Listener on loopback."""

    @inlineCallbacks
    def setUp(self) -> Any:
        self.listener = bws.Listener(0, host="127.0.0.1", reactor=reactor)
        self.listener.attach(EchoUpgradeService(), "/basic/ws")
        yield self.listener.start()
        self.addCleanup(self.listener.immediateStop)
        self.url = f"ws://127.0.0.1:{self.listener.listeningPort}/basic/ws"

    @inlineCallbacks
    def script(self, scenario: str) -> Any:
        """Run ``scenario`` of :mod:`tests.integration.syncpeer`; its printed JSON result."""
        path = os.pathsep.join([ROOT] + [p for p in [os.environ.get("PYTHONPATH")] if p])
        env = dict(os.environ, PYTHONPATH=path)
        out, err, code = yield getProcessOutputAndValue(
            sys.executable, ["-m", "tests.integration.syncpeer", scenario, self.url],
            env=env, path=ROOT, reactor=reactor)
        if code != 0:
            self.fail(f"syncpeer {scenario} exited with {code}:\n{err.decode()}")
        return json.loads(out)

    @inlineCallbacks
    def test_sample(self) -> Any:
        """The spec's §6 client sample, written with the blocking client, works."""
        result = yield self.script("sample")
        self.assertEqual(tuple(result), ("Text message", "Binary message"))

    @inlineCallbacks
    def test_errorsRaised(self) -> Any:
        """A bws error is raised in the calling thread."""
        result = yield self.script("readAfterClose")
        self.assertTrue(result["isConnectionClosureError"], result)

    def test_reactorThreadRefused(self) -> Deferred[None]:
        """Calling it in the reactor thread raises instead of deadlocking."""
        # Never let bws.sync start crochet's own reactor thread in this process.
        self.patch(bws.sync, "_setUp", True)

        def inTheReactorThread() -> None:
            self.assertRaises(RuntimeError, bws.sync.Client, self.url)

        # Called by the running reactor, so its thread is the reactor thread for certain.
        return deferLater(reactor, 0, inTheReactorThread)
