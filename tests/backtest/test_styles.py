"""The backtest with per-strategy order styles: each net order is filled in the style of the strategy
that moved the instrument most (by hand here, from the recorded per-strategy contracts), and
blocks that only repeat a style change nothing."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from qlib_local.backtest import run_backtest
from qlib_local.research import load_config

from .test_execution import frames, order_rows, rebuilt_equity

SPREAD = 0.5


def run(store, raw, write_cfg, name):
    return run_backtest(load_config(write_cfg(raw, name), store), store, start="2025-01-04")


def test_each_net_order_takes_the_style_of_its_largest_contributor(hourly_store, example_raw, write_cfg):
    raw = copy.deepcopy(example_raw)
    raw["execution"] = {"style": "maker_first", "spread": SPREAD}
    raw["strategies"][0]["execution"] = {"style": "market"}  # inherits the spread
    res = run(hourly_store, raw, write_cfg, "mixed.yaml")
    assert res.liquidations.empty
    close, high, low, _ = frames(res)
    hold, fees = res.strategy_positions, res.config.fees
    seen = {"market": 0, "maker_first": 0}
    shared = 0
    for t, i, d, r in order_rows(res):
        change = hold[t, :, i] - (hold[t - 1, :, i] if t > 0 else 0.0)
        s = int(np.argmax(np.abs(change)))  # argmax: the first of equal maxima
        style = "market" if s == 0 else "maker_first"
        assert r.style == style
        seen[style] += 1
        shared += int((np.abs(change) > 0).all())
        ct, p, sgn, tick = res.model.ct_val[i], close[t, i], np.sign(d), res.model.specs[i].tick_sz
        if style == "market":
            expect = p * (1 + sgn * fees.slippage) + sgn * max(tick, SPREAD * (high[t, i] - low[t, i]))
            assert (r.price, r.fee) == (pytest.approx(expect, rel=1e-12), pytest.approx(abs(d) * ct * expect * fees.taker))
            continue
        lim = p - sgn * max(tick, SPREAD * (high[t, i] - low[t, i]))
        nxt = t + 1
        through = nxt < len(close) and ((d > 0 and close[nxt, i] <= lim - tick * (1 - 1e-6))
                                        or (d < 0 and close[nxt, i] >= lim + tick * (1 - 1e-6)))
        if through:
            assert (r.price, r.fee) == (pytest.approx(lim, rel=1e-15), pytest.approx(abs(d) * ct * lim * fees.maker))
        else:
            q = min(nxt, len(close) - 1)
            expect = close[q, i] * (1 + sgn * fees.slippage) + sgn * max(tick, SPREAD * (high[q, i] - low[q, i]))
            assert r.price == pytest.approx(expect, rel=1e-12)
    assert seen["market"] > 5 and seen["maker_first"] > 5, seen  # both styles traded
    assert shared > 0  # some orders net both strategies' moves (where the rule decides)
    decision = np.array([close[t, i] for t, i, _, _ in order_rows(res)])
    # the kernel charged exactly what the orders frame (the same rule, order by order) reports
    np.testing.assert_allclose(res.equity["total"], rebuilt_equity(res, decision), rtol=1e-9)
    account = run(hourly_store, {**copy.deepcopy(example_raw), "execution": raw["execution"]}, write_cfg, "acct.yaml")
    assert not np.allclose(account.equity["total"], res.equity["total"])  # the override changed the fills


def test_strategy_blocks_that_repeat_one_style_equal_the_account_block(hourly_store, example_raw, write_cfg):
    """Both strategies on 4H at 1h: a two-bar deadline ends before the next decision, as load requires."""
    slow = copy.deepcopy(example_raw)
    slow["strategies"][0].update(rule_type="4H", offset="1h")
    maker = {"style": "maker_first", "spread": SPREAD, "deadline_bars": 2}
    account = run(hourly_store, {**copy.deepcopy(slow), "execution": maker}, write_cfg, "a.yaml")
    raw = copy.deepcopy(slow)
    for s in raw["strategies"]:
        s["execution"] = maker
    per_strategy = run(hourly_store, raw, write_cfg, "b.yaml")
    assert per_strategy.config.styles[1:] == account.config.styles
    assert per_strategy.equity.equals(account.equity) and per_strategy.orders.equals(account.orders)
    market = run(hourly_store, copy.deepcopy(slow), write_cfg, "c.yaml")
    assert not market.equity.equals(account.equity)


def test_sweep_refuses_a_strategy_with_its_own_fill_model(hourly_store, example_raw, write_cfg):
    from qlib_local.backtest import plan_sweep
    from qlib_local.backtest.grid import GridError

    raw = copy.deepcopy(example_raw)
    raw["strategies"][1]["execution"] = {"style": "maker_first"}
    with pytest.raises(GridError, match="execution"):
        plan_sweep(write_cfg(raw), {"fees.taker": [0.0005, 0.001]}, hourly_store)
