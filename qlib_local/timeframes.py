"""Timeframes, offsets and bar arithmetic.

UTC everywhere; a bar is labelled by its open time. The bars of (rule, offset) open at
epoch-aligned multiples of the rule plus the offset, so ``12H`` with ``2h15m`` opens at
02:15 and 14:15 UTC. Everything is integer milliseconds underneath, so there is no
floating-point drift and no timezone ambiguity.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from qlib_local.errors import QlibError

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

# The timeframes exchanges serve, finest first. Only these are ever fetched.
EXCHANGE_TIMEFRAMES: dict[str, int] = {
    "1m": MINUTE_MS,
    "3m": 3 * MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1H": HOUR_MS,
    "2H": 2 * HOUR_MS,
    "4H": 4 * HOUR_MS,
    "6H": 6 * HOUR_MS,
    "12H": 12 * HOUR_MS,
    "1D": DAY_MS,
}
_MS_TO_NAME = {ms: name for name, ms in EXCHANGE_TIMEFRAMES.items()}
MAX_RULE_MS = 366 * DAY_MS  # a rule longer than a year is a typo, and would overflow time arithmetic

_TF_RE = re.compile(r"^\s*(\d+)\s*([mhHdD])\s*$")
_OFFSET_RE = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


class TimeframeError(QlibError):
    """A timeframe or offset that cannot be used."""


def parse_timeframe(text: str) -> int:
    """Rule length in ms for names like ``1m``, ``12H``, ``12h``, ``1D``.

    Any whole number of minutes, hours or days is accepted as a resampling rule
    (``2D`` is valid for research); exchange fetching uses ``EXCHANGE_TIMEFRAMES`` only.
    """
    m = _TF_RE.match(str(text))
    if not m or int(m.group(1)) == 0:
        raise TimeframeError(f"unknown timeframe {text!r}: use e.g. {', '.join(EXCHANGE_TIMEFRAMES)}")
    n, unit = int(m.group(1)), m.group(2).lower()
    rule_ms = n * {"m": MINUTE_MS, "h": HOUR_MS, "d": DAY_MS}[unit]
    if rule_ms > MAX_RULE_MS:
        raise TimeframeError(f"timeframe {text!r} is longer than {MAX_RULE_MS // DAY_MS} days")
    return rule_ms


def timeframe_name(rule_ms: int) -> str:
    """Canonical name of a rule length: ``1m``, ``15m``, ``1H``, ``12H``, ``1D``, ``2D``."""
    if rule_ms in _MS_TO_NAME:
        return _MS_TO_NAME[rule_ms]
    if rule_ms % DAY_MS == 0:
        return f"{rule_ms // DAY_MS}D"
    if rule_ms % HOUR_MS == 0:
        return f"{rule_ms // HOUR_MS}H"
    if rule_ms % MINUTE_MS == 0:
        return f"{rule_ms // MINUTE_MS}m"
    raise TimeframeError(f"rule of {rule_ms} ms is not a whole number of minutes")


def normalize_timeframe(text: str) -> str:
    """``12h`` -> ``12H``; raises on unknown names."""
    return timeframe_name(parse_timeframe(text))


def parse_offset(text: str | int | None) -> int:
    """Offset in ms for ``0``, ``0h``, ``1h``, ``2h15m``, ``45m``, ``1d2h``, ``30s``.

    Seconds parse so that a sub-minute offset can be refused with a precise reason by
    :func:`base_timeframe` rather than a generic syntax error.
    """
    if text is None:
        return 0
    if isinstance(text, int):
        return text
    s = str(text).strip().lower()
    if s in ("", "0"):
        return 0
    m = _OFFSET_RE.match(s)
    if not m or not any(m.groups()):
        raise TimeframeError(f"unknown offset {text!r}: use e.g. 0h, 1h, 2h15m, 45m")
    d, h, mi, sec = (int(g) if g else 0 for g in m.groups())
    return d * DAY_MS + h * HOUR_MS + mi * MINUTE_MS + sec * 1000


def offset_name(offset_ms: int) -> str:
    """Canonical short form: ``0h``, ``2h15m``, ``45m``."""
    if offset_ms == 0:
        return "0h"
    h, rest = divmod(offset_ms, HOUR_MS)
    mi, rest = divmod(rest, MINUTE_MS)
    sec = rest // 1000
    out = (f"{h}h" if h else "") + (f"{mi}m" if mi else "") + (f"{sec}s" if sec else "")
    return out


def check_offset(rule_ms: int, offset_ms: int, rule_text: str = "", offset_text: str = "") -> None:
    """An offset must lie in ``[0, rule)``: ``12H`` with ``13h`` is a config mistake."""
    if offset_ms < 0 or offset_ms >= rule_ms:
        raise TimeframeError(
            f"offset {offset_text or offset_name(offset_ms)} does not fit rule "
            f"{rule_text or timeframe_name(rule_ms)}: it must be at least 0 and shorter than the rule"
        )


def coarsest_dividing(spans_ms: Iterable[int]) -> str:
    """The coarsest exchange timeframe dividing every span (rules, offsets, a funding interval; zeros
    ignored): the base bar they all fall on; "" when none does."""
    g = 0
    for v in spans_ms:
        g = math.gcd(g, int(v))
    return next((name for name, ms in reversed(EXCHANGE_TIMEFRAMES.items()) if g and g % ms == 0), "")


def base_timeframe(rule: str, offset: str | int = 0) -> str:
    """The coarsest exchange timeframe that divides both rule and offset.

    ``12H`` + ``1h`` -> ``1H``; ``12H`` + ``1h15m`` -> ``15m``. Only this timeframe is
    fetched; every other view is resampled from it.
    """
    rule_ms = parse_timeframe(rule)
    offset_ms = parse_offset(offset)
    check_offset(rule_ms, offset_ms, str(rule), str(offset))
    name = coarsest_dividing([rule_ms, offset_ms])
    if name:
        return name
    raise TimeframeError(
        f"no exchange timeframe divides rule {rule} with offset {offset}: "
        "rule and offset must be whole minutes"
    )


def finest_timeframe(names: Iterable[str]) -> str:
    """The finest of several exchange timeframes, which all coarser views resample from."""
    ms = [parse_timeframe(n) for n in names]
    if not ms:
        raise TimeframeError("no timeframes given")
    return timeframe_name(min(ms))


def bar_open_ms(ts_ms: int, rule_ms: int, offset_ms: int = 0) -> int:
    """Open time of the (rule, offset) bar containing ``ts_ms``."""
    return (ts_ms - offset_ms) // rule_ms * rule_ms + offset_ms


def to_ms(ts: pd.Timestamp | str | int) -> int:
    """UTC milliseconds of a timestamp; naive values are taken as UTC."""
    if isinstance(ts, int):
        return ts
    try:
        t = pd.Timestamp(ts)
    except (ValueError, TypeError):
        raise TimeframeError(f"cannot parse time {ts!r}: use ISO 8601, e.g. 2025-01-01T00:00Z") from None
    if t is pd.NaT:
        raise TimeframeError(f"cannot parse time {ts!r}")
    if t.tzinfo is None:
        t = t.tz_localize("UTC")
    return int(t.value // 1_000_000)


def from_ms(ms: int) -> pd.Timestamp:
    return pd.Timestamp(ms, unit="ms", tz="UTC")


def last_closed_bar_open(now: pd.Timestamp | str | int, rule: str, offset: str | int = 0) -> pd.Timestamp:
    """Open time of the newest bar whose end is at or before ``now``."""
    rule_ms, off_ms = parse_timeframe(rule), parse_offset(offset)
    return from_ms(bar_open_ms(to_ms(now), rule_ms, off_ms) - rule_ms)


@dataclass(frozen=True)
class Schedule:
    """A (rule, offset) at whose bar closes something runs; ``name`` says what."""

    rule: str
    offset: str = "0h"
    name: str = ""

    @property
    def rule_ms(self) -> int:
        return parse_timeframe(self.rule)

    @property
    def offset_ms(self) -> int:
        return parse_offset(self.offset)


def next_close_ms(now_ms: int, rule_ms: int, offset_ms: int) -> int:
    """First bar close strictly after ``now_ms``."""
    return bar_open_ms(now_ms, rule_ms, offset_ms) + rule_ms


def next_run_time(
    now: pd.Timestamp | str | int, schedules: Sequence[Schedule]
) -> tuple[pd.Timestamp, list[Schedule]]:
    """Earliest upcoming bar close (strictly after ``now``) and the schedules due then."""
    if not schedules:
        raise TimeframeError("next_run_time needs at least one schedule")
    now_ms = to_ms(now)
    closes = []
    for s in schedules:
        check_offset(s.rule_ms, s.offset_ms, s.rule, s.offset)
        closes.append(next_close_ms(now_ms, s.rule_ms, s.offset_ms))
    first = min(closes)
    return from_ms(first), [s for s, c in zip(schedules, closes, strict=True) if c == first]


def okx_bar(timeframe: str) -> str:
    """OKX's ``bar`` parameter for a UTC-aligned timeframe (6H and longer get ``utc``)."""
    name = normalize_timeframe(timeframe)
    if name not in EXCHANGE_TIMEFRAMES:
        raise TimeframeError(f"OKX does not serve timeframe {timeframe}")
    return name + "utc" if parse_timeframe(name) >= 6 * HOUR_MS else name


def ccxt_timeframe(timeframe: str) -> str:
    """ccxt's unified timeframe string (``1h``, ``12h``, ``1d``)."""
    name = normalize_timeframe(timeframe)
    return name[:-1] + name[-1].lower() if name[-1] in "HD" else name
