"""Properties of timeframes, offsets, base timeframes and schedules."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qlib_local.timeframes import (
    EXCHANGE_TIMEFRAMES,
    MINUTE_MS,
    Schedule,
    TimeframeError,
    bar_open_ms,
    base_timeframe,
    ccxt_timeframe,
    coarsest_dividing,
    last_closed_bar_open,
    next_run_time,
    normalize_timeframe,
    offset_name,
    okx_bar,
    parse_offset,
    parse_timeframe,
    to_ms,
)

RULES = list(EXCHANGE_TIMEFRAMES)
times_ms = st.integers(min_value=1_500_000_000_000, max_value=2_000_000_000_000)


@st.composite
def rule_and_offset(draw: st.DrawFn) -> tuple[str, int]:
    rule = draw(st.sampled_from(RULES))
    rule_ms = parse_timeframe(rule)
    offset_min = draw(st.integers(min_value=0, max_value=rule_ms // MINUTE_MS - 1))
    return rule, offset_min * MINUTE_MS


@given(st.lists(st.integers(min_value=0, max_value=30 * 86_400_000), min_size=1, max_size=6))
def test_the_coarsest_dividing_timeframe_divides_all_and_none_coarser_does(spans: list[int]) -> None:
    name = coarsest_dividing(spans)
    if not any(spans):
        assert name == ""
        return
    ok = [tf for tf, ms in EXCHANGE_TIMEFRAMES.items() if all(v % ms == 0 for v in spans)]
    assert name == (max(ok, key=parse_timeframe) if ok else "")
    assert coarsest_dividing([4 * 3_600_000, 0, 3_600_000]) == "1H" and coarsest_dividing([7 * MINUTE_MS]) == "1m"


def test_examples_from_the_issue() -> None:
    assert base_timeframe("12H", "1h") == "1H"
    assert base_timeframe("12H", "1h15m") == "15m"
    assert base_timeframe("12H", "2h15m") == "15m"
    assert base_timeframe("12H", "0h") == "12H"
    assert base_timeframe("1D", "45m") == "15m"
    rule, off = parse_timeframe("12H"), parse_offset("2h15m")
    opens = {
        pd.Timestamp(bar_open_ms(to_ms(f"2025-03-01T{h:02d}:00Z"), rule, off), unit="ms").strftime("%H:%M")
        for h in range(24)
    }
    assert opens == {"02:15", "14:15"}


def test_lower_case_hours_and_days() -> None:
    assert normalize_timeframe("12h") == "12H"
    assert normalize_timeframe("1d") == "1D"
    assert parse_timeframe("4h") == parse_timeframe("4H") == 4 * 60 * MINUTE_MS


@pytest.mark.parametrize("bad", ["", "7q", "0m", "H", "1 hour", "-1h"])
def test_unknown_timeframe(bad: str) -> None:
    with pytest.raises(TimeframeError, match="unknown timeframe"):
        parse_timeframe(bad)


@pytest.mark.parametrize("bad", ["x", "1y", "h", "2h15"])
def test_unknown_offset(bad: str) -> None:
    with pytest.raises(TimeframeError, match="unknown offset"):
        parse_offset(bad)


def test_offset_that_no_exchange_timeframe_divides() -> None:
    with pytest.raises(TimeframeError, match="no exchange timeframe divides"):
        base_timeframe("1H", "30s")


def test_offset_longer_than_rule() -> None:
    with pytest.raises(TimeframeError, match="does not fit rule"):
        base_timeframe("12H", "13h")


@given(rule_and_offset())
def test_base_timeframe_divides_and_is_coarsest(ro: tuple[str, int]) -> None:
    rule, off = ro
    base = base_timeframe(rule, off)
    b, r = parse_timeframe(base), parse_timeframe(rule)
    assert r % b == 0 and off % b == 0
    coarser = [ms for ms in EXCHANGE_TIMEFRAMES.values() if ms > b]
    assert all(r % ms or off % ms for ms in coarser)


@given(rule_and_offset(), times_ms)
def test_bar_open_contains_time_and_is_on_grid(ro: tuple[str, int], t: int) -> None:
    rule, off = ro
    r = parse_timeframe(rule)
    o = bar_open_ms(t, r, off)
    assert o <= t < o + r
    assert (o - off) % r == 0


@given(st.lists(rule_and_offset(), min_size=1, max_size=5), times_ms)
def test_next_run_time_is_earliest_close_after_now(ros: list[tuple[str, int]], t: int) -> None:
    schedules = [Schedule(rule, offset_name(off), name=str(i)) for i, (rule, off) in enumerate(ros)]
    when, due = next_run_time(t, schedules)
    w = to_ms(when)
    assert w > t and due
    for s in schedules:
        r, off = s.rule_ms, s.offset_ms
        nxt = bar_open_ms(t, r, off) + r
        assert nxt >= w  # nothing closes earlier
        assert (s in due) == (nxt == w)
        assert nxt - t <= r


@given(rule_and_offset(), times_ms)
def test_last_closed_bar_ends_at_or_before_now(ro: tuple[str, int], t: int) -> None:
    rule, off = ro
    r = parse_timeframe(rule)
    opened = to_ms(last_closed_bar_open(t, rule, off))
    assert opened + r <= t < opened + 2 * r


@given(st.integers(0, 24 * 60 - 1))
def test_offset_name_round_trips(minutes: int) -> None:
    ms = minutes * MINUTE_MS
    assert parse_offset(offset_name(ms)) == ms


def test_exchange_names() -> None:
    assert okx_bar("1h") == "1H"
    assert okx_bar("12H") == "12Hutc"
    assert okx_bar("1d") == "1Dutc"
    assert ccxt_timeframe("12H") == "12h"
    assert ccxt_timeframe("15m") == "15m"
    with pytest.raises(TimeframeError):
        okx_bar("2D")


def test_naive_times_are_utc() -> None:
    assert to_ms("2025-01-01 00:00") == to_ms("2025-01-01T00:00:00Z") == 1_735_689_600_000
    with pytest.raises(TimeframeError, match="cannot parse time"):
        to_ms("not a time")
