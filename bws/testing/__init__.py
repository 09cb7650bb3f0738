"""Helpers for testing bws services with trial, and bws's conformance agents.

``bws.testing.connect(upgradeService, path)`` connects a :class:`bws.Client` to a service
in memory; see :mod:`bws.testing.memory` and ``docs/testing.rst``.
"""

from bws.testing.memory import MemoryConnection, MemoryListener, connect

__all__ = ["MemoryConnection", "MemoryListener", "connect"]
