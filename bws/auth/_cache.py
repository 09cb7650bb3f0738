# -*- test-case-name: tests.auth.test_cache -*-
"""A bounded, least-recently-used cache whose entries expire on an injected clock."""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Generic, TypeVar

from twisted.internet.interfaces import IReactorTime

__all__ = ["ExpiringCache"]

K = TypeVar("K")
V = TypeVar("V")


class ExpiringCache(Generic[K, V]):
    """Values kept until their expiry time, at most ``capacity`` of them.

    Expired entries are dropped when met (no timer runs). A ``put`` into a full cache first
    drops the expired entries, then, if still full, the ``evictionFactor`` share of
    ``capacity`` least recently used (at least one).

    :param clock: what tells the time (``seconds()``); expiries are on the same scale.
    :param capacity: the most entries kept (>= 1).
    :param evictionFactor: the share dropped when full (0 < factor <= 1).
    :param maxAge: decimal seconds an entry lives at most, whatever its own expiry; ``None``
        for no cap.
    """

    def __init__(self, clock: IReactorTime, capacity: int = 100, evictionFactor: float = 0.25,
                 maxAge: float | None = None) -> None:
        self._clock = clock
        self._capacity = capacity
        self._evict = max(1, math.ceil(capacity * evictionFactor))
        self._maxAge = maxAge
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        """The value kept for ``key``, or ``None`` when there is none or it has expired."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        expiresAt, value = entry
        if self._clock.seconds() >= expiresAt:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V, expiresAt: float) -> None:
        """Keep ``value`` for ``key`` until ``expiresAt`` (clock seconds); a time already past
        keeps nothing."""
        now = self._clock.seconds()
        if self._maxAge is not None:
            expiresAt = min(expiresAt, now + self._maxAge)
        if expiresAt <= now:
            self._entries.pop(key, None)
            return
        if key not in self._entries and len(self._entries) >= self._capacity:
            for stale in [k for k, (at, _) in self._entries.items() if at <= now]:
                del self._entries[stale]
            if len(self._entries) >= self._capacity:
                for _ in range(min(self._evict, len(self._entries))):
                    self._entries.popitem(last=False)
        self._entries[key] = (expiresAt, value)
        self._entries.move_to_end(key)

    def discard(self, key: K) -> None:
        """Forget ``key``'s value, if any."""
        self._entries.pop(key, None)

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()
