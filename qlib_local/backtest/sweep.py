"""Parameter sweeps: many parameter combinations of one strategy in one vectorized run.

Factors are computed once per distinct name (``Sma_20`` is shared by every combination
that uses it), every combination's intents are stacked into one int8 array, and one
numba call walks all of them, each as its own account.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pandas as pd

from qlib_local.research.config import ResearchConfig, StrategyConfig
from qlib_local.research.data import MarketData, align_intents
from qlib_local.research.intents import strategy_intent
from qlib_local.research.kernels import simulate_batch
from qlib_local.research.model import Model
from qlib_local.research.plugins import parse_name


def grid_names(base: str, grid: dict[str, list]) -> list[str]:
    """``("SmaCross", {"fast": [5, 10], "slow": [20]})`` -> ``["SmaCross_5_20", "SmaCross_10_20"]``."""
    return ["_".join([base, *map(str, combo)]) for combo in itertools.product(*grid.values())]


def variant(cfg: ResearchConfig, sid: str, name: str) -> ResearchConfig:
    """The config reduced to strategy ``sid`` (id kept) with its name, i.e. its parameters, replaced."""
    from qlib_local.research.strategy import StrategyRegistry

    sc = cfg.strategy(sid)
    strategy = StrategyRegistry.load(cfg.plugins).create(name)
    new = replace(sc, strategy_name=name, strategy=strategy)  # same id: reuses the loaded panel
    return replace(cfg, strategies=(new,))


def run_sweep(cfg: ResearchConfig, data: MarketData, sid: str, names: list[str], margin: bool | None = None) -> pd.DataFrame:
    """Total equity per combination (columns = strategy names), one vectorized run.

    ``data`` must come from :func:`load_market_data` on a config holding strategy ``sid``.
    ``margin`` defaults to the config's.
    """
    margin = cfg.margin if margin is None else margin
    base = parse_name(cfg.strategy(sid).strategy_name)[0]
    for n in names:
        if parse_name(n)[0] != base:
            raise ValueError(f"sweep names must all be {base}_..., got {n}")
    variants = [variant(cfg, sid, n) for n in names]
    sc0: StrategyConfig = variants[0].strategies[0]
    model = Model(variants[0], data.specs)
    bars = data.bars[sid]
    cache: dict = {}
    codes = np.empty((len(names), len(data.index), len(model.instruments)), np.int8)
    due = None
    for a, v in enumerate(variants):
        sc = v.strategies[0]
        intent = strategy_intent(sc, bars, cfg.factors, cache)
        due, c = align_intents(model, {sc0.id: intent}, data.index)
        codes[a] = c[0]
    f = cfg.fees
    eq = simulate_batch(data.arrays(model.instruments), model.inst, model.margin(), model.params, due, codes,
                        cfg.initial_equity, f.taker, f.slippage, int(model.hold_period.max()), margin)
    return pd.DataFrame(eq.T, index=data.index, columns=pd.Index(names, name="strategy"))


def sweep_table(equity: pd.DataFrame, grid: dict[str, list]) -> pd.DataFrame:
    """Final return and max drawdown per combination, indexed by the grid's parameters."""
    final = equity.iloc[-1] / equity.iloc[0] - 1.0
    mdd = (equity / equity.cummax() - 1.0).min()
    idx = pd.MultiIndex.from_tuples(list(itertools.product(*grid.values())), names=list(grid))
    return pd.DataFrame({"total_return": final.to_numpy(), "max_drawdown": mdd.to_numpy()}, index=idx)
