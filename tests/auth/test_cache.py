"""The expiring LRU cache behind the LDAP roles cache, introspection and grant tokens."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from bws.auth._cache import ExpiringCache


class ExpiringCacheTests(SynchronousTestCase):
    def test_keptUntilExpiry(self) -> None:
        """A value is found until its expiry time on the clock, not at or after it."""
        clock = Clock()
        cache: ExpiringCache[str, int] = ExpiringCache(clock)
        cache.put("a", 1, expiresAt=10)
        clock.advance(9.9)
        self.assertEqual(cache.get("a"), 1)
        clock.advance(0.1)
        self.assertIsNone(cache.get("a"))
        self.assertEqual(len(cache), 0)

    def test_pastExpiryKeepsNothing(self) -> None:
        """A value whose expiry has passed is not kept, and replaces nothing stale."""
        clock = Clock()
        clock.advance(100)
        cache: ExpiringCache[str, int] = ExpiringCache(clock)
        cache.put("a", 1, expiresAt=200)
        cache.put("a", 2, expiresAt=50)
        self.assertIsNone(cache.get("a"))

    def test_maxAgeCaps(self) -> None:
        """``maxAge`` shortens a longer expiry."""
        clock = Clock()
        cache: ExpiringCache[str, int] = ExpiringCache(clock, maxAge=5)
        cache.put("a", 1, expiresAt=1000)
        clock.advance(5)
        self.assertIsNone(cache.get("a"))

    def test_capacityEvictsLeastRecentlyUsed(self) -> None:
        """A full cache drops the least recently used share (here one of four)."""
        clock = Clock()
        cache: ExpiringCache[str, int] = ExpiringCache(clock, capacity=4, evictionFactor=0.25)
        for i, key in enumerate("abcd"):
            cache.put(key, i, expiresAt=100)
        cache.get("a")
        cache.put("e", 4, expiresAt=100)
        self.assertIsNone(cache.get("b"))
        self.assertEqual([cache.get(k) for k in "acde"], [0, 2, 3, 4])

    def test_expiredGoFirst(self) -> None:
        """When full, expired entries are dropped before any live one."""
        clock = Clock()
        cache: ExpiringCache[str, int] = ExpiringCache(clock, capacity=2, evictionFactor=1)
        cache.put("old", 0, expiresAt=1)
        cache.put("live", 1, expiresAt=100)
        clock.advance(2)
        cache.put("new", 2, expiresAt=100)
        self.assertEqual((cache.get("live"), cache.get("new")), (1, 2))

    def test_discardAndClear(self) -> None:
        """``discard`` forgets one key, ``clear`` all."""
        cache: ExpiringCache[str, int] = ExpiringCache(Clock())
        cache.put("a", 1, expiresAt=10)
        cache.put("b", 2, expiresAt=10)
        cache.discard("a")
        self.assertIsNone(cache.get("a"))
        cache.clear()
        self.assertEqual(len(cache), 0)
