"""python-okx clients behind one ``call``: error mapping, client-side pacing, retry with backoff.

python-okx returns the decoded JSON envelope (or raises httpx's transport errors), so
this is the one place that turns OKX codes and network failures into the live path's
error classes (:mod:`qlib_local.live.errors`). The clients are always built with
``debug=False``: python-okx's debug mode logs request headers, passphrase included.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import okx.Account
import okx.MarketData
import okx.PublicData
import okx.Trade

from qlib_local.live.errors import (
    Ambiguous,
    ApiError,
    AuthError,
    RateLimited,
    RetriesExhausted,
    Unavailable,
    VenueError,
)

log = logging.getLogger(__name__)

RATE_LIMITED = {"50011", "50061"}
UNAVAILABLE = {"50001", "50013", "50026"}
AMBIGUOUS_CODES = {"50004"}  # "API endpoint request timeout": may have been processed


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


# (method, path) -> (requests, window seconds, per instrument); OKX's published limits.
LIMITS: dict[tuple[str, str], tuple[int, float, bool]] = {
    ("GET", "/api/v5/public/time"): (10, 2, False),
    ("GET", "/api/v5/public/instruments"): (20, 2, False),
    ("GET", "/api/v5/account/balance"): (10, 2, False),
    ("GET", "/api/v5/account/positions"): (10, 2, False),
    ("GET", "/api/v5/account/config"): (5, 2, False),
    ("POST", "/api/v5/account/set-leverage"): (20, 2, False),
    ("POST", "/api/v5/account/set-position-mode"): (5, 2, False),
    ("GET", "/api/v5/trade/order"): (60, 2, True),
    ("POST", "/api/v5/trade/cancel-order"): (60, 2, True),
    ("GET", "/api/v5/trade/orders-pending"): (60, 2, False),
    ("GET", "/api/v5/trade/fills"): (60, 2, False),
    ("GET", "/api/v5/market/candles"): (40, 2, False),
    ("GET", "/api/v5/market/tickers"): (20, 2, False),
    ("GET", "/api/v5/public/mark-price"): (10, 2, False),
}
SAFETY_S = 0.05  # wall-clock slack so our window never undercuts the server's
# Clients and pacing per (credentials hash, domain, flag): building an httpx client costs ~30 ms
# (TLS context), and one pacer per account keeps consecutive runs in one process within limits.
_CACHE: dict[tuple[str, str, str], tuple] = {}
_CACHE_LOCK = threading.Lock()


class Pacer:
    """Client-side sliding windows so we wait instead of drawing 50011s.

    A request counts from when its answer arrives, not from when it was sent: the exchange
    counts it on arrival, which can be any time in between, so only the answer's time is
    never earlier than the exchange's (a send time can undercut it by the request's latency).
    """

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._hits: dict[tuple, list[list[float]]] = {}
        self._lock = threading.Lock()

    def acquire(self, method: str, path: str, inst: str = "") -> list[float] | None:
        """Wait for room, then hold a slot; pass it to :meth:`done` when the answer (or failure) is in."""
        rule = LIMITS.get((method, path))
        if not self.enabled or rule is None:
            return None
        limit, window, per_inst = rule
        key = (method, path, inst if per_inst else "")
        while True:
            with self._lock:
                now = time.monotonic()
                q = self._hits.setdefault(key, [])
                q[:] = [h for h in q if h[0] > now - window - SAFETY_S]  # in flight: inf, kept
                if len(q) < limit:
                    slot = [math.inf]
                    q.append(slot)
                    return slot
                wait = min(h[0] for h in q) + window + SAFETY_S - now  # inf: all in flight, look again soon
            time.sleep(0.01 if math.isinf(wait) else max(wait, 0.001))

    @staticmethod
    def done(slot: list[float] | None) -> None:
        if slot is not None:
            slot[0] = time.monotonic()


def map_envelope(resp: Any, what: str) -> dict[str, Any]:
    """The envelope when it is a success or a per-item answer (codes 0/1/2), else the mapped error."""
    if not isinstance(resp, dict) or "code" not in resp:
        raise Ambiguous(f"{what}: unexpected answer {str(resp)[:200]!r}")
    code, msg = str(resp.get("code")), str(resp.get("msg") or "")
    if code in ("0", "1", "2"):
        return resp
    text = f"{what}: OKX {code} {msg}".rstrip()
    if code in RATE_LIMITED:
        raise RateLimited(text, code)
    if code in UNAVAILABLE:
        raise Unavailable(text, code)
    if code in AMBIGUOUS_CODES:
        raise Ambiguous(text, code)
    if code.startswith("501"):
        raise AuthError(text, code)
    raise ApiError(text, code)


def map_transport(e: Exception, what: str) -> VenueError:
    """httpx failures: a request that never connected was not processed; anything later may have been."""
    if isinstance(e, httpx.ConnectTimeout | httpx.ConnectError):
        return Unavailable(f"{what}: cannot connect ({type(e).__name__})")
    if isinstance(e, httpx.TimeoutException):
        return Ambiguous(f"{what}: no answer in time ({type(e).__name__})")
    if isinstance(e, json.JSONDecodeError):
        return Ambiguous(f"{what}: answer is not JSON")
    return Ambiguous(f"{what}: connection failed ({type(e).__name__})")


class OkxHttp:
    """The four python-okx clients of one account, with ``call`` as the only way to use them.

    ``flag`` "1" sends ``x-simulated-trading: 1`` (OKX demo trading); ``domain`` is the
    REST base (the local exchange's URL in paper mode).
    """

    def __init__(self, api_key: str, secret_key: str, passphrase: str, domain: str, flag: str,
                 timeout_s: float = 5.0, retry: RetryPolicy | None = None, pace: bool = True, reuse: bool = True):
        key = (hashlib.sha256(f"{api_key}|{secret_key}|{passphrase}".encode()).hexdigest(), domain, flag)
        with _CACHE_LOCK:
            cached = _CACHE.get(key) if reuse else None
            if cached is None:
                kw = dict(flag=flag, domain=domain.rstrip("/"), debug=False)
                cached = (okx.Trade.TradeAPI(api_key, secret_key, passphrase, **kw),
                          okx.Account.AccountAPI(api_key, secret_key, passphrase, **kw),
                          okx.PublicData.PublicAPI(**kw), okx.MarketData.MarketAPI(**kw), Pacer())
                if reuse:
                    _CACHE[key] = cached
        self.trade, self.account, self.public, self.market, self.pacer = cached
        for c in (self.trade, self.account, self.public, self.market):
            c.timeout = httpx.Timeout(timeout_s)
        self.pacer.enabled = pace
        self.reuse = reuse
        self.domain = domain
        self.retry = retry or RetryPolicy()
        self.requests = 0
        self._count_lock = threading.Lock()

    def close(self) -> None:
        """Close the connections (shared clients stay open for the next session of this process)."""
        if not self.reuse:
            for c in (self.trade, self.account, self.public, self.market):
                c.close()

    def once(self, method: str, path: str, fn: Callable[[], Any], what: str, inst: str = "") -> dict[str, Any]:
        """One request, no retry: the envelope or a mapped VenueError."""
        slot = self.pacer.acquire(method, path, inst)
        with self._count_lock:
            self.requests += 1
        try:
            resp = fn()
        except (httpx.HTTPError, json.JSONDecodeError) as e:
            raise map_transport(e, what) from None
        finally:
            self.pacer.done(slot)
        return map_envelope(resp, what)

    def call(self, method: str, path: str, fn: Callable[[], Any], what: str, inst: str = "",
             retry: RetryPolicy | None = None) -> dict[str, Any]:
        """An idempotent request, retried on rate limits, outages and ambiguous failures."""
        policy = retry or self.retry
        start = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                return self.once(method, path, fn, what, inst)
            except VenueError as e:
                if not e.retryable:
                    raise
                delay = policy.delay(attempt)
                if attempt >= policy.attempts or time.monotonic() - start + delay > policy.budget_s:
                    raise RetriesExhausted(what, e, attempt) from e
                log.warning("%s (attempt %d), retrying in %.2fs", e, attempt, delay)
                time.sleep(delay)
