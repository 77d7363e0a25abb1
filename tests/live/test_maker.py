"""The maker_first order style on each venue's local exchange, through the real clients.

The style waits on the exchange's clock; these tests drive it (``DrivenClock`` moves the local
exchange's stepped clock to each moment the style waits for), so which bars a resting child
sees is fixed, never a matter of wall-clock slack.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import defaultdict

import pytest
import yaml
from tests_support import until

from qlib_local.ledger import Ledger
from qlib_local.live import report
from qlib_local.live.clordid import CHILD_LENGTH, child_id, parent_of
from qlib_local.live.maker import PARENT_TYPE
from qlib_local.live.session import LiveSession
from qlib_local.timeframes import from_ms

from .conftest import ACCOUNT, bar

MAKER = {"style": "maker_first", "reprice_s": 600}  # a look every 10 exchange minutes, deadline 1 bar (1H)


class DrivenClock:
    """The local exchange's clock, moved forward to each moment the maker style waits for."""

    def __init__(self, exchange):
        self.exchange = exchange
        self.waits: list[int] = []

    def now_ms(self) -> int:
        return self.exchange.clock.now_ms()

    def wait_until(self, t_ms: int) -> None:
        self.waits.append(t_ms)
        if t_ms > self.now_ms():
            self.exchange.clock.set(t_ms)


def with_execution(path, execution: dict) -> None:
    """The account's strategies file, with ``execution`` set (its order style, as its backtest's)."""
    strategies = path.parent / "strategies.yaml"
    raw = yaml.safe_load(strategies.read_text())
    strategies.write_text(yaml.safe_dump({**raw, "execution": execution}))


def session(path, exchange, at: int) -> tuple[LiveSession, DrivenClock]:
    clock = DrivenClock(exchange)
    return LiveSession.from_config(path, ACCOUNT, at=at, exchange_clock=lambda venue: clock), clock


def children_by_parent(led: Ledger, bar_ts: int, parent_type: str = PARENT_TYPE) -> tuple[dict, dict]:
    """The bar's parents of ``parent_type``, and each parent's children."""
    rows = led.orders(ACCOUNT, bar_ts=bar_ts)
    parents = {o.cl_ord_id: o for o in rows if o.ord_type == parent_type}
    kids = defaultdict(list)
    for o in rows:
        if o.parent:
            kids[o.parent].append(o)
    return parents, kids


def test_maker_children_rest_at_the_best_price_fill_as_makers_and_the_rest_goes_to_market(accounts_file, exchange):
    path = accounts_file()
    with_execution(path, MAKER)
    exchange.clock.set(bar(0) + 1_000)
    s, clock = session(path, exchange, bar(0))
    assert s.run() == "ok", s.error
    assert clock.waits and clock.waits[-1] == bar(0) + 1_000 + 3_600_000  # the deadline: one 1H base bar
    assert all(b - a == 600_000 for a, b in zip(clock.waits, clock.waits[1:], strict=False))  # reprice_s apart
    led = Ledger(path.parent / "ledger" / "alice.sqlite")
    parents, kids = children_by_parent(led, bar(0))
    assert parents and set(kids) == set(parents)
    fills = led.fills(ACCOUNT)
    fee_rate = {}
    for pid, p in parents.items():
        assert p.state == "filled" and p.acc_fill_sz == pytest.approx(p.sz)  # the parent, carried out whole
        assert sum(k.acc_fill_sz for k in kids[pid]) == pytest.approx(p.sz)  # ... by its children, never more
        rounds = sorted(int(k.cl_ord_id[21:23], 36) for k in kids[pid])
        assert rounds == list(range(len(rounds)))  # one child per round, none skipped, none twice
        for k in kids[pid]:
            kind = "maker" if k.ord_type == "post_only" else "taker"
            assert k.cl_ord_id == child_id(pid, int(k.cl_ord_id[21:23], 36), kind) and len(k.cl_ord_id) == CHILD_LENGTH
            assert k.reduce_only == p.reduce_only and k.side == p.side
            if kind == "maker":
                assert k.px is not None
                for f in fills[fills["cl_ord_id"] == k.cl_ord_id].itertuples():
                    assert f.fill_px == pytest.approx(k.px)  # a maker fills at its own price
                    fee_rate[k.cl_ord_id] = -f.fee / (f.fill_px * f.fill_sz)
    assert fee_rate, "no maker child filled: the bar after the decision traded through none of them"
    assert max(abs(r) for r in fee_rate.values()) < 0.0003  # maker fees, below the 0.05% taker fee
    acct = exchange.accounts[ACCOUNT]
    assert not [o for o in acct.orders.values() if o.state in ("live", "partially_filled")]  # nothing left resting
    assert s.net_positions() == {k: v for k, v in s.result.net.items() if v != 0}
    t = report.execution_table(s).set_index("parent")  # what the run's notebook shows
    assert set(t.index) == set(parents) and (t["filled"] == t["planned"]).all()
    assert (t["children"] == [len(kids[p]) for p in t.index]).all() and t["shortfall_bps"].notna().all()
    assert t["maker_share"].between(0, 1).all() and t["maker_share"].max() > 0 and (t["fees"] > 0).all()
    makers = t[t["maker_share"] == 1]
    assert (makers["shortfall_bps"] < 0).all()  # a whole maker fill beats the bar's close: bought below, sold above


def test_market_orders_are_their_own_only_child_in_the_execution_table(accounts_file, exchange):
    path = accounts_file()
    exchange.clock.set(bar(0) + 1_000)
    s, clock = session(path, exchange, bar(0))
    assert s.run() == "ok", s.error
    assert clock.waits == []  # the market style never waits on the clock
    t = report.execution_table(s)
    assert len(t) == len(s.plan_.orders) and (t["children"] == 1).all() and (t["maker_share"] == 0).all()
    assert (t["filled"] == t["planned"]).all() and (t["fees"] > 0).all() and (t["style"] == "market").all()


def test_fallback_leave_cancels_the_makers_and_names_what_it_left(accounts_file, exchange):
    path = accounts_file()
    with_execution(path, {**MAKER, "deadline_s": 60, "fallback": "leave"})  # no bar closes in 60 s: nothing fills
    exchange.clock.set(bar(0) + 1_000)
    s, _ = session(path, exchange, bar(0))
    assert s.run() == "ok", s.error
    led = Ledger(path.parent / "ledger" / "alice.sqlite")
    parents, kids = children_by_parent(led, bar(0))
    assert parents and all(p.state == "canceled" and p.acc_fill_sz == 0 for p in parents.values())
    assert all(k.ord_type == "post_only" and k.state == "canceled" for ks in kids.values() for k in ks)  # no market
    assert s.net_positions() == {}
    assert set(s.untraded) == {p.inst_id for p in parents.values()}
    assert all("fallback: leave" in why for why in s.untraded.values())
    events = led.events(ACCOUNT, s.run_id)
    assert (events["kind"] == "maker_left").sum() == len({p.inst_id for p in parents.values()})


@pytest.mark.every_kit
def test_killed_while_makers_rest_then_rerun_doubles_no_child(accounts_file, exchange, tmp_path):
    path = accounts_file()
    with_execution(path, MAKER)
    exchange.clock.set(bar(0) + 1_000)
    # the CLI run waits on the exchange's server time, which stands still: it rests its makers and waits
    proc = subprocess.Popen([sys.executable, "-m", "qlib_local", "live", "run", ACCOUNT, "--accounts", str(path),
                             "--at", from_ms(bar(0)).isoformat(), "--in-process"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    acct = exchange.accounts[ACCOUNT]
    led = Ledger(tmp_path / "ledger" / "alice.sqlite")

    def resting() -> list:
        return [o for o in acct.orders.values() if o.state == "live" and o.ord_type == "post_only"]

    until(lambda: resting() and len(resting()) == len(children_by_parent(led, bar(0))[0]), "the makers resting")
    first = {o.cl_ord_id for o in resting()}
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    parents, _ = children_by_parent(led, bar(0))
    assert {p.state for p in parents.values()} == {"working"}

    s, _ = session(path, exchange, bar(0))
    assert s.run() == "ok", s.error
    assert all(acct.orders[acct.cl_ord_ids[cl]].state == "canceled" for cl in first)  # the orphans, cancelled
    parents, kids = children_by_parent(led, bar(0))
    first_parents = {parent_of(cl) for cl in first}
    assert all(parents[p].state == "canceled" for p in first_parents)  # closed as interrupted
    again = set(parents) - first_parents
    assert again and all(parents[p].attempt == 2 and parents[p].state == "filled" for p in again)
    placed = [o.cl_ord_id for o in acct.orders.values()]
    assert len(placed) == len(set(placed))
    assert set(placed) == {k.cl_ord_id for ks in kids.values() for k in ks}  # every order on the exchange is a child
    assert s.net_positions() == {k: v for k, v in s.result.net.items() if v != 0}  # the targets, not twice them
