"""The twap order style on each venue's local exchange, through the real clients.

Slices are released on the exchange's clock; these tests drive it (``DrivenClock`` moves the local
exchange's stepped clock to each moment the style waits for), so when each slice went out and
which bars a resting maker slice saw is fixed, never a matter of wall-clock slack.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import defaultdict

import numpy as np
import pytest
import yaml
from tests_support import until

from qlib_local.ledger import Ledger
from qlib_local.live import report
from qlib_local.live.clordid import child_id
from qlib_local.live.maker import PARENT_TYPE as MAKER_PARENT
from qlib_local.live.twap import PARENT_TYPE, slice_child_id, slice_of, slice_times
from qlib_local.live.types import OrderRequest
from qlib_local.timeframes import HOUR_MS, from_ms

from .conftest import ACCOUNT, bar
from .test_maker import children_by_parent, session, with_execution
from .test_validate_run import run_refused

TWAP = {"style": "twap", "twap_slices": 4, "twap_window_bars": 1}  # market slices 15 exchange minutes apart


def twap_family(led: Ledger, bar_ts: int) -> tuple[dict, dict]:
    """The bar's twap parents, and each one's children."""
    return children_by_parent(led, bar_ts, PARENT_TYPE)


def exchange_orders(exchange) -> dict:
    acct = exchange.accounts[ACCOUNT]
    return {o.cl_ord_id: o for o in acct.orders.values()}


def test_market_slices_go_out_at_their_times_under_ids_derived_from_the_parent(accounts_file, exchange):
    path = accounts_file()
    with_execution(path, TWAP)
    exchange.clock.set(bar(0) + 1_000)
    s, clock = session(path, exchange, bar(0))
    assert s.run() == "ok", s.error
    times = slice_times(bar(0), 4, HOUR_MS)
    assert clock.waits == times[1:]  # slice 0 at once, then each slice exactly at its time, nothing else
    led = Ledger(path.parent / "ledger" / "alice.sqlite")
    parents, kids = twap_family(led, bar(0))
    assert parents and set(kids) == set(parents) and len(parents) == len(s.plan_.orders)
    fills = led.fills(ACCOUNT)
    on_exchange = exchange_orders(exchange)
    for pid, p in parents.items():
        assert p.state == "filled" and p.acc_fill_sz == pytest.approx(p.sz)
        ks = sorted(kids[pid], key=lambda k: k.cl_ord_id)
        assert [k.cl_ord_id for k in ks] == [slice_child_id(pid, k, 0, "taker") for k in range(4)]
        assert sum(k.acc_fill_sz for k in ks) == pytest.approx(p.sz)  # the parent whole, never more
        assert max(k.sz for k in ks) - min(k.sz for k in ks) <= 2 * s.specs[p.inst_id].lot_sz + 1e-9  # even slices
        for k in ks:
            assert k.ord_type == "market" and k.side == p.side and k.reduce_only == p.reduce_only
            assert on_exchange[k.cl_ord_id].reduce_only == p.reduce_only
            ts = fills.loc[fills["cl_ord_id"] == k.cl_ord_id, "ts"]
            assert len(ts) and (ts == max(times[slice_of(k.cl_ord_id)], bar(0) + 1_000)).all()  # at its slice time
    assert set(on_exchange) == {k.cl_ord_id for ks in kids.values() for k in ks}  # only children went out
    assert s.net_positions() == {k: v for k, v in s.result.net.items() if v != 0}
    t = report.execution_table(s).set_index("parent")  # the run's notebook: each parent with its children
    assert set(t.index) == set(parents) and (t["children"] == 4).all()
    assert np.allclose(t["filled"], t["planned"])
    assert t["shortfall_bps"].notna().all() and (t["fees"] > 0).all() and (t["maker_share"] == 0).all()
    assert (t["style"] == "twap").all()
    c = report.children_table(s)
    assert len(c) == 4 * len(parents) and sorted(set(c["slice"])) == [0, 1, 2, 3]
    assert c["shortfall_bps"].notna().all() and (c["fee"] > 0).all()


def test_a_finer_base_bar_spreads_the_window_over_its_bars(accounts_file, exchange):
    """Both strategies on 4H with ``base_bar: 1H``: a 4-bar window is 4 hours (on their own 4H bars it
    would be 16, refused at load), so the slices go out at each hour of the decision's 4H bar."""
    path = accounts_file()
    strategies = path.parent / "strategies.yaml"
    raw = yaml.safe_load(strategies.read_text())
    for st in raw["strategies"]:
        st.update(rule_type="4H", offset="0h")
    strategies.write_text(yaml.safe_dump({**raw, "base_bar": "1H"}))
    with_execution(path, {**TWAP, "twap_window_bars": 4})
    exchange.clock.set(bar(0) + 1_000)
    s, clock = session(path, exchange, bar(0))
    assert s.run() == "ok", s.error
    assert clock.waits == [bar(1), bar(2), bar(3)]  # slice k at hour k, nothing else
    led = Ledger(path.parent / "ledger" / "alice.sqlite")
    parents, kids = twap_family(led, bar(0))
    assert parents
    fills = led.fills(ACCOUNT)
    for pid, p in parents.items():
        assert p.state == "filled" and sum(k.acc_fill_sz for k in kids[pid]) == pytest.approx(p.sz)
        for k in kids[pid]:
            ts = fills.loc[fills["cl_ord_id"] == k.cl_ord_id, "ts"]
            assert len(ts) and (ts == max(bar(slice_of(k.cl_ord_id)), bar(0) + 1_000)).all()


def test_under_the_threshold_an_order_goes_as_one_market_order(accounts_file, exchange):
    path = accounts_file()
    with_execution(path, {**TWAP, "twap_min_notional": 1e9})
    exchange.clock.set(bar(0) + 1_000)
    s, clock = session(path, exchange, bar(0))
    assert s.run() == "ok", s.error
    assert clock.waits == []  # nothing sliced: nothing waits
    led = Ledger(path.parent / "ledger" / "alice.sqlite")
    rows = led.orders(ACCOUNT, bar_ts=bar(0))
    assert rows and all(o.ord_type == "market" and not o.parent for o in rows)
    assert (report.execution_table(s)["children"] == 1).all()


def test_under_the_threshold_maker_slices_make_one_maker_first_parent(accounts_file, exchange):
    path = accounts_file()
    with_execution(path, {**TWAP, "twap_min_notional": 1e9, "twap_slice_style": "maker_first", "reprice_s": 900})
    exchange.clock.set(bar(0) + 1_000)
    s, clock = session(path, exchange, bar(0))
    assert s.run() == "ok", s.error
    assert clock.waits and clock.waits[-1] == bar(1) + 1_000  # the maker's own deadline (1 bar), not a slice's
    led = Ledger(path.parent / "ledger" / "alice.sqlite")
    rows = led.orders(ACCOUNT, bar_ts=bar(0))
    parents = {o.cl_ord_id: o for o in rows if not o.parent}
    assert parents and {o.ord_type for o in parents.values()} == {MAKER_PARENT}
    for o in rows:
        if o.parent:
            r = int(o.cl_ord_id[21:23], 36)
            assert o.cl_ord_id == child_id(o.parent, r, "maker" if o.ord_type == "post_only" else "taker")
    assert all(p.state == "filled" for p in parents.values())
    assert s.net_positions() == {k: v for k, v in s.result.net.items() if v != 0}


def test_maker_slices_rest_until_the_next_slice_then_market(accounts_file, exchange):
    """Both strategies on 2H at 1h (a two-hour window must end by the next decision): the decision at
    bar 1, slice 1 at bar 2, everything over at bar 3."""
    path = accounts_file()
    strategies = path.parent / "strategies.yaml"
    raw = yaml.safe_load(strategies.read_text())
    for st in raw["strategies"]:
        st.update(rule_type="2H", offset="1h")
    strategies.write_text(yaml.safe_dump(raw))
    with_execution(path, {**TWAP, "twap_slices": 2, "twap_window_bars": 2, "twap_slice_style": "maker_first",
                          "reprice_s": 900})
    exchange.clock.set(bar(1) + 1_000)
    s, clock = session(path, exchange, bar(1))
    assert s.run() == "ok", s.error
    assert bar(2) in clock.waits and max(clock.waits) == bar(3)  # slice 1 at bar 2; everything over at bar 3
    led = Ledger(path.parent / "ledger" / "alice.sqlite")
    parents, kids = twap_family(led, bar(1))
    assert parents
    on_exchange = exchange_orders(exchange)
    for pid, p in parents.items():
        assert p.state == "filled" and sum(k.acc_fill_sz for k in kids[pid]) == pytest.approx(p.sz)
        for k in kids[pid]:
            n, r = slice_of(k.cl_ord_id), int(k.cl_ord_id[22], 36)
            kind = "maker" if k.ord_type == "post_only" else "taker"
            assert k.cl_ord_id == slice_child_id(pid, n, r, kind)
            placed = on_exchange[k.cl_ord_id]
            assert bar(2) <= placed.c_time <= bar(3) if n == 1 else bar(1) < placed.c_time <= bar(2)  # its own hour
        by_slice = defaultdict(list)
        for k in kids[pid]:
            by_slice[slice_of(k.cl_ord_id)].append(int(k.cl_ord_id[22], 36))
        for rounds in by_slice.values():
            assert sorted(rounds) == list(range(len(rounds)))  # one child per round, none twice
    t = report.execution_table(s)
    assert t["maker_share"].between(0, 1).all() and t["maker_share"].max() > 0
    assert not [o for o in on_exchange.values() if o.state in ("live", "partially_filled")]


def test_fallback_leave_hands_each_slices_rest_on_and_names_what_the_last_left(accounts_file, exchange):
    """Maker slices resting 60 exchange seconds (no bar closes: nothing fills) under ``fallback: leave``:
    each slice's rest goes to the next slice, the last one's is left and the instrument named."""
    path = accounts_file()
    with_execution(path, {**TWAP, "twap_slice_style": "maker_first", "reprice_s": 30, "deadline_s": 60,
                          "fallback": "leave"})
    exchange.clock.set(bar(0) + 1_000)
    s, _ = session(path, exchange, bar(0))
    assert s.run() == "ok", s.error
    led = Ledger(path.parent / "ledger" / "alice.sqlite")
    parents, kids = twap_family(led, bar(0))
    assert parents and all(p.state == "canceled" and p.acc_fill_sz == 0 for p in parents.values())
    for pid, p in parents.items():
        sizes = {slice_of(k.cl_ord_id): k.sz for k in kids[pid] if int(k.cl_ord_id[22], 36) == 0}
        assert sorted(sizes) == [0, 1, 2, 3] and sizes[3] == pytest.approx(p.sz)  # the last slice: all of it
        assert all(k.ord_type == "post_only" and k.state == "canceled" for k in kids[pid])  # no market child
    assert s.net_positions() == {}
    assert set(s.untraded) == {p.inst_id for p in parents.values()}
    assert all("fallback: leave" in why for why in s.untraded.values())
    assert (led.events(ACCOUNT, s.run_id)["kind"] == "twap_left").sum() == len(s.untraded)


def test_a_mixed_account_sends_market_orders_then_its_twap_group(accounts_file, exchange):
    """The account trades market, the timing strategy twap: each instrument's order takes its style by
    the backtest's rule; the market ones go out at once, the twap ones as slices after them."""
    path = accounts_file()
    strategies = path.parent / "strategies.yaml"
    raw = yaml.safe_load(strategies.read_text())
    raw["strategies"][0]["execution"] = TWAP  # SmaCross: twap; RankOnly: the account's market
    strategies.write_text(yaml.safe_dump(raw))
    exchange.clock.set(bar(0) + 1_000)
    s, clock = session(path, exchange, bar(0))
    assert s.run() == "ok", s.error
    styles = s.book.cfg.styles
    led = Ledger(path.parent / "ledger" / "alice.sqlite")
    parents, kids = twap_family(led, bar(0))
    rows = led.orders(ACCOUNT, bar_ts=bar(0))
    twap_insts = {o.inst_id for o in s.plan_.orders if styles[s.order_style[o.inst_id]].style == "twap"}
    market_insts = {o.inst_id for o in s.plan_.orders} - twap_insts
    assert twap_insts and market_insts, (twap_insts, market_insts)  # both styles in this run
    assert {p.inst_id for p in parents.values()} == twap_insts and all(len(kids[p]) == 4 for p in parents)
    plain = [o for o in rows if not o.parent and o.ord_type == "market"]
    assert {o.inst_id for o in plain} == market_insts
    first_slice = min(o.created_at for ks in kids.values() for o in ks)
    assert all(o.created_at <= first_slice for o in plain)  # the market group first
    assert clock.waits == slice_times(bar(0), 4, HOUR_MS)[1:]
    assert s.net_positions() == {k: v for k, v in s.result.net.items() if v != 0}


def test_closing_and_reducing_slices_are_reduce_only_and_a_flip_closes_first(accounts_file, exchange, venue, insts, q):
    """Short positions the targets do not want (sold by hand): each close leg's slices are all reduceOnly,
    and where the target is long (a flip) the close leg's share goes before the opening one's."""
    path = accounts_file()
    with_execution(path, TWAP)
    exchange.clock.set(bar(0) + 1_000)
    for k, inst in enumerate(sorted(vars(insts).values())):
        manual = OrderRequest(cl_ord_id=f"manual{k}", inst_id=inst, side="sell", sz=q(inst, 6))
        assert venue.place_batch([manual], "net_mode")[0].ok
    s, _ = session(path, exchange, bar(0))
    assert s.run() == "ok", s.error
    led = Ledger(path.parent / "ledger" / "alice.sqlite")
    parents, kids = twap_family(led, bar(0))
    closing = [p for p in parents.values() if p.leg == "close"]
    assert closing
    on_exchange = exchange_orders(exchange)
    fills = led.fills(ACCOUNT)
    flips = 0
    for p in closing:
        assert p.reduce_only and p.state == "filled" and kids[p.cl_ord_id]
        assert all(on_exchange[k.cl_ord_id].reduce_only and k.state == "filled" for k in kids[p.cl_ord_id])
        opening = [o for o in parents.values() if o.leg == "open" and o.inst_id == p.inst_id]
        if opening:
            flips += 1
            assert not opening[0].reduce_only and opening[0].state == "filled"
            ts = fills.set_index("cl_ord_id")["ts"]
            closed = max(ts[k.cl_ord_id] for k in kids[p.cl_ord_id])
            assert all(ts[k.cl_ord_id] >= closed for k in kids[opening[0].cl_ord_id])  # the close first
            assert sum(len(kids[o.cl_ord_id]) for o in (p, opening[0])) <= 4 + 1  # one schedule over both legs
    assert flips > 0
    assert not [o for o in led.orders(ACCOUNT, bar_ts=bar(0)) if o.state == "rejected"]
    assert s.net_positions() == {k: v for k, v in s.result.net.items() if v != 0}


@pytest.mark.every_kit
@pytest.mark.parametrize("slices", ["market", "maker_first"])
def test_killed_between_slices_the_rerun_resumes_and_doubles_no_child(accounts_file, exchange, tmp_path, slices):
    """Market slices: killed after slice 0 filled. Maker slices: killed while slice 0's makers rest (the
    exchange's clock stands still, so they stay resting). The rerun resumes at slice 1 either way."""
    path = accounts_file()
    with_execution(path, {**TWAP, "twap_slice_style": slices, "reprice_s": 600})
    exchange.clock.set(bar(0) + 1_000)
    # the CLI run waits on the exchange's server time, which stands still: it sends slice 0 and waits
    proc = subprocess.Popen([sys.executable, "-m", "qlib_local", "live", "run", ACCOUNT, "--accounts", str(path),
                             "--at", from_ms(bar(0)).isoformat(), "--in-process"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    led = Ledger(tmp_path / "ledger" / "alice.sqlite")
    acct = exchange.accounts[ACCOUNT]

    def slice0_out() -> bool:
        if not (tmp_path / "ledger" / "alice.sqlite").exists():
            return False
        parents, kids = twap_family(led, bar(0))
        if slices == "market":
            return bool(parents) and all(len(kids[p]) == 1 and kids[p][0].state == "filled" for p in parents)
        resting = {o.parent for o in led.orders(ACCOUNT, bar_ts=bar(0)) if o.parent and o.cl_ord_id in acct.cl_ord_ids
                   and acct.orders[acct.cl_ord_ids[o.cl_ord_id]].state == "live"}
        return bool(parents) and resting == set(parents)

    until(slice0_out, "slice 0 of every parent out")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    first, first_kids = twap_family(led, bar(0))
    assert {p.state for p in first.values()} == {"working"}

    s, clock = session(path, exchange, bar(0))
    assert s.run() == "ok", s.error
    assert set(slice_times(bar(0), 4, HOUR_MS)[1:]) <= set(clock.waits)  # the original schedule, resumed
    parents, kids = twap_family(led, bar(0))
    for pid in first:  # closed as interrupted, with what slice 0 filled; its makers cancelled
        assert parents[pid].state == "canceled"
        assert parents[pid].acc_fill_sz == pytest.approx(sum(k.acc_fill_sz for k in kids[pid]))
        assert all(k.state in ("filled", "canceled") and slice_of(k.cl_ord_id) == 0 for k in kids[pid])
        assert len(kids[pid]) == len(first_kids[pid])  # nothing sent under the killed parent since
    again = {p: o for p, o in parents.items() if p not in first}
    assert again and all(o.attempt == 2 and o.state == "filled" and "resumes" in (o.msg or "") for o in again.values())
    slices_sent = defaultdict(set)  # (instrument, leg) -> slices with a child, over both attempts
    for pid, o in parents.items():
        ks = {slice_of(k.cl_ord_id) for k in kids[pid]}
        assert pid in first or 0 not in ks  # the rerun never sends slice 0 again
        slices_sent[(o.inst_id, o.leg)] |= ks
    assert slices_sent and all(v <= {0, 1, 2, 3} and 0 in v for v in slices_sent.values())
    placed = [o.cl_ord_id for o in acct.orders.values()]
    assert len(placed) == len(set(placed)) == sum(len(v) for v in kids.values())  # every child once, only children
    assert s.net_positions() == {k: v for k, v in s.result.net.items() if v != 0}  # the targets, not more


@pytest.mark.parametrize(("bad", "message"), [
    ({"style": "twap", "twap_slices": 37}, "execution.twap_slices: must be <= 36, got 37"),
    ({"style": "twap", "twap_slice_style": "twap"}, "execution.twap_slice_style: must be one of market, maker_first"),
])  # every field's bounds: tests/research/test_fills_twap.py
def test_bad_twap_fields_are_one_error_line_and_nothing_written(accounts_file, bad, message):
    path = accounts_file()
    with_execution(path, bad)
    run_refused(path, ACCOUNT, message=message)
