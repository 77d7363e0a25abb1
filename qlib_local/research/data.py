"""Market data for a config: each strategy's own (rule, offset) panel and the common base timeline.

Strategies with different rules/offsets share one account, so the backtest walks the
finest bar grid that contains every strategy's closes (the base timeframe) and each
strategy steps at its own closes on it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import reduce
from math import gcd

import numpy as np
import pandas as pd

from qlib_local.errors import DataError
from qlib_local.research.config import ResearchConfig
from qlib_local.research.execution import coarse_base_note
from qlib_local.research.factors import FIELDS, Bars
from qlib_local.specs import InstrumentSpec, load_specs, spec_for
from qlib_local.store.funding import mark_exchange
from qlib_local.timeframes import (
    EXCHANGE_TIMEFRAMES,
    coarsest_dividing,
    offset_name,
    parse_timeframe,
    timeframe_name,
    to_ms,
)

MAX_FUNDING_RATE = 0.1  # per settlement; venues cap far below (OKX/Binance: a few percent at most)
NAMES_SHOWN = 5  # instruments named in a funding warning; the rest are counted
log = logging.getLogger(__name__)


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
    funding_notes: list[str] = field(default_factory=list)  # instruments without (full) funding history
    volume: pd.DataFrame | None = None  # base bars' volume (base currency) on the closes, for fill models
    quote_volume: pd.DataFrame | None = None

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
    funding interval when funding is modelled, so every settlement falls on a close), and the
    config's ``base_bar`` when it sets one."""
    spans = [s.rule_ms for s in cfg.strategies] + [s.offset_ms for s in cfg.strategies] + [funding_ms]
    name = coarsest_dividing(spans + ([EXCHANGE_TIMEFRAMES[cfg.base_bar]] if cfg.base_bar else []))
    if not name:
        raise DataError(f"no exchange timeframe divides every strategy's rule and offset (gcd {reduce(gcd, spans)} ms)")
    return name


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


def stored_funding(cfg: ResearchConfig, store, end=None) -> dict[str, pd.Series]:
    """The config's instruments' settled rates from the store, as its ``funding`` mode says:
    ``off`` none; ``auto`` what is stored; ``on`` refuses an instrument without any."""
    if cfg.funding == "off":
        return {}
    rates = {i: store.read_funding(cfg.exchange, i, None, end) for i in cfg.instruments}
    missing = [i for i, r in rates.items() if r.empty]
    if missing and cfg.funding == "on":
        raise DataError(f"funding: on, but no funding history is stored for {_names(missing)} "
                        f"(qlib-local data download --funding, or data import --funding)")
    return {i: r for i, r in rates.items() if not r.empty}


def stored_mark(cfg: ResearchConfig, store, base: str, end=None) -> pd.DataFrame | None:
    """Mark closes by bar CLOSE time of the instruments with stored mark candles: on ``base``
    bars where the finest stored mark series divides it, else on that series' own bars (an 8H
    mark series still marks every 8-hourly settlement)."""
    ns = mark_exchange(cfg.exchange)
    base_ms = EXCHANGE_TIMEFRAMES[base]
    closes = {}
    for inst in cfg.instruments:
        tfs = store.timeframes(ns, inst)
        if not tfs:
            continue
        tf = base if base_ms % parse_timeframe(tfs[0]) == 0 else tfs[0]
        bars = store.read(ns, inst, tf, None, end, columns=("close",))
        closes[inst] = pd.Series(bars["close"].to_numpy(np.float64),
                                 index=bars.index + pd.Timedelta(milliseconds=parse_timeframe(tf)))
    return pd.DataFrame(closes) if closes else None


def _names(insts: list[str]) -> str:
    more = f" and {len(insts) - NAMES_SHOWN} more" if len(insts) > NAMES_SHOWN else ""
    return ", ".join(insts[:NAMES_SHOWN]) + more


def funding_gaps(cfg: ResearchConfig, rates: dict[str, pd.Series], specs: dict, first: pd.Timestamp,
                 last: pd.Timestamp) -> list[str]:
    """Why some settlements of the trading window [first, last] will not be charged, one note per kind."""
    insts = list(cfg.instruments)
    notes = []
    without = [i for i in insts if i not in rates]
    if without:
        notes.append(f"no funding history stored for {_names(without)}: their positions pay and receive no funding")
    late = [i for i, r in rates.items()
            if r.index[0] > first + pd.Timedelta(milliseconds=spec_for(specs, i).funding_interval_ms)]
    if late:
        notes.append(f"funding history of {_names(late)} starts after {first}: earlier settlements are not charged")
    early = [i for i, r in rates.items()
             if r.index[-1] < last - pd.Timedelta(milliseconds=spec_for(specs, i).funding_interval_ms)]
    if early:
        notes.append(f"funding history of {_names(early)} ends before {last}: later settlements are not charged")
    return notes


def settlement_grid_ms(rates: dict[str, pd.Series], specs: dict) -> int:
    """The finest grid every stored settlement and every funding interval lies on (ms), so the
    base timeline puts each settlement on a close (an interval shortened in volatile times too)."""
    g = 0
    for inst, r in rates.items():
        g = gcd(g, spec_for(specs, inst).funding_interval_ms, int(np.gcd.reduce(r.index.as_unit("ms").asi8)))
    return g


def load_market_data(cfg: ResearchConfig, store, start=None, end=None,
                     funding: dict[str, pd.Series] | None = None, mark: pd.DataFrame | None = None) -> MarketData:
    """Read every panel once. Factors see all stored history before ``start`` (warm-up); trading
    runs on base bars opening in [start, end).

    ``funding`` maps instruments to their settled rates (indexed by funding time); by default
    they come from the store as the config's ``funding`` mode says (:func:`stored_funding`).
    When any is given the base timeline also divides the funding interval. ``mark`` holds
    mark closes by bar close time; by default the store's mark candles, where stored (absent:
    funding is valued at the close).
    """
    cache: dict[tuple, Bars] = {}
    bars = load_strategy_bars(cfg, store, None, end, cache)

    def panel(insts: tuple[str, ...], rule: str, offset: str) -> Bars:
        return _panel(cfg, store, cache, insts, rule, offset, None, end)

    specs = load_specs(store.root, cfg.exchange)
    insts = tuple(cfg.instruments)
    from_store = funding is None
    if from_store:
        funding = stored_funding(cfg, store, end)
    rates = {i: r for i, r in (funding or {}).items() if i in insts and len(r)}
    base = common_base(cfg, settlement_grid_ms(rates, specs))
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

    if any(ex.style != "market" for ex in cfg.styles):  # makers and slices trade between the base closes
        finer = [tf for i in insts for tf in store.timeframes(cfg.exchange, i)[:1]
                 if EXCHANGE_TIMEFRAMES[base] % parse_timeframe(tf) == 0]
        note = coarse_base_note(cfg.styles, base, min(finer, key=parse_timeframe) if finer else "")
        if note:
            log.warning("execution: %s", note)
    full = on_closes(base_close, True)
    funding_frame = funding_matrix(full.index, rates, list(insts)) if rates else None
    notes = []
    if from_store and cfg.funding != "off":
        notes = funding_gaps(cfg, rates, specs, lo, full.index[-1])
        for note in notes:
            log.warning("funding: %s", note)
    if mark is None and rates:
        mark = stored_mark(cfg, store, base, end)
    mark_frame = mark.reindex(index=full.index, columns=list(insts)) if mark is not None else None
    return MarketData(timeframe_name(EXCHANGE_TIMEFRAMES[base]), full, bars, specs,
                      high=on_closes(base_bars.high, False), low=on_closes(base_bars.low, False),
                      mark=mark_frame, funding=funding_frame, funding_notes=notes,
                      volume=on_closes(base_bars.volume, False), quote_volume=on_closes(base_bars.quote_volume, False))


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
