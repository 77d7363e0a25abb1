"""``rebalance: keep | resize`` and ``min_trade``: hand-computed steps of the shared kernel,
the config's checks, and a property: keep never trades what did not change."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qlib_local.research import MarketView, Model, ModelState, load_config
from qlib_local.research import kernels as K
from qlib_local.research.config import ConfigError
from qlib_local.specs import load_specs

BTC, ETH, SOL = "BTC-USDT-SWAP", "ETH-USDT-SWAP", "SOL-USDT-SWAP"
T0 = pd.Timestamp("2025-01-02 00:00", tz="UTC")
PRICES = pd.Series({BTC: 60_000.0, ETH: 3_000.0, SOL: 150.0})


def _event(**extra) -> dict:
    return {"initial_equity": 10_000, "strategies": [{
        "strategy_name": "RankOnly", "kind": "event", "universe": [BTC, ETH, SOL], "rule_type": "1H",
        "position": 1.0, "leverage": 2, "hold_period": 1, "max_cap_num": 1, "symbol_num_limit": 2,
        "rank_factor": "QuoteVolumeMean_3", "side": "long", **extra}]}


def _timing(**extra) -> dict:
    return {"initial_equity": 10_000, "strategies": [{
        "strategy_name": "SmaCross_5_10", "kind": "timing", "instruments": [BTC, ETH], "rule_type": "1H",
        "offset": "0h", "position": 0.5, "leverage": 3, "volatility_ratio": 0.8, **extra}]}


def _model(hourly_store, write_cfg, raw) -> Model:
    return Model(load_config(write_cfg(raw), hourly_store), load_specs(hourly_store.root, "okx"))


def _step(model, state, k, selected, equity, prices=PRICES):
    sel = pd.Series({i: i in selected for i in (BTC, ETH, SOL)})
    return model.step(state, T0 + pd.Timedelta(hours=k), MarketView(prices, {"RankOnly": sel}), equity)


def test_defaults_are_each_kinds_old_behaviour_and_options_are_validated(hourly_store, write_cfg):
    assert load_config(write_cfg(_event()), hourly_store).strategies[0].rebalance == "resize"
    assert load_config(write_cfg(_timing()), hourly_store).strategies[0].rebalance == "keep"
    cfg = load_config(write_cfg({**_event(), "rebalance": "keep", "min_trade": 0.25}), hourly_store)
    assert (cfg.strategies[0].rebalance, cfg.strategies[0].min_trade) == ("keep", 0.25)  # account default
    raw = _event(rebalance="resize", min_trade=0.5)
    cfg = load_config(write_cfg({**raw, "rebalance": "keep", "min_trade": 0.1}), hourly_store)
    assert (cfg.strategies[0].rebalance, cfg.strategies[0].min_trade) == ("resize", 0.5)  # the strategy wins
    for bad, match in [({"rebalance": "hold"}, r"rebalance: must be one of keep, resize"),
                       ({"rebalance": True}, r"rebalance: must be one of"),
                       ({"min_trade": 1.5}, r"min_trade"), ({"min_trade": -0.1}, r"min_trade"),
                       ({"min_trade": float("nan")}, r"min_trade"), ({"min_trade": "0.1"}, r"min_trade")]:
        with pytest.raises(ConfigError, match=match):
            load_config(write_cfg(_event(**bad)), hourly_store)
    with pytest.raises(ConfigError, match=r"^rebalance: must be one of"):
        load_config(write_cfg({**_event(), "rebalance": "nudge"}), hourly_store)


def test_event_keep_holds_a_staying_coin_and_resize_resizes_it(hourly_store, write_cfg):
    keep = _model(hourly_store, write_cfg, _event(rebalance="keep"))
    resize = _model(hourly_store, write_cfg, _event(rebalance="resize"))
    sid = "RankOnly"
    # slot value 10000 x 2 leverage over 2 names = 10000 USDT each: BTC 10000 / (60000 x 0.01) = 16.66 -> 16.6,
    # ETH 10000 / (3000 x 0.1) = 33.33 -> 33.3
    k1, t1 = _step(keep, keep.initial_state(), 0, {BTC, ETH}, 10_000.0)
    r1, u1 = _step(resize, resize.initial_state(), 0, {BTC, ETH}, 10_000.0)
    assert t1.equals(u1)
    assert (t1.loc[sid, BTC], t1.loc[sid, ETH]) == (pytest.approx(16.6), pytest.approx(33.3))
    # equity 12000, BTC stays, ETH out, SOL in: 12000 x 2 / 2 = 12000 USDT each
    k2, t2 = _step(keep, k1, 1, {BTC, SOL}, 12_000.0)
    r2, u2 = _step(resize, r1, 1, {BTC, SOL}, 12_000.0)
    assert t2.loc[sid, BTC] == t1.loc[sid, BTC]  # keep: its contracts stay
    assert u2.loc[sid, BTC] == pytest.approx(20.0)  # resize: 12000 / 600 = 20
    assert t2.loc[sid, ETH] == 0.0 and u2.loc[sid, ETH] == 0.0  # deselected: closed in both
    assert t2.loc[sid, SOL] == u2.loc[sid, SOL] == 800.0  # new, from current equity: 12000 / (150 x 0.1)
    assert k2.tranche_value[0, 0] == 12_000.0  # the slot sized a new coin from this roll's capital
    # the same set again at another equity: keep trades nothing, tranche value unchanged
    k3, t3 = _step(keep, k2, 2, {BTC, SOL}, 20_000.0)
    assert t3.equals(t2) and k3.tranche_value[0, 0] == 12_000.0
    assert ModelState.from_dict(k3.to_dict()).members.tolist() == k3.members.tolist()


def test_event_keep_with_tranches_keeps_per_slot(hourly_store, write_cfg):
    model = _model(hourly_store, write_cfg, _event(rebalance="keep", hold_period=2, max_cap_num=2))
    sid = "RankOnly"
    s1, t1 = _step(model, model.initial_state(), 0, {BTC, ETH}, 10_000.0)  # slot 0: 5000 USDT each
    assert t1.loc[sid, BTC] == pytest.approx(8.3)  # 5000 / 600 = 8.33
    s2, t2 = _step(model, s1, 1, {BTC, ETH}, 20_000.0)  # slot 1 opens: BTC newly in this slot -> 10000 / 600
    assert t2.loc[sid, BTC] == pytest.approx(8.3 + 16.6)
    s3, t3 = _step(model, s2, 2, {BTC, SOL}, 40_000.0)  # slot 0 rolls: BTC kept, ETH closed, SOL new (20000 x 2 / 2)
    assert t3.loc[sid, BTC] == t2.loc[sid, BTC]
    assert t3.loc[sid, ETH] == pytest.approx(s2.tranches[0, 1, 1])  # only slot 1's ETH is left
    assert t3.loc[sid, SOL] == 1333.0  # 20000 / (150 x 0.1) = 1333.3, lot 1


def test_min_trade_suppresses_a_small_resize_but_never_a_close(hourly_store, write_cfg):
    sid = "RankOnly"
    model = _model(hourly_store, write_cfg, _event(min_trade=0.1))
    s1, t1 = _step(model, model.initial_state(), 0, {BTC, ETH}, 10_000.0)  # BTC 16.6, ETH 33.3
    s2, t2 = _step(model, s1, 1, {BTC, ETH}, 10_500.0)  # 17.5 vs 16.6: +5.4% < 10% -> not made
    assert t2.equals(t1)
    s3, t3 = _step(model, s2, 2, {BTC, ETH}, 12_000.0)  # 20.0 vs 16.6: +20% -> made
    assert (t3.loc[sid, BTC], t3.loc[sid, ETH]) == (pytest.approx(20.0), pytest.approx(40.0))
    s4, t4 = _step(model, s3, 3, {BTC}, 12_000.0)  # ETH deselected: closed to zero whatever min_trade
    assert t4.loc[sid, ETH] == 0.0 and t4.loc[sid, BTC] == pytest.approx(40.0)  # BTC now alone: doubled
    full = _model(hourly_store, write_cfg, _event(min_trade=1.0))
    f1, g1 = _step(full, full.initial_state(), 0, {BTC, ETH}, 10_000.0)
    f2, g2 = _step(full, f1, 1, {BTC}, 5_000.0)  # BTC alone at half equity: 5000 x 2 / 600 = 16.6 -> kept anyway
    assert g2.loc[sid, BTC] == g1.loc[sid, BTC] and g2.loc[sid, ETH] == 0.0
    f3, g3 = _step(full, f2, 2, set(), 5_000.0)  # nothing selected: the close always goes
    assert (g3.loc[sid] == 0.0).all()


def test_timing_keep_holds_and_resize_follows_equity(hourly_store, write_cfg):
    sid = "SmaCross_5_10"
    prices = pd.Series({BTC: 60_000.0, ETH: 3_210.0})
    view = MarketView(prices, {sid: pd.Series({BTC: 1.0, ETH: -1.0})})
    keep = _model(hourly_store, write_cfg, _timing())
    resize = _model(hourly_store, write_cfg, _timing(rebalance="resize", min_trade=0.05))
    # 10123 x 0.5 x 3 x 0.8 / 2 = 6073.8: BTC 10.123 -> 10.1, ETH 18.92 -> 18.9 (as before the option)
    k1, a1 = keep.step(keep.initial_state(), T0, view, 10_123.0)
    r1, b1 = resize.step(resize.initial_state(), T0, view, 10_123.0)
    assert a1.equals(b1) and a1.loc[sid, BTC] == pytest.approx(10.1) and a1.loc[sid, ETH] == pytest.approx(-18.9)
    _, a2 = keep.step(k1, T0 + pd.Timedelta("1h"), view, 20_246.0)
    r2, b2 = resize.step(r1, T0 + pd.Timedelta("1h"), view, 20_246.0)
    assert a2.equals(a1)  # keep: unchanged signal, unchanged contracts
    assert (b2.loc[sid, BTC], b2.loc[sid, ETH]) == (pytest.approx(20.2), pytest.approx(-37.8))  # doubled
    _, b3 = resize.step(r2, T0 + pd.Timedelta("2h"), view, 20_900.0)  # +3.2%: below min_trade 5%
    assert b3.equals(b2)


def test_liquidation_clears_members(hourly_store, write_cfg):
    model = _model(hourly_store, write_cfg, _event(rebalance="keep"))
    s1, _ = _step(model, model.initial_state(), 0, {BTC, ETH}, 10_000.0)
    assert s1.members.sum() == 2
    gone = s1.liquidated()
    assert gone.members.sum() == 0 and gone.hold.sum() == 0
    s2, t2 = _step(model, gone, 1, {BTC, ETH}, 5_000.0)  # re-sized from the equity left
    assert t2.loc["RankOnly", BTC] == pytest.approx(8.3)


def test_a_state_saved_before_members_takes_them_from_its_tranches(hourly_store, write_cfg):
    model = _model(hourly_store, write_cfg, _event(rebalance="keep"))
    s1, _ = _step(model, model.initial_state(), 0, {BTC, ETH}, 10_000.0)
    old = s1.to_dict()
    del old["members"]
    assert ModelState.from_dict(old).members.tolist() == s1.members.tolist()


# ------------------------------------------------------------------ property: keep trades only changes
N, H_MAX = 4, 3


def _params(h: int, min_trade: float) -> tuple:
    one = lambda v, t: np.array([v], t)  # noqa: E731
    return (one(K.EVENT, np.int64), one(1.0, np.float64), one(2.0, np.float64), one(1.0, np.float64),
            one(N, np.float64), one(h, np.int64), one(1.0, np.float64), one(K.KEEP_CONTRACTS, np.int64),
            one(min_trade, np.float64))


@settings(max_examples=200, deadline=None)
@given(h=st.integers(1, H_MAX), min_trade=st.sampled_from([0.0, 0.3, 1.0]),
       bars=st.lists(st.tuples(st.lists(st.booleans(), min_size=N, max_size=N),
                               st.lists(st.floats(1.0, 1e5), min_size=N, max_size=N),
                               st.floats(100.0, 1e6)), min_size=1, max_size=12))
def test_keep_never_trades_an_instrument_whose_membership_did_not_change(h, min_trade, bars):
    params = _params(h, min_trade)
    inst = (np.full(N, 0.01), np.zeros(N, np.int64), np.full(N, 0.001))
    state = (np.zeros((1, N)), np.zeros((1, N), np.int8), np.zeros((1, H_MAX, N)), np.zeros((1, H_MAX)),
             np.zeros(1, np.int64), np.zeros((1, H_MAX, N), np.int8))
    for selected, prices, capital in bars:
        slot = int(state[4][0]) % h
        before_hold = state[0][0].copy()
        before_tranche = state[2][0, slot].copy()
        was_member = state[5][0, slot].copy()
        intent = np.array(selected, np.int8)
        K.step_strategy(0, params, inst, intent, np.array(prices), capital, state, np.ones(len(prices)))
        for i in range(N):
            if selected[i] and was_member[i]:  # selected at the slot's last roll and now
                assert state[2][0, slot, i] == before_tranche[i]
                assert state[0][0, i] == before_hold[i]  # the instrument is not traded at all
            if not selected[i]:
                assert state[2][0, slot, i] == 0.0 and state[5][0, slot, i] == 0
            else:
                assert state[5][0, slot, i] == 1
