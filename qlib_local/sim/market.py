"""Market data as OKX serves it, read from the K-line store and cut off at simulated now.

No look-ahead: a base bar is visible only once it has closed; the bar containing now is
"forming" (confirm "0") and aggregates the base bars that closed before now, or, when none
has, shows only the open of the current base bar (an open is known at open time). The last
price is the open of the base bar containing now.

Funding and mark prices come from the store's ``<exchange>@funding`` and ``<exchange>@mark``
namespaces: a settlement is visible from its funding time on, a mark candle once closed; the
mark price is the last closed mark candle's close (the last price where none is stored).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np

from qlib_local.sim.protocol import OkxError, num, tick_decimals
from qlib_local.specs import InstrumentSpec, load_specs, spec_for
from qlib_local.store import KlineStore
from qlib_local.store.funding import MAX_FUNDING_RATE, mark_exchange
from qlib_local.store.resample import resample_arrays
from qlib_local.timeframes import DAY_MS, HOUR_MS, MINUTE_MS, bar_open_ms, parse_timeframe

UTC8_MS = 8 * HOUR_MS
WEEK_MS = 7 * DAY_MS
RECENT_BARS = 1440  # market/candles reaches only this many newest bars
MAX_LIMIT = 300
DEFAULT_LIMIT = 100
MAX_LMT_SZ = MAX_MKT_SZ = 100_000_000  # contracts per order, as every instrument publishes
FUNDING_HISTORY_MS = 92 * DAY_MS  # public/funding-rate-history reaches about three months back
FUNDING_LIMIT = MARK_LIMIT = 100  # funding-rate-history and (history-)mark-price-candles per request

_INTRADAY = {"1m": MINUTE_MS, "3m": 3 * MINUTE_MS, "5m": 5 * MINUTE_MS, "15m": 15 * MINUTE_MS,
             "30m": 30 * MINUTE_MS, "1H": HOUR_MS, "2H": 2 * HOUR_MS, "4H": 4 * HOUR_MS}
_LONG = {"6H": 6 * HOUR_MS, "12H": 12 * HOUR_MS, "1D": DAY_MS, "2D": 2 * DAY_MS, "3D": 3 * DAY_MS,
         "1W": WEEK_MS}
_MONDAY_MS = 4 * DAY_MS  # 1970-01-05, the first Monday after the epoch


def parse_bar(bar: str) -> tuple[int, int]:
    """(rule ms, offset ms) of an OKX ``bar``; 6H and longer align to UTC+8 unless ``...utc``."""
    if bar in _INTRADAY:
        return _INTRADAY[bar], 0
    utc = bar.endswith("utc")
    name = bar[:-3] if utc else bar
    if name not in _LONG:
        raise OkxError("51000", "bar")
    rule = _LONG[name]
    anchor = _MONDAY_MS if rule == WEEK_MS else 0
    shift = 0 if utc else -UTC8_MS
    return rule, (anchor + shift) % rule


@dataclass
class Series:
    """One instrument's base bars as arrays (open times in ms, base-currency volume)."""

    base_ms: int
    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    quote_volume: np.ndarray


class MarketData:
    """Candles, tickers and prices of the store's ``exchange`` instruments, as of a given now."""

    def __init__(self, store: KlineStore, exchange: str = "okx", funding_rate: float | None = None):
        if funding_rate is not None and not (math.isfinite(funding_rate) and abs(funding_rate) <= MAX_FUNDING_RATE):
            raise ValueError(f"funding rate must be finite and within ±{MAX_FUNDING_RATE:g}, got {funding_rate!r}")
        self.synthetic_funding = funding_rate
        self.store = store
        self.exchange = exchange
        self.specs = load_specs(store.root, exchange)
        self.inst_ids = [i for i in store.instruments(exchange) if store.timeframes(exchange, i)]
        self._series: dict[str, Series] = {}
        self._lock = threading.Lock()
        self._marks: dict[str, Series | None] = {}
        self._rates: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    # ------------------------------------------------------------ loading
    def spec(self, inst_id: str) -> InstrumentSpec:
        return spec_for(self.specs, inst_id)

    def series(self, inst_id: str) -> Series:
        s = self._series.get(inst_id)
        if s is not None:
            return s
        if inst_id not in self.inst_ids:
            raise OkxError("51001")
        with self._lock:
            if inst_id not in self._series:
                base = self.store.timeframes(self.exchange, inst_id)[0]
                df = self.store.read(self.exchange, inst_id, base)
                self._series[inst_id] = Series(
                    parse_timeframe(base), df.index.as_unit("ms").asi8.copy(),
                    *(df[c].to_numpy(np.float64) for c in
                      ("open", "high", "low", "close", "volume", "quote_volume")),
                )
        return self._series[inst_id]

    def preload(self) -> None:
        for i in self.inst_ids:
            self.series(i)

    def listed(self, inst_id: str, now: int) -> bool:
        """Listed once its first bar has opened: an exchange cannot show a future listing."""
        s = self.series(inst_id)
        return len(s.ts) > 0 and s.ts[0] <= now

    def check(self, inst_id: str, now: int) -> InstrumentSpec:
        """The spec of a tradable instrument, else OKX's 51001."""
        if not inst_id or inst_id not in self.inst_ids or not self.listed(inst_id, now):
            raise OkxError("51001")
        return self.spec(inst_id)

    def list_time(self, inst_id: str) -> int:
        s = self.series(inst_id)
        return int(self.spec(inst_id).list_time_ms or (s.ts[0] if len(s.ts) else 0))

    # ------------------------------------------------------------ prices
    def price(self, inst_id: str, now: int) -> float | None:
        """Last price: the open of the base bar containing now, else the last close before now."""
        s = self.series(inst_id)
        i = int(np.searchsorted(s.ts, now, "right")) - 1
        if i < 0:
            return None
        raw = float(s.open[i]) if s.ts[i] + s.base_ms > now else float(s.close[i])
        return self.spec(inst_id).round_price(raw)

    def closed_bars(self, inst_id: str, start: int, now: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ts, high, low) of base bars opening at or after ``start`` and closed by ``now``."""
        s = self.series(inst_id)
        i0 = int(np.searchsorted(s.ts, start, "left"))
        i1 = int(np.searchsorted(s.ts, now - s.base_ms, "right"))
        return s.ts[i0:i1], s.high[i0:i1], s.low[i0:i1]

    # ------------------------------------------------------------ candles
    def candles(
        self,
        inst_id: str,
        bar: str,
        now: int,
        after: int | None = None,
        before: int | None = None,
        limit: int = DEFAULT_LIMIT,
        recent_only: bool = True,
        late_ms: int = 0,
        series: Series | None = None,
    ) -> list[list[str]]:
        """OKX candle rows, newest first: ts < after, ts > before, at most ``limit``
        (of ``series``, e.g. mark prices; default the instrument's last-price bars)."""
        rule, off = parse_bar(bar)
        spec = self.check(inst_id, now)
        s = self.series(inst_id) if series is None else series
        if rule % s.base_ms or off % s.base_ms:
            return []  # finer than (or misaligned with) what the store holds
        cur_open = bar_open_ms(now, rule, off)
        upper = cur_open + 1  # exclusive bound on bar open times
        if late_ms > 0 and now < cur_open + late_ms:
            upper = cur_open - rule  # the just-closed bar is not published yet
        if after is not None:
            upper = min(upper, after)
        lower = (before + 1) if before is not None else -(2**62)
        if recent_only:
            lower = max(lower, cur_open - (RECENT_BARS - 1) * rule)
        if upper <= lower:
            return []
        last_open = bar_open_ms(upper - 1, rule, off)
        first_open = max(bar_open_ms(lower, rule, off), last_open - (limit - 1) * rule)
        i0 = int(np.searchsorted(s.ts, first_open, "left"))
        i1 = int(np.searchsorted(s.ts, min(now - s.base_ms, last_open + rule - 1), "right"))
        r = resample_arrays(s.ts[i0:i1], s.open[i0:i1], s.high[i0:i1], s.low[i0:i1], s.close[i0:i1],
                            s.volume[i0:i1], s.quote_volume[i0:i1], rule, off)
        rows = [
            (int(t), o, h, lo, c, v, q)
            for t, o, h, lo, c, v, q in zip(r.ts, r.open, r.high, r.low, r.close, r.volume, r.quote_volume, strict=True)
            if lower <= t < upper
        ]
        if lower <= cur_open < upper and not (rows and rows[-1][0] == cur_open):
            j = int(np.searchsorted(s.ts, now, "right")) - 1
            if j >= 0 and s.ts[j] >= cur_open and s.ts[j] + s.base_ms > now:
                p = float(s.open[j])
                rows.append((cur_open, p, p, p, p, 0.0, 0.0))
        dec = tick_decimals(spec.tick_sz)
        out = []
        for t, o, h, lo, c, v, q in reversed(rows[-limit:]):
            out.append([
                str(t), num(o, dec), num(h, dec), num(lo, dec), num(c, dec),
                num(v / spec.ct_val), num(v), num(q), "1" if t + rule <= now else "0",
            ])
        return out

    # ------------------------------------------------------------ tickers
    def ticker(self, inst_id: str, now: int) -> dict[str, str]:
        spec = self.check(inst_id, now)
        s = self.series(inst_id)
        last = self.price(inst_id, now)
        dec = tick_decimals(spec.tick_sz)
        i0 = int(np.searchsorted(s.ts, now - DAY_MS, "left"))
        i1 = int(np.searchsorted(s.ts, now - s.base_ms, "right"))
        closed = slice(i0, max(i0, i1))
        highs = np.r_[s.high[closed], last]
        lows = np.r_[s.low[closed], last]
        vol = float(s.volume[closed].sum())
        open24 = float(s.open[i0]) if i0 < len(s.ts) and s.ts[i0] <= now else last

        def sod(offset: int) -> str:
            p = self.price(inst_id, bar_open_ms(now, DAY_MS, offset))
            return num(p if p is not None else last, dec)

        return {
            "instType": "SWAP", "instId": inst_id, "last": num(last, dec), "lastSz": num(spec.lot_sz),
            "askPx": num(last + spec.tick_sz, dec), "askSz": num(100 * spec.lot_sz),
            "bidPx": num(last - spec.tick_sz, dec), "bidSz": num(100 * spec.lot_sz),
            "open24h": num(open24, dec), "high24h": num(float(highs.max()), dec),
            "low24h": num(float(lows.min()), dec), "volCcy24h": num(vol),
            "vol24h": num(vol / spec.ct_val), "ts": str(now),
            "sodUtc0": sod(0), "sodUtc8": sod(DAY_MS - UTC8_MS),
        }

    def instrument(self, inst_id: str) -> dict[str, str]:
        spec = self.spec(inst_id)
        uly = spec.uly
        return {
            "instType": "SWAP", "instId": inst_id, "uly": uly, "instFamily": uly,
            "baseCcy": "", "quoteCcy": "", "settleCcy": spec.settle_ccy, "ctVal": num(spec.ct_val),
            "ctMult": "1", "ctValCcy": spec.ct_val_ccy or ("USD" if spec.inverse else spec.base_ccy), "ctType": spec.ct_type, "optType": "",
            "stk": "", "listTime": str(self.list_time(inst_id)), "expTime": "",
            "lever": num(spec.max_lever), "tickSz": num(spec.tick_sz), "lotSz": num(spec.lot_sz),
            "minSz": num(spec.min_sz), "alias": "", "state": "live", "category": "1",
            "maxLmtSz": num(MAX_LMT_SZ), "maxMktSz": num(MAX_MKT_SZ), "maxLmtAmt": "20000000",
            "maxMktAmt": "", "maxTwapSz": "", "maxIcebergSz": "", "maxTriggerSz": "",
            "maxStopSz": "", "ruleType": "normal", "auctionEndTime": "", "openType": "",
            "tradeQuoteCcyList": [],
        }

    # ------------------------------------------------------------ funding and mark prices
    def mark_series(self, inst_id: str) -> Series | None:
        """The instrument's stored mark candles (finest stored timeframe), or None."""
        if inst_id not in self._marks:
            ns = mark_exchange(self.exchange)
            tfs = self.store.timeframes(ns, inst_id) if inst_id in self.inst_ids else []
            s = None
            if tfs:
                df = self.store.read(ns, inst_id, tfs[0])
                zero = np.zeros(len(df))
                s = Series(parse_timeframe(tfs[0]), df.index.as_unit("ms").asi8.copy(),
                           *(df[c].to_numpy(np.float64) for c in ("open", "high", "low", "close")), zero, zero)
            with self._lock:
                self._marks.setdefault(inst_id, s)
        return self._marks[inst_id]

    def mark_price(self, inst_id: str, now_ms: int) -> float:
        """The mark price at ``now_ms``: the close of the mark candle that closed last by then
        (if it closed within one candle of now), else the last price. OKX's 51001 for an
        instrument not trading yet."""
        s = self.mark_series(inst_id)
        if s is not None and len(s.ts):
            i = int(np.searchsorted(s.ts, now_ms - s.base_ms, "right")) - 1
            if i >= 0 and s.ts[i] + 2 * s.base_ms > now_ms:
                return self.spec(inst_id).round_price(float(s.close[i]))
        p = self.price(inst_id, now_ms)
        if p is None:
            raise OkxError("51001")
        return p

    def mark_candles(self, inst_id: str, bar: str, now: int, after: int | None = None, before: int | None = None,
                     limit: int = DEFAULT_LIMIT, recent_only: bool = True, late_ms: int = 0) -> list[list[str]]:
        """OKX mark-price candle rows ``[ts, o, h, l, c, confirm]``, newest first; the last-price
        candles stand in where no mark candles are stored."""
        self.check(inst_id, now)
        rows = self.candles(inst_id, bar, now, after, before, limit, recent_only, late_ms,
                            series=self.mark_series(inst_id))
        return [r[:5] + [r[8]] for r in rows]

    def _funding(self, inst_id: str) -> tuple[np.ndarray, np.ndarray]:
        if inst_id not in self._rates:
            r = self.store.read_funding(self.exchange, inst_id) if inst_id in self.inst_ids else None
            arrays = ((r.index.as_unit("ms").asi8.copy(), r.to_numpy(np.float64)) if r is not None and len(r)
                      else (np.empty(0, np.int64), np.empty(0)))
            with self._lock:
                self._rates.setdefault(inst_id, arrays)
        return self._rates[inst_id]

    def funding_rate(self, inst_id: str, funding_time_ms: int) -> float | None:
        """The rate settled at ``funding_time_ms`` (a funding time of the instrument): the store's,
        else the synthetic rate (when one is set), else None: nothing settles. Call it at or
        after that time only."""
        ts, rate = self._funding(inst_id)
        i = int(np.searchsorted(ts, funding_time_ms, "left"))
        return float(rate[i]) if i < len(ts) and ts[i] == funding_time_ms else self.synthetic_funding

    def funding_history(self, inst_id: str, now_ms: int, after: int | None = None, before: int | None = None,
                        limit: int = FUNDING_LIMIT) -> list[tuple[int, float]]:
        """Settled (funding time <= now) ``(time, rate)``, newest first, as OKX pages them:
        ``after`` older than, ``before`` newer than, at most ``limit``, at most
        ``FUNDING_HISTORY_MS`` back."""
        self.check(inst_id, now_ms)
        ts, rate = self._funding(inst_id)
        lo = max(now_ms - FUNDING_HISTORY_MS, (before + 1) if before is not None else -(2**62))
        hi = min(now_ms + 1, after if after is not None else 2**62)
        i0, i1 = int(np.searchsorted(ts, lo, "left")), int(np.searchsorted(ts, hi, "left"))
        i0 = max(i0, i1 - limit)
        return [(int(ts[i]), float(rate[i])) for i in range(i1 - 1, i0 - 1, -1)]

    def next_funding_time(self, inst_id: str, now_ms: int) -> int:
        """The instrument's next settlement strictly after ``now_ms``."""
        interval = self.spec(inst_id).funding_interval_ms
        return (now_ms // interval + 1) * interval

    def last_funding(self, inst_id: str, now_ms: int) -> tuple[int, float] | None:
        """The latest settlement at or before ``now_ms``."""
        ts, rate = self._funding(inst_id)
        i = int(np.searchsorted(ts, now_ms, "right")) - 1
        return (int(ts[i]), float(rate[i])) if i >= 0 else None
