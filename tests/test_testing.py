"""Tests for ``bws.testing``: in-memory connections to a user's upgrade service."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

import bws
import bws.testing
from bws.testing.echo import EchoService, EchoUpgradeService


class Idle:
    """Counts ``onIdleTimeout`` calls."""

    def __init__(self) -> None:
        self.idle = 0

    def onIdleTimeout(self, caller: Any) -> None:
        self.idle += 1


@bws.serviceConfig(idleTimeout=30)
class IdleUpgrade:
    def __init__(self) -> None:
        self.service = Idle()

    def get(self, request: Any) -> Idle:
        return self.service


class ConnectTests(SynchronousTestCase):
    """``bws.testing.connect`` gives a connected client synchronously."""

    def test_connected(self) -> None:
        """The client is open as soon as ``connect`` returns."""
        conn = bws.testing.connect(EchoUpgradeService(), "/echo")
        self.assertTrue(conn.client.isOpen())

    def test_flushMovesMessages(self) -> None:
        """Nothing arrives until ``flush``; then the echo does."""
        conn = bws.testing.connect(EchoUpgradeService())
        conn.client.writeTextMessage("hi")
        d = conn.client.readTextMessage()
        self.assertNoResult(d)
        conn.flush()
        self.assertEqual(self.successResultOf(d), "hi")

    def test_advanceDrivesServerTimers(self) -> None:
        """``advance`` moves the service's clock: ``idleTimeout`` fires."""
        upgrade = IdleUpgrade()
        conn = bws.testing.connect(upgrade)
        conn.advance(29)
        self.assertEqual(upgrade.service.idle, 0)
        conn.advance(1)
        self.assertEqual(upgrade.service.idle, 1)

    def test_refusedHandshakeRaises(self) -> None:
        """A refused upgrade raises the client's handshake error."""
        listener = bws.testing.MemoryListener()
        listener.attach(EchoUpgradeService(), "/a")
        self.failureResultOf(listener.connect("/b"), bws.InvalidHandshakeError)

    def test_close(self) -> None:
        """``close`` completes once bytes are flushed."""
        conn = bws.testing.connect(EchoUpgradeService())
        d = conn.client.close()
        conn.flush()
        self.successResultOf(d)


class EchoInterfaceTests(SynchronousTestCase):
    """The echo services provide the interfaces they declare."""

    def test_echoService(self) -> None:
        """``EchoService`` is a ``bws.IService``."""
        self.assertTrue(verifyObject(bws.IService, EchoService()))

    def test_echoUpgradeService(self) -> None:
        """``EchoUpgradeService`` is a ``bws.IUpgradeService`` whose ``get`` gives its
        ``EchoService``."""
        upgrade = EchoUpgradeService()
        self.assertTrue(verifyObject(bws.IUpgradeService, upgrade))
        self.assertIs(upgrade.get(None), upgrade.service)
