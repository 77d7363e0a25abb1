"""Faults around a run: killed mid-flight, late bars, a ledger that disagrees, a run started before the close."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter

import pytest
from tests_support import Background, until

from qlib_local.ledger import Ledger
from qlib_local.live.session import LiveSession
from qlib_local.store import KlineStore
from qlib_local.timeframes import HOUR_MS, from_ms

from .conftest import ACCOUNT, DATA, bar, ledger_runs, write_tick_data

LOOKUPS = 10_000


@pytest.mark.every_kit
def test_killed_after_sending_before_recording_then_rerun(accounts_file, kit, exchange, tmp_path):
    path = accounts_file()
    exchange.clock.set(bar(0) + 1_000)
    exchange.faults.drop_response(kit.paths["place"], times=None)  # orders take effect, answers are lost
    # ... and the lookups that follow the placement never return; each one counts the fault down (a
    # venue whose ids are unique among open orders only looks every id up BEFORE sending too: those
    # answer, the fault sleeping until the placement went through)
    lookup = exchange.faults.hang(kit.paths["lookup"], 600, times=LOOKUPS, after=kit.paths["place"])
    proc = subprocess.Popen([sys.executable, "-m", "qlib_local", "live", "run", ACCOUNT, "--accounts", str(path),
                             "--at", from_ms(bar(0)).isoformat(), "--in-process"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    acct = exchange.accounts[ACCOUNT]
    until(lambda: lookup.times < LOOKUPS, "looking the lost orders up")  # the batch went through, its answer lost
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    sent = {o.cl_ord_id for o in acct.orders.values()}
    assert sent
    led = Ledger(tmp_path / "ledger" / "alice.sqlite")
    assert {o.state for o in led.orders(ACCOUNT)} == {"intent"}  # sent, never recorded
    exchange.faults.clear()
    s = LiveSession.from_config(path, ACCOUNT, at=bar(0))
    assert s.run() == "ok", s.error
    assert Counter(o.cl_ord_id for o in acct.orders.values()) == Counter(sent)  # nothing placed twice
    rows = led.orders(ACCOUNT)
    assert {o.cl_ord_id for o in rows} == sent and {o.state for o in rows} == {"filled"}  # repaired
    assert len(led.fills(ACCOUNT)) == len(sent)
    recon = led.events(ACCOUNT, s.run_id)
    assert recon["message"].str.contains("filled").any()
    assert s.net_positions() == {k: v for k, v in s.result.net.items() if v != 0}


def test_late_bar_is_fetched_or_else_skipped(accounts_file, kit, exchange, insts, live_root, tmp_path):
    """The store lacks SOL's just-closed bar: first the job fetches it itself; when the exchange
    publishes it late too, the job waits, then trades everything but SOL."""
    store_root = tmp_path / "live_store"
    close = bar(3)
    SOL = insts.SOL
    write_tick_data(KlineStore(store_root, create=True, durable=False), DATA, kit, cut={SOL: close - HOUR_MS})
    KlineStore(store_root).set_complete_up_to(kit.exchange, SOL, "1H", from_ms(close - HOUR_MS))
    path = accounts_file(store=str(store_root), wait_data_s=0.3, fetch_missing=True)
    exchange.clock.set(close + 1_000)
    s = LiveSession.from_config(path, ACCOUNT, at=close)
    assert s.run() == "ok", s.error
    assert s.data.fetched == [SOL] and s.data.stale == {} and s.data.waited_s >= 0.3
    # next bar: the exchange publishes the closed bar 10 minutes late
    exchange.faults.late_bar(600)
    exchange.clock.set(close + HOUR_MS + 1_000)
    s2 = LiveSession.from_config(path, ACCOUNT, at=close + HOUR_MS)
    assert s2.run() == "ok", s2.error
    assert list(s2.data.stale) == [SOL] and s2.data.waited_s >= 0.3
    assert all(o.inst_id != SOL for o in s2.plan_.orders)
    assert all(pd_isnan(v) for v in [s2.result.prices[SOL]])
    event = s2.result.intents["RankOnly"]
    assert not event[SOL] and event.sum() > 0  # SOL cannot be selected on old data; others can
    assert "stale_data" in set(Ledger(tmp_path / "ledger" / "alice.sqlite").events(ACCOUNT)["kind"])
    assert any(SOL in a for a in s2.alerts)


def pd_isnan(v) -> bool:
    return v != v


@pytest.mark.every_kit
def test_ledger_disagreeing_with_the_exchange_is_reconciled(accounts_file, kit, exchange, insts, q, tmp_path):
    path = accounts_file()
    exchange.clock.set(bar(0) + 1_000)
    assert LiveSession.from_config(path, ACCOUNT, at=bar(0)).run() == "ok"
    acct = exchange.accounts[ACCOUNT]
    BTC, SOL = insts.BTC, insts.SOL
    t = kit.by_hand(exchange, acct)
    before = acct.signed_exposure(BTC)
    t.market(BTC, "buy", q(BTC, 1.0))  # a manual trade
    t.limit(SOL, "buy", q(SOL, 1.0), px=60)  # a manual resting order (6 USDT on Binance: over its 5 minimum)
    exchange.clock.set(bar(1) + 1_000)
    s = LiveSession.from_config(path, ACCOUNT, at=bar(1))
    assert s.run() == "ok", s.error
    diffs = s.recon.position_diffs.set_index("inst_id")
    assert diffs.loc[BTC, "ledger"] == pytest.approx(before) and diffs.loc[BTC, "exchange"] == pytest.approx(before + q(BTC, 1.0))
    assert len(s.recon.foreign_orders) == 1  # reported, left alone
    assert any(o.state == "live" and o.inst_id == SOL for o in acct.orders.values())
    assert any("ledger differed" in a for a in s.alerts)
    assert acct.signed_exposure(BTC) == pytest.approx(s.result.net[BTC])  # traded from the exchange's truth


@pytest.mark.every_kit
def test_started_before_the_close_waits_for_it(accounts_file, exchange, tmp_path):
    """Held 1.5 s before the close the run waits, having traded nothing; stepped past it, it trades."""
    close = bar(5)
    exchange.clock.set(close - 1_500)
    s = LiveSession.from_config(accounts_file(), ACCOUNT)  # no --at: the next close
    run = Background(s.run)
    until(lambda: [(b, st) for _, b, st in ledger_runs(tmp_path)] == [(close, "running")], "given its bar")
    assert s.current == "wait_close" and s.bar_ms == close  # the bar is recorded as the wait begins
    assert run.thread.is_alive() and s.status == "running" and not exchange.accounts[ACCOUNT].orders
    exchange.clock.set(close + 1_000)
    assert run.join() == "ok", s.error
    fills = exchange.accounts[ACCOUNT].fills
    assert fills and min(f.ts for f in fills) >= close
