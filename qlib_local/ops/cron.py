"""(rule, offset, lead) -> cron lines, as a pure function.

Cron has minute resolution and knows nothing of epoch-aligned bars, so a schedule is
expanded into the set of UTC minutes of the day at which it must fire, and those minutes
are grouped into as few ``minute hour * * *`` lines as possible (minutes that share the
same set of hours share a line). A lead that is not a whole number of minutes fires at the
minute before ``close - lead`` and the command sleeps the remaining seconds first.

Only rules that divide a day repeat identically every day; anything else (``7m``, ``5H``,
``2D``) cannot be written as a fixed crontab and is refused with a pointer to
``qlib-local serve``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from qlib_local.errors import QlibError
from qlib_local.timeframes import (
    DAY_MS,
    MINUTE_MS,
    Schedule,
    check_offset,
    timeframe_name,
)

MINUTES_PER_DAY = DAY_MS // MINUTE_MS


class CronError(QlibError):
    """A schedule cron cannot express; ``qlib-local serve`` can."""


@dataclass(frozen=True)
class CronTiming:
    """When one command fires: a ``minute hour`` pair per line, and a sleep before it runs."""

    lines: tuple[tuple[str, str], ...]  # (minute field, hour field); day, month, weekday are *
    sleep_s: int  # seconds to sleep after cron fires, 0..59

    def specs(self) -> list[str]:
        """Five-field schedules, one per line."""
        return [f"{m} {h} * * *" for m, h in self.lines]


def fire_minutes(schedules: Iterable[Schedule], lead_s: int = 0) -> tuple[set[int], int]:
    """UTC minutes of the day at which cron must fire, and the sleep that follows.

    Every close ``t`` of every schedule is to be reached at ``t - lead_s``: cron fires at
    the minute ``t - ceil(lead/60)`` and sleeps ``ceil(lead/60)*60 - lead`` seconds.
    """
    if lead_s < 0:
        raise CronError(f"--lead must be 0 or more seconds, got {lead_s}")
    lead_min = -(-lead_s // 60)
    sleep_s = lead_min * 60 - lead_s
    minutes: set[int] = set()
    for s in schedules:
        rule_ms, off_ms = s.rule_ms, s.offset_ms
        check_offset(rule_ms, off_ms, s.rule, s.offset)
        what = f"{s.name}: " if s.name else ""
        if rule_ms > DAY_MS or DAY_MS % rule_ms:
            raise CronError(
                f"{what}rule {timeframe_name(rule_ms)} does not divide a day, so its bar closes shift from day "
                "to day and cron cannot express them; run `qlib-local serve` instead"
            )
        if rule_ms % MINUTE_MS or off_ms % MINUTE_MS:
            raise CronError(f"{what}rule and offset must be whole minutes for cron; run `qlib-local serve` instead")
        rule_min, off_min = rule_ms // MINUTE_MS, off_ms // MINUTE_MS
        # a bar opening at off + k*rule closes at off + (k+1)*rule: the same set of minutes
        minutes.update((off_min + k * rule_min - lead_min) % MINUTES_PER_DAY for k in range(MINUTES_PER_DAY // rule_min))
    return minutes, sleep_s


def compress(values: Iterable[int], size: int) -> str:
    """A cron field for a set of values in ``[0, size)``: ``*``, ``*/n``, ``a-b/n``, ``a-b`` or a list."""
    vals = sorted(set(values))
    if not vals or vals[0] < 0 or vals[-1] >= size:
        raise ValueError(f"values {vals} outside [0, {size})")
    if len(vals) == size:
        return "*"
    if len(vals) <= 2:  # '0,45' reads better than '*/45'
        return ",".join(str(v) for v in vals)
    step = vals[1] - vals[0]
    if all(b - a == step for a, b in zip(vals, vals[1:], strict=False)):
        a, b = vals[0], vals[-1]
        full = b + step >= size  # nothing more of the progression fits below size
        if step == 1:
            return f"{a}-{b}"
        if full and a == 0:
            return f"*/{step}"
        return f"{a}-{b}/{step}"
    return ",".join(str(v) for v in vals)


def group_minutes(minutes: Iterable[int]) -> tuple[tuple[str, str], ...]:
    """Minutes of the day -> ``(minute field, hour field)`` lines, grouped by minute of hour.

    Minutes of the hour firing in the same set of hours share a line, so ``45m`` (fire at
    :00 :45 :30 :15 in a three-hour cycle) becomes three lines, not thirty-two.
    """
    hours_of: dict[int, set[int]] = {}
    for m in minutes:
        h, mi = divmod(m % MINUTES_PER_DAY, 60)
        hours_of.setdefault(mi, set()).add(h)
    by_hours: dict[frozenset[int], list[int]] = {}
    for mi, hours in hours_of.items():
        by_hours.setdefault(frozenset(hours), []).append(mi)
    lines = [(compress(mis, 60), compress(hours, 24), min(hours), min(mis)) for hours, mis in by_hours.items()]
    return tuple((m, h) for m, h, _, _ in sorted(lines, key=lambda x: (x[2], x[3])))


def cron_timing(schedules: Sequence[Schedule], lead_s: int = 0, shift_min: int = 0) -> CronTiming:
    """Cron lines firing ``lead_s`` before every close of ``schedules``.

    ``shift_min`` converts UTC to a machine zone with a fixed offset (minutes east of UTC):
    the pattern repeats daily, so shifting every minute of the day is exact.
    """
    if not schedules:
        raise CronError("nothing to schedule: no strategies")
    minutes, sleep_s = fire_minutes(schedules, lead_s)
    local = {(m + shift_min) % MINUTES_PER_DAY for m in minutes}
    return CronTiming(group_minutes(local), sleep_s)
