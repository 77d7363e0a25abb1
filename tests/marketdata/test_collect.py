"""The collector on the local exchange's stepped clock: cycles, markers, late bars, repair."""

from __future__ import annotations

import numpy as np
import pandas as pd
from tests_support import GUARD_MS

from qlib_local.marketdata import Collector, RetryPolicy, Source, repair, sync
from tests.marketdata.conftest import BTC, ETH, SOL, served

T = pd.Timestamp


def stepped(exchange, log: list | None = None, store=None, series=(BTC, "1m")):
    """A sleep that moves the exchange's clock, noting (now, marker) before each move."""

    def sleep(seconds: float) -> None:
        if log is not None:
            log.append((exchange.clock.now(), store.complete_up_to("okx", *series)))
        exchange.clock.advance(int(round(seconds * 1000)))

    return sleep


def test_cycles_follow_each_timeframes_closes_and_write_markers(exchange, source, dest):
    c = Collector(source, dest, [(BTC, "1m"), (ETH, "5m")], now=exchange.clock.now, sleep=stepped(exchange),
                  since="2025-01-02T11:00Z")
    reports = c.run(max_cycles=6)  # catch-up at 12:00:30, then 12:01 .. 12:05 closes
    assert [r.series for r in reports] == [2, 1, 1, 1, 1, 2]
    assert [r.bars for r in reports] == [60 + 12, 1, 1, 1, 1, 1 + 1]
    assert not any(r.errors or r.late for r in reports)
    assert dest.complete_up_to("okx", BTC, "1m") == T("2025-01-02T12:05Z")
    assert dest.complete_up_to("okx", ETH, "5m") == T("2025-01-02T12:05Z")
    got = dest.read("okx", BTC, "1m")
    assert got.index[0] == T("2025-01-02T11:00Z") and got.index[-1] == T("2025-01-02T12:04Z")
    assert len(got) == 65 and got.index.is_unique
    assert np.allclose(got["close"], served(exchange, BTC, "2025-01-02T11:00Z", "2025-01-02T12:05Z")["close"], rtol=1e-3)


def test_late_bar_is_not_marked_complete_until_it_arrives(exchange, source, dest):
    exchange.faults.late_bar(5)  # a just-closed bar stays off the candle endpoints for 5 s
    seen: list = []
    c = Collector(source, dest, [(BTC, "1m")], now=exchange.clock.now, sleep=stepped(exchange, seen, dest),
                  since="2025-01-02T11:00Z", late_poll_s=2, late_max_s=10)
    reports = c.run(max_cycles=2)
    waits = [(t, m) for t, m in seen if T("2025-01-02T12:01Z") <= t < T("2025-01-02T12:01:05Z")]
    assert len(waits) == 2 and all(m == T("2025-01-02T12:00Z") for _, m in waits)  # polled, not marked
    assert reports[1].bars == 1 and not reports[1].late
    assert dest.complete_up_to("okx", BTC, "1m") == T("2025-01-02T12:01Z")
    assert dest.last_bar_time("okx", BTC, "1m") == T("2025-01-02T12:00Z")  # the forming 12:01 bar never stored


def test_a_bar_later_than_the_poll_window_is_reported_and_picked_up_next_cycle(exchange, source, dest):
    exchange.faults.late_bar(20)
    c = Collector(source, dest, [(BTC, "1m")], now=exchange.clock.now, sleep=stepped(exchange),
                  since="2025-01-02T11:00Z", late_poll_s=2, late_max_s=4)
    reports = c.run(max_cycles=3)
    assert reports[1].late == [BTC] and reports[1].bars == 0
    assert reports[2].bars == 1  # 12:00 arrived; 12:01 is late again
    assert dest.complete_up_to("okx", BTC, "1m") == T("2025-01-02T12:01Z")


def test_exchange_errors_and_a_bad_instrument_do_not_stop_the_collector(exchange, dest):
    src = Source("okx", base_url=exchange.url, timeout_ms=GUARD_MS, retry=RetryPolicy(retries=1, base_delay_s=0.01))
    c = Collector(src, dest, [(BTC, "1m"), ("NOPE-USDT-SWAP", "1m")], now=exchange.clock.now,
                  sleep=stepped(exchange), since="2025-01-02T11:00Z", late_max_s=0)
    first = c.run(max_cycles=1)[0]
    assert any("unknown instrument 'NOPE-USDT-SWAP'" in e for e in first.errors)
    exchange.faults.fail("/api/v5/public/time", 503, times=2)  # the whole next cycle fails
    reports = c.run(max_cycles=3)
    assert any("OnMaintenance" in e for e in reports[0].errors) and reports[0].bars == 0
    assert reports[1].bars == 2  # the bar missed at 12:01 and the new one
    assert dest.complete_up_to("okx", BTC, "1m") == T("2025-01-02T12:02Z")


def _correct_bar(exchange, inst: str, at: str, factor: float) -> float:
    """The exchange restates a closed bar (as real exchanges occasionally do)."""
    s = exchange.market.series(inst)
    i = int(np.searchsorted(s.ts, T(at).value // 1_000_000))
    s.close, s.high, s.low = s.close.copy(), s.high.copy(), s.low.copy()
    s.close[i] *= factor
    s.high[i] = max(s.high[i], s.close[i])  # a sane bar: the store refuses any other
    s.low[i] = min(s.low[i], s.close[i])
    return float(s.close[i])


def test_repair_overwrites_only_corrected_bars(exchange, source, dest):
    sync(source, dest, [(BTC, "1m"), (SOL, "1m")], since="2025-01-02T11:00Z")
    before = dest.read("okx", BTC, "1m")
    new_close = _correct_bar(exchange, BTC, "2025-01-02T11:50Z", 1.01)
    res = {r.instrument: r for r in repair(source, dest, [(BTC, "1m"), (SOL, "1m")], window_bars=30)}
    assert (res[BTC].checked, res[BTC].corrected, res[BTC].filled) == (30, 1, 0)
    assert (res[SOL].corrected, res[SOL].filled) == (0, 0)
    after = dest.read("okx", BTC, "1m")
    assert abs(after.loc[T("2025-01-02T11:50Z"), "close"] / new_close - 1) < 1e-4
    assert after.drop(T("2025-01-02T11:50Z")).equals(before.drop(T("2025-01-02T11:50Z")))


def test_collector_repairs_on_schedule(exchange, source, dest):
    c = Collector(source, dest, [(BTC, "1m")], now=exchange.clock.now, sleep=stepped(exchange),
                  since="2025-01-02T11:00Z", repair_every="2m", repair_window=30)
    c.run(max_cycles=1)  # 12:00:30, with a first repair pass
    _correct_bar(exchange, BTC, "2025-01-02T11:45Z", 0.99)
    reports = c.run(max_cycles=4)  # 12:01:01, 12:02:01 (no repair due), 12:03:01 (repair)
    assert [r.repaired for r in reports] == [0, 0, 1]
