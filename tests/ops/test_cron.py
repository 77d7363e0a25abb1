"""Cron lines fire at exactly the intended UTC instants over a span, never extra."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qlib_local.ops.cron import CronError, compress, cron_timing
from qlib_local.timeframes import MINUTE_MS, Schedule, next_close_ms, timeframe_name

from .cron_eval import field_values, fire_times

DAY_MIN = 1440
DIVISORS = [d for d in range(1, DAY_MIN + 1) if DAY_MIN % d == 0]


def expected_ms(schedules: list[Schedule], lead_s: int, start_ms: int, end_ms: int) -> list[int]:
    """Every (close - lead) in [start, end), by the project's bar arithmetic, one per instant."""
    out: set[int] = set()
    for s in schedules:
        t = next_close_ms(start_ms + lead_s * 1000 - 1, s.rule_ms, s.offset_ms)
        while t - lead_s * 1000 < end_ms:
            out.add(t - lead_s * 1000)
            t += s.rule_ms
    return sorted(x for x in out if start_ms <= x)


def actual_ms(schedules: list[Schedule], lead_s: int, shift_min: int, start_ms: int, end_ms: int) -> list[int]:
    """When the lines really run: cron's minute (in local time), back to UTC, plus the sleep."""
    timing = cron_timing(schedules, lead_s, shift_min)
    assert 0 <= timing.sleep_s < 60  # a shell sleep, and less than cron's resolution
    out: list[int] = []
    lo, hi = start_ms // MINUTE_MS - 2, end_ms // MINUTE_MS + 2
    for spec in timing.specs():
        for local_min in fire_times(spec, lo + shift_min, hi + shift_min):
            out.append((local_min - shift_min) * MINUTE_MS + timing.sleep_s * 1000)
    assert len(out) == len(set(out)), "two lines fire at the same instant"
    return sorted(x for x in out if start_ms <= x < end_ms)


@st.composite
def schedules(draw) -> list[Schedule]:
    n = draw(st.integers(1, 3))
    out = []
    for _ in range(n):
        rule = draw(st.sampled_from(DIVISORS))
        off = draw(st.integers(0, rule - 1))
        out.append(Schedule(timeframe_name(rule * MINUTE_MS), f"{off}m"))
    return out


@settings(max_examples=150, deadline=None)
@given(
    scheds=schedules(),
    lead_s=st.integers(0, 900),
    shift=st.sampled_from([0, 330, 345, -300, 540, -570, 60 * 14]),
    day=st.integers(18_000, 22_000),
)
def test_lines_fire_exactly_at_close_minus_lead(scheds, lead_s, shift, day):
    start = day * 86_400_000 + 7 * MINUTE_MS
    end = start + 2 * 86_400_000
    assert actual_ms(scheds, lead_s, shift, start, end) == expected_ms(scheds, lead_s, start, end)


def test_45m_needs_several_lines_grouped_by_minute_of_hour():
    timing = cron_timing([Schedule("45m", "0h")], 30)
    assert timing.sleep_s == 30
    assert len(timing.lines) == 3  # minutes :44/:59, :29, :14 in a three-hour cycle
    assert {m for m, _ in timing.lines} == {"14,59", "29", "44"}


def test_12h_offset_is_one_line_in_utc_and_converted():
    assert cron_timing([Schedule("12H", "2h15m")], 0).specs() == ["15 2,14 * * *"]
    assert cron_timing([Schedule("12H", "2h15m")], 0, shift_min=330).specs() == ["45 7,19 * * *"]


def test_lead_crossing_midnight_wraps_to_the_previous_day():
    assert cron_timing([Schedule("1D", "0h")], 90).specs() == ["58 23 * * *"]
    assert cron_timing([Schedule("1D", "0h")], 90).sleep_s == 30


@pytest.mark.parametrize("rule", ["7m", "5H", "7H", "2D", "25h"])
def test_rules_that_do_not_divide_a_day_point_to_serve(rule):
    with pytest.raises(CronError, match="qlib-local serve"):
        cron_timing([Schedule(rule, "0h", "s1")], 0)


def test_negative_lead_is_refused():
    with pytest.raises(CronError, match="lead"):
        cron_timing([Schedule("1H")], -1)


@given(st.sets(st.integers(0, 59), min_size=1))
def test_compress_round_trips(values):
    assert field_values(compress(values, 60), 0, 59) == values
