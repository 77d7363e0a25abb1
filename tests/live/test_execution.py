"""The execution engine through the venue port against the local exchange: idempotency, unknown
outcomes, storms, rejections (once per venue with a local exchange; no venue name in here)."""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import replace

import pytest
from tests_support import GUARD_S, Background, until

from qlib_local.ledger import Ledger
from qlib_local.live.exec_types import ExecPolicy
from qlib_local.live.execution import Executor
from qlib_local.live.planning import plan_orders
from qlib_local.live.retry import RetryPolicy
from qlib_local.live.types import Kind, PositionInfo

from .conftest import ACCOUNT, bar

pytestmark = pytest.mark.every_kit  # money and sizing through the port: the coin-margined kit too

# The retry budget is a deadlock guard except where a test is about the budget (ONE_SECOND).
FAST = ExecPolicy(retry=RetryPolicy(attempts=50, base_s=0.02, cap_s=0.1, budget_s=GUARD_S), poll_timeout_s=0.5,
                  poll_interval_s=0.05)
ONE_SECOND = replace(FAST, retry=replace(FAST.retry, budget_s=1.0))


@pytest.fixture
def ledger(tmp_path):
    return Ledger(tmp_path / "ledger.sqlite")


def make_plan(venue, targets, positions=None, account=ACCOUNT, b=0):
    return plan_orders(account, bar(b), targets, venue.positions() if positions is None else positions,
                       venue.instruments(), id_rule=venue.caps.id_rule)


def executor(venue, ledger, run_id, policy=FAST, **kw) -> Executor:
    return Executor(venue, ledger, ACCOUNT, run_id, "net_mode", policy, **kw)


def exchange_orders(exchange, account=ACCOUNT):
    return list(exchange.accounts[account].orders.values())


def test_same_orders_twice_never_double(exchange, venue, ledger, insts, q):
    exchange.clock.set(bar(0))
    plan = make_plan(venue, {insts.BTC: q(insts.BTC, 2.0), insts.ETH: -q(insts.ETH, 3.0)})
    first = executor(venue, ledger, "r1").execute(bar(0), plan.orders, bar(0) - 60_000)
    assert first.ok and len(first.acks) == 2
    again = executor(venue, ledger, "r2").execute(bar(0), plan.orders, bar(0) - 60_000)
    assert again.ok and all(a.msg == "adopted" for a in again.acks.values())  # looked up, not resent
    cl = Counter(o.cl_ord_id for o in exchange_orders(exchange))
    assert set(cl.values()) == {1} and len(cl) == 2
    assert {p.inst_id: p.contracts for p in venue.positions()} == {insts.BTC: q(insts.BTC, 2.0), insts.ETH: -q(insts.ETH, 3.0)}
    assert {o.state for o in ledger.orders(ACCOUNT)} == {"filled"} and len(ledger.fills(ACCOUNT)) == 2


def test_dropped_answer_is_looked_up_not_resent(exchange, kit, venue, ledger, insts, q):
    exchange.clock.set(bar(0))
    exchange.faults.drop_response(kit.paths["place"], times=1)
    plan = make_plan(venue, {insts.BTC: q(insts.BTC, 1.0), insts.SOL: q(insts.SOL, 5.0)})
    rep = executor(venue, ledger, "r1").execute(bar(0), plan.orders, bar(0) - 60_000)
    assert rep.ok and all("found after" in a.msg for a in rep.acks.values())
    assert len(exchange_orders(exchange)) == 2  # the dropped request took effect once, nothing resent
    assert [o.state for o in ledger.orders(ACCOUNT)] == ["filled", "filled"]


def test_5xx_storm_retries_then_fails_cleanly(exchange, kit, venue, ledger, insts, q):
    exchange.clock.set(bar(0))
    exchange.faults.fail(kit.paths["place"], 503)
    plan = make_plan(venue, {insts.BTC: q(insts.BTC, 1.0), insts.ETH: q(insts.ETH, 1.0)})
    t0 = time.monotonic()
    rep = executor(venue, ledger, "r1", ONE_SECOND).execute(bar(0), plan.orders, bar(0) - 60_000)
    assert time.monotonic() - t0 > 0.5  # the budget was spent retrying (a lower bound: no slack involved)
    attempts = int(re.search(r"after (\d+) attempt", rep.errors[0]).group(1))
    assert 1 < attempts < ONE_SECOND.retry.attempts  # retried, then stopped by the budget, not the attempt cap
    assert not rep.ok and sorted(rep.not_placed) == sorted(o.cl_ord_id for o in plan.orders)
    assert "gave up placing 2 order(s)" in rep.errors[0] and kit.code("unavailable") in rep.errors[0]
    assert exchange_orders(exchange) == []
    assert {o.state for o in ledger.orders(ACCOUNT)} == {"not_placed"}  # known absent, nothing half-recorded
    assert (ledger.events(ACCOUNT)["kind"] == "place_failed").sum() == 1


def test_rate_limit_storm_is_ridden_out_within_the_budget(exchange, kit, venue, ledger, insts, q):
    exchange.clock.set(bar(0))
    kit.storm(exchange, True)
    plan = make_plan(venue, {insts.BTC: q(insts.BTC, 1.0), insts.ETH: -q(insts.ETH, 1.0), insts.XRP: q(insts.XRP, 10.0)})
    sent = venue.requests

    def calm_after_three_refusals() -> None:
        until(lambda: venue.requests >= sent + 3, "refused three times")
        kit.storm(exchange, False)

    calm = Background(calm_after_three_refusals)
    rep = executor(venue, ledger, "r1").execute(bar(0), plan.orders, bar(0) - 60_000)
    calm.join()
    assert rep.ok and len(rep.acks) == 3 and len(exchange_orders(exchange)) == 3


def test_rate_limit_storm_beyond_the_budget_fails_cleanly(exchange, kit, venue, ledger, insts, q):
    exchange.clock.set(bar(0))
    kit.storm(exchange, True)
    plan = make_plan(venue, {insts.BTC: q(insts.BTC, 1.0)})
    rep = executor(venue, ledger, "r1", ONE_SECOND).execute(bar(0), plan.orders, bar(0) - 60_000)
    assert rep.not_placed == [plan.orders[0].cl_ord_id] and kit.code(Kind.RETRY_LATER) in rep.errors[0]
    assert exchange_orders(exchange) == []


def test_insufficient_margin_rejects_one_order_and_the_others_go(exchange, kit, venue, ledger, insts, q):
    exchange.clock.set(bar(0))
    alerts = []
    # 10k USDT at 10x: 40 BTC contracts (~24k notional) fit, 400 do not
    plan = make_plan(venue, {insts.BTC: q(insts.BTC, 400.0), insts.ETH: q(insts.ETH, 5.0), insts.XRP: q(insts.XRP, 10.0)})
    rep = executor(venue, ledger, "r1", alert=lambda k, m: alerts.append((k, m))).execute(
        bar(0), plan.orders, bar(0) - 60_000)
    [refused] = rep.rejected.values()
    assert refused.kind == Kind.INSUFFICIENT_MARGIN and refused.code == kit.code(Kind.INSUFFICIENT_MARGIN)
    assert {p.inst_id: p.contracts for p in venue.positions()} == {insts.ETH: q(insts.ETH, 5.0), insts.XRP: q(insts.XRP, 10.0)}
    states = {o.inst_id: (o.state, o.code) for o in ledger.orders(ACCOUNT)}
    assert states == {insts.BTC: ("rejected", "insufficient_margin"), insts.ETH: ("filled", "accepted"),
                      insts.XRP: ("filled", "accepted")}
    assert kit.code(Kind.INSUFFICIENT_MARGIN) in ledger.order(refused.cl_ord_id).msg  # the venue's own code kept
    assert alerts and alerts[0][0] == "rejected" and "insufficient_margin" in alerts[0][1]
    assert kit.code(Kind.INSUFFICIENT_MARGIN) in alerts[0][1]


def test_partial_fill_is_recorded_and_the_rest_canceled(exchange, venue, ledger, insts, q):
    exchange.clock.set(bar(0))
    executor(venue, ledger, "r0").execute(bar(0), make_plan(venue, {insts.BTC: q(insts.BTC, 4.0)}).orders, bar(0) - 60_000)
    # a stale view (10 held) plans a reduce-only close of 10; the exchange can only close 4
    plan = make_plan(venue, {insts.BTC: q(insts.BTC, 0.0)}, positions=[PositionInfo(insts.BTC, "net", q(insts.BTC, 10.0))], b=1)
    exchange.clock.set(bar(1))
    rep = executor(venue, ledger, "r1").execute(bar(1), plan.orders, bar(1) - 60_000)
    st = rep.statuses[plan.orders[0].cl_ord_id]
    assert (st.acc_fill_sz, st.sz, st.state) == (q(insts.BTC, 4.0), q(insts.BTC, 10.0), "canceled")
    row = ledger.order(plan.orders[0].cl_ord_id)
    assert (row.state, row.acc_fill_sz) == ("canceled", q(insts.BTC, 4.0))
    assert "partial_fill" in set(ledger.events(ACCOUNT)["kind"]) and venue.positions() == []
