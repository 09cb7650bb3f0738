# -*- test-case-name: tests.client.test_retry -*-
"""Reconnecting: ``RetryConfig`` as a backoff policy, which failures are retried, and the
retry loop (spec §4.1 ``retryConfig``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectError, ConnectionLost
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.python.failure import Failure

from bws.config import RetryConfig
from bws.errors import ConnectionClosureError, ConnectionError, Error

__all__ = ["retryPolicy", "isIOFailure", "retrying"]

T = TypeVar("T")

log = Logger()


def retryPolicy(config: RetryConfig) -> Callable[[int], float]:
    """``config`` in the shape of Twisted's ``backoffPolicy``: ``policy(attempt)`` gives the
    decimal seconds to wait before the next attempt after ``attempt`` failed ones (1 before
    the first retry), which is ``config.delay(attempt - 1)``: ``interval`` grown by
    ``backOffFactor`` per retry, at most ``maxWaitInterval``; no jitter."""

    def policy(attempt: int) -> float:
        return config.delay(attempt - 1)

    return policy


def isIOFailure(failure: Failure) -> bool:
    """Whether a failed attempt is an IO problem that ``retryConfig`` retries: a refused,
    failed or lost TCP connection, or a bws ``ConnectionError`` ("IO Error: ..."). A
    close (``ConnectionClosureError``), a refused handshake (``InvalidHandshakeError``, a
    4xx answer) and every other error are not."""
    return failure.check(ConnectError, ConnectionLost) is not None or (
        failure.check(ConnectionError) is not None
        and failure.check(ConnectionClosureError) is None)


async def _retrying(attempt: Callable[[], Deferred[T]], config: RetryConfig | None,
                    clock: IReactorTime, failures: int,
                    keepTrying: Callable[[], bool], url: str) -> T:
    policy = retryPolicy(config) if config is not None else None
    why = "the connection was lost"
    while True:
        if failures and policy is not None:
            delay = policy(failures)
            log.info("WebSocket {url}: retry {attempt} in {delay} s ({error})",
                     wsEvent="retry", side="client", url=url, attempt=failures, delay=delay,
                     error=why)
            await deferLater(clock, delay)
        try:
            return await attempt()
        except Error as e:
            why = str(e)
            if policy is None or not isIOFailure(Failure(e)) or not keepTrying():
                raise
            # ``failures`` attempts failed before this one: as many retries were made.
            if config is not None and config.maxCount and failures >= config.maxCount:
                raise ConnectionError(
                    f"IO Error: gave up after {failures} retries ({e})") from e
            failures += 1


def retrying(attempt: Callable[[], Deferred[T]], config: RetryConfig | None,
             clock: IReactorTime, *, failures: int = 0,
             keepTrying: Callable[[], bool] = lambda: True, url: str = "") -> Deferred[T]:
    """Call ``attempt`` until it succeeds, waiting ``retryPolicy(config)(n)`` seconds on
    ``clock`` after the ``n``-th failure.

    :param attempt: one try (connect and handshake); fails with a bws ``Error``.
    :param config: ``None`` tries once, without waiting.
    :param failures: attempts already failed: 1 after a dropped connection, so the first
        reconnect waits ``policy(1)``.
    :param keepTrying: asked after each retryable failure; ``False`` ends with that failure
        (the application closed the client meanwhile).
    :param url: what the retry lines name (the client's URL, without its query).
    :return: a Deferred firing with ``attempt``'s result; failing with the first failure
        that :func:`isIOFailure` does not retry, or with ``ConnectionError("IO Error: gave
        up after N retries (...)")`` once ``config.maxCount`` retries (not 0) have failed.

    Each retry logs one line (``wsEvent="retry"``: ``url``, ``attempt``, the ``delay`` in
    decimal seconds, and the ``error`` that made it retry).
    """
    return Deferred.fromCoroutine(_retrying(attempt, config, clock, failures, keepTrying, url))
