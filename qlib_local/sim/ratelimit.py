"""OKX's REST rate limits (requests per 2 s), keyed as OKX keys them.

Market data is limited per IP, instruments per IP and instType, account endpoints per
user, and order endpoints per user and instrument. Sliding windows on wall time, since
clients pace themselves with their wall clock.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    limit: int
    window_s: float
    scope: str  # ip | ip_insttype | user | user_inst


# (method, path) -> rule; "*" method matches any
RULES: dict[tuple[str, str], Rule] = {
    ("GET", "/api/v5/market/candles"): Rule(40, 2, "ip"),
    ("GET", "/api/v5/market/history-candles"): Rule(20, 2, "ip"),
    ("GET", "/api/v5/market/tickers"): Rule(20, 2, "ip"),
    ("GET", "/api/v5/market/ticker"): Rule(20, 2, "ip"),
    ("GET", "/api/v5/public/instruments"): Rule(20, 2, "ip_insttype"),
    ("GET", "/api/v5/public/time"): Rule(10, 2, "ip"),
    ("GET", "/api/v5/public/mark-price"): Rule(10, 2, "ip"),
    # OKX counts these per IP and instrument; one window per IP is stricter and ccxt's pacing stays below it
    ("GET", "/api/v5/public/funding-rate"): Rule(10, 2, "ip"),
    ("GET", "/api/v5/public/funding-rate-history"): Rule(10, 2, "ip"),
    ("GET", "/api/v5/market/mark-price-candles"): Rule(20, 2, "ip"),
    ("GET", "/api/v5/market/history-mark-price-candles"): Rule(20, 2, "ip"),
    ("POST", "/api/v5/trade/order"): Rule(60, 2, "user_inst"),
    ("GET", "/api/v5/trade/order"): Rule(60, 2, "user_inst"),
    ("POST", "/api/v5/trade/cancel-order"): Rule(60, 2, "user_inst"),
    ("POST", "/api/v5/trade/batch-orders"): Rule(300, 2, "user_inst"),
    ("GET", "/api/v5/trade/orders-pending"): Rule(60, 2, "user"),
    ("GET", "/api/v5/trade/fills"): Rule(60, 2, "user"),
    ("GET", "/api/v5/account/balance"): Rule(10, 2, "user"),
    ("GET", "/api/v5/account/positions"): Rule(10, 2, "user"),
    ("GET", "/api/v5/account/config"): Rule(5, 2, "user"),
    ("GET", "/api/v5/account/bills"): Rule(5, 1, "user"),
    ("GET", "/api/v5/account/bills-archive"): Rule(5, 2, "user"),
    ("POST", "/api/v5/account/set-leverage"): Rule(20, 2, "user"),
    ("POST", "/api/v5/account/set-position-mode"): Rule(5, 2, "user"),
    ("GET", "/api/v5/asset/currencies"): Rule(6, 1, "user"),
}


class RateLimiter:
    """Sliding-window counters; ``enabled`` False lets everything through.

    ``clock`` (seconds, monotonic) is the windows' time; a test holds it still to count
    requests into one window however slowly the machine sends them.
    """

    def __init__(self, enabled: bool = True, rules: dict[tuple[str, str], Rule] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.enabled = enabled
        self.clock = clock
        self.rules = dict(RULES if rules is None else rules)
        self._hits: dict[tuple, deque[float]] = {}
        self._lock = threading.Lock()

    def rule(self, method: str, path: str) -> Rule | None:
        return self.rules.get((method, path))

    def allow(self, method: str, path: str, key: str, inst_counts: dict[str, int] | None = None) -> bool:
        """Record the request (``inst_counts``: orders per instrument) if all its buckets have room."""
        if not self.enabled:
            return True
        rule = self.rule(method, path)
        if rule is None:
            return True
        if method == "POST" and path.endswith("/batch-orders") and inst_counts and sum(inst_counts.values()) == 1:
            path = "/api/v5/trade/order"  # a batch of one counts against the single-order limit
            rule = self.rules[(method, path)]
        counts = inst_counts if rule.scope == "user_inst" and inst_counts else {"": 1}
        now = self.clock()
        with self._lock:
            buckets = []
            for inst, n in counts.items():
                b = self._hits.setdefault((method, path, key, inst), deque())
                while b and b[0] <= now - rule.window_s:
                    b.popleft()
                if len(b) + n > rule.limit:
                    return False
                buckets.append((b, n))
            for b, n in buckets:
                b.extend([now] * n)
        return True

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()
