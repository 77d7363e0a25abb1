"""The long-running collector: at every base-bar close, append the bars that just closed.

Time is injected (``now`` and ``sleep``) so tests can drive it with the local exchange's
stepped clock. Each cycle syncs the series whose timeframe just closed, polls briefly for
bars the exchange publishes late, and every ``repair_every`` re-fetches a recent window.
Nothing an exchange does ends the loop: errors are logged and retried next cycle. With
``funding`` it appends each instrument's new funding settlements (asking only once one is
due), with ``mark`` the instruments' mark-price candles beside their bars.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pandas as pd

from qlib_local.marketdata.funding import sync_funding
from qlib_local.marketdata.needs import kept_timeframe
from qlib_local.marketdata.repair import repair
from qlib_local.marketdata.sources import Source
from qlib_local.marketdata.sync import lagging, sync
from qlib_local.store import KlineStore
from qlib_local.timeframes import Schedule, next_run_time, parse_offset

log = logging.getLogger(__name__)


def wall_now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


@dataclass
class CycleReport:
    at: pd.Timestamp
    series: int = 0
    bars: int = 0
    late: list[str] = field(default_factory=list)  # instruments whose newest bar never came
    errors: list[str] = field(default_factory=list)
    repaired: int = 0
    mark_bars: int = 0
    funding: int = 0  # settlements stored


class Collector:
    """Keeps ``series`` ((instrument, timeframe) pairs) current in ``store``."""

    def __init__(
        self,
        source: Source,
        store: KlineStore,
        series: Iterable[tuple[str, str]],
        now: Callable[[], pd.Timestamp] = wall_now,
        sleep: Callable[[float], None] = time.sleep,
        repair_every: str | int = "2h",
        repair_window: int = 120,
        wake_delay_s: float = 1.0,
        late_poll_s: float = 2.0,
        late_max_s: float = 30.0,
        since: str | pd.Timestamp | None = None,
        workers: int | None = None,
        funding: bool = False,
        mark: bool = False,
    ):
        self.source, self.store = source, store
        self.funding, self.mark = funding, mark
        kept = {}
        for inst, asked in {(i, source.check_timeframe(tf)) for i, tf in series}:
            kept[inst, asked] = tf = kept_timeframe(store, source.id, inst, asked)
            if tf != asked:
                log.info("%s: extending the stored %s series (%s bars are resampled from it)", inst, tf, asked)
        self.series = sorted({(i, tf) for (i, _), tf in kept.items()})
        if not self.series:
            raise ValueError("the collector needs at least one series")
        self.now, self.sleep = now, sleep
        self.repair_every_ms = parse_offset(repair_every)
        self.repair_window = repair_window
        self.wake_delay_s, self.late_poll_s, self.late_max_s = wake_delay_s, late_poll_s, late_max_s
        self.since, self.workers = since, workers
        self.schedules = [Schedule(tf) for tf in sorted({tf for _, tf in self.series})]
        self.last_repair_ms: int | None = None
        self.cycles = 0

    def run(self, max_cycles: int | None = None) -> list[CycleReport]:
        """Catch up at once, then one cycle per bar close; stops after ``max_cycles``."""
        reports = []
        due = self.series
        while max_cycles is None or self.cycles < max_cycles:
            if self.cycles:
                due = self.wait_for_close()
            reports.append(self.cycle(due))
            self.cycles += 1
        return reports

    def wait_for_close(self) -> list[tuple[str, str]]:
        try:
            t = self.now()
        except Exception as e:  # an exchange clock can fail like any request: retry shortly
            log.warning("clock: %s: %s; syncing everything in %gs", type(e).__name__, e, self.late_poll_s)
            self.sleep(self.late_poll_s)
            return self.series
        wake, schedules = next_run_time(t, self.schedules)
        self.sleep(max(0.0, (wake - t).total_seconds() + self.wake_delay_s))
        rules = {s.rule for s in schedules}
        return [s for s in self.series if s[1] in rules]

    def cycle(self, due: list[tuple[str, str]]) -> CycleReport:
        report = CycleReport(self.now(), series=len(due))
        try:
            self._cycle(due, report)
        except Exception as e:  # the exchange is down, the clock failed, ...: try next cycle
            report.errors.append(f"cycle: {type(e).__name__}: {e}")
        log.info(
            "cycle %d at %s: %d series, %d bars, %d mark bars, %d funding settlements, %d late, %d errors, "
            "%d repaired", self.cycles + 1, report.at, report.series, report.bars, report.mark_bars, report.funding,
            len(report.late), len(report.errors), report.repaired,
        )
        for e in report.errors:
            log.warning("  %s", e)
        return report

    def _cycle(self, due: list[tuple[str, str]], report: CycleReport) -> None:
        now_ms = self.source.server_time_ms()
        results = sync(self.source, self.store, due, since=self.since, workers=self.workers, now_ms=now_ms)
        report.bars += sum(r.written for r in results)
        behind = [r for r in lagging(results, now_ms) if not r.error]
        waited = 0.0
        while behind and waited < self.late_max_s:
            self.sleep(self.late_poll_s)  # a bar the exchange has not published yet
            waited += self.late_poll_s
            again = sync(self.source, self.store, [(r.instrument, r.timeframe) for r in behind],
                         workers=self.workers, now_ms=now_ms)
            report.bars += sum(r.written for r in again)
            behind = [r for r in lagging(again, now_ms) if not r.error]
            results = [r for r in results if (r.instrument, r.timeframe) not in
                       {(a.instrument, a.timeframe) for a in again}] + again
        report.late = [r.instrument for r in behind]
        report.errors += [r.error for r in results if r.error]
        if self.mark:
            marks = sync(self.source, self.store, due, since=self.since, workers=self.workers, now_ms=now_ms,
                         price="mark")
            report.mark_bars += sum(r.written for r in marks)
            report.errors += [f"mark {r.error}" for r in marks if r.error]
        if self.funding:
            rates = sync_funding(self.source, self.store, sorted({i for i, _ in due}), since=self.since,
                                 now_ms=now_ms, workers=self.workers)
            report.funding += sum(r.written for r in rates)
            report.errors += [f"funding {r.error}" for r in rates if r.error]
        if self.last_repair_ms is None or now_ms - self.last_repair_ms >= self.repair_every_ms:
            fixed = repair(self.source, self.store, self.series, self.repair_window, workers=self.workers)
            report.repaired = sum(r.corrected + r.filled for r in fixed)
            report.errors += [f"repair {r.instrument}: {r.error}" for r in fixed if r.error]
            self.last_repair_ms = now_ms


def exchange_clock(source: Source) -> Callable[[], pd.Timestamp]:
    """``now`` read from the exchange, for a collector following a replayed clock."""
    return lambda: pd.Timestamp(source.server_time_ms(), unit="ms", tz="UTC")

