"""python-okx clients behind one ``call``: error mapping, client-side pacing, retry with backoff.

python-okx returns the decoded JSON envelope (or raises httpx's transport errors), so
this is the one place that turns OKX codes and network failures into the domain kinds
(:class:`qlib_local.live.types.Kind`, carried by :mod:`qlib_local.live.errors`). The clients
are always built with ``debug=False``: python-okx's debug mode logs request headers,
passphrase included.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from typing import Any

import httpx
import okx.Account
import okx.MarketData
import okx.PublicData
import okx.Trade

from qlib_local.live.errors import Ambiguous, Unavailable, VenueError, venue_error
from qlib_local.live.retry import RetryPolicy, call_with_retry
from qlib_local.venues.okx.caps import CAPS, RATE_LIMIT_CODES, kind_of
from qlib_local.venues.pacing import Pacer

__all__ = ["OkxHttp", "RetryPolicy", "map_envelope", "map_transport"]

# Clients and pacing per (credentials hash, domain, flag): building an httpx client costs ~30 ms
# (TLS context), and one pacer per account keeps consecutive runs in one process within limits.
_CACHE: dict[tuple[str, str, str], tuple] = {}
_CACHE_LOCK = threading.Lock()


def map_envelope(resp: Any, what: str) -> dict[str, Any]:
    """The envelope when it is a success or a per-item answer (codes 0/1/2), else the mapped error."""
    if not isinstance(resp, dict) or "code" not in resp:
        raise Ambiguous(f"{what}: unexpected answer {str(resp)[:200]!r}")
    code, msg = str(resp.get("code")), str(resp.get("msg") or "")
    if code in ("0", "1", "2"):
        return resp
    text = f"{what}: OKX {code} {msg}".rstrip()
    raise venue_error(kind_of(code), text, code, rate_limited=code in RATE_LIMIT_CODES)


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
                          okx.PublicData.PublicAPI(**kw), okx.MarketData.MarketAPI(**kw), Pacer(CAPS.pacing))
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
        return call_with_retry(lambda: self.once(method, path, fn, what, inst), what, retry or self.retry)
