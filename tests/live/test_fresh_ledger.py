"""A lost or fresh ledger against the local exchange: orders already under our clOrdIds.

An order the exchange has under one of our ids is adopted only when it is the same order
(instrument, side, size, bar), and its fills are not this run's; then the run trades what the
exchange still does not hold, and says ok only when the exchange holds the targets.
"""

from __future__ import annotations

import re

import pytest

from qlib_local.ledger import Ledger
from qlib_local.live import report
from qlib_local.live.clordid import cl_ord_id
from qlib_local.live.exec_types import ExecPolicy
from qlib_local.live.execution import Executor
from qlib_local.live.planning import plan_orders
from qlib_local.live.retry import RetryPolicy
from qlib_local.live.session import LiveSession
from qlib_local.live.types import NET, Kind

from .conftest import ACCOUNT, bar

FAST = ExecPolicy(retry=RetryPolicy(attempts=50, base_s=0.02, cap_s=0.1, budget_s=1.0), poll_timeout_s=0.5,
                  poll_interval_s=0.05)


def by_hand(kit, exchange):
    """The venue's own client on the account, as a person trading by hand would use it."""
    return kit.by_hand(exchange, exchange.accounts[ACCOUNT])


def flatten(kit, exchange, positions: dict[str, float]) -> None:
    t = by_hand(kit, exchange)
    for inst, v in positions.items():
        t.market(inst, "sell" if v > 0 else "buy", abs(v), reduce_only=True)


def fills_on_exchange(exchange) -> int:
    return len(exchange.accounts[ACCOUNT].fills)


def rerun_with_a_new_ledger(accounts_file, kit, exchange, q, undo: float):
    """Trade bar 0, undo ``undo`` of every position by hand, run bar 0 again on a new ledger."""
    close = bar(0)
    exchange.clock.set(close + 1_000)
    first = LiveSession.from_config(accounts_file(), ACCOUNT, at=close)
    assert first.run() == "ok", first.error
    placed = {o.cl_ord_id for o in exchange.accounts[ACCOUNT].orders.values()}
    flatten(kit, exchange, {i: q(i, round(v / q(i, 1.0) * undo, 1)) for i, v in first.net_positions().items()})
    n_fills = fills_on_exchange(exchange)
    s = LiveSession.from_config(accounts_file(ledger="ledger_new/alice.sqlite"), ACCOUNT, at=close)
    assert s.run() == "ok", s.error
    assert s.net_positions() == {k: v for k, v in s.result.net.items() if v != 0} == first.net_positions()
    new = [o for o in exchange.accounts[ACCOUNT].orders.values() if o.cl_ord_id not in placed and o.cl_ord_id.startswith("q")]
    assert len({o.cl_ord_id for o in new}) == len(new)  # nothing placed twice
    assert s.report.new_fills == len(new) == fills_on_exchange(exchange) - n_fills  # only its own fills counted
    return s, placed, new


def test_fresh_ledger_after_positions_were_undone_by_hand(accounts_file, kit, exchange, q, tmp_path):
    """The run's orders are the first run's (same ids, same orders): adopted, not counted, then the
    missing positions are traded in a second round under attempt 2."""
    s, placed, new = rerun_with_a_new_ledger(accounts_file, kit, exchange, q, undo=1.0)
    assert sorted(s.report.earlier) == sorted(placed) and s.report.rounds == 2
    assert len(new) == len(placed) and {o.cl_ord_id[-1] for o in new} == {"2"}
    assert any(a.startswith("adopted_earlier") for a in s.alerts)
    led = Ledger(tmp_path / "ledger_new" / "alice.sqlite")
    adopted = [o for o in led.orders(ACCOUNT) if o.cl_ord_id in placed]
    assert len(adopted) == len(placed) and all(o.msg == "adopted: placed before this run" for o in adopted)
    assert "orders: 3 acknowledged" in report.summary_text(s) and "placed before this run" in report.summary_text(s)


def test_fresh_ledger_after_positions_were_halved_by_hand(accounts_file, kit, exchange, q, tmp_path):
    """Now the first run's order under each id is larger than what is missing: not adopted, the id is
    taken, the order goes out as attempt 2 in the first round."""
    s, placed, new = rerun_with_a_new_ledger(accounts_file, kit, exchange, q, undo=0.5)
    assert s.report.earlier == [] and s.report.rounds == 1 and sorted(s.report.taken) == sorted(placed)
    assert len(new) == len(placed) and {o.cl_ord_id[-1] for o in new} == {"2"}
    rows = Ledger(tmp_path / "ledger_new" / "alice.sqlite").orders(ACCOUNT)
    assert {o.state for o in rows if o.cl_ord_id in placed} == {"rejected"}


def test_orders_already_under_every_attempt_fail_the_run_with_the_cause(accounts_file, kit, exchange, insts, q,
                                                                       tmp_path):
    """Three earlier BTC orders under attempts 1-3 match the plan but were undone by hand: three rounds adopt
    them and BTC is still flat, so the run fails saying so (instead of reporting ok on a flat account)."""
    close = bar(0)
    exchange.clock.set(close + 1_000)
    t = by_hand(kit, exchange)
    size = q(insts.BTC, 9.7)  # what the plan of this bar buys
    for n in (1, 2, 3):
        t.market(insts.BTC, "buy", size, cl_ord_id=cl_ord_id(ACCOUNT, close, insts.BTC, NET, "open", n))
    flatten(kit, exchange, {insts.BTC: q(insts.BTC, 3 * 9.7)})
    s = LiveSession.from_config(accounts_file(), ACCOUNT, at=close)
    with pytest.raises(Exception, match=rf"positions miss the targets after 3 round\(s\): {re.escape(insts.BTC)} holds 0, "
                                        rf"target {re.escape(f'{size:g}')}"):
        s.run()
    assert s.status == "failed" and exchange.accounts[ACCOUNT].signed_exposure(insts.BTC) == 0
    assert list(Ledger(tmp_path / "ledger" / "alice.sqlite").runs(ACCOUNT)["status"]) == ["failed"]


def test_an_id_taken_by_a_different_order_is_not_adopted(exchange, kit, venue, insts, q, tmp_path):
    """Our id for 'buy 3 BTC' already names 'buy 1 BTC' on the exchange: the order goes out as attempt 2."""
    exchange.clock.set(bar(0))
    btc = insts.BTC
    taken = cl_ord_id(ACCOUNT, bar(0), btc, NET, "open", 1)
    by_hand(kit, exchange).market(btc, "buy", q(btc, 1.0), cl_ord_id=taken)
    plan = plan_orders(ACCOUNT, bar(0), {btc: q(btc, 3.0)}, [], venue.instruments(), id_rule=venue.caps.id_rule)
    assert plan.orders[0].cl_ord_id == taken
    ledger = Ledger(tmp_path / "ledger.sqlite")
    rep = Executor(venue, ledger, ACCOUNT, "r1", "net_mode", FAST).execute(bar(0), plan.orders, bar(0) - 60_000)
    second = cl_ord_id(ACCOUNT, bar(0), btc, NET, "open", 2)
    assert rep.ok and list(rep.acks) == [second] and rep.earlier == [] and not rep.rejected
    assert exchange.accounts[ACCOUNT].signed_exposure(btc) == pytest.approx(q(btc, 4.0))  # 1 by hand + the 3 planned
    rows = {o.cl_ord_id: o for o in ledger.orders(ACCOUNT)}
    assert rows[taken].state == "rejected" and rows[taken].code == Kind.DUPLICATE_CLIENT_ID
    assert "taken" in rows[taken].msg
    assert (rows[second].state, rows[second].attempt, rows[second].acc_fill_sz) == ("filled", 2, q(btc, 3.0))
    assert rep.new_fills == 1 and set(ledger.fills(ACCOUNT)["cl_ord_id"]) == {taken, second}  # 1 of them this run's
    assert "clordid_taken" in set(ledger.events(ACCOUNT)["kind"])
