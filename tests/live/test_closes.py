"""Which close a run trades and how it waits for it, on the local exchange's stepped clock.

Each test holds the exchange's clock where it wants the run to be, checks what the run has
(and has not) done by the ledger, the runs index and the exchange's orders, then steps the
clock. Wall time only appears as deadlock guards.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from tests_support import GUARD_S, Background, until

from qlib_local.live import index
from qlib_local.live.closes import ClockStalled, choose_close, wait_for_clock
from qlib_local.live.lock import AccountLock
from qlib_local.live.runner import run_live
from qlib_local.timeframes import HOUR_MS, MINUTE_MS, from_ms

from .conftest import ACCOUNT, bar, ledger_runs

HOURLY = [(HOUR_MS, 0)]


def never(bar_ms: int) -> bool:
    return False


def indexed(tmp_path: Path) -> list[dict]:
    return index.read(tmp_path / "runs" / "live").to_dict("records")


# ---------------------------------------------------------------------------------------------- the choice


def test_the_next_close_when_near_else_the_last_if_untraded_else_the_next_however_far():
    t = bar(5)
    # cron fired 30 s early: the coming close, even though the last one was never traded
    assert choose_close(t - 30_000, HOURLY, 600, 300, never).bar_ms == t
    # started by hand 100 s after a close no run traded: that bar, at once
    c = choose_close(t + 100_000, HOURLY, 600, 300, never)
    assert c.bar_ms == t and "not traded yet" in c.reason
    # ... that a run has traded: the next close, 58 minutes away
    c = choose_close(t + 100_000, HOURLY, 600, 300, lambda b: b == t)
    assert c.bar_ms == t + HOUR_MS and "traded already" in c.reason
    # 406 s after the close (the README's tour): too late for it, so the next one
    c = choose_close(t + 406_000, HOURLY, 600, 300, never)
    assert c.bar_ms == t + HOUR_MS and "more than max_late_s=300" in c.reason
    # exactly on a close: that close
    assert choose_close(t, HOURLY, 600, 300, never).bar_ms == t
    # several schedules: the nearest next close, the newest last close
    rules = [(4 * HOUR_MS, HOUR_MS), (HOUR_MS, 30 * MINUTE_MS)]
    assert choose_close(t + 45 * MINUTE_MS, rules, 600, 300, never).bar_ms == t + 90 * MINUTE_MS
    assert choose_close(t + 32 * MINUTE_MS, rules, 600, 300, never).bar_ms == t + 30 * MINUTE_MS


def test_a_clock_that_stands_still_ends_the_wait(exchange):
    """The local exchange paused (speed 0, nobody stepping it): the wait gives up instead of holding the lock."""
    now = exchange.clock.now_ms()
    with pytest.raises(ClockStalled, match="stood still"):
        wait_for_clock(now + HOUR_MS, exchange.clock.now_ms, "the close", stall_s=0.2, poll_s=0.01)


# ---------------------------------------------------------------------------------------------- the CLI's runs


def test_a_just_closed_untraded_bar_is_traded_then_the_next_close_is_waited_for(accounts_file, exchange, tmp_path):
    path = accounts_file()
    acct = exchange.accounts[ACCOUNT]
    exchange.clock.set(bar(5) + 100_000)  # 100 s after a close, within max_late_s
    first = run_live(path, ACCOUNT, in_process=True)
    assert (first.status, first.exit_code) == ("ok", 0), first.error
    assert [(b, s) for _, b, s in ledger_runs(tmp_path)] == [(bar(5), "ok")]
    orders_before, fills_before = len(acct.orders), len(acct.fills)
    assert orders_before and all(f.ts >= bar(5) for f in acct.fills)

    # the same moment again: that bar is traded, so the next close, an hour minus 100 s away
    second = Background(lambda: run_live(path, ACCOUNT, in_process=True))
    until(lambda: len(indexed(tmp_path)) == 2, "indexed")
    row = indexed(tmp_path)[-1]
    assert row["status"] == "running" and row["bar"] == from_ms(bar(6)).isoformat()
    assert second.thread.is_alive() and len(ledger_runs(tmp_path)) == 1 and len(acct.orders) == orders_before

    exchange.clock.set(bar(6) - 10_000)  # within the lead: the run starts and waits for the close itself
    until(lambda: len(ledger_runs(tmp_path)) == 2, "started")
    assert ledger_runs(tmp_path)[-1][1:] == (bar(6), "running")
    assert second.thread.is_alive() and len(acct.orders) == orders_before

    exchange.clock.set(bar(6) + 1_000)
    out = second.join()
    assert (out.status, out.exit_code) == ("ok", 0), out.error
    assert ledger_runs(tmp_path)[-1][1:] == (bar(6), "ok")
    assert all(f.ts >= bar(6) for f in acct.fills[fills_before:])  # whatever it traded, it traded after the close


def test_cron_firing_early_waits_for_the_coming_close(accounts_file, exchange, tmp_path):
    """The previous bar was never traded (say its run failed): firing 30 s early still trades the coming close."""
    path = accounts_file()
    acct = exchange.accounts[ACCOUNT]
    exchange.clock.set(bar(5) - 30_000)
    run = Background(lambda: run_live(path, ACCOUNT, in_process=True))
    until(lambda: ledger_runs(tmp_path), "started")
    assert ledger_runs(tmp_path)[0][1:] == (bar(5), "running")
    assert run.thread.is_alive() and not acct.orders
    exchange.clock.set(bar(5) + 500)
    out = run.join()
    assert (out.status, out.exit_code) == ("ok", 0), out.error
    assert acct.fills and min(f.ts for f in acct.fills) >= bar(5)


def test_tour_run_started_after_a_close_waits_for_the_next_through_papermill(accounts_file, exchange, tmp_path):
    """The README's tour: `live run paper` a few minutes after a close. The CLI waits before starting a kernel,
    the kernel starts shortly before the close with ``at`` = that bar, and the run trades it."""
    path = accounts_file()
    acct = exchange.accounts[ACCOUNT]
    exchange.clock.set(bar(5) + 406_000)  # "closed 406s ago" > max_late_s: that bar is not traded
    run = Background(lambda: run_live(path, ACCOUNT))
    until(lambda: indexed(tmp_path), "indexed")
    row = indexed(tmp_path)[0]
    assert row["status"] == "running" and row["bar"] == from_ms(bar(6)).isoformat()
    assert not Path(row["notebook"]).exists() and ledger_runs(tmp_path) == []  # no kernel yet
    assert run.thread.is_alive() and not acct.orders

    exchange.clock.set(bar(6) - 10_000)
    until(lambda: ledger_runs(tmp_path), "started in the kernel")
    assert ledger_runs(tmp_path)[0][1:] == (bar(6), "running") and not acct.orders
    exchange.clock.set(bar(6) + 1_000)
    out = run.join()
    assert (out.status, out.exit_code) == ("ok", 0), out.error
    assert acct.fills and min(f.ts for f in acct.fills) >= bar(6)
    nb = json.loads(out.notebook.read_text())
    text = json.dumps(nb)
    assert f'at = \\"{from_ms(bar(6)).isoformat()}\\"' in text  # the audit log names the bar it was given
    assert "bar close: 2025-01-10 06:00:00+00:00" in text and '"output_type": "error"' not in text
    assert indexed(tmp_path)[0]["status"] == "ok"


def test_ctrl_c_while_waiting_exits_cleanly_with_nothing_run(accounts_file, exchange, tmp_path):
    path = accounts_file()
    exchange.clock.set(bar(5) + 406_000)
    # as from a terminal: SIGINT at its default (pytest-xdist workers ignore it, and children inherit that)
    proc = subprocess.Popen([sys.executable, "-m", "qlib_local", "live", "run", ACCOUNT, "--accounts", str(path),
                             "--in-process"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        seen = []
        while not any("waiting for the close" in line for line in seen):
            line = proc.stderr.readline()
            assert line, f"the CLI ended before waiting: {''.join(seen)}"
            seen.append(line)
        assert indexed(tmp_path)[0]["status"] == "running"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=GUARD_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted while waiting for the close" in err
    assert "canceled" in out
    row = indexed(tmp_path)[0]
    assert row["status"] == "canceled" and row["exit_code"] == 130
    assert ledger_runs(tmp_path) == [] and exchange.accounts[ACCOUNT].orders == {}  # nothing was run
    AccountLock(tmp_path / "ledger", ACCOUNT).acquire().release()  # and the lock is free
