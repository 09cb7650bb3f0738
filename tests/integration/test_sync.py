"""Tests for ``bws.sync.Client``: the blocking facade, called from a non-reactor thread."""

from __future__ import annotations

from typing import Any

import crochet
from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

import bws
import bws.sync
from bws.testing.echo import EchoUpgradeService

# trial runs the reactor in the main thread: crochet must not start its own.
crochet.no_setup()
bws.sync._setUp = True


class SyncClientTests(TestCase):
    """The blocking client against bws's Listener on loopback."""

    @inlineCallbacks
    def setUp(self) -> Any:
        self.listener = bws.Listener(0, host="127.0.0.1", reactor=reactor)
        self.listener.attach(EchoUpgradeService(), "/basic/ws")
        yield self.listener.start()
        self.addCleanup(self.listener.immediateStop)
        self.url = f"ws://127.0.0.1:{self.listener.listeningPort}/basic/ws"

    def test_sample(self) -> Any:
        """The spec's §6 client sample, written with the blocking client, works."""
        def sample() -> tuple[str, str]:
            wsClient = bws.sync.Client(self.url)
            wsClient.writeTextMessage("Text message")
            textResp = wsClient.readTextMessage()
            wsClient.writeBinaryMessage(b"Binary message")
            stringResp = wsClient.readBinaryMessage().decode("utf-8")
            wsClient.close(timeout=5)
            return textResp, stringResp

        d = deferToThread(sample)
        return d.addCallback(self.assertEqual, ("Text message", "Binary message"))

    def test_errorsRaised(self) -> Any:
        """A bws error is raised in the calling thread."""
        def readAfterClose() -> None:
            client = bws.sync.Client(self.url)
            client.close(timeout=5)
            client.readMessage()

        return self.assertFailure(deferToThread(readAfterClose), bws.ConnectionClosureError)

    def test_reactorThreadRefused(self) -> None:
        """Calling it in the reactor thread raises instead of deadlocking."""
        self.assertRaises(RuntimeError, bws.sync.Client, self.url)
