"""Market data for a config: each strategy's own (rule, offset) panel and the common base timeline.

Strategies with different rules/offsets share one account, so the backtest walks the
finest bar grid that contains every strategy's closes (the base timeframe) and each
strategy steps at its own closes on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from math import gcd

import numpy as np
import pandas as pd

from qlib_local.errors import DataError
from qlib_local.research.config import ResearchConfig
from qlib_local.research.factors import FIELDS, Bars
from qlib_local.specs import InstrumentSpec, load_specs, spec_for
from qlib_local.timeframes import EXCHANGE_TIMEFRAMES, offset_name, timeframe_name, to_ms

MAX_FUNDING_RATE = 0.1  # per settlement; venues cap far below (OKX/Binance: a few percent at most)


@dataclass
class MarketData:
    """The step timeline: base bars indexed by bar CLOSE time.

    ``close`` is forward-filled (the last known price); ``high``/``low`` are the bar's
    own (NaN when an instrument has no bar: no move to judge margin on); ``mark`` is the
    mark price at the close (NaN: use the close); ``funding`` holds the rate settled at
    that close (0 where none is).
    """

    base_tf: str
    close: pd.DataFrame
    bars: dict[str, Bars]
    specs: dict[str, InstrumentSpec]
    high: pd.DataFrame | None = None
    low: pd.DataFrame | None = None
    mark: pd.DataFrame | None = None
    funding: pd.DataFrame | None = None

    @property
    def index(self) -> pd.DatetimeIndex:
        return self.close.index

    def arrays(self, instruments: list[str]) -> tuple[np.ndarray, ...]:
        """(close, high, low, mark, funding) [T, N] in ``instruments`` order, for the kernels."""
        def arr(frame: pd.DataFrame | None, fill: float) -> np.ndarray:
            if frame is None:
                return np.full((len(self.index), len(instruments)), fill)
            return frame.reindex(index=self.index, columns=instruments).to_numpy(np.float64)

        close = arr(self.close, np.nan)
        return (close, arr(self.high, np.nan), arr(self.low, np.nan), arr(self.mark, np.nan),
                np.nan_to_num(arr(self.funding, 0.0), nan=0.0))


def common_base(cfg: ResearchConfig, funding_ms: int = 0) -> str:
    """The coarsest exchange timeframe dividing every strategy's rule and offset (and the
    funding interval when funding is modelled, so every settlement falls on a close)."""
    g = reduce(gcd, [s.rule_ms for s in cfg.strategies] + [s.offset_ms for s in cfg.strategies if s.offset_ms]
               + ([funding_ms] if funding_ms else []))
    for name, ms in reversed(EXCHANGE_TIMEFRAMES.items()):
        if g % ms == 0:
            return name
    raise DataError(f"no exchange timeframe divides every strategy's rule and offset (gcd {g} ms)")


def _panel(cfg: ResearchConfig, store, cache: dict, insts: tuple[str, ...], rule: str, offset: str,
           history_start, end) -> Bars:
    key = (insts, rule, offset)
    if key not in cache:
        cache[key] = Bars(store.read_panel(cfg.exchange, list(insts), rule, history_start, end, offset, fields=FIELDS))
    return cache[key]


def load_strategy_bars(cfg: ResearchConfig, store, history_start=None, end=None,
                       cache: dict | None = None) -> dict[str, Bars]:
    """Each strategy's panel on its own (rule, offset), bars opening in [history_start, end).

    Live passes ``end`` = the close time being traded, so only closed bars are read.
    Strategies with the same instruments and timeline share one panel (and its factors).
    """
    cache = {} if cache is None else cache
    return {s.id: _panel(cfg, store, cache, tuple(s.instruments), s.rule_type, s.offset, history_start, end)
            for s in cfg.strategies}


def load_market_data(cfg: ResearchConfig, store, start=None, end=None,
                     funding: dict[str, pd.Series] | None = None, mark: pd.DataFrame | None = None) -> MarketData:
    """Read every panel once. Factors see all stored history before ``start`` (warm-up); trading
    runs on base bars opening in [start, end).

    ``funding`` maps instruments to their settled rates (indexed by funding time); when
    any is given the base timeline also divides the funding interval. ``mark`` holds
    mark closes by bar close time (absent: funding is valued at the close).
    """
    cache: dict[tuple, Bars] = {}
    bars = load_strategy_bars(cfg, store, None, end, cache)

    def panel(insts: tuple[str, ...], rule: str, offset: str) -> Bars:
        return _panel(cfg, store, cache, insts, rule, offset, None, end)

    specs = load_specs(store.root, cfg.exchange)
    insts = tuple(cfg.instruments)
    rates = {i: r for i, r in (funding or {}).items() if i in insts and len(r)}
    funding_ms = min((spec_for(specs, i).funding_interval_ms for i in rates), default=0)
    base = common_base(cfg, funding_ms)
    base_bars = panel(insts, base, offset_name(0))
    base_close = base_bars.close.reindex(columns=list(insts))
    if base_close.dropna(how="all").empty:
        raise DataError(f"no {base} bars stored for the config's instruments")
    step = pd.Timedelta(milliseconds=EXCHANGE_TIMEFRAMES[base])
    lo = base_close.index[0] if start is None else max(base_close.index[0], pd.Timestamp(to_ms(start), unit="ms", tz="UTC"))
    hi = base_close.index[-1]
    if hi < lo:
        raise DataError(f"no {base} bars in the requested window")
    grid = pd.date_range(base_close.index[0], hi, freq=step, name="ts")

    def on_closes(frame: pd.DataFrame, ffill: bool) -> pd.DataFrame:
        out = frame.reindex(columns=list(insts)).reindex(grid)
        out = out.ffill() if ffill else out
        out = out[out.index >= lo]
        out.index = out.index + step
        out.index.name = "close_time"
        return out

    full = on_closes(base_close, True)
    funding_frame = funding_matrix(full.index, rates, list(insts)) if rates else None
    mark_frame = mark.reindex(index=full.index, columns=list(insts)) if mark is not None else None
    return MarketData(timeframe_name(EXCHANGE_TIMEFRAMES[base]), full, bars, specs,
                      high=on_closes(base_bars.high, False), low=on_closes(base_bars.low, False),
                      mark=mark_frame, funding=funding_frame)


def funding_matrix(closes: pd.DatetimeIndex, rates: dict[str, pd.Series], instruments: list[str]) -> pd.DataFrame:
    """Rates on the step timeline: each settlement at the close equal to its funding time
    (the base timeline divides the interval, so every settlement inside it lands on a close)."""
    out = pd.DataFrame(0.0, index=closes, columns=instruments)
    for inst, r in rates.items():
        bad = r[~np.isfinite(r.to_numpy(np.float64)) | (r.abs() > MAX_FUNDING_RATE)]
        if len(bad):
            raise DataError(f"{inst}: {len(bad)} funding rate(s) not finite or beyond ±{MAX_FUNDING_RATE:g}, "
                            f"first at {bad.index[0]}: {bad.iloc[0]!r}")
        r = r[r.index.isin(closes)]
        out.loc[r.index, inst] = r.to_numpy(np.float64)
    return out


def align_intents(model, intents: dict[str, pd.DataFrame], index: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """Per-strategy intents on the base timeline: due mask [S, T] and int8 codes [S, T, N]."""
    from qlib_local.research import kernels as K

    close_ms = index.as_unit("ms").asi8
    due = model.due_mask(close_ms)
    n_s, t_len, n = len(model.strategies), len(index), len(model.instruments)
    codes = np.zeros((n_s, t_len, n), np.int8)
    for s, sid in enumerate(model.strategies):
        if model.kind[s] == K.TIMING:
            codes[s] = K.KEEP
        frame = intents[sid]
        rows = index.get_indexer(frame.index)
        ok = rows >= 0
        if ok.any():
            codes[s, rows[ok]] = model.encode(s, frame[ok])
    return due, codes
