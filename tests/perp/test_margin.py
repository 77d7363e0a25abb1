"""Maintenance tiers and liquidation prices against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from qlib_local.perp import INVERSE, LINEAR, MarginTable, liquidation_price, maintenance_margin, pnl
from qlib_local.perp.margin import margin_ceiling, stack_tables, tier_margin

FLAT = MarginTable.build(flat=0.005)
TIERS = MarginTable.build([(50_000, 0.004), (250_000, 0.005), (math.inf, 0.01)])


def mm(q, p, ct, kind, t=FLAT):
    return maintenance_margin(q, p, ct, kind, t.bounds, t.rates, t.cums)


def test_tiers_are_continuous_and_match_binance_style_amounts():
    assert list(TIERS.cums) == [0.0, 50.0, 1300.0]
    # 100,000 USDT notional: 100,000 * 0.5% - 50 = 450
    assert mm(100.0, 1_000.0, 1.0, LINEAR, TIERS) == pytest.approx(450.0)
    # continuous at a bracket edge
    assert mm(50.0, 1_000.0, 1.0, LINEAR, TIERS) == pytest.approx(200.0)
    assert mm(50.0 + 1e-9, 1_000.0, 1.0, LINEAR, TIERS) == pytest.approx(200.0, abs=1e-6)


def test_bad_tiers_are_refused():
    with pytest.raises(ValueError):
        MarginTable.build([(100, 0.01), (50, 0.02)])
    with pytest.raises(ValueError):
        MarginTable.build([(100, 1.5)])


def test_stacking_pads_with_the_last_tier():
    b, r, c = stack_tables([FLAT, TIERS])
    assert b.shape == (2, 3) and list(r[0]) == [0.005] * 3 and list(r[1]) == [0.004, 0.005, 0.01]


def test_linear_long_liquidation_price_by_hand():
    # 1 BTC long at 50,000 on 1,000 USDT: 1,000 + (p - 50,000) = 0.005 p  ->  p = 49,000 / 0.995
    p = liquidation_price(1.0, 50_000.0, 1_000.0, 0.0, 1.0, LINEAR, FLAT.bounds, FLAT.rates, FLAT.cums)
    assert p == pytest.approx(49_000 / 0.995)
    assert 1_000 + pnl(1.0, 50_000.0, p, 1.0, LINEAR) == pytest.approx(mm(1.0, p, 1.0, LINEAR))


def test_linear_short_liquidation_price_by_hand():
    # 1 BTC short at 50,000 on 1,000 USDT: 1,000 - (p - 50,000) = 0.005 p  ->  p = 51,000 / 1.005
    p = liquidation_price(-1.0, 50_000.0, 1_000.0, 0.0, 1.0, LINEAR, FLAT.bounds, FLAT.rates, FLAT.cums)
    assert p == pytest.approx(51_000 / 1.005)


def test_inverse_long_liquidation_price_by_hand():
    # 1,000 x 100 USD long at 50,000 on 1 BTC (2x): p = 100 * 1,005 / (1 + 2) = 33,500
    p = liquidation_price(1_000.0, 50_000.0, 1.0, 0.0, 100.0, INVERSE, FLAT.bounds, FLAT.rates, FLAT.cums)
    assert p == pytest.approx(33_500.0)
    assert 1.0 + pnl(1_000.0, 50_000.0, p, 100.0, INVERSE) == pytest.approx(mm(1_000.0, p, 100.0, INVERSE))


def test_a_one_x_inverse_short_is_never_liquidated():
    # 1 BTC collateral shorting 1 BTC worth of BTC-USD: equity in USD is flat, coin equity never reaches zero
    p = liquidation_price(-500.0, 50_000.0, 1.0, 0.0, 100.0, INVERSE, FLAT.bounds, FLAT.rates, FLAT.cums)
    assert math.isnan(p)


def test_inverse_short_above_one_x_liquidation_price_by_hand():
    # 0.1 BTC shorting 400 x 100 USD (0.8 BTC at 50,000): 8x, liquidated on the way up
    p = liquidation_price(-400.0, 50_000.0, 0.1, 0.0, 100.0, INVERSE, FLAT.bounds, FLAT.rates, FLAT.cums)
    assert p == pytest.approx(100.0 * (-400.0 + 400.0 * 0.005) / (0.1 - 400.0 * 100.0 / 50_000.0))
    assert 0.1 + pnl(-400.0, 50_000.0, p, 100.0, INVERSE) == pytest.approx(mm(-400.0, p, 100.0, INVERSE))


def test_other_positions_margin_moves_the_liquidation_price_closer():
    alone = liquidation_price(1.0, 50_000.0, 1_000.0, 0.0, 1.0, LINEAR, FLAT.bounds, FLAT.rates, FLAT.cums)
    shared = liquidation_price(1.0, 50_000.0, 1_000.0, 100.0, 1.0, LINEAR, FLAT.bounds, FLAT.rates, FLAT.cums)
    assert shared > alone


@given(q=st.floats(-1e4, 1e4).filter(lambda x: abs(x) > 1e-3), ref=st.floats(10, 1e5),
       equity=st.floats(1, 1e6), kind=st.sampled_from([LINEAR, INVERSE]), ct=st.sampled_from([0.01, 1.0, 100.0]),
       table=st.sampled_from([FLAT, TIERS]))
def test_equity_meets_maintenance_at_the_liquidation_price(q, ref, equity, kind, ct, table):
    eq = equity / ref if kind == INVERSE else equity  # a coin balance for inverse accounts
    p = liquidation_price(q, ref, eq, 0.0, ct, kind, table.bounds, table.rates, table.cums)
    assume(np.isfinite(p) and 1e-6 < p < 1e12)
    at = eq + pnl(q, ref, p, ct, kind)
    need = mm(q, p, ct, kind, table)
    assert at == pytest.approx(need, rel=1e-6, abs=1e-9 * (abs(eq) + 1))


# ascending bounds, rates in any order (a falling rate makes a negative ``cum``)
_tier_rows = st.lists(st.tuples(st.floats(1.0, 1e7), st.floats(0.0, 0.5)), min_size=1, max_size=5,
                      unique_by=lambda row: row[0]).map(sorted)


@given(tables=st.lists(_tier_rows, min_size=1, max_size=4), notional=st.floats(0.0, 1e8))
def test_tier_margin_reads_a_stacked_row_exactly_as_maintenance_margin(tables, notional):
    built = [MarginTable.build(rows) for rows in tables]
    b, r, c = stack_tables(built)
    for i, t in enumerate(built):  # linear, ct 1, price 1: notional == |q|
        assert tier_margin(notional, b, r, c, i) == mm(notional, 1.0, 1.0, LINEAR, t)


@given(tables=st.lists(_tier_rows, min_size=1, max_size=4),
       notionals=st.lists(st.floats(0.0, 1e8), min_size=4, max_size=4))
def test_the_ceiling_bounds_every_tier_even_where_rates_fall(tables, notionals):
    """Falling rates make negative ``cums``: the ceiling's offset must still cover them, in
    floating point, or the backtest's shortcut would skip a liquidation."""
    built = [MarginTable.build(rows) for rows in tables]
    b, r, c = stack_tables(built)
    rate, offset = margin_ceiling(b, r, c)
    total, cap = 0.0, 0.0
    for i, n in enumerate(notionals[:len(built)]):
        total += tier_margin(n, b, r, c, i)
        cap += n * rate[i] + offset[i]
    assert total <= cap
