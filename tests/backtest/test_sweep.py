"""Grid sweeps: each combination equals its own backtest; parallel equals serial; chunks bound memory."""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pandas as pd
import pytest

from qlib_local.backtest import plan_sweep, run_backtest, summary, sweep
from qlib_local.backtest.groups import FactorCache, load_groups
from qlib_local.backtest.sweep import LocalExecutor, sweep_groups

STATS_VS_SUMMARY = {"total_return": "total", "annualized_return": "annualized", "max_drawdown": "max_drawdown",
                    "sharpe_ratio": "sharpe_ratio", "sortino_ratio": "sortino_ratio", "calmar_ratio": "calmar_ratio",
                    "annualized_volatility": "annualized_volatility", "end_value": "end_value",
                    "trading_costs": "trading_costs", "liquidation_loss": "liquidation_loss"}


def funding_rates(store) -> dict[str, pd.Series]:
    """Deterministic 8-hourly rates for every stored instrument, some positive, some negative."""
    times = pd.date_range("2025-01-01 08:00", "2025-02-10", freq="8h", tz="UTC")
    rng = np.random.default_rng(3)
    return {i: pd.Series(rng.normal(0.0001, 0.0003, len(times)), index=times) for i in store.instruments("okx")}


def assert_each_combination_is_its_own_backtest(res, funding=None):
    valid = res.table[res.table["error"].isna()]
    curves = res.equity(valid.index.tolist())
    for k, row in valid.iterrows():
        cfg = res.config(k)
        group = res.groups[row["group"]]
        single = run_backtest(cfg, data=group.market(cfg))
        np.testing.assert_array_equal(curves[k].to_numpy(), single.equity["total"].to_numpy())
        acct = summary(single)["account"]
        for ours, theirs in STATS_VS_SUMMARY.items():
            if acct[theirs] is None:  # summary writes a non-finite statistic (a wiped-out account) as null
                assert not np.isfinite(row[ours]), (k, ours)
            else:
                assert row[ours] == pytest.approx(acct[theirs], rel=1e-9, abs=1e-9), (k, ours)
        assert row["orders"] == acct["orders"]
        assert row["funding"] == pytest.approx(acct["funding_received"] - acct["funding_paid"], rel=1e-9, abs=1e-12)


def test_any_field_of_both_kinds_each_combination_equals_its_backtest(hourly_store, example_raw):
    grid = {"SmaCross_20_60": {"rule_type": ["1H", "4H"], "offset": ["0h", "2h"], "leverage": [1, 3]},
            "BtcBullAndCoinBull_21_55": {"hold_period": [3, 6], "rank_factor": {"n": [6, 24]},
                                         "ascending": [True, False]}}
    plan = plan_sweep(example_raw, grid, hourly_store)
    res = sweep(plan, hourly_store, start="2025-01-04")
    assert len(res.table) == 64 and res.table["error"].notna().sum() == 16  # offset 2h on a 1H rule
    assert res.errors["error"].str.contains("offset").all() and (res.errors["rule_type"] == "1H").all()
    assert res.table.loc[res.table["error"].notna(), "total_return"].isna().all()
    assert len(res.groups) == 1 and res.groups[0].data.base_tf == "1H"  # 1H, 4H, 4H/2h, 4H/1h on one timeline
    assert res.table["total_return"].nunique() == 48
    assert_each_combination_is_its_own_backtest(res)


def test_account_fields_funding_and_liquidations_per_combination(hourly_store, example_raw):
    grid = {"fees.taker": [0.0, 0.001], "fees.slippage": [0.0, 0.0005], "initial_equity": [5_000, 20_000],
            "strategies[0].volatility_ratio": [0.5, 1.0], "strategies[1].side": ["long", "short"],
            "strategies[0].leverage": [2, 50]}
    plan = plan_sweep(example_raw, grid, hourly_store)
    funding = funding_rates(hourly_store)
    res = sweep(plan, hourly_store, start="2025-01-04", funding=funding)
    assert not plan.errors and (res.table["funding"] != 0).all()
    assert (res.table["liquidation_loss"] > 0).any() and (res.table["liquidation_loss"] == 0).any()
    assert_each_combination_is_its_own_backtest(res, funding)


def test_rebalance_and_min_trade_axes_each_combination_equals_its_backtest(hourly_store, example_raw):
    grid = {"SmaCross_20_60": {"rebalance": ["keep", "resize"], "min_trade": [0.0, 0.2]},
            "BtcBullAndCoinBull_21_55": {"rebalance": ["keep", "resize"], "hold_period": [1, 3]}}
    plan = plan_sweep(example_raw, grid, hourly_store)
    res = sweep(plan, hourly_store, start="2025-01-04")
    assert not plan.errors and len(res.table) == 16
    orders = res.table.groupby("strategies[BtcBullAndCoinBull_21_55].rebalance")["orders"].sum()
    assert orders["keep"] < orders["resize"]
    assert_each_combination_is_its_own_backtest(res)


def test_parallel_equals_serial_bit_for_bit(hourly_store, example_raw):
    grid = {"SmaCross_20_60": {"strategy_name": {"fast": [5, 10, 20], "slow": [30, 60]}, "leverage": [1, 2]},
            "BtcBullAndCoinBull_21_55": {"symbol_num_limit": [1, 3]}}
    plan = plan_sweep(example_raw, grid, hourly_store)
    serial = sweep(plan, hourly_store, parallel=False)
    for threads in (1, 2, None):
        parallel = sweep(plan, hourly_store, parallel=True, threads=threads)
        pd.testing.assert_frame_equal(parallel.table, serial.table, check_exact=True)
    assert serial.table["sharpe_ratio"].nunique() == 24


def test_a_thousand_combinations_never_hold_a_thousand_signals(hourly_store, example_raw):
    grid = {"SmaCross_20_60": {"strategy_name": {"fast": list(range(3, 13)), "slow": list(range(30, 80, 5))},
                               "leverage": list(range(1, 11))}}
    plan = plan_sweep(example_raw, grid, hourly_store, strategies=["SmaCross_20_60"])
    assert len(plan) == 1000 and not plan.errors
    whole = sweep(plan, hourly_store)
    assert [(c.combinations, c.intents) for c in whole.chunks] == [(1000, 100)]  # leverage adds no signal arrays
    per_signal = len(whole.groups[0].index) * len(whole.groups[0].data.close.columns)
    budget_mb = 0.15
    limit = budget_mb * 2**20 * 0.75 / 2  # the signal share of the budget, this chunk and the one before
    chunked = sweep(plan, hourly_store, memory_mb=budget_mb)
    per_chunk = int(limit // per_signal)  # distinct signals a chunk may hold
    assert 1 < per_chunk < 100
    assert len(chunked.chunks) == -(-100 // per_chunk) and sum(c.combinations for c in chunked.chunks) == 1000
    assert max(c.intents for c in chunked.chunks) * per_signal <= limit
    assert all(c.nbytes <= limit + len(whole.groups[0].index) for c in chunked.chunks)  # + the due mask (1 rule)
    pd.testing.assert_frame_equal(chunked.table, whole.table, check_exact=True)


def _sweep_peak_bytes(store, raw: dict, n_vol: int) -> tuple[int, int]:
    """Combinations and the traced peak (bytes above the start) of running their sweep: the
    plan and the loaded data exist before tracing starts, so only what the sweep holds counts."""
    grid = {"SmaCross_20_60": {"strategy_name": {"fast": [5, 10], "slow": [30, 60]}, "leverage": [1, 2, 3, 4, 5],
                               "volatility_ratio": [round(0.5 + 0.01 * i, 2) for i in range(n_vol)]}}
    plan = plan_sweep(raw, grid, store, strategies=["SmaCross_20_60"])
    configs = {k: plan.configs[k] for k in plan.valid}
    groups = load_groups(configs, store)
    sweep_groups(groups, configs, LocalExecutor(parallel=False))  # compiled, caches warm
    gc.collect()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        table, chunks = sweep_groups(groups, configs, LocalExecutor(parallel=False))
        peak = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()
    assert len(table) == len(configs) and [c.intents for c in chunks] == [4]
    return len(configs), peak


def test_memory_a_sweep_holds_per_combination_is_a_few_hundred_bytes(hourly_store, example_raw):
    """Per combination a sweep keeps only index tuples and its statistics row, never a model,
    a config copy or a curve: the peak grows by well under 1 KB per added combination (the
    old layout held one ``Model`` per combination, ~2-6 KB each, for the whole group)."""
    small, small_peak = _sweep_peak_bytes(hourly_store, example_raw, 10)
    large, large_peak = _sweep_peak_bytes(hourly_store, example_raw, 50)
    assert (small, large) == (200, 1000)
    per_combination = (large_peak - small_peak) / (large - small)
    assert 0 < per_combination < 1024, per_combination


def test_factor_cache_keeps_its_budget_and_the_newest_entry():
    cache = FactorCache(max_bytes=3 * 800)
    frames = {f"F_{i}": pd.DataFrame(np.full((100, 1), float(i))) for i in range(5)}  # 800 bytes each
    for name, frame in frames.items():
        cache[name] = frame
        assert cache.bytes <= cache.max_bytes and cache[name] is frame
    assert list(cache) == ["F_2", "F_3", "F_4"]
    _ = cache["F_2"]  # used: now the most recent
    cache["F_5"] = frames["F_0"]
    assert list(cache) == ["F_4", "F_2", "F_5"]
    big = pd.DataFrame(np.zeros((1000, 1)))  # larger than the whole budget: kept alone, as the newest
    cache["big"] = big
    assert list(cache) == ["big"] and cache["big"] is big


def test_best_ranks_valid_combinations_and_puts_non_finite_last(hourly_store, example_raw):
    grid = {"SmaCross_20_60": {"strategy_name": {"fast": [20, 5], "slow": [20, 60]}}}  # 20/20 never trades
    plan = plan_sweep(example_raw, grid, hourly_store, strategies=["SmaCross_20_60"])
    res = sweep(plan, hourly_store)
    flat = res.table.index[(res.table["fast"] == 20) & (res.table["slow"] == 20)][0]
    assert res.table.at[flat, "orders"] == 0 and np.isinf(res.table.at[flat, "sharpe_ratio"])
    best = res.best("sharpe", 4)
    assert best.index[-1] == flat
    assert best["sharpe_ratio"].iloc[:3].is_monotonic_decreasing
