"""Backtest fill models (``execution``): the default reproduces the old fills bit for bit;
``market`` pays spread and square-root impact; ``maker_first`` fills at the limit only where the
next bars trade through it by a tick (the first by its close), else goes to market at the deadline. Every expected price
is computed here by hand from the bars, and the account's equity is rebuilt from the orders."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from qlib_local.backtest import run_backtest
from qlib_local.research import load_config
from qlib_local.research.config import ConfigError
from qlib_local.research.fills import fill_cost

NO_TWAP = np.array([4.0, 1.0, 0.0, 0.0])  # the twap fields, unused by market and maker_first


def run(store, raw, write_cfg, execution=None, name="cfg.yaml"):
    raw = copy.deepcopy(raw)
    if execution is not None:
        raw["execution"] = execution
    return run_backtest(load_config(write_cfg(raw, name), store), store, start="2025-01-04")


def frames(res):
    insts = res.model.instruments
    close = res.data.close.reindex(columns=insts).to_numpy()
    high = res.data.high.reindex(columns=insts).to_numpy()
    low = res.data.low.reindex(columns=insts).to_numpy()
    vol = res.data.volume.reindex(columns=insts).to_numpy()
    return close, high, low, vol


def order_rows(res):
    """(t, i, contracts, row) of every order, on the kernel's arrays."""
    pos = {ts: k for k, ts in enumerate(res.positions.index)}
    col = {inst: k for k, inst in enumerate(res.model.instruments)}
    return [(pos[r.timestamp], col[r.instrument], r.contracts, r) for r in res.orders.itertuples()]


def rebuilt_equity(res, decision_close):
    """initial + sum(position x ctVal x close change) - sum(order costs), costs from the orders frame
    (linear: d x ctVal x (fill - decision close) + fee)."""
    close = res.data.close.reindex(columns=res.model.instruments)
    held = res.positions.shift(1).fillna(0.0)
    pnl = (held * close.diff().fillna(0.0) * res.model.ct_val).sum(axis=1)
    o = res.orders
    ct = np.array([res.model.ct_val[res.model.instruments.index(i)] for i in o["instrument"]])
    cost = o["contracts"] * ct * (o["price"] - decision_close) + o["fee"]
    costs = cost.groupby(o["timestamp"]).sum().reindex(close.index, fill_value=0.0)
    return res.config.initial_equity + (pnl - costs).cumsum()


def test_explicit_default_execution_is_bit_identical(hourly_store, example_raw, write_cfg):
    base = run(hourly_store, example_raw, write_cfg)
    same = run(hourly_store, example_raw, write_cfg, {"style": "market", "spread": 0, "impact": 0}, "b.yaml")
    assert base.equity.equals(same.equity) and base.orders.equals(same.orders)
    assert len(base.orders) > 10


def test_market_pays_half_spread_and_square_root_impact(hourly_store, example_raw, write_cfg):
    ex = {"style": "market", "spread": 0.25, "impact": 0.1}
    res = run(hourly_store, example_raw, write_cfg, ex)
    base = run(hourly_store, example_raw, write_cfg, name="b.yaml")
    close, high, low, vol = frames(res)
    slip, taker = res.config.fees.slippage, res.config.fees.taker
    rows = order_rows(res)
    assert len(rows) > 10
    for t, i, d, r in rows:
        ct = res.model.ct_val[i]
        share = abs(d) / (vol[t, i] / ct)
        half = max(res.model.specs[i].tick_sz, 0.25 * (high[t, i] - low[t, i]))
        sgn = np.sign(d)
        expect = close[t, i] * (1 + sgn * (slip + 0.1 * np.sqrt(share))) + sgn * half
        assert r.price == pytest.approx(expect, rel=1e-12)
        assert r.fee == pytest.approx(abs(d) * ct * expect * taker, rel=1e-12)
    decision = np.array([close[t, i] for t, i, _, _ in rows])
    np.testing.assert_allclose(res.equity["total"], rebuilt_equity(res, decision), rtol=1e-9)
    assert res.equity["total"].iloc[-1] < base.equity["total"].iloc[-1]  # liquidity costs something


def test_maker_first_fills_only_through_by_a_tick_else_market_at_deadline(hourly_store, example_raw, write_cfg):
    res = run(hourly_store, example_raw, write_cfg, {"style": "maker_first", "deadline_bars": 1, "spread": 0.5})
    close, high, low, _ = frames(res)
    fees = res.config.fees
    made = taken = 0
    for t, i, d, r in order_rows(res):
        ct, p, sgn = res.model.ct_val[i], close[t, i], np.sign(d)
        nxt, tick = t + 1, res.model.specs[i].tick_sz
        lim = p - sgn * max(tick, 0.5 * (high[t, i] - low[t, i]))  # the bid for a buy, the ask for a sell
        # deadline 1: the bar the order rests in counts by its close only (live rests it after that bar opened)
        through = nxt < len(close) and ((d > 0 and close[nxt, i] <= lim - tick * (1 - 1e-6))
                                        or (d < 0 and close[nxt, i] >= lim + tick * (1 - 1e-6)))
        if through:
            made += 1
            assert (r.price, r.fee) == (pytest.approx(lim, rel=1e-15), pytest.approx(abs(d) * ct * lim * fees.maker))
        else:
            taken += 1
            q = min(nxt, len(close) - 1)
            expect = close[q, i] * (1 + sgn * fees.slippage) + sgn * max(tick, 0.5 * (high[q, i] - low[q, i]))
            assert r.price == pytest.approx(expect, rel=1e-12)
            assert r.fee == pytest.approx(abs(d) * ct * expect * fees.taker, rel=1e-12)
    assert made > 0 and taken > 0  # both paths exercised on these bars
    decision = np.array([close[t, i] for t, i, _, _ in order_rows(res)])
    np.testing.assert_allclose(res.equity["total"], rebuilt_equity(res, decision), rtol=1e-9)


def test_fill_cost_by_hand():
    """One buy of 4 contracts (ctVal 1) at close 100: bar volume 100 contracts, range 2."""
    close = np.array([[100.0], [101.0], [99.0]])
    high, low = np.array([[101.0], [101.5], [100.0]]), np.array([[99.0], [100.0], [99.89]])
    liq = np.full((3, 1), 100.0)
    tick = np.array([0.1])
    market = (0, 0.5, 0.2, 0.0002, 1, tick, liq, NO_TWAP)
    cost, px, rate = fill_cost(market, 0, 0, 4.0, close, high, low, 1.0, 0, 0.0005, 0.001)
    # 100 x (1 + 0.001 + 0.2 x sqrt(4/100)) + max(0.1, 0.5 x 2) = 100 x 1.041 + 1 = 105.1
    assert px == pytest.approx(105.1) and rate == 0.0005
    assert cost == pytest.approx(4 * (105.1 - 100) + 4 * 105.1 * 0.0005)
    maker = (1, 0.0, 0.0, 0.0002, 1, tick, liq, NO_TWAP)  # spread 0: the limit still rests a tick from the close
    # a sell decided at t=1 (close 101) rests at 101.1: the t=2 close 99 is not through it -> market at 99
    cost, px, rate = fill_cost(maker, 1, 0, -4.0, close, high, low, 1.0, 0, 0.0005, 0.0)
    assert (px, rate) == (99.0, 0.0005) and cost == pytest.approx(-4 * (99 - 101) + 4 * 99 * 0.0005)
    # a buy decided at t=1 (close 101) rests at 100.9: the t=2 close 99.0 is through it by far more than a tick
    cost, px, rate = fill_cost(maker, 1, 0, 4.0, close, high, low, 1.0, 0, 0.0005, 0.0)
    assert (px, rate) == (pytest.approx(100.9), 0.0002)
    assert cost == pytest.approx(4 * (100.9 - 101) + 4 * 100.9 * 0.0002)
    # a buy decided at t=0 (close 100) rests at 99.9: the t=1 close 101 is not through it -> market at 101;
    # and where the next bar's LOW trades through but its close does not, the first bar still does not
    # fill (the order rests after that bar opened)
    low3 = np.array([[99.0], [99.5], [99.89]])
    cost, px, rate = fill_cost(maker, 0, 0, 4.0, close, high, low3, 1.0, 0, 0.0005, 0.0)
    assert (px, rate) == (101.0, 0.0005)
    # deadline 2: at the t=1 close the book moved to 101, so live re-prices the bid to 100.9; the new
    # order rests after bar 2 opened, so bar 2 counts by its close (99.0, through 100.9): filled at 100.9
    maker2 = (1, 0.0, 0.0, 0.0002, 2, tick, liq, NO_TWAP)
    cost, px, rate = fill_cost(maker2, 0, 0, 4.0, close, high, low3, 1.0, 0, 0.0005, 0.0)
    assert (px, rate) == (pytest.approx(100.9), 0.0002)
    assert cost == pytest.approx(4 * (100.9 - 100) + 4 * 100.9 * 0.0002)
    # ... where the book did not move (close 100 again), the bid rests on at 99.9 and bar 2's low 99.75
    # (through by more than a tick) fills it; a low of 99.89 would not
    flat = np.array([[100.0], [100.0], [100.5]])
    cost, px, rate = fill_cost(maker2, 0, 0, 4.0, flat, high, np.array([[99.0], [99.5], [99.75]]), 1.0, 0, 0.0005, 0.0)
    assert (px, rate) == (pytest.approx(99.9), 0.0002)
    assert cost == pytest.approx(4 * (99.9 - 100) + 4 * 99.9 * 0.0002)
    assert fill_cost(maker2, 0, 0, 4.0, flat, high, low3, 1.0, 0, 0.0005, 0.0)[1:] == (100.5, 0.0005)
    # ... and where neither fills it: market at the deadline bar's close
    cost, px, rate = fill_cost(maker2, 0, 0, 4.0, flat, high, np.array([[99.0], [99.95], [99.95]]), 1.0, 0, 0.0005, 0.0)
    assert (px, rate) == (100.5, 0.0005)
    # a buy resting at 99.85 (a tick under the close 99.95) where the next close 99.80 is 0.05 below it:
    # less than a tick, not filled -> market at 99.80
    close2 = np.array([[99.95], [99.95], [99.80]])
    cost, px, rate = fill_cost(maker, 1, 0, 4.0, close2, high, low, 1.0, 0, 0.0005, 0.0)
    assert rate == 0.0005 and px == 99.80


@pytest.mark.parametrize("bad", [
    {"style": "limit"}, {"impact": -0.1}, {"impact": float("nan")}, {"spread": 2}, {"deadline_bars": 0},
    {"deadline_bars": 1.5}, {"speed": 1}, ["market"], {"impact": "0.1"},
])
def test_bad_execution_is_refused(hourly_store, example_raw, write_cfg, bad):
    raw = dict(copy.deepcopy(example_raw), execution=bad)
    with pytest.raises(ConfigError, match="execution"):
        load_config(write_cfg(raw), hourly_store)


def test_sweep_refuses_a_non_default_fill_model(hourly_store, example_raw, write_cfg):
    """The batch kernel runs the default fills only: a sweep row must never disagree with run_backtest."""
    from qlib_local.backtest import plan_sweep
    from qlib_local.backtest.grid import GridError

    raw = dict(copy.deepcopy(example_raw), execution={"style": "maker_first"})
    with pytest.raises(GridError, match="execution"):
        plan_sweep(write_cfg(raw), {"fees.taker": [0.0005, 0.001]}, hourly_store)
