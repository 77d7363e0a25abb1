"""Bounded retries with exponential backoff for transient exchange errors.

Rate limits (OKX 50011, ccxt ``RateLimitExceeded``/``DDoSProtection``), timeouts and 5xx
answers (ccxt ``NetworkError`` family) pass after a pause; anything else is a real error
and is raised at once. After ``retries`` attempts the caller gets a ``DataError`` naming
what failed, so a CLI prints one clear line instead of a traceback.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import ccxt

from qlib_local.errors import DataError

log = logging.getLogger(__name__)
T = TypeVar("T")

TRANSIENT: tuple[type[BaseException], ...] = (ccxt.NetworkError,)  # includes rate limits, timeouts, 5xx


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 6
    base_delay_s: float = 0.25
    max_delay_s: float = 8.0
    sleep: Callable[[float], None] = time.sleep

    def delay(self, attempt: int) -> float:
        """Full-jitter backoff: concurrent workers hit by the same limit spread out."""
        cap = min(self.max_delay_s, self.base_delay_s * 2**attempt)
        return cap * (0.5 + random.random() / 2)


def call_with_retry(fn: Callable[[], T], what: str, policy: RetryPolicy) -> T:
    """Run ``fn``; retry transient exchange errors, then raise ``DataError``."""
    for attempt in range(policy.retries + 1):
        try:
            return fn()
        except TRANSIENT as e:
            if attempt == policy.retries:
                raise DataError(
                    f"{what}: still failing after {policy.retries + 1} attempts ({type(e).__name__}: {_short(e)})"
                ) from None
            pause = policy.delay(attempt)
            log.debug("%s: %s, retry %d in %.2fs", what, type(e).__name__, attempt + 1, pause)
            policy.sleep(pause)
    raise AssertionError("unreachable")


def _short(e: BaseException, n: int = 160) -> str:
    s = " ".join(str(e).split())
    return s if len(s) <= n else s[: n - 3] + "..."
