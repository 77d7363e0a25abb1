"""Which bar close a run trades, and waiting for it on the exchange's clock.

Without ``--at`` a run trades, in this order of preference:

1. the next close when it is at most ``early_s`` away: cron fires a little early to hide
   start-up, and a run that fires early must never pick the previous bar instead (after
   one failed run, every later run would then trade a bar late);
2. the bar that has just closed, when it closed at most ``max_late_s`` ago and no run has
   traded it yet (a run started by hand a minute after a close);
3. otherwise the next close, however far away.

A long wait happens in the CLI, before any kernel starts (:mod:`qlib_local.live.runner`),
so the notebook's per-cell timeout never meets it and the output notebook holds the run
itself: the kernel starts ``lead`` seconds before the close with ``at`` set to that bar.
Every wait polls the **exchange's** clock (the local exchange may replay the past, or be
stepped by a test) and gives up only when that clock stands still for ``stall_s``.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from qlib_local.live.errors import LiveError
from qlib_local.timeframes import bar_open_ms, from_ms

EARLY_S = 600.0  # cron may fire up to this long before a close; the run waits for it

log = logging.getLogger(__name__)
POLL_S = 1.0  # longest sleep between two looks at the exchange's clock
SAY_EVERY_S = 300.0  # a long wait logs where it stands this often
STALL_S = 600.0  # the exchange's clock standing still this long (wall time) ends the wait


class ClockStalled(LiveError):
    """The exchange's clock did not move while a run waited for a close."""


class WaitInterrupted(LiveError):
    """Ctrl-C while waiting for a close, before anything was done."""

    exit_code = 130


@dataclass(frozen=True)
class BarChoice:
    bar_ms: int
    reason: str  # why this bar, in words for the log and the ledger


def choose_close(now_ms: int, rules: Iterable[tuple[int, int]], early_s: float, max_late_s: float,
                 traded: Callable[[int], bool]) -> BarChoice:
    """The close to trade at exchange time ``now_ms`` for strategies of (rule, offset) in ms."""
    pairs = list(rules)
    if not pairs:
        raise LiveError("no strategies: nothing to trade")
    last = max(bar_open_ms(now_ms, r, o) for r, o in pairs)  # the newest close at or before now
    nxt = min(bar_open_ms(now_ms, r, o) + r for r, o in pairs)
    to_go_s, late_s = (nxt - now_ms) / 1000, (now_ms - last) / 1000
    if to_go_s <= early_s:
        return BarChoice(nxt, f"the next close {from_ms(nxt)} is {to_go_s:.0f}s away")
    if late_s > max_late_s:
        why = f"the last close {from_ms(last)} was {late_s:.0f}s ago, more than max_late_s={max_late_s:g}"
    elif traded(last):
        why = f"the last close {from_ms(last)} was traded already"
    else:
        return BarChoice(last, f"the last close {from_ms(last)} was {late_s:.0f}s ago and is not traded yet")
    return BarChoice(nxt, f"{why}: waiting for the next close {from_ms(nxt)}, {to_go_s:.0f}s away")


def traded_in_ledger(ledger_path: Path, account: str) -> Callable[[int], bool]:
    """``bar -> has a run of this account finished ok for it``, read-only (a missing ledger: nothing traded)."""

    def traded(bar_ms: int) -> bool:
        if not ledger_path.exists():
            return False
        try:
            with closing(sqlite3.connect(f"{ledger_path.resolve().as_uri()}?mode=ro", uri=True)) as c:
                row = c.execute("SELECT 1 FROM runs WHERE account=? AND bar_ts=? AND status='ok' LIMIT 1",
                                (account, bar_ms)).fetchone()
        except sqlite3.Error:
            return False  # the run itself will refuse an unreadable ledger
        return row is not None

    return traded


def exchange_clock(server_time_ms: Callable[[], int]) -> Callable[[], int]:
    """The exchange's time as a checked reading: a positive whole number of milliseconds, or a LiveError."""

    def now() -> int:
        try:
            t = int(server_time_ms())
        except (ValueError, TypeError, KeyError, IndexError) as e:
            raise LiveError(f"the exchange's time is not a number ({type(e).__name__}: {e})") from None
        if t <= 0:
            raise LiveError(f"the exchange's time is not a time: {t}")
        return t

    return now


def wait_for_clock(target_ms: int, now_ms: Callable[[], int], what: str, first: int | None = None,
                   stall_s: float = STALL_S, poll_s: float = POLL_S) -> int:
    """Poll the exchange's clock until it reads ``target_ms`` or later; returns that reading.

    ``first`` is a reading just taken (saves a request). Raises :class:`ClockStalled` when the clock stands still for ``stall_s`` seconds of wall
    time (a paused local exchange would otherwise hold the account's lock for ever).
    """
    now = now_ms() if first is None else first
    if now < target_ms:
        log.info("waiting for %s: the exchange's clock says %s, %.0fs to go", what, from_ms(now),
                 (target_ms - now) / 1000)
    seen, moved_at = now, time.monotonic()
    say_at = moved_at + SAY_EVERY_S
    while now < target_ms:
        time.sleep(min(max((target_ms - now) / 1000, 0.01), poll_s))
        now = now_ms()
        t = time.monotonic()
        if now != seen:
            seen, moved_at = now, t
        elif t - moved_at >= stall_s:
            raise ClockStalled(f"the exchange's clock stood still at {from_ms(now)} for {stall_s:g}s while waiting "
                               f"for {what} (a local exchange paused with --speed 0?)")
        if t >= say_at:
            log.info("still waiting for %s: the exchange's clock says %s", what, from_ms(now))
            say_at = t + SAY_EVERY_S
    return now
