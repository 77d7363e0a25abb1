"""Order planning: only the difference, lot-rounded, closes reduce-only, flips in two legs, posSide."""

from __future__ import annotations

from qlib_local.live.clordid import bar_of, cl_ord_id, prefix
from qlib_local.live.planning import leverage_wanted, plan_orders
from qlib_local.live.types import PositionInfo
from qlib_local.specs import InstrumentSpec

SPECS = {"A": InstrumentSpec("A", ct_val=0.01, lot_sz=0.1, min_sz=0.2, max_lever=20),
         "B": InstrumentSpec("B", ct_val=10, lot_sz=1, min_sz=1, max_lever=3)}
BAR = 1_736_467_200_000


def legs(plan):
    return [(o.inst_id, o.leg, o.side, o.sz, o.pos_side, o.reduce_only) for o in plan.orders]


def test_net_mode_flip_is_close_then_open():
    plan = plan_orders("acc", BAR, {"A": -1.5, "B": 3}, [PositionInfo("A", "net", 2.0)], SPECS)
    assert legs(plan) == [("A", "close", "sell", 2.0, "net", True), ("A", "open", "sell", 1.5, "net", False),
                          ("B", "open", "buy", 3.0, "net", False)]


def test_reduce_increase_and_nothing_to_do():
    pos = [PositionInfo("A", "net", 2.0), PositionInfo("B", "net", -4.0)]
    assert legs(plan_orders("acc", BAR, {"A": 0.5, "B": -6}, pos, SPECS)) == [
        ("A", "close", "sell", 1.5, "net", True), ("B", "open", "sell", 2.0, "net", False)]
    assert plan_orders("acc", BAR, {"A": 2.0, "B": -4}, pos, SPECS).orders == []


def test_min_size_lots_skip_and_unknown_instruments():
    plan = plan_orders("acc", BAR, {"A": 0.15, "B": 2.7, "C": 1.0}, [], SPECS, skip={"B": "stale data"})
    assert plan.orders == []
    reasons = {s.inst_id: s.reason for s in plan.skipped}
    assert "below minSz" in reasons["A"] and reasons["B"] == "stale data" and "no instrument spec" in reasons["C"]
    assert [o.sz for o in plan_orders("acc", BAR, {"A": 0.37}, [], SPECS).orders] == [0.3]  # floor to the lot


def test_long_short_mode_uses_pos_side_not_reduce_only():
    pos = [PositionInfo("A", "long", 1.0), PositionInfo("A", "short", 0.5)]
    plan = plan_orders("acc", BAR, {"A": -2.0}, pos, SPECS, pos_mode="long_short_mode")
    assert legs(plan) == [("A", "close", "sell", 1.0, "long", False), ("A", "open", "sell", 1.5, "short", False)]


def test_client_order_ids_are_deterministic_and_distinct():
    a = cl_ord_id("acc", BAR, "A", "net", "open")
    assert a == cl_ord_id("acc", BAR, "A", "net", "open") and len(a) <= 32 and a.isalnum()
    others = {cl_ord_id("acc2", BAR, "A", "net", "open"), cl_ord_id("acc", BAR + 3_600_000, "A", "net", "open"),
              cl_ord_id("acc", BAR, "B", "net", "open"), cl_ord_id("acc", BAR, "A", "net", "close"),
              cl_ord_id("acc", BAR, "A", "net", "open", attempt=2)}
    assert a not in others and len(others) == 5
    assert a.startswith(prefix("acc")) and bar_of(a) == BAR
    plan = plan_orders("acc", BAR, {"A": 1.0}, [], SPECS, attempts={("A", "net", "open"): 3})
    assert plan.orders[0].cl_ord_id == cl_ord_id("acc", BAR, "A", "net", "open", 3)


def test_leverage_is_capped_by_the_instrument():
    assert leverage_wanted(["A", "B", "C"], SPECS, 5) == {"A": 5.0, "B": 3.0}


def test_lot_rounding_is_exact_at_any_size_and_a_one_lot_shortfall_is_traded():
    specs = {"A": InstrumentSpec("A", lot_sz=0.001, min_sz=0.001)}
    assert [o.sz for o in plan_orders("acc", BAR, {"A": 55439.717}, [], specs).orders] == [55439.717]
    for pos_mode, pos_side in (("net_mode", "net"), ("long_short_mode", "long")):
        plan = plan_orders("acc", BAR, {"A": 55439.717}, [PositionInfo("A", pos_side, 55439.716)], specs,
                           pos_mode=pos_mode)
        assert plan.skipped == [] and [(o.leg, o.side, o.sz) for o in plan.orders] == [("open", "buy", 0.001)]
        plan = plan_orders("acc", BAR, {"A": 55439.716}, [PositionInfo("A", pos_side, 55439.717)], specs,
                           pos_mode=pos_mode)
        assert plan.skipped == [] and [(o.leg, o.side, o.sz) for o in plan.orders] == [("close", "sell", 0.001)]


def test_min_notional_skips_a_small_open_never_a_close():
    specs = {"L": InstrumentSpec("L", ct_val=1.0, lot_sz=0.001, min_sz=0.001, min_notional=5.0),
             "I": InstrumentSpec("I", ct_val=100.0, lot_sz=1, min_sz=1, ct_type="inverse", settle_ccy="BTC",
                                 min_notional=5.0)}
    px = {"L": 1_000.0, "I": 1.0}
    plan = plan_orders("acc", BAR, {"L": 0.004, "I": 1}, [], specs, prices=px)  # 4 USDT under 5
    assert legs(plan) == [("I", "open", "buy", 1.0, "net", False)]  # inverse: no notional rule
    (sk,) = plan.skipped
    assert sk.inst_id == "L" and "4 USDT notional, below minNotional 5" in sk.reason
    assert [o.sz for o in plan_orders("acc", BAR, {"L": 0.005}, [], specs, prices=px).orders] == [0.005]
    small_long = [PositionInfo("L", "net", 0.002)]
    assert legs(plan_orders("acc", BAR, {"L": 0}, small_long, specs, prices=px)) == [
        ("L", "close", "sell", 0.002, "net", True)]  # a 2 USDT close still goes
    flip = plan_orders("acc", BAR, {"L": -0.003}, small_long, specs, prices=px)  # close goes, the small open not
    assert legs(flip) == [("L", "close", "sell", 0.002, "net", True)] and "below minNotional" in flip.skipped[0].reason
    assert len(plan_orders("acc", BAR, {"L": 0.004}, [], specs).orders) == 1  # no price known: the venue judges


def test_min_notional_is_validated():
    import pytest

    from qlib_local.errors import DataError

    for bad in (-1.0, float("nan"), float("inf"), True, "5"):
        with pytest.raises(DataError, match="min_notional"):
            InstrumentSpec("X", min_notional=bad)
    assert InstrumentSpec("X").min_notional == 0.0
