"""Intents and backtests from each instrument's own bars: adding an instrument changes nothing else."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from qlib_local.backtest.engine import run_backtest
from qlib_local.research import parse_config
from qlib_local.specs import InstrumentSpec, save_specs
from qlib_local.store import KlineStore

from .test_factors import HOUR, A, B, gap_runs, ohlcv, walk

SPECS = {A: InstrumentSpec(A, ct_val=10.0, lot_sz=1.0, min_sz=1.0, max_lever=50),
         B: InstrumentSpec(B, ct_val=0.1, lot_sz=0.1, min_sz=0.1, max_lever=50)}


def make_store(root: Path, frames: dict[str, pd.DataFrame]) -> KlineStore:
    store = KlineStore(root, create=True, durable=False)
    for inst, df in frames.items():
        store.upsert("okx", inst, "1H", df)
    save_specs(root, "okx", SPECS)
    return store


def timing(instruments: list[str], leverage: float, position: float = 1.0) -> dict:
    return {"strategy_name": "SmaCross_5_20", "kind": "timing", "instruments": instruments, "rule_type": "1H",
            "position": position, "leverage": leverage}


def first_flip_short(signal: pd.Series) -> pd.Timestamp:
    """The first time a long signal turns short."""
    s = signal.dropna()
    return s.index[((s < 0) & (s.shift() > 0)).to_numpy()][0]


def test_a_gap_in_one_instrument_does_not_move_another_ones_flip(tmp_path):
    """The issue's case (SmaCross_5_20 flipped ADA short 14 hours later once ETH joined), on made data:
    ADA misses three bars at its top; ETH has them, so they are rows of the panel."""
    up, down = np.linspace(1.0, 1.3, 60), np.linspace(1.3, 1.0, 60)[1:]
    ada = ohlcv(np.r_[up, down] * (1 + 0.002 * np.sin(np.arange(119))), gaps=[(60, 3)])
    eth = ohlcv(walk(119, 7, 3000.0))
    store = make_store(tmp_path, {A: ada, B: eth})
    # by hand, on ADA's own bars: close times of the first short signal
    own = np.sign(ada.close.rolling(5).mean() - ada.close.rolling(20).mean())
    expected = first_flip_short(own) + HOUR
    assert expected == pd.Timestamp("2025-01-03 21:00", tz="UTC")
    on_panel_rows = ada.close.reindex(eth.index)  # computed on the panel's rows, ADA's gap blanks 20 bars
    late = first_flip_short(np.sign(on_panel_rows.rolling(5).mean() - on_panel_rows.rolling(20).mean())) + HOUR
    assert late == expected + 14 * HOUR
    flips = {}
    for insts, lever in (([A], 1), ([A, B], 2)):
        res = run_backtest(parse_config({"strategies": [timing(insts, lever)]}, store), store)
        flips[len(insts)] = (first_flip_short(res.intents["SmaCross_5_20"][A]), first_flip_short(res.positions[A]))
    assert flips[1] == flips[2] == (expected, expected)


b_prices = st.sampled_from([100.0, 0.5])


@settings(max_examples=20, deadline=None)
@given(a_gaps=gap_runs, b_gaps=gap_runs, b_shift=st.integers(-60, 60), b_len=st.integers(30, 300), b_price=b_prices)
@example(a_gaps=[], b_gaps=[(0, 5), (5, 24)], b_shift=0, b_len=30, b_price=100.0)  # B down to its last bar
def test_adding_an_instrument_leaves_another_instruments_intents_and_contracts_unchanged(a_gaps, b_gaps, b_shift,
                                                                                      b_len, b_price):
    """B's price is flat, so it never trades and the account's equity is A's alone: what is left to
    differ is the panel's rows. Timing leverage doubles with B so A's share of capital is the same."""
    a = ohlcv(walk(240, 1), gaps=a_gaps)
    b = ohlcv(np.full(b_len, b_price), start=str(pd.Timestamp("2025-01-01") + b_shift * HOUR), gaps=b_gaps)
    assume(len(b) > 0)  # gaps may remove every bar of B: then B is not in the store and the config is refused
    event = {"strategy_name": "RankOnly", "kind": "event", "rule_type": "1H", "position": 0.5, "leverage": 1,
             "hold_period": 2, "max_cap_num": 2, "symbol_num_limit": 2, "factors": ["AboveSma_5"],
             "rank_factor": "Momentum_3", "side": "long"}
    with tempfile.TemporaryDirectory() as tmp:
        store = make_store(Path(tmp), {A: a, B: b})
        results = []
        for insts, lever in (([A], 1), ([A, B], 2)):
            cfg = parse_config({"fees": {"taker": 0.0005, "slippage": 0.0002},
                                "strategies": [timing(insts, lever, 0.5), dict(event, universe=insts)]}, store)
            results.append(run_backtest(cfg, store))
    alone, both = results
    times = alone.positions.index
    for sid in ("SmaCross_5_20", "RankOnly"):
        pd.testing.assert_series_equal(both.intents[sid][A].reindex(alone.intents[sid].index),
                                       alone.intents[sid][A], obj=sid)
        s = alone.model.strategies.index(sid)
        np.testing.assert_array_equal(both.strategy_frame(sid)[A].reindex(times).to_numpy(),
                                      alone.strategy_positions[:, s, 0], err_msg=sid)
    assert (both.positions[B] == 0).all()
    pd.testing.assert_series_equal(both.equity["total"].reindex(times), alone.equity["total"])
