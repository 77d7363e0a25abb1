"""The backtest's ``twap`` fill model (``research.fills``) against prices computed here by hand,
and a backtest run whose every order is checked against the slice rule and whose equity is
rebuilt from its orders."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from qlib_local.backtest import run_backtest
from qlib_local.research import load_config
from qlib_local.research.config import ConfigError
from qlib_local.research.execution import parse_execution
from qlib_local.research.fills import fill_cost

CLOSE = np.array([[100.0], [101.0], [99.0], [102.0], [98.0]])
HIGH = np.array([[101.0], [101.5], [100.0], [102.5], [99.0]])
LOW = np.array([[99.0], [100.0], [98.5], [99.5], [97.0]])
LIQ = np.full((5, 1), 100.0)  # contracts traded per bar
TICK = np.array([0.1])
TAKER, MAKER = 0.0005, 0.0002


def twap(slices, window, min_notional=0.0, slice_style=0, spread=0.0, impact=0.0, deadline=1):
    return (2, spread, impact, MAKER, deadline, TICK, LIQ,
            np.array([slices, window, min_notional, slice_style], np.float64))


def cost_of(ex, t, d, ct=1.0, ct_type=0, slippage=0.0):
    return fill_cost(ex, t, 0, d, CLOSE, HIGH, LOW, ct, ct_type, TAKER, slippage)


def test_market_slices_go_at_their_bars_and_share_a_bars_volume():
    """Buy 8 at t=0, 4 slices over 2 bars: slices 0,1 at bar 0, slices 2,3 at bar 1 (floor(k x 2 / 4)),
    each pair's impact on the 4 contracts the pair takes of that bar's 100."""
    cost, avg, rate = cost_of(twap(4, 2, spread=0.5, impact=0.2), 0, 8.0, slippage=0.001)
    px0 = 100 * (1 + 0.001 + 0.2 * 0.2) + max(0.1, 0.5 * 2.0)  # 105.1: bar 0's range 2
    px1 = 101 * (1 + 0.001 + 0.2 * 0.2) + max(0.1, 0.5 * 1.5)  # 105.891: bar 1's close and range
    assert (px0, px1) == (pytest.approx(105.1), pytest.approx(105.891))
    fee = 4 * px0 * TAKER + 4 * px1 * TAKER
    assert cost == pytest.approx(4 * (px0 - 100) + 4 * (px1 - 100) + fee)  # against the DECISION close 100
    assert avg == pytest.approx((px0 + px1) / 2) and rate == pytest.approx(TAKER)


def test_below_the_threshold_one_order_of_the_slice_style():
    """8 contracts at 100 is 800 quote: under a 1,000 threshold it is one market order at t (share 8/100)."""
    cost, avg, rate = cost_of(twap(4, 2, min_notional=1000.0, spread=0.5, impact=0.2), 0, 8.0, slippage=0.001)
    px = 100 * (1 + 0.001 + 0.2 * np.sqrt(0.08)) + 1.0
    assert avg == pytest.approx(px) and rate == TAKER
    assert cost == pytest.approx(8 * (px - 100) + 8 * px * TAKER)
    at = cost_of(twap(4, 2, min_notional=800.0, spread=0.5, impact=0.2), 0, 8.0, slippage=0.001)
    assert at[1] == pytest.approx((105.1 + 105.891) / 2)  # at the threshold: sliced


def test_maker_slices_rest_at_most_to_the_next_slice():
    """Sell 4 at t=1 (close 101), 2 maker slices over 2 bars, spread 0 (makers rest a tick away),
    deadline 1 bar: slice 0 rests at 101.1 from bar 1; bar 2 closes at 99, not through it: market at 99.
    Slice 1 rests at 99.1 (bar 2's close + a tick); bar 3 closes at 102 >= 99.2: a maker fill at 99.1."""
    cost, avg, rate = cost_of(twap(2, 2, slice_style=1), 1, -4.0)
    fee = 2 * 99 * TAKER + 2 * 99.1 * MAKER
    assert cost == pytest.approx(-2 * (99 - 101) - 2 * (99.1 - 101) + fee)
    assert avg == pytest.approx(99.05) and rate == pytest.approx(fee / (2 * 99 + 2 * 99.1))


def test_maker_slices_inside_one_bar_cannot_fill_as_makers_but_the_last():
    """Buy 4 at t=1, 4 maker slices within 1 bar: slices 0-2 rest 1/4 bar, no bar closes: market at
    101; slice 3 rests at 100.9 to bar 2's close 99 <= 100.9 - a tick: a maker fill at 100.9."""
    cost, avg, rate = cost_of(twap(4, 1, slice_style=1), 1, 4.0)
    assert cost == pytest.approx(3 * 101 * TAKER + (100.9 - 101) + 100.9 * MAKER)
    assert avg == pytest.approx((3 * 101 + 100.9) / 4)
    assert rate == pytest.approx((3 * 101 * TAKER + 100.9 * MAKER) / (3 * 101 + 100.9))


def test_a_flips_crossing_slice_closes_at_market_as_live_does():
    """Long 1, sell 4 at t=1 (close 101) in 2 maker slices over 2 bars: slice 0's first contract closes
    the long (live sends it at once, at market: 101), its other one rests as a maker and goes to market
    at 99 at its deadline; slice 1 (all opening) fills as a maker at 99.1."""
    ex = twap(2, 2, slice_style=1)
    cost, avg, rate = fill_cost(ex, 1, 0, -4.0, CLOSE, HIGH, LOW, 1.0, 0, TAKER, 0.0, 1.0)
    fee = 101 * TAKER + 99 * TAKER + 2 * 99.1 * MAKER
    assert cost == pytest.approx(-1 * (101 - 101) - 1 * (99 - 101) - 2 * (99.1 - 101) + fee)
    assert avg == pytest.approx((101 + 99 + 2 * 99.1) / 4)
    assert rate == pytest.approx(fee / (101 + 99 + 2 * 99.1))
    plain = cost_of(ex, 1, -4.0)  # no flip: both slices in the slice style
    assert cost != pytest.approx(plain[0])
    for held in (5.0, 2.0, -1.0):  # a pure reduction; a flip crossing on a slice boundary; adding to a short
        assert fill_cost(ex, 1, 0, -4.0, CLOSE, HIGH, LOW, 1.0, 0, TAKER, 0.0, held) == pytest.approx(plain)
    market = twap(2, 2)  # market slices: the flip changes nothing
    assert fill_cost(market, 1, 0, -4.0, CLOSE, HIGH, LOW, 1.0, 0, TAKER, 0.0, 1.0) == pytest.approx(
        cost_of(market, 1, -4.0))


def test_inverse_slices_average_harmonically_and_the_threshold_is_in_usd():
    """Buy 10 inverse contracts of 100 USD at t=0: 1,000 USD; 2 slices over 2 bars at 100 and 101."""
    ex = twap(2, 2, min_notional=1000.0)
    cost, avg, rate = cost_of(ex, 0, 10.0, ct=100.0, ct_type=1)
    uv = lambda px: -100.0 / px  # noqa: E731 - the inverse contract's value, up to a constant
    fee = 5 * 100 / 100 * TAKER + 5 * 100 / 101 * TAKER
    assert cost == pytest.approx(5 * (uv(101) - uv(100)) + fee)
    assert avg == pytest.approx(10 / (5 / 100 + 5 / 101)) and rate == pytest.approx(TAKER)
    single = cost_of(twap(2, 2, min_notional=1000.01), 0, 10.0, ct=100.0, ct_type=1)
    assert single[1] == 100.0 and single[0] == pytest.approx(10 * TAKER)  # below: one order at the close


def test_slices_past_the_data_end_go_at_the_last_bar():
    cost, avg, rate = cost_of(twap(2, 4), 3, 2.0)  # slices at bars 3 and 5 -> 4
    assert avg == pytest.approx((102 + 98) / 2) and cost == pytest.approx(1 * (98 - 102) + (102 + 98) * TAKER)


def test_a_twap_backtest_prices_every_order_by_its_slices(hourly_store, example_raw, write_cfg):
    raw = copy.deepcopy(example_raw)
    raw["strategies"][0].update(rule_type="4H", offset="1h")  # a 2-bar window ends before the next decision
    raw["execution"] = {"style": "twap", "spread": 0.25, "twap_slices": 3, "twap_window_bars": 2}
    res = run_backtest(load_config(write_cfg(raw), hourly_store), hourly_store, start="2025-01-04")
    insts = res.model.instruments
    close = res.data.close.reindex(columns=insts).to_numpy()
    high = res.data.high.reindex(columns=insts).to_numpy()
    low = res.data.low.reindex(columns=insts).to_numpy()
    pos = {ts: k for k, ts in enumerate(res.positions.index)}
    slip, taker = res.config.fees.slippage, res.config.fees.taker
    orders = res.orders
    assert len(orders) > 10
    costs = []
    for r in orders.itertuples():
        t, i = pos[r.timestamp], insts.index(r.instrument)
        ct, sgn, n = res.model.ct_val[i], np.sign(r.contracts), len(close)
        px = [close[s, i] * (1 + sgn * slip) + sgn * max(res.model.specs[i].tick_sz, 0.25 * (high[s, i] - low[s, i]))
              for s in (min(t + k * 2 // 3, n - 1) for k in range(3))]  # slices at bars t, t, t + 1
        assert r.price == pytest.approx(np.mean(px), rel=1e-12)
        assert r.fee == pytest.approx(abs(r.contracts) * ct * np.mean(px) * taker, rel=1e-9)
        costs.append(r.contracts * ct * (r.price - close[t, i]) + r.fee)
    # the equity, rebuilt from the positions and the orders' costs, is the kernel's
    held = res.positions.shift(1).fillna(0.0)
    c = res.data.close.reindex(columns=insts)
    pnl = (held * c.diff().fillna(0.0) * res.model.ct_val).sum(axis=1)
    per_bar = orders.assign(cost=costs).groupby("timestamp")["cost"].sum().reindex(c.index, fill_value=0.0)
    np.testing.assert_allclose(res.equity["total"], res.config.initial_equity + (pnl - per_bar).cumsum(), rtol=1e-9)


@pytest.mark.parametrize(("bad", "message"), [
    ({"twap_slices": 1}, "execution.twap_slices: must be >= 2, got 1"),
    ({"twap_slices": 37}, "execution.twap_slices: must be <= 36, got 37"),
    ({"twap_slices": 2.5}, "execution.twap_slices: expected an integer, got 2.5"),
    ({"twap_window_bars": 0}, "execution.twap_window_bars: must be >= 1, got 0"),
    ({"twap_window_bars": True}, "execution.twap_window_bars: expected an integer, got True"),
    ({"twap_min_notional": -5}, "execution.twap_min_notional: must be >= 0, got -5"),
    ({"twap_min_notional": float("inf")}, "execution.twap_min_notional"),
    ({"twap_min_notional": "100"}, "execution.twap_min_notional: expected a number"),
    ({"twap_slice_style": "twap"}, "execution.twap_slice_style: must be one of market, maker_first, got 'twap'"),
    ({"twap_slice": 4}, "execution: expected a mapping of"),
])
def test_bad_twap_fields_are_refused(bad, message):
    with pytest.raises(ConfigError) as e:
        parse_execution({"style": "twap", **bad}, ConfigError)
    assert message in str(e.value)


def test_twap_fields_parse():
    ex = parse_execution({"style": "twap", "twap_slices": 6, "twap_window_bars": 3, "twap_min_notional": 5000,
                          "twap_slice_style": "maker_first"}, ConfigError)
    assert (ex.style, ex.twap_slices, ex.twap_window_bars, ex.twap_min_notional, ex.slice_code) == ("twap", 6, 3, 5000, 1)
    assert isinstance(ex.twap_slices, int) and isinstance(ex.twap_window_bars, int) and not ex.is_default


def test_a_strategys_twap_block_inherits_the_account_and_prices_its_orders(hourly_store, example_raw, write_cfg):
    """Account block: market with a spread; the first strategy: twap (its spread inherited). Orders where
    that strategy moved the most are priced by the slices, the others as one market order."""
    raw = copy.deepcopy(example_raw)
    raw["strategies"][0].update(rule_type="4H", offset="1h")  # a 2-bar window ends before the next decision
    raw["execution"] = {"style": "market", "spread": 0.25, "twap_window_bars": 2}
    raw["strategies"][0]["execution"] = {"style": "twap", "twap_slices": 3}
    cfg = load_config(write_cfg(raw, "mixed.yaml"), hourly_store)
    own = cfg.styles[1]
    assert (own.style, own.spread, own.twap_slices, own.twap_window_bars) == ("twap", 0.25, 3, 2)  # inherited
    res = run_backtest(cfg, hourly_store, start="2025-01-04")
    insts = res.model.instruments
    close = res.data.close.reindex(columns=insts).to_numpy()
    high = res.data.high.reindex(columns=insts).to_numpy()
    low = res.data.low.reindex(columns=insts).to_numpy()
    pos = {ts: k for k, ts in enumerate(res.positions.index)}
    hold, slip, n = res.strategy_positions, res.config.fees.slippage, len(close)
    seen = {"market": 0, "twap": 0}
    for r in res.orders.itertuples():
        t, i = pos[r.timestamp], insts.index(r.instrument)
        change = hold[t, :, i] - (hold[t - 1, :, i] if t > 0 else 0.0)
        style = "twap" if int(np.argmax(np.abs(change))) == 0 else "market"
        seen[style] += 1
        sgn, tick = np.sign(r.contracts), res.model.specs[i].tick_sz
        bars = [min(t + k * 2 // 3, n - 1) for k in range(3)] if style == "twap" else [t]
        px = [close[b, i] * (1 + sgn * slip) + sgn * max(tick, 0.25 * (high[b, i] - low[b, i])) for b in bars]
        assert r.price == pytest.approx(np.mean(px), rel=1e-12)
    assert seen["market"] > 3 and seen["twap"] > 3, seen


def test_maker_slice_flips_in_a_backtest_cost_what_its_orders_report(hourly_store, example_raw, write_cfg):
    """The orders report prices each order with the position before it, as the kernel does: the
    equity rebuilt from the orders is the kernel's, flips included."""
    raw = copy.deepcopy(example_raw)
    raw["strategies"][0].update(rule_type="4H", offset="1h")  # a 2-bar window ends before the next decision
    raw["execution"] = {"style": "twap", "spread": 0.25, "twap_slices": 3, "twap_window_bars": 2,
                        "twap_slice_style": "maker_first"}
    res = run_backtest(load_config(write_cfg(raw), hourly_store), hourly_store, start="2025-01-04")
    net = res.positions.to_numpy()
    before = np.vstack([np.zeros((1, net.shape[1])), net[:-1]])
    flips = (before * net < 0).sum()
    assert flips > 0  # the timing strategy goes from long to short somewhere
    insts = res.model.instruments
    close = res.data.close.reindex(columns=insts)
    pos = {ts: k for k, ts in enumerate(res.positions.index)}
    o = res.orders
    decision = np.array([close.iloc[pos[ts], insts.index(i)] for ts, i in zip(o["timestamp"], o["instrument"],
                                                                                strict=True)])
    ct = np.array([res.model.ct_val[insts.index(i)] for i in o["instrument"]])
    cost = (o["contracts"] * ct * (o["price"] - decision) + o["fee"]).groupby(o["timestamp"]).sum()
    held = res.positions.shift(1).fillna(0.0)
    pnl = (held * close.diff().fillna(0.0) * res.model.ct_val).sum(axis=1)
    rebuilt = res.config.initial_equity + (pnl - cost.reindex(close.index, fill_value=0.0)).cumsum()
    np.testing.assert_allclose(res.equity["total"], rebuilt, rtol=1e-9)
