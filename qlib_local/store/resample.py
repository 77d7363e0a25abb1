"""Resampling base bars to any (rule, offset): a NumPy kernel on arrays, a pandas wrapper.

Only complete bars are emitted by default: a bar needs every one of its base bars. A bar
with missing base bars is reported and left out, or kept and flagged on request; it is
never silently invented.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from qlib_local.errors import DataError
from qlib_local.timeframes import check_offset, parse_offset, parse_timeframe, timeframe_name

log = logging.getLogger(__name__)


@dataclass
class Resampled:
    """Arrays of resampled bars; ``count`` is how many base bars each one holds."""

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    quote_volume: np.ndarray
    count: np.ndarray


def resample_arrays(
    ts_ms: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    quote_volume: np.ndarray,
    rule_ms: int,
    offset_ms: int,
) -> Resampled:
    """OHLCV aggregation of sorted, unique base bars into (rule, offset) bars."""
    n = ts_ms.shape[0]
    if n == 0:
        empty_f = np.empty(0, dtype=np.float64)
        return Resampled(np.empty(0, np.int64), *([empty_f] * 6), np.empty(0, np.int64))
    bins = (ts_ms - offset_ms) // rule_ms
    starts = np.flatnonzero(np.diff(bins, prepend=bins[0] - 1))
    ends = np.append(starts[1:], n)
    return Resampled(
        ts=bins[starts] * rule_ms + offset_ms,
        open=open_[starts],
        high=np.maximum.reduceat(high, starts),
        low=np.minimum.reduceat(low, starts),
        close=close[ends - 1],
        volume=np.add.reduceat(volume, starts),
        quote_volume=np.add.reduceat(quote_volume, starts),
        count=ends - starts,
    )


def resample_frame(
    bars: pd.DataFrame,
    base: str,
    rule: str,
    offset: str | int = 0,
    include_incomplete: bool = False,
    label: str = "",
) -> pd.DataFrame:
    """Resample a frame of ``base`` bars (UTC index of open times) to (rule, offset).

    The result's ``attrs['incomplete']`` lists the open times of bars that lacked base bars.
    With ``include_incomplete`` those bars are kept and a boolean ``complete`` column says which.
    """
    base_ms, rule_ms, off_ms = parse_timeframe(base), parse_timeframe(rule), parse_offset(offset)
    check_offset(rule_ms, off_ms, str(rule), str(offset))
    if rule_ms % base_ms or off_ms % base_ms:
        raise DataError(
            f"cannot resample {base} bars to {timeframe_name(rule_ms)} offset {offset}: "
            f"{base} does not divide it"
        )
    ts = bars.index.as_unit("ms").asi8
    qv = bars["quote_volume"].to_numpy(np.float64) if "quote_volume" in bars else np.full(len(ts), np.nan)
    r = resample_arrays(
        ts,
        bars["open"].to_numpy(np.float64),
        bars["high"].to_numpy(np.float64),
        bars["low"].to_numpy(np.float64),
        bars["close"].to_numpy(np.float64),
        bars["volume"].to_numpy(np.float64),
        qv,
        rule_ms,
        off_ms,
    )
    complete = r.count == rule_ms // base_ms
    out = pd.DataFrame(
        {
            "open": r.open,
            "high": r.high,
            "low": r.low,
            "close": r.close,
            "volume": r.volume,
            "quote_volume": r.quote_volume,
        },
        index=pd.DatetimeIndex(r.ts.astype("datetime64[ms]"), name="ts").tz_localize("UTC"),
    )
    incomplete = out.index[~complete]
    if len(incomplete):
        log.debug(
            "%s%d incomplete %s bar(s) left %s (first %s)",
            f"{label}: " if label else "",
            len(incomplete),
            timeframe_name(rule_ms),
            "flagged" if include_incomplete else "out",
            incomplete[0],
        )
    if include_incomplete:
        out["complete"] = complete
    else:
        out = out[complete]
    out.attrs["incomplete"] = list(incomplete)
    return out
