"""Market data as OKX serves it, read from the K-line store and cut off at simulated now.

No look-ahead: a base bar is visible only once it has closed; the bar containing now is
"forming" (confirm "0") and aggregates the base bars that closed before now, or, when none
has, shows only the open of the current base bar (an open is known at open time). The last
price is the open of the base bar containing now.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np

from qlib_local.sim.protocol import OkxError, num, tick_decimals
from qlib_local.specs import InstrumentSpec, load_specs, spec_for
from qlib_local.store import KlineStore
from qlib_local.store.funding import MAX_FUNDING_RATE
from qlib_local.store.resample import resample_arrays
from qlib_local.timeframes import DAY_MS, HOUR_MS, MINUTE_MS, bar_open_ms, parse_timeframe

UTC8_MS = 8 * HOUR_MS
WEEK_MS = 7 * DAY_MS
RECENT_BARS = 1440  # market/candles reaches only this many newest bars
MAX_LIMIT = 300
DEFAULT_LIMIT = 100
MAX_LMT_SZ = MAX_MKT_SZ = 100_000_000  # contracts per order, as every instrument publishes

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

    # Minimal stand-ins for the account side (funding, marks); the market-data work replaces them.
    def mark_price(self, inst_id: str, now_ms: int) -> float:
        """Mark price: the last price here."""
        p = self.price(inst_id, now_ms)
        if p is None:
            raise OkxError("51001")
        return p

    def funding_rate(self, inst_id: str, funding_time_ms: int) -> float | None:
        """The store's rate settled at ``funding_time_ms``, else the synthetic rate (when one is
        set), else None: nothing settles."""
        rates = self.store.read_funding(self.exchange, inst_id, funding_time_ms, funding_time_ms + 1)
        return float(rates.iloc[0]) if len(rates) else self.synthetic_funding

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
    ) -> list[list[str]]:
        """OKX candle rows, newest first: ts < after, ts > before, at most ``limit``."""
        rule, off = parse_bar(bar)
        spec = self.check(inst_id, now)
        s = self.series(inst_id)
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
            "ctMult": "1", "ctValCcy": "USD" if spec.inverse else spec.base_ccy, "ctType": spec.ct_type, "optType": "",
            "stk": "", "listTime": str(self.list_time(inst_id)), "expTime": "",
            "lever": num(spec.max_lever), "tickSz": num(spec.tick_sz), "lotSz": num(spec.lot_sz),
            "minSz": num(spec.min_sz), "alias": "", "state": "live", "category": "1",
            "maxLmtSz": num(MAX_LMT_SZ), "maxMktSz": num(MAX_MKT_SZ), "maxLmtAmt": "20000000",
            "maxMktAmt": "", "maxTwapSz": "", "maxIcebergSz": "", "maxTriggerSz": "",
            "maxStopSz": "", "ruleType": "normal", "auctionEndTime": "", "openType": "",
            "tradeQuoteCcyList": [],
        }
