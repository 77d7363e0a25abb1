"""Backtest accounting: independent equity reconstruction, per-strategy curves, vectorbt, sweeps."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from qlib_local.backtest import (
    grid_names,
    orders_portfolio,
    run_backtest,
    run_sweep,
    summary,
    sweep_table,
    variant,
)
from qlib_local.research import load_config, load_market_data


@pytest.fixture
def result(hourly_store, example_raw, write_cfg):
    return run_backtest(load_config(write_cfg(example_raw), hourly_store), hourly_store, start="2025-01-04")


def test_equity_reconstructed_from_positions_prices_and_orders(result):
    """Account equity = initial + sum(position x ctVal x price change) - slippage - fees."""
    res = result
    cfg = res.config
    close = res.data.close.reindex(columns=res.model.instruments)
    held = res.positions.shift(1).fillna(0.0)
    pnl = (held * close.diff().fillna(0.0) * res.model.ct_val).sum(axis=1)
    o = res.orders
    cost = o["notional"] / o["price"] * o["price"].div(1 + cfg.fees.slippage * np.sign(o["contracts"])) * cfg.fees.slippage + o["fee"]
    costs = cost.groupby(o["timestamp"]).sum().reindex(close.index, fill_value=0.0)
    expected = cfg.initial_equity + (pnl - costs).cumsum()
    np.testing.assert_allclose(res.equity["total"].to_numpy(), expected.to_numpy(), rtol=1e-9)
    assert abs(res.equity["total"].iloc[-1] - cfg.initial_equity) > 1.0  # it actually traded


def test_per_strategy_equity_sums_to_total(result):
    eq = result.equity
    strategies = [s.id for s in result.config.strategies]
    assert list(eq.columns) == ["total", *strategies]  # positions sum to 1: nothing unallocated
    np.testing.assert_allclose(eq[strategies].sum(axis=1), eq["total"], rtol=1e-12)
    assert result.equity_before.iloc[0] == 10_000.0
    assert eq[strategies].iloc[0].tolist() == pytest.approx([4000.0, 6000.0], abs=20.0)  # minus first fills' costs
    assert not np.allclose(eq[strategies[0]].diff().dropna(), eq[strategies[1]].diff().dropna())


def test_vectorbt_replay_of_orders_matches_our_profit(result):
    pf = orders_portfolio(result)
    ours = result.equity["total"].iloc[-1] - result.config.initial_equity
    assert pf.total_profit() == pytest.approx(ours, rel=1e-9, abs=1e-6)
    stats = summary(result)
    assert stats["account"]["orders"] == len(result.orders)
    assert stats["account"]["total"] == pytest.approx(result.equity["total"].iloc[-1] / 10_000 - 1)
    assert set(stats["strategies"]) == {"SmaCross_20_60", "BtcBullAndCoinBull_21_55"}


def test_event_roll_keeps_instruments_without_close_and_reopen(result):
    """An instrument selected in consecutive tranches is netted: never closed to zero and reopened in one bar."""
    sid = "BtcBullAndCoinBull_21_55"
    held = result.strategy_frame(sid)
    steps = held.diff().abs().gt(1e-12)
    both = (held.shift(1).abs() > 0) & (held.abs() > 0) & steps
    changes = (held - held.shift(1)).abs()[both]
    assert both.to_numpy().sum() > 0  # kept instruments were resized across rolls
    assert (changes < held.shift(1).abs()[both] + held.abs()[both]).to_numpy()[both.to_numpy()].all()


def test_leverage_is_margin_not_cash(hourly_store, example_raw, write_cfg):
    raw = copy.deepcopy(example_raw)
    raw["strategies"] = [dict(raw["strategies"][0], position=1.0, leverage=5, volatility_ratio=1.0)]
    res = run_backtest(load_config(write_cfg(raw), hourly_store), hourly_store)
    close = res.data.close.reindex(columns=res.model.instruments)
    gross = (res.positions.abs() * close * res.model.ct_val).sum(axis=1)
    assert (gross / res.equity_before).max() > 4.0  # notional far above the cash in the account


def test_sweep_equals_individual_runs(hourly_store, example_raw, write_cfg):
    cfg = load_config(write_cfg(example_raw), hourly_store)
    data = load_market_data(cfg, hourly_store, "2025-01-04")
    grid = {"fast": [5, 10], "slow": [30, 60]}
    names = grid_names("SmaCross", grid)
    assert names == ["SmaCross_5_30", "SmaCross_5_60", "SmaCross_10_30", "SmaCross_10_60"]
    sweep = run_sweep(cfg, data, "SmaCross_20_60", names)
    for name in names:
        single = run_backtest(variant(cfg, "SmaCross_20_60", name), data=data, record_positions=False)
        np.testing.assert_allclose(sweep[name].to_numpy(), single.equity["total"].to_numpy(), rtol=1e-12)
    table = sweep_table(sweep, grid)
    assert table.index.names == ["fast", "slow"] and len(table) == 4
    assert table["total_return"].nunique() == 4


def test_trading_window_and_due_bars(hourly_store, example_raw, write_cfg):
    cfg = load_config(write_cfg(example_raw), hourly_store)
    # past the event strategy's warm-up (~93 days of 4H bars), so it trades in the window
    res = run_backtest(cfg, hourly_store, start="2025-04-20", end="2025-04-30")
    assert res.equity.index[0] == pd.Timestamp("2025-04-20 01:00", tz="UTC")
    assert res.equity.index[-1] == pd.Timestamp("2025-04-30 00:00", tz="UTC")
    event = res.strategy_frame("BtcBullAndCoinBull_21_55")
    changed = event.index[event.diff().abs().sum(axis=1) > 0]
    assert len(changed) > 0 and all((t.hour - 1) % 4 == 0 for t in changed)  # 4H offset 1h closes only
