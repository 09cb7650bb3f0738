"""Tests for ``bws.client._retry``: the backoff policy, what is retried, and the retry loop
on a Clock."""

from __future__ import annotations

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import ConnectionLost, ConnectionRefusedError, TimeoutError
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from bws.client._retry import isIOFailure, retrying, retryPolicy
from bws.config import RetryConfig
from bws.errors import (
    ConnectionClosureError,
    ConnectionError,
    Error,
    HandshakeTimedOut,
    InvalidHandshakeError,
)


class PolicyTests(SynchronousTestCase):
    """``retryPolicy`` has ``backoffPolicy``'s shape and is ``RetryConfig.delay``."""

    def test_exponentialCapped(self) -> None:
        """``interval`` before the first retry, times ``backOffFactor`` after each, at most
        ``maxWaitInterval``."""
        policy = retryPolicy(RetryConfig(interval=1, backOffFactor=2.0, maxWaitInterval=5))
        self.assertEqual([policy(n) for n in range(1, 6)], [1.0, 2.0, 4.0, 5.0, 5.0])

    def test_sameAsDelay(self) -> None:
        """``policy(n)`` is ``RetryConfig.delay(n - 1)``: one implementation."""
        config = RetryConfig(interval=0.25, backOffFactor=1.5, maxWaitInterval=30)
        policy = retryPolicy(config)
        self.assertEqual([policy(n) for n in range(1, 40)],
                         [config.delay(n) for n in range(39)])

    def test_overflowCapped(self) -> None:
        """A huge attempt count waits ``maxWaitInterval`` instead of overflowing."""
        policy = retryPolicy(RetryConfig(interval=1, backOffFactor=10.0, maxWaitInterval=7))
        self.assertEqual(policy(100000), 7.0)

    def test_constantByDefault(self) -> None:
        """The default ``backOffFactor`` 1.0 waits ``interval`` every time."""
        policy = retryPolicy(RetryConfig(interval=3))
        self.assertEqual({policy(n) for n in range(1, 20)}, {3.0})


class IOFailureTests(SynchronousTestCase):
    """Only IO failures are retried."""

    def test_retried(self) -> None:
        """Refused, timed-out and lost TCP connections and bws IO errors are retried."""
        for error in (ConnectionRefusedError(), TimeoutError(), ConnectionLost(),
                      ConnectionError("IO Error: refused")):
            self.assertTrue(isIOFailure(Failure(error)), error)

    def test_notRetried(self) -> None:
        """A close, a refused handshake, a handshake timeout and other errors are not."""
        for error in (ConnectionClosureError("Connection closed"),
                      InvalidHandshakeError("Invalid handshake response getStatus: 403"),
                      HandshakeTimedOut("Handshake timed out"), Error("other"), ValueError()):
            self.assertFalse(isIOFailure(Failure(error)), error)


class Attempts:
    """A connection attempt that fails with the queued errors, then succeeds; records
    the clock's time of each call."""

    def __init__(self, clock: Clock, *errors: Exception) -> None:
        self.clock = clock
        self.errors = list(errors)
        self.times: list[float] = []

    def __call__(self) -> Deferred[str]:
        self.times.append(self.clock.seconds())
        if self.errors:
            return fail(self.errors.pop(0))
        return succeed("connected")


def refused(n: int) -> list[Exception]:
    """``n`` bws IO errors, as a refused TCP connection gives."""
    return [ConnectionError("IO Error: Connection was refused") for _ in range(n)]


class RetryingTests(SynchronousTestCase):
    """``retrying`` on a Clock."""

    def setUp(self) -> None:
        self.clock = Clock()

    def test_firstAttemptAtOnce(self) -> None:
        """A first attempt that works leaves nothing on the clock."""
        attempt = Attempts(self.clock)
        d = retrying(attempt, RetryConfig(interval=1), self.clock)
        self.assertEqual(self.successResultOf(d), "connected")
        self.assertEqual(attempt.times, [0])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_backoff(self) -> None:
        """IO failures are retried after ``policy(1)``, ``policy(2)``, ... seconds."""
        attempt = Attempts(self.clock, *refused(3))
        d = retrying(attempt, RetryConfig(interval=1, backOffFactor=2.0), self.clock)
        self.clock.pump([1, 2, 4])
        self.assertEqual(self.successResultOf(d), "connected")
        self.assertEqual(attempt.times, [0, 1, 3, 7])

    def test_afterDrop(self) -> None:
        """``failures=1`` (a dropped connection) waits ``policy(1)`` before the first try."""
        attempt = Attempts(self.clock, *refused(1))
        d = retrying(attempt, RetryConfig(interval=1, backOffFactor=2.0), self.clock,
                     failures=1)
        self.assertEqual(attempt.times, [])
        self.clock.pump([1, 2])
        self.successResultOf(d)
        self.assertEqual(attempt.times, [1, 3])

    def test_givesUp(self) -> None:
        """After ``maxCount`` failed retries it fails with "IO Error: gave up after N
        retries (...)", having tried ``maxCount + 1`` times."""
        attempt = Attempts(self.clock, *refused(10))
        d = retrying(attempt, RetryConfig(interval=1, maxCount=2), self.clock)
        self.clock.pump([1, 1])
        f = self.failureResultOf(d, ConnectionError)
        self.assertEqual(str(f.value), "IO Error: gave up after 2 retries "
                         "(IO Error: Connection was refused)")
        self.assertEqual(len(attempt.times), 3)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_givesUpAfterDrop(self) -> None:
        """After a drop, ``maxCount`` counts the reconnects made."""
        attempt = Attempts(self.clock, *refused(10))
        d = retrying(attempt, RetryConfig(interval=1, maxCount=2), self.clock, failures=1)
        self.clock.pump([1, 1])
        f = self.failureResultOf(d, ConnectionError)
        self.assertIn("gave up after 2 retries", str(f.value))
        self.assertEqual(len(attempt.times), 2)

    def test_forever(self) -> None:
        """``maxCount`` 0 retries until an attempt works."""
        attempt = Attempts(self.clock, *refused(50))
        d = retrying(attempt, RetryConfig(interval=1), self.clock)
        self.clock.pump([1] * 50)
        self.successResultOf(d)
        self.assertEqual(len(attempt.times), 51)

    def test_handshakeRefusalNotRetried(self) -> None:
        """A refused handshake (4xx) fails at once, as it is."""
        error = InvalidHandshakeError("Invalid handshake response getStatus: 403 Forbidden")
        attempt = Attempts(self.clock, error)
        d = retrying(attempt, RetryConfig(interval=1), self.clock)
        self.assertIs(self.failureResultOf(d, InvalidHandshakeError).value, error)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_closeNotRetried(self) -> None:
        """A normal close is not an IO failure: it is not retried."""
        attempt = Attempts(self.clock, ConnectionClosureError("Connection closed"))
        d = retrying(attempt, RetryConfig(interval=1), self.clock)
        self.failureResultOf(d, ConnectionClosureError)
        self.assertEqual(len(attempt.times), 1)

    def test_withoutConfig(self) -> None:
        """Without a ``RetryConfig`` there is one attempt, whose failure is the result."""
        attempt = Attempts(self.clock, *refused(1))
        d = retrying(attempt, None, self.clock)
        f = self.failureResultOf(d, ConnectionError)
        self.assertEqual(str(f.value), "IO Error: Connection was refused")
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_stopsWhenToldTo(self) -> None:
        """``keepTrying`` returning False ends the loop with the failure it was asked about."""
        attempt = Attempts(self.clock, *refused(5))
        going = [True]
        d = retrying(attempt, RetryConfig(interval=1), self.clock, keepTrying=lambda: going[0])
        self.clock.advance(1)
        going[0] = False
        self.clock.advance(1)
        f = self.failureResultOf(d, ConnectionError)
        self.assertEqual(str(f.value), "IO Error: Connection was refused")
        self.assertEqual(len(attempt.times), 3)
        self.assertEqual(self.clock.getDelayedCalls(), [])
