"""The target-position model: sizing, tranche rolling, netting, and backtest == step-by-step."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qlib_local.backtest.engine import run_backtest
from qlib_local.research import (
    MarketView,
    Model,
    ModelState,
    diff_orders,
    latest_intents,
    load_config,
    net_targets,
)
from qlib_local.research.data import load_strategy_bars
from qlib_local.specs import load_specs

BTC, ETH, SOL, XRP = "BTC-USDT-SWAP", "ETH-USDT-SWAP", "SOL-USDT-SWAP", "XRP-USDT-SWAP"
T0 = pd.Timestamp("2025-01-02 00:00", tz="UTC")


def _timing_raw() -> dict:
    return {"initial_equity": 10_000, "strategies": [{
        "strategy_name": "SmaCross_5_10", "kind": "timing", "instruments": [BTC, ETH], "rule_type": "1H",
        "offset": "0h", "position": 0.5, "leverage": 3, "volatility_ratio": 0.8}]}


def _event_raw() -> dict:
    return {"initial_equity": 10_000, "strategies": [{
        "strategy_name": "RankOnly", "kind": "event", "universe": [BTC, ETH, SOL], "rule_type": "1H",
        "position": 1.0, "leverage": 2, "hold_period": 2, "max_cap_num": 2, "symbol_num_limit": 2,
        "rank_factor": "QuoteVolumeMean_3", "side": "long"}]}


def test_timing_sizing_matches_hand_computation(hourly_store, write_cfg):
    cfg = load_config(write_cfg(_timing_raw()), hourly_store)
    specs = load_specs(hourly_store.root, "okx")
    model = Model(cfg, specs)
    assert (specs[BTC].ct_val, specs[BTC].lot_sz, specs[ETH].ct_val, specs[ETH].lot_sz) == (0.01, 0.1, 0.1, 0.1)
    prices = pd.Series({BTC: 60_000.0, ETH: 3_210.0})
    view = MarketView(prices, {"SmaCross_5_10": pd.Series({BTC: 1.0, ETH: -1.0})})
    # capital = 10123 * 0.5 = 5061.5; per instrument 5061.5 * 3 * 0.8 / 2 = 6073.8 USDT
    # BTC: 6073.8 / (60000 * 0.01) = 10.123 -> 10.1 lots; ETH: 6073.8 / (3210 * 0.1) = 18.92 -> 18.9
    state, targets = model.step(model.initial_state(), T0, view, 10_123.0)
    assert targets.loc["SmaCross_5_10", BTC] == pytest.approx(10.1, abs=1e-12)
    assert targets.loc["SmaCross_5_10", ETH] == pytest.approx(-18.9, abs=1e-12)
    # same signal at another price and equity: the position sized at entry is kept
    view2 = MarketView(pd.Series({BTC: 30_000.0, ETH: 1_000.0}), view.intents)
    state2, targets2 = model.step(state, T0 + pd.Timedelta("1h"), view2, 50_000.0)
    assert targets2.equals(targets)
    # NaN = no bar: keep; 0 = flat
    view3 = MarketView(prices, {"SmaCross_5_10": pd.Series({BTC: 0.0, ETH: np.nan})})
    _, targets3 = model.step(state2, T0 + pd.Timedelta("2h"), view3, 10_000.0)
    assert targets3.loc["SmaCross_5_10", BTC] == 0.0
    assert targets3.loc["SmaCross_5_10", ETH] == pytest.approx(-18.9, abs=1e-12)


def test_event_tranches_roll_and_kept_instrument_is_not_traded(hourly_store, write_cfg):
    cfg = load_config(write_cfg(_event_raw()), hourly_store)
    model = Model(cfg, load_specs(hourly_store.root, "okx"))
    prices = pd.Series({BTC: 60_000.0, ETH: 3_000.0, SOL: 150.0})
    sid = "RankOnly"

    def step(state, k, selected, equity=10_000.0):
        sel = pd.Series({i: i in selected for i in (BTC, ETH, SOL)})
        return model.step(state, T0 + pd.Timedelta(hours=k), MarketView(prices, {sid: sel}), equity)

    # slot value 10000 / 2 = 5000, x2 leverage over 2 names -> 5000 USDT each
    s1, t1 = step(model.initial_state(), 0, {BTC, ETH})
    assert t1.loc[sid, BTC] == pytest.approx(5000 / 600, abs=0.1) and t1.loc[sid, SOL] == 0
    s2, t2 = step(s1, 1, {ETH, SOL})  # second slot opens; first slot (BTC, ETH) still held
    assert t2.loc[sid, BTC] == t1.loc[sid, BTC]
    assert t2.loc[sid, ETH] == pytest.approx(2 * t1.loc[sid, ETH])
    s3, t3 = step(s2, 2, {ETH, SOL})  # slot 0 rolls: BTC closes, ETH is kept
    orders = diff_orders(net_targets(t3), net_targets(t2))
    assert orders[BTC] == -t2.loc[sid, BTC]
    assert ETH not in orders.index  # kept across the roll: never closed and reopened
    assert orders[SOL] == pytest.approx(t2.loc[sid, SOL])
    s4, t4 = step(s3, 3, set())  # empty selection: that slot stays in cash
    assert t4.loc[sid, SOL] == pytest.approx(t3.loc[sid, SOL] / 2)
    assert s4.tranche_value[0, 1] == 0.0 and s4.steps[0] == 4
    assert ModelState.from_dict(s4.to_dict()).holdings().equals(s4.holdings())


def test_due_follows_rule_and_offset(hourly_store, example_raw, write_cfg):
    cfg = load_config(write_cfg(example_raw), hourly_store)
    model = Model(cfg)
    assert model.due("2025-01-02 05:00") == ["SmaCross_20_60", "BtcBullAndCoinBull_21_55"]
    assert model.due("2025-01-02 04:00") == ["SmaCross_20_60"]


def test_backtest_equals_step_by_step_model(hourly_store, example_raw, write_cfg):
    """The vectorized backtest and the live step function agree contract for contract, every bar."""
    cfg = load_config(write_cfg(example_raw), hourly_store)
    res = run_backtest(cfg, hourly_store, start="2025-01-05")
    model = res.model
    assert len(res.positions) > 200 and res.orders.shape[0] > 20
    state = model.initial_state()
    stepped = 0
    for t, close_time in enumerate(res.positions.index):
        due = model.due(close_time)
        intents = {}
        for sid in due:
            frame = res.intents[sid]
            kind = cfg.strategy(sid).kind
            intents[sid] = frame.loc[close_time] if close_time in frame.index else pd.Series(
                np.nan if kind == "timing" else False, index=frame.columns)
        view = MarketView(res.data.close.iloc[t], intents)
        state, targets = model.step(state, close_time, view, float(res.equity_before.iloc[t]))
        stepped += len(due)
        np.testing.assert_array_equal(targets.to_numpy(), res.strategy_positions[t])
        np.testing.assert_array_equal(net_targets(targets).to_numpy(), res.positions.iloc[t].to_numpy())
    assert stepped > len(res.positions)  # both strategies stepped, each at its own closes
    assert np.abs(res.strategy_positions).sum(axis=(0, 2)).min() > 0  # both traded


def test_latest_intents_on_history_window_match_backtest(hourly_store, example_raw, write_cfg):
    """What live computes from bars up to a close equals the backtest's row for that close."""
    cfg = load_config(write_cfg(example_raw), hourly_store)
    res = run_backtest(cfg, hourly_store)
    for close_time in res.positions.index[[300, 301, 333, 600]]:
        bars = load_strategy_bars(cfg, hourly_store, end=close_time)
        due = Model(cfg).due(close_time)
        live = latest_intents(cfg, bars, close_time, due)
        assert set(live) == set(due)
        for sid, row in live.items():
            frame = res.intents[sid]
            expected = frame.loc[close_time] if close_time in frame.index else row * 0
            pd.testing.assert_series_equal(row.fillna(0), expected.fillna(0), check_names=False, check_dtype=False)
