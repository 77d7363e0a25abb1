"""What each strategy wants at each of its closed bars, computed over the whole history.

Timing strategies give a signal (-1/0/1, NaN = keep), computed on each instrument's own
bars; event strategies give the selected instruments (candidates & filters &
cross-sectional condition, blacklist removed, top ``symbol_num_limit`` by the rank
factor), on the panel, with time-series factors still from each instrument's own bars.
Index: bar CLOSE times, the moments the model steps. Live takes the last row of exactly
this computation.

Warm-up: an instrument's intent counts only once it has as many bars of its own as the
strategy's warm-up (:mod:`qlib_local.research.warmup`; for event strategies the panel too):
before that a timing signal is NaN (keep) and an event strategy does not select it, so no
trade rests on values that depend on where the history starts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from qlib_local.research.config import ResearchConfig, StrategyConfig
from qlib_local.research.factors import Bars, FactorContext, FactorRegistry
from qlib_local.research.strategy import EventStrategy, TimingStrategy
from qlib_local.research.warmup import required_bars, settled


def timing_intent(sc: StrategyConfig, ctx: FactorContext) -> pd.DataFrame:
    """The strategy's signal, computed on each instrument's own bars (a timing strategy trades
    one instrument at a time, so another's gaps must not reach it)."""
    assert isinstance(sc.strategy, TimingStrategy)
    sig = ctx.per_instrument(sc.strategy.signal).reindex(columns=list(sc.instruments))
    sig = np.sign(sig.astype(float))
    return sig.where(ctx.bars.close.reindex(columns=list(sc.instruments)).notna())


def top_k(score: pd.DataFrame, eligible: pd.DataFrame, k: int, ascending: bool) -> pd.DataFrame:
    """The ``k`` best-scoring eligible instruments per row (ties: the earlier column wins)."""
    masked = score.where(eligible & score.notna())
    ranks = masked.rank(axis=1, method="first", ascending=ascending)
    return ranks.le(k) & masked.notna()


def event_intent(sc: StrategyConfig, ctx: FactorContext) -> pd.DataFrame:
    assert isinstance(sc.strategy, EventStrategy)
    insts = list(sc.instruments)
    ok = sc.strategy.candidates(ctx).reindex(index=ctx.bars.index, columns=insts).fillna(False).astype(bool)
    for name in sc.factors:
        ok &= ctx.frame(name).reindex(columns=insts).fillna(0).astype(float) > 0
    if sc.cross_sect_factor:
        ok &= ctx.frame(sc.cross_sect_factor).reindex(columns=insts).fillna(0).astype(float) > 0
    ok &= ctx.bars.close.reindex(columns=insts).notna()
    score = ctx.frame(sc.rank_factor).reindex(columns=insts).astype(float)
    return top_k(score, ok, sc.symbol_num_limit, sc.ascending)


def raw_intent(sc: StrategyConfig, bars: Bars, registry: FactorRegistry, cache: dict | None = None) -> pd.DataFrame:
    """One strategy's intents on its panel's rows (bar open times), warm-up included."""
    ctx = FactorContext(bars, registry, cache if cache is not None else {})
    return timing_intent(sc, ctx) if sc.kind == "timing" else event_intent(sc, ctx)


def warmup_bars(sc: StrategyConfig, registry: FactorRegistry) -> int:
    """Bars of its own rule the strategy needs before it may trade (see module docstring)."""
    return required_bars(sc, registry, raw_intent)


def strategy_intent(sc: StrategyConfig, bars: Bars, registry: FactorRegistry,
                    cache: dict | None = None) -> pd.DataFrame:
    """One strategy's intents on its own timeline, indexed by bar close time, warm-up excluded."""
    out = raw_intent(sc, bars, registry, cache)
    ok = settled(bars, out.columns, warmup_bars(sc, registry), panel_wide=sc.kind == "event")
    out = out.where(ok) if sc.kind == "timing" else out & ok
    out.index = out.index + pd.Timedelta(milliseconds=sc.rule_ms)
    out.index.name = "close_time"
    return out


def compute_intents(cfg: ResearchConfig, bars: dict[str, Bars]) -> dict[str, pd.DataFrame]:
    """Intents of every strategy; ``bars`` maps strategy id to its panel (shared panels share factors)."""
    caches: dict[int, dict] = {}
    out = {}
    for sc in cfg.strategies:
        panel = bars[sc.id]
        out[sc.id] = strategy_intent(sc, panel, cfg.factors, caches.setdefault(id(panel), {}))
    return out


def latest_intents(cfg: ResearchConfig, bars: dict[str, Bars], close_time: pd.Timestamp,
                   strategies: list[str] | None = None) -> dict[str, pd.Series]:
    """The intents at ``close_time`` (live): the same computation, one row. Missing row = no bar."""
    out = {}
    for sc in cfg.strategies:
        if strategies is not None and sc.id not in strategies:
            continue
        full = strategy_intent(sc, bars[sc.id], cfg.factors)
        if close_time in full.index:
            out[sc.id] = full.loc[close_time]
        else:
            out[sc.id] = pd.Series(np.nan if sc.kind == "timing" else False, index=list(sc.instruments))
    return out
