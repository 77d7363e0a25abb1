"""Walk-forward: splits, the in-sample choice, the out-of-sample trade, the stitched curve, no lookahead."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from qlib_local.backtest import plan_sweep, run_backtest, summary
from qlib_local.backtest.grid import GridError
from qlib_local.backtest.groups import load_groups
from qlib_local.backtest.walkforward import Split, WalkForward, bars_of, exit_cost, make_splits, walk_forward

HOUR = pd.Timedelta(hours=1)
GRID = {"SmaCross_20_60": {"strategy_name": {"fast": [5, 10, 20], "slow": [30, 60]}, "leverage": [1, 2]}}


def test_rolling_and_anchored_splits():
    assert make_splits(20, 8, 4) == [Split((0, 8), (8, 12)), Split((4, 12), (12, 16)), Split((8, 16), (16, 20))]
    assert make_splits(20, 8, 4, anchored=True) == [Split((0, 8), (8, 12)), Split((0, 12), (12, 16)),
                                                    Split((0, 16), (16, 20))]
    assert make_splits(21, 8, 4, step=6) == [Split((0, 8), (8, 12)), Split((6, 14), (14, 18))]
    with pytest.raises(GridError, match="shorter than the test window"):
        make_splits(20, 8, 4, step=3)
    with pytest.raises(GridError, match="at least train \\+ test = 12 bars; the data has 11"):
        make_splits(11, 8, 4)


@pytest.mark.parametrize(("length", "bars"), [(24, 24), ("24", 24), ("2d", 48), ("36h", 36), ("1D", 24)])
def test_window_lengths_in_bars_or_time(length, bars):
    assert bars_of(length, HOUR, "train") == bars


@pytest.mark.parametrize(("length", "message"), [("90min", "not a whole number of"), (0, "at least one bar"),
                                                 ("soon", "expected a number of bars"), (True, "expected a number"),
                                                 ("-2d", "at least one bar")])
def test_bad_window_lengths_are_refused(length, message):
    with pytest.raises(GridError, match=message):
        bars_of(length, HOUR, "train")


def test_each_window_trades_the_in_sample_best_and_the_curve_stitches(hourly_store, example_raw):
    plan = plan_sweep(example_raw, GRID, hourly_store, strategies=["SmaCross_20_60"])
    wf = walk_forward(plan, hourly_store, "10d", "5d", metric="sharpe")
    group = load_groups({k: plan.configs[k] for k in plan.valid}, hourly_store)[0]
    assert len(wf.windows) == (len(group.index) - 240) // 120 == wf.summary["windows"]
    carried = plan.base.initial_equity
    for _, w in wf.windows.iterrows():
        assert w["train_end"] - w["train_start"] == 239 * HOUR and w["test_start"] == w["train_end"] + HOUR
        train = group.window(w["train_start"], w["train_end"])
        sharpe = {k: summary(run_backtest(plan.configs[k], data=train.market(plan.configs[k])))["account"]
                  ["sharpe_ratio"] for k in plan.valid}
        ok = {k: v for k, v in sharpe.items() if v is not None}
        best = max(ok, key=lambda k: (ok[k], -k))  # ties to the lower id
        assert w["combination"] == best and (w["fast"], w["slow"], w["leverage"]) == plan.values[best]
        assert w["is_sharpe_ratio"] == pytest.approx(ok[best], rel=1e-9)
        cfg = replace(plan.configs[best], initial_equity=carried)
        test = group.window(w["test_start"], w["test_end"])
        res = run_backtest(cfg, data=test.market(cfg))
        oos = wf.equity.loc[w["test_start"]:w["test_end"]]
        expect = res.equity["total"].to_numpy().copy()
        expect[-1] -= exit_cost(res)  # every window ends flat
        np.testing.assert_allclose(oos.to_numpy(), expect, rtol=1e-12)
        assert w["oos_exit_cost"] > 0 or res.positions.iloc[-1].abs().sum() == 0
        assert w["oos_start_value"] == carried
        carried = w["oos_end_value"]
    assert wf.equity.index.is_unique and wf.equity.index.is_monotonic_increasing
    assert len(wf.equity) == 120 * len(wf.windows) and wf.equity.iloc[-1] == wf.summary["end_value"]
    assert set(wf.summary["out_of_sample"]) == set(wf.summary["in_sample_mean"])
    assert wf.summary["in_sample_mean"]["sharpe_ratio"] == pytest.approx(wf.windows["is_sharpe_ratio"].mean())


def test_anchored_train_windows_start_at_the_first_bar(hourly_store, example_raw):
    plan = plan_sweep(example_raw, GRID, hourly_store, strategies=["SmaCross_20_60"])
    wf = walk_forward(plan, hourly_store, 240, 120, step="7d", anchored=True, metric="total_return")
    assert (wf.windows["train_start"] == wf.windows["train_start"].iloc[0]).all()
    assert (wf.windows["test_start"].diff().dropna() == 168 * HOUR).all()
    assert wf.summary["anchored"] and wf.summary["metric"] == "total_return"


def test_later_data_changes_nothing_already_chosen_or_traded(hourly_store, example_raw):
    plan = plan_sweep(example_raw, GRID, hourly_store, strategies=["SmaCross_20_60"])
    full = walk_forward(plan, hourly_store, "10d", "5d")
    first = full.windows.iloc[0]
    cut = walk_forward(plan, hourly_store, "10d", "5d", end=first["test_end"] + pd.Timedelta(minutes=1))
    assert len(cut.windows) == 1
    pd.testing.assert_series_equal(cut.windows.iloc[0], first, check_exact=True)
    pd.testing.assert_series_equal(cut.equity, full.equity.loc[: first["test_end"]], check_exact=True)


def test_results_round_trip_and_errors(hourly_store, example_raw, tmp_path):
    plan = plan_sweep(example_raw, GRID, hourly_store, strategies=["SmaCross_20_60"])
    wf = walk_forward(plan, hourly_store, "10d", "5d")
    wf.write(tmp_path / "wf")
    back = WalkForward.read(tmp_path / "wf")
    assert back.summary["windows"] == len(back.windows) == len(wf.windows)
    assert back.windows["combination"].tolist() == wf.windows["combination"].tolist()
    np.testing.assert_allclose(back.equity.to_numpy(), wf.equity.to_numpy(), rtol=1e-12)
    with pytest.raises(GridError, match="train \\+ test"):
        walk_forward(plan, hourly_store, "200d", "5d")  # the store holds 150 days
    with pytest.raises(GridError, match="metric 'luck'"):
        walk_forward(plan, hourly_store, "10d", "5d", metric="luck")
    two_timelines = plan_sweep(example_raw, {"strategies[0].instruments": [["BTC-USDT-SWAP"], ["ETH-USDT-SWAP"]]},
                               hourly_store, strategies=["SmaCross_20_60"])
    with pytest.raises(GridError, match="one data timeline"):
        walk_forward(two_timelines, hourly_store, "10d", "5d")
