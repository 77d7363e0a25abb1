"""Retrying idempotent exchange requests: exponential backoff with jitter, bounded by attempts and time.

Venue-independent: an adapter's reads go through :func:`call_with_retry`, and the execution
engine uses the same policy for the orders it may resend (only once it knows they are absent).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from qlib_local.live.errors import RetriesExhausted, VenueError

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, bounded by attempts and by total time."""

    attempts: int = 6
    base_s: float = 0.2
    cap_s: float = 2.0
    budget_s: float = 20.0

    def delay(self, attempt: int) -> float:
        d = min(self.cap_s, self.base_s * 2 ** (attempt - 1))
        return d * (0.75 + 0.5 * random.random())


def call_with_retry(fn: Callable[[], T], what: str, policy: RetryPolicy) -> T:
    """``fn()`` (an idempotent request), retried while its failure is retryable, within the policy."""
    start = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except VenueError as e:
            if not e.retryable:
                raise
            delay = policy.delay(attempt)
            if attempt >= policy.attempts or time.monotonic() - start + delay > policy.budget_s:
                raise RetriesExhausted(what, e, attempt) from e
            log.warning("%s (attempt %d), retrying in %.2fs", e, attempt, delay)
            time.sleep(delay)
