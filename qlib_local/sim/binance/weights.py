"""Binance's request weights and order counts, per fixed minute as the venue counts them.

Every route has a weight (some depend on the request: klines on ``limit``, open orders on
whether a symbol is given); an IP's weight per minute is capped per API family (fapi
2,400, dapi 2,400, spot 6,000, sapi 12,000) and orders are counted per account (1,200 a
minute, 300 per 10 s on fapi and dapi). Answers carry ``X-MBX-USED-WEIGHT-1M`` (and
``X-MBX-ORDER-COUNT-1M``/``-10S`` on order routes); over a cap Binance answers -1003 with
HTTP 429. ``clock`` (seconds) is swappable like the OKX limiter's, so a test can hold a
minute still however slowly the machine sends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from qlib_local.sim.binance.request import Params

FAMILY_LIMITS = {"fapi": 2400, "dapi": 2400, "api": 6000, "sapi": 12000}
ORDER_LIMIT_1M, ORDER_LIMIT_10S = 1200, 300


def kline_weight(limit: int | None) -> int:
    n = 500 if limit is None else limit
    return 1 if n < 100 else 2 if n < 500 else 5 if n <= 1000 else 10


# (method, path without the /fapi|/dapi prefix) -> weight; a callable reads the request
WEIGHTS: dict[tuple[str, str], int | Callable[[Params, str], int]] = {
    ("GET", "/v1/ping"): 1, ("GET", "/v1/time"): 1, ("GET", "/v1/exchangeInfo"): 1,
    ("GET", "/v1/klines"): lambda p, f: kline_weight(_int(p, "limit")),
    ("GET", "/v1/markPriceKlines"): lambda p, f: kline_weight(_int(p, "limit")),
    ("GET", "/v1/premiumIndex"): lambda p, f: 1 if p.text("symbol") or f == "fapi" else 10,
    ("GET", "/v1/fundingRate"): 1, ("GET", "/v1/fundingInfo"): 1,
    ("GET", "/v1/ticker/price"): lambda p, f: 1 if p.text("symbol") else 2,
    ("GET", "/v2/ticker/price"): lambda p, f: 1 if p.text("symbol") else 2,
    ("GET", "/v1/ticker/bookTicker"): lambda p, f: 2 if p.text("symbol") else 5,
    ("GET", "/v1/account"): 5, ("GET", "/v2/account"): 5, ("GET", "/v3/account"): 5,
    ("GET", "/v2/balance"): 5, ("GET", "/v3/balance"): 5, ("GET", "/v1/balance"): 1,
    ("GET", "/v2/positionRisk"): 5, ("GET", "/v3/positionRisk"): 5,
    ("GET", "/v1/positionRisk"): 1,
    ("GET", "/v1/leverageBracket"): 1, ("GET", "/v2/leverageBracket"): 1,
    ("POST", "/v1/leverage"): 1, ("POST", "/v1/marginType"): 1,
    ("POST", "/v1/positionSide/dual"): 1, ("GET", "/v1/positionSide/dual"): 30,
    ("POST", "/v1/order"): 0, ("POST", "/v1/batchOrders"): 5, ("GET", "/v1/order"): 1,
    ("DELETE", "/v1/order"): 1,
    ("GET", "/v1/openOrders"): lambda p, f: 1 if p.text("symbol") else 40,
    ("GET", "/v1/allOrders"): 5, ("GET", "/v1/userTrades"): 5,
    ("GET", "/v1/income"): lambda p, f: 30 if f == "fapi" else 20,
    ("GET", "/v1/feeBurn"): 30, ("POST", "/v1/feeBurn"): 1,
    # spot (/api) and wallet (/sapi)
    ("GET", "/v3/exchangeInfo"): 20, ("POST", "/v3/order"): 1, ("GET", "/v3/time"): 1,
    ("GET", "/v1/capital/config/getall"): 10, ("GET", "/v1/margin/allPairs"): 1,
    ("GET", "/v1/margin/isolated/allPairs"): 10, ("POST", "/v1/asset/transfer"): 900,
    ("POST", "/v1/futures/transfer"): 1,
}


def _int(p: Params, key: str) -> int | None:
    v = p.text(key)
    return int(v) if v.isdigit() and len(v) < 10 else None


def weight(method: str, family: str, sub: str, params: Params) -> int:
    """The weight of one request (``sub`` is its path after the family prefix)."""
    if family == "api" and (method, sub) == ("GET", "/v3/account"):
        return 20
    w = WEIGHTS.get((method, sub), 1)
    return w(params, family) if callable(w) else w


def is_order(method: str, family: str, sub: str) -> bool:
    return family in ("fapi", "dapi") and method == "POST" and sub in ("/v1/order", "/v1/batchOrders")


class WeightLimiter:
    """Fixed one-minute windows of IP weight per family, and order counts per account."""

    def __init__(self, enabled: bool = True, clock: Callable[[], float] = time.time,
                 limits: dict[str, int] | None = None):
        self.enabled = enabled
        self.clock = clock
        self.limits = dict(FAMILY_LIMITS if limits is None else limits)
        self.order_limits = (ORDER_LIMIT_1M, ORDER_LIMIT_10S)
        self.refused: set[tuple[str, str]] = set()  # (method, path): a storm, refused -1003 whatever the weight
        self._weights: dict[tuple[str, str, int], int] = {}
        self._orders: dict[tuple[str, str, int, int], int] = {}
        self._lock = threading.Lock()

    def charge(self, family: str, ip: str, w: int) -> tuple[bool, int]:
        """Add ``w`` to the IP's minute unless it would pass the cap: (allowed, weight used)."""
        minute = int(self.clock() // 60)
        key = (family, ip, minute)
        with self._lock:
            used = self._weights.get(key, 0)
            if self.enabled and used + w > self.limits.get(family, 2400):
                return False, used
            self._weights = {k: v for k, v in self._weights.items() if k[2] >= minute}
            self._weights[key] = used + w
            return True, used + w

    def count_orders(self, family: str, account: str, n: int) -> tuple[bool, int, int]:
        """Count ``n`` orders in the account's 1-minute and 10-second windows: (allowed, 1m, 10s)."""
        now = self.clock()
        k1, k10 = (family, account, 60, int(now // 60)), (family, account, 10, int(now // 10))
        with self._lock:
            c1, c10 = self._orders.get(k1, 0), self._orders.get(k10, 0)
            if self.enabled and (c1 + n > self.order_limits[0] or c10 + n > self.order_limits[1]):
                return False, c1, c10
            self._orders = {k: v for k, v in self._orders.items()
                            if k[3] >= (int(now // 60) if k[2] == 60 else int(now // 10))}
            self._orders[k1], self._orders[k10] = c1 + n, c10 + n
            return True, c1 + n, c10 + n

    def storm(self, method: str, path: str, on: bool = True) -> None:
        """Refuse every request to ``path`` (``/fapi/v1/batchOrders``) as over the weight limit, or stop:
        a test's rate-limit storm, as the OKX limiter's rule set to 0."""
        (self.refused.add if on else self.refused.discard)((method.upper(), path))

    def reset(self) -> None:
        with self._lock:
            self._weights.clear()
            self._orders.clear()
