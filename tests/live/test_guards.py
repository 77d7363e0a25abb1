"""The guards as pure functions: price bands, size caps, order identity, targets reached."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qlib_local.live import guards
from qlib_local.live.clordid import cl_ord_id
from qlib_local.live.guards import GuardSettings, PriceCheck
from qlib_local.live.types import OrderRequest, OrderStatus, PositionInfo
from qlib_local.research.config import StrategyConfig

BAR = 1_736_467_200_000
S = GuardSettings()


def test_band_is_a_few_typical_ranges_between_the_floor_and_the_hard_cap():
    close = np.full(24, 100.0)
    bad = close.copy()
    bad[-1] = 25.0  # the bar being checked: its own range must not widen its band
    typical = {"calm": guards.typical_range(close + 0.1, close, close),
               "usual": guards.typical_range(close + 1.5, close, close),
               "wild": guards.typical_range(close + 8.0, close, close),
               "bad_bar": guards.typical_range(close + 1.5, close, bad),
               "empty": guards.typical_range(np.array([]), np.array([]), np.array([])),
               "garbage": guards.typical_range(np.array([np.nan, 1.0]), np.array([1.0, 2.0]), np.array([1.0, 0.0]))}
    assert typical["usual"] == pytest.approx(0.015) and typical["bad_bar"] == pytest.approx(0.015)
    assert math.isnan(typical["empty"]) and math.isnan(typical["garbage"])  # no usable bar
    bands = {k: guards.price_band(v, S) for k, v in typical.items()}
    assert bands == pytest.approx({"calm": 0.01, "usual": 0.045, "wild": 0.10, "bad_bar": 0.045, "empty": 0.10,
                                   "garbage": 0.10})


def test_price_is_checked_against_both_last_and_mark():
    checks = guards.check_prices(
        {"A": 100.0, "B": 100.0, "C": 100.0, "D": 25.0, "E": 100.0, "F": math.nan},
        last={"A": 101.0, "B": 101.0, "C": 130.0, "D": 100.0, "F": 100.0},
        mark={"A": 99.5, "B": 80.0, "C": 101.0, "D": 100.0, "E": 100.0, "F": 100.0},
        typical={"A": 0.01, "B": 0.01, "C": 0.01, "D": 0.01, "E": 0.01}, s=S)
    by = {c.inst_id: c for c in checks}
    assert set(by) == {"A", "B", "C", "D", "E"}  # F has no model price: stale already, not checked
    assert by["A"].ok and by["A"].band == pytest.approx(0.03)
    assert not by["B"].ok and by["B"].deviation == pytest.approx(0.25)  # last fine, mark 25% off
    assert not by["C"].ok  # mark fine, last 23% off
    assert not by["D"].ok and "75.0%" in by["D"].reason and "25" in by["D"].reason and "3.0%" in by["D"].reason
    assert not by["E"].ok and "no last/mark price" in by["E"].reason  # the exchange gives no last: not traded


def test_a_missing_or_nonpositive_exchange_price_never_passes():
    for last in (None, 0.0, -1.0, math.inf, math.nan):
        assert not PriceCheck("A", 100.0, last, 100.0, 0.1).ok


def strat(kind: str, position: float, leverage: float, vol: float = 1.0) -> StrategyConfig:
    return StrategyConfig(id=kind, strategy_name=kind, kind=kind, rule_type="1H", offset="0h", position=position,
                          leverage=leverage, instruments=("A",), volatility_ratio=vol)


def order(inst: str, side: str, sz: float, leg: str = "open", pos_side: str = "net") -> OrderRequest:
    return OrderRequest(cl_ord_id(inst, BAR, inst, pos_side, leg), inst, side, sz, pos_side=pos_side, leg=leg,
                        reduce_only=leg == "close")


def test_cap_is_equity_times_shares_times_leverage_plus_tolerance():
    lev = guards.allowed_leverage([strat("timing", 0.5, 2, vol=1.5), strat("event", 0.4, 1, vol=9)])
    assert lev == pytest.approx(0.5 * 2 * 1.5 + 0.4 * 1)  # the volatility ratio scales timing sizing only
    assert guards.exposure_cap(10_000, lev, 0.1) == pytest.approx(10_000 * 1.9 * 1.1)
    assert guards.exposure_cap(-5, lev, 0.1) == 0.0


def test_orders_over_the_cap_are_refused_closes_never():
    ct = {"A": 1.0, "B": 1.0, "C": 1.0, "D": 1.0}
    px = {"A": 100.0, "B": 100.0, "C": 100.0}
    held = [PositionInfo("A", "net", 50.0), PositionInfo("C", "net", -30.0)]  # 8,000 USDT gross
    plan = [order("A", "sell", 50.0, "close"), order("C", "buy", 30.0, "close"),  # closes: -8,000
            order("A", "sell", 120.0),  # 12,000: over the 10,000 cap on its own
            order("B", "buy", 60.0), order("C", "buy", 30.0), order("D", "buy", 1.0)]  # D: no price
    kept, refused = guards.cap_orders(plan, held, px, ct, cap=10_000)
    assert [(o.inst_id, o.leg) for o in kept] == [("A", "close"), ("C", "close"), ("B", "open"), ("C", "open")]
    reasons = {r.order.inst_id: r.reason for r in refused}
    assert "exceeds the account's cap 10,000" in reasons["A"] and "no exchange price" in reasons["D"]
    # on top of 5,000 held the two opens do not both fit: the largest is refused, the smaller goes
    kept, refused = guards.cap_orders(plan[3:5], held[:1], px, ct, cap=10_000)
    assert [o.inst_id for o in kept] == ["C"] and [r.order.inst_id for r in refused] == ["B"]
    assert "gross exposure would be 14,000 USDT" in refused[0].reason
    # a close is never refused, whatever the cap
    assert guards.cap_orders(plan[:2], held, px, ct, cap=0) == (plan[:2], [])


def test_an_order_under_our_id_is_ours_only_if_it_is_the_same_order():
    o = order("A", "buy", 9.7)

    def st(**kw) -> OrderStatus:
        base = dict(cl_ord_id=o.cl_ord_id, ord_id="1", inst_id="A", side="buy", pos_side="net", sz=9.7,
                    state="filled", acc_fill_sz=9.7, avg_px=1.0, fee=0.0)
        return OrderStatus(**{**base, **kw})

    assert guards.same_order(o, st(), BAR)
    assert not guards.same_order(o, st(sz=6.0), BAR) and not guards.same_order(o, st(side="sell"), BAR)
    assert not guards.same_order(o, st(inst_id="B"), BAR) and not guards.same_order(o, st(), BAR + 3_600_000)
    assert not guards.same_order(o, st(pos_side="long"), BAR)


def test_gaps_name_what_the_exchange_does_not_hold_except_skipped():
    lots = {"A": 0.1, "B": 1.0, "C": 1.0}
    pos = [PositionInfo("A", "net", 9.7), PositionInfo("B", "net", -2.0)]
    assert guards.position_gaps({"A": 9.7, "B": -2.0, "C": 0.0}, pos, "net_mode", lots) == {}
    assert guards.position_gaps({"A": 9.8, "B": -2.0, "C": 3.0}, pos, "net_mode", lots) == {
        "A": (9.7, 9.8), "C": (0.0, 3.0)}
    assert guards.position_gaps({"A": 9.8, "C": 3.0}, pos, "net_mode", lots, skipped={"A", "C"}) == {}
    hedged = [PositionInfo("A", "long", 5.0), PositionInfo("A", "short", 2.0)]
    assert guards.position_gaps({"A": 3.0}, hedged, "long_short_mode", lots) == {"A": (3.0, 3.0)}  # nets, but hedged
    assert guards.position_gaps({"A": -2.0}, [PositionInfo("A", "short", 2.0)], "long_short_mode", lots) == {}


def test_positions_must_show_the_fills_before_another_round():
    basis = [PositionInfo("A", "net", 2.0)]
    filled = [OrderStatus("x", "1", "A", "buy", "net", 3.0, "filled", 3.0, 1.0, 0.0),
              OrderStatus("y", "2", "B", "sell", "short", 4.0, "filled", 4.0, 1.0, 0.0)]
    want = guards.expected_positions(basis, filled)
    assert want == {("A", "net"): 5.0, ("B", "short"): 4.0}
    lots = {"A": 0.1, "B": 1.0}
    assert guards.same_positions(want, [PositionInfo("A", "net", 5.0), PositionInfo("B", "short", 4.0)], lots)
    assert not guards.same_positions(want, [PositionInfo("A", "net", 2.0), PositionInfo("B", "short", 4.0)], lots)
