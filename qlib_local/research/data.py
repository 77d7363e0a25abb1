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
from qlib_local.specs import InstrumentSpec, load_specs
from qlib_local.timeframes import EXCHANGE_TIMEFRAMES, offset_name, timeframe_name, to_ms


@dataclass
class MarketData:
    """``close``: forward-filled base closes indexed by bar CLOSE time (the step timeline)."""

    base_tf: str
    close: pd.DataFrame
    bars: dict[str, Bars]
    specs: dict[str, InstrumentSpec]

    @property
    def index(self) -> pd.DatetimeIndex:
        return self.close.index


def common_base(cfg: ResearchConfig) -> str:
    """The coarsest exchange timeframe dividing every strategy's rule and offset."""
    g = reduce(gcd, [s.rule_ms for s in cfg.strategies] + [s.offset_ms for s in cfg.strategies if s.offset_ms])
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


def load_market_data(cfg: ResearchConfig, store, start=None, end=None) -> MarketData:
    """Read every panel once. Factors see all stored history before ``start`` (warm-up); trading
    runs on base bars opening in [start, end)."""
    cache: dict[tuple, Bars] = {}
    bars = load_strategy_bars(cfg, store, None, end, cache)

    def panel(insts: tuple[str, ...], rule: str, offset: str) -> Bars:
        return _panel(cfg, store, cache, insts, rule, offset, None, end)

    base = common_base(cfg)
    insts = tuple(cfg.instruments)
    base_close = panel(insts, base, offset_name(0)).close.reindex(columns=list(insts))
    if base_close.dropna(how="all").empty:
        raise DataError(f"no {base} bars stored for the config's instruments")
    step = pd.Timedelta(milliseconds=EXCHANGE_TIMEFRAMES[base])
    lo = base_close.index[0] if start is None else max(base_close.index[0], pd.Timestamp(to_ms(start), unit="ms", tz="UTC"))
    hi = base_close.index[-1]
    if hi < lo:
        raise DataError(f"no {base} bars in the requested window")
    grid = pd.date_range(base_close.index[0], hi, freq=step, name="ts")
    full = base_close.reindex(grid).ffill()
    full = full[full.index >= lo]
    full.index = full.index + step
    full.index.name = "close_time"
    specs = load_specs(store.root, cfg.exchange)
    return MarketData(timeframe_name(EXCHANGE_TIMEFRAMES[base]), full, bars, specs)


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
