"""ccxt exchange factory with per-venue capabilities, so the core never branches on a name.

A :class:`Source` is one configured ccxt client plus the facts paging needs: the
per-request bar cap, which endpoint reaches how far back, where the raw rows carry quote
volume and a "closed" flag, and the same for mark-price candles and funding-rate history.
Venues not listed in ``VENUES`` get conservative defaults and work through ccxt's unified
``fetch_ohlcv``, ``fetch_mark_ohlcv`` and ``fetch_funding_rate_history``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ccxt
import numpy as np
import pandas as pd

from qlib_local.errors import DataError
from qlib_local.marketdata.retry import RetryPolicy, call_with_retry
from qlib_local.specs import InstrumentSpec
from qlib_local.store.kline_store import COLUMNS
from qlib_local.timeframes import EXCHANGE_TIMEFRAMES, ccxt_timeframe, normalize_timeframe, parse_timeframe


@dataclass(frozen=True)
class VenueCaps:
    """What one exchange's candle API can do (see docs/marketdata.md)."""

    page_limit: int = 500  # bars per request
    recent_bars: int | None = None  # newest bars the "recent" endpoint reaches (None: one endpoint)
    recent_params: dict[str, Any] = field(default_factory=dict)  # ccxt params selecting it
    history_params: dict[str, Any] = field(default_factory=dict)  # ... and the history endpoint
    raw_quote_volume_index: int | None = None  # position of quote volume in a raw candle row
    raw_confirm_index: int | None = None  # position of the closed flag ("1") in a raw row
    ccxt_options: dict[str, Any] = field(default_factory=dict)
    max_workers: int = 4  # concurrent requests; ccxt's rate limiter paces them
    mark_page_limit: int = 500  # mark-price candles per request
    raw_mark_confirm_index: int | None = None  # closed flag in a raw mark row (OKX: [ts,o,h,l,c,confirm])
    funding_limit: int = 100  # settlements per funding-rate-history request
    funding_end: tuple[str, int] = ("until", -1)  # ccxt param bounding a page's end, and its offset from
    #                                               the exclusive end (ccxt's "until" is inclusive)
    funding_history_days: int | None = None  # how far back the venue keeps funding history (None: all)


VENUES: dict[str, VenueCaps] = {
    "okx": VenueCaps(  # market/(history-)candles 300; (history-)mark-price-candles 100; funding-rate-history 100
        page_limit=300,
        recent_bars=1440,
        recent_params={"type": "Candles"},
        history_params={"type": "HistoryCandles"},
        raw_quote_volume_index=7,
        raw_confirm_index=8,
        ccxt_options={"fetchMarkets": {"types": ["swap"]}},
        mark_page_limit=100,
        raw_mark_confirm_index=5,
        funding_limit=100,
        funding_end=("after", 0),  # public/funding-rate-history: after = settlements strictly before
        funding_history_days=92,  # OKX keeps about three months of funding history
    ),
    # fapi/v1/klines and markPriceKlines: ccxt caps a request at 1,000 (Binance documents 1,500);
    # fapi/v1/fundingRate: 1,000 a request, ascending from startTime, endTime inclusive
    "binanceusdm": VenueCaps(page_limit=1000, raw_quote_volume_index=7, mark_page_limit=1000, funding_limit=1000),
    # dapi/v1/...: the same caps; every COIN-M perpetual is inverse, settled in its own coin
    "binancecoinm": VenueCaps(page_limit=1000, mark_page_limit=1000, funding_limit=1000),
}
DEFAULT_CAPS = VenueCaps()
_HOST_RE = re.compile(r"^[a-z]+://[^/]+")


def caps_for(exchange_id: str) -> VenueCaps:
    return VENUES.get(exchange_id, DEFAULT_CAPS)


def _rewrite_urls(api: Any, base_url: str) -> Any:
    """Point every REST URL of a ccxt ``urls['api']`` tree at ``base_url``, keeping paths."""
    if isinstance(api, dict):
        return {k: _rewrite_urls(v, base_url) for k, v in api.items()}
    if isinstance(api, str) and "://" in api:
        return _HOST_RE.sub(base_url.rstrip("/"), api)
    return api


def _serialize_throttle(ex: ccxt.Exchange) -> None:
    """ccxt's sync throttle assumes one thread; serialize it so a pool keeps the pace."""
    lock = threading.Lock()
    original = ex.throttle

    def throttle(cost: float | None = None) -> None:
        with lock:
            original(cost)
            ex.lastRestRequestTimestamp = ex.milliseconds()

    ex.throttle = throttle


def _keep_raw_columns(ex: ccxt.Exchange, caps: VenueCaps) -> None:
    """Append quote volume and the closed flag of raw list rows to ccxt's parsed candles
    (a mark row, one confirm flag after the prices, has its flag elsewhere)."""
    extra = [caps.raw_quote_volume_index, caps.raw_confirm_index]
    mark = caps.raw_mark_confirm_index
    if all(i is None for i in extra) and mark is None:
        return
    original = ex.parse_ohlcv

    def parse_ohlcv(ohlcv: Any, market: Any = None) -> list:
        row = list(original(ohlcv, market))
        if isinstance(ohlcv, list):
            if mark is not None and len(ohlcv) == mark + 1:
                row += [None, ohlcv[mark]]
            else:
                row += [ohlcv[i] if i is not None and i < len(ohlcv) else None for i in extra]
        return row

    ex.parse_ohlcv = parse_ohlcv


def _float(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


class Source:
    """One exchange's candles through ccxt, with retries and only closed bars."""

    def __init__(
        self,
        exchange_id: str,
        base_url: str | None = None,
        timeout_ms: int = 10_000,
        retry: RetryPolicy | None = None,
        caps: VenueCaps | None = None,
    ):
        if exchange_id not in ccxt.exchanges:
            raise DataError(f"unknown exchange {exchange_id!r}: use a ccxt id such as okx or binanceusdm")
        self.id = exchange_id
        self.caps = caps or caps_for(exchange_id)
        self.retry = retry or RetryPolicy()
        ex: ccxt.Exchange = getattr(ccxt, exchange_id)(
            {"enableRateLimit": True, "timeout": timeout_ms, "options": dict(self.caps.ccxt_options)}
        )
        if base_url:
            ex.urls["api"] = _rewrite_urls(ex.urls["api"], base_url)
        _serialize_throttle(ex)
        _keep_raw_columns(ex, self.caps)
        self.ex = ex
        self._markets_lock = threading.Lock()
        self._loaded = False

    @property
    def workers(self) -> int:
        return self.caps.max_workers

    def _call(self, fn: Callable[[], Any], what: str) -> Any:
        return call_with_retry(fn, f"{self.id}: {what}", self.retry)

    # ------------------------------------------------------------ markets
    def load_markets(self) -> None:
        with self._markets_lock:
            if not self._loaded:
                self._call(self.ex.load_markets, "load markets")
                self._loaded = True

    def symbol(self, inst_id: str) -> str:
        """ccxt's unified symbol for the exchange's own id (``BTC-USDT-SWAP``)."""
        self.load_markets()
        found = self.ex.markets_by_id.get(inst_id) if self.ex.markets_by_id else None
        if not found:
            near = [i for i in self.instruments() if inst_id.split("-")[0].upper() in i][:3]
            hint = f" (did you mean {', '.join(near)}?)" if near else ""
            raise DataError(f"unknown instrument {inst_id!r} on {self.id}{hint}")
        return found[0]["symbol"]

    def market(self, inst_id: str) -> dict:
        """ccxt's market of the exchange's own id."""
        self.symbol(inst_id)
        return self.ex.markets_by_id[inst_id][0]

    def instruments(self, kind: str | None = None) -> list[str]:
        """The exchange's own ids of every active swap it lists, linear and inverse (``BTC-USDT-SWAP``,
        ``BTC-USD-SWAP``; ``BTCUSD_PERP`` on binancecoinm), or of one ``kind``. A config's
        ``universe: all`` takes one kind of them (``research.config``: linear where any is listed)."""
        self.load_markets()
        return sorted(
            m["id"]
            for m in self.ex.markets.values()
            if m.get("swap") and (m.get("linear") or m.get("inverse")) and (kind is None or m.get(kind))
            and m.get("active") is not False
        )

    def listed_ms(self, inst_id: str) -> int | None:
        """Listing time when the exchange tells it: no bars exist before it."""
        self.load_markets()
        m = self.ex.markets_by_id.get(inst_id)
        return m[0].get("created") if m else None

    def specs(self, inst_ids: list[str]) -> dict[str, InstrumentSpec]:
        """Contract specs from the exchange's markets, to keep beside the bars."""
        self.load_markets()
        out = {}
        for inst in inst_ids:
            found = self.ex.markets_by_id.get(inst)
            if not found:
                continue
            m = found[0]
            prec, lim = m.get("precision") or {}, m.get("limits") or {}

            def step(p: float | None) -> float | None:
                if p is None:
                    return None
                return float(p) if self.ex.precisionMode == ccxt.TICK_SIZE else 10.0 ** -float(p)

            lot = step(prec.get("amount")) or 1.0
            inverse = bool(m.get("inverse"))
            out[inst] = InstrumentSpec(
                inst_id=inst,
                ct_val=float(m.get("contractSize") or 1.0),
                lot_sz=lot,
                min_sz=float((lim.get("amount") or {}).get("min") or lot),
                tick_sz=step(prec.get("price")) or 0.0001,
                max_lever=float((lim.get("leverage") or {}).get("max") or 50.0),
                ct_val_ccy=str((m.get("quote") if inverse else m.get("base")) or ""),
                settle_ccy=str(m.get("settle") or "USDT"),
                list_time_ms=int(m.get("created") or 0),
                ct_type="inverse" if inverse else "linear",
            )
        return out

    def check_timeframe(self, timeframe: str) -> str:
        tf = normalize_timeframe(timeframe)
        if tf not in EXCHANGE_TIMEFRAMES or ccxt_timeframe(tf) not in (self.ex.timeframes or {}):
            raise DataError(f"{self.id} does not serve timeframe {timeframe}")
        return tf

    # ------------------------------------------------------------ time and bars
    def server_time_ms(self) -> int:
        """The exchange's clock, which decides what is closed (never the local clock)."""
        if self.ex.has.get("fetchTime"):
            return int(self._call(self.ex.fetch_time, "server time"))
        return int(self.ex.milliseconds())

    def page_limit(self, price: str | None = None) -> int:
        """Candles per request: last-price candles, or mark-price ones (``price="mark"``)."""
        return self.caps.mark_page_limit if price == "mark" else self.caps.page_limit

    def fetch_page(self, inst_id: str, timeframe: str, since_ms: int, end_ms: int, now_ms: int,
                   price: str | None = None) -> pd.DataFrame:
        """Closed bars opening in ``[since_ms, end_ms)``, at most one request's worth;
        ``price="mark"``: mark-price candles (ccxt ``fetch_mark_ohlcv``, volume 0).

        A bar is kept only if it ended by the exchange's ``now_ms`` and, where the venue
        flags it, is confirmed closed: the forming bar never reaches the store.
        """
        tf_ms = parse_timeframe(timeframe)
        limit = max(1, min(self.page_limit(price), -(-(end_ms - since_ms) // tf_ms)))
        params: dict[str, Any] = {}
        if self.caps.recent_bars:
            recent = since_ms >= now_ms - (self.caps.recent_bars - 1) * tf_ms
            params = dict(self.caps.recent_params if recent else self.caps.history_params)
        symbol = self.symbol(inst_id)
        fetch = self.ex.fetch_mark_ohlcv if price == "mark" else self.ex.fetch_ohlcv
        what = "mark-price candles" if price == "mark" else "bars"
        rows = self._call(
            lambda: fetch(symbol, ccxt_timeframe(timeframe), since_ms, limit, params),
            f"{inst_id} {timeframe} {what} from {pd.Timestamp(since_ms, unit='ms', tz='UTC')}",
        )
        confirm = (self.caps.raw_mark_confirm_index if price == "mark" else self.caps.raw_confirm_index) is not None
        frame = rows_to_frame(rows, tf_ms, since_ms, end_ms, now_ms, confirm)
        if price == "mark":
            frame["volume"], frame["quote_volume"] = 0.0, np.nan  # a mark price trades nothing
        return frame

    def fetch_funding_page(self, inst_id: str, lo_ms: int, hi_ms: int, now_ms: int) -> tuple[pd.Series, bool]:
        """Settlements with funding time in ``[lo_ms, hi_ms)`` and at or before ``now_ms``, one
        request (ccxt ``fetch_funding_rate_history``); and whether the page came back full
        (the window may hold more than the venue returned)."""
        name, shift = self.caps.funding_end
        limit = self.caps.funding_limit
        symbol = self.symbol(inst_id)
        rows = self._call(
            lambda: self.ex.fetch_funding_rate_history(symbol, lo_ms, limit, {name: hi_ms + shift}),
            f"{inst_id} funding rates from {pd.Timestamp(lo_ms, unit='ms', tz='UTC')}",
        )
        return funding_rows(rows, lo_ms, hi_ms, now_ms), len(rows) >= limit


def funding_rows(rows: list[dict], lo_ms: int, hi_ms: int, now_ms: int) -> pd.Series:
    """ccxt funding-rate-history entries -> rates by settlement time (to the minute: venues
    stamp settlements a few ms late), only settled ones inside the window."""
    from qlib_local.store.funding_file import snap_funding_times

    ts = np.fromiter((int(r.get("timestamp") or -1) for r in rows), np.int64, len(rows))
    rate = np.fromiter((_float(r.get("fundingRate")) for r in rows), np.float64, len(rows))
    keep = (ts >= lo_ms) & (ts < hi_ms) & (ts <= now_ms) & ~np.isnan(rate)
    ts, rate = snap_funding_times(ts[keep]), rate[keep]
    order = np.argsort(ts, kind="stable")
    ts, rate = ts[order], rate[order]
    last = np.r_[ts[1:] != ts[:-1], True] if len(ts) else np.zeros(0, bool)  # one per time, the last answered
    idx = pd.DatetimeIndex(ts[last].astype("datetime64[ms]"), name="ts").tz_localize("UTC")
    return pd.Series(rate[last], index=idx, name="rate")


def rows_to_frame(
    rows: list[list], tf_ms: int, since_ms: int, end_ms: int, now_ms: int, has_confirm: bool
) -> pd.DataFrame:
    """ccxt rows (+ quote volume, confirm) -> store frame of closed, in-range, on-grid bars."""
    n = len(rows)
    ts = np.fromiter((int(r[0]) for r in rows), np.int64, n)
    cols = {
        c: np.fromiter((_float(r[i + 1]) if len(r) > i + 1 else np.nan for r in rows), np.float64, n)
        for i, c in enumerate(COLUMNS)
    }
    keep = (ts >= since_ms) & (ts < end_ms) & (ts + tf_ms <= now_ms) & (ts % tf_ms == 0)
    if has_confirm:
        keep &= np.fromiter((str(r[7]) != "0" if len(r) > 7 else True for r in rows), bool, n)
    for c in ("open", "high", "low", "close"):
        keep &= ~np.isnan(cols[c])
    ts = ts[keep]
    order = np.argsort(ts, kind="stable")
    ts = ts[order]
    uniq = np.r_[True, ts[1:] != ts[:-1]] if len(ts) else np.zeros(0, bool)
    idx = pd.DatetimeIndex(ts[uniq].astype("datetime64[ms]"), name="ts").tz_localize("UTC")
    return pd.DataFrame({c: v[keep][order][uniq] for c, v in cols.items()}, index=idx)
