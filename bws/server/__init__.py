# -*- test-case-name: tests.test_server -*-
"""The server side: ``Listener`` and the routing, handshake and dispatch behind it."""

from bws.server._listener import Listener

__all__ = ["Listener"]
