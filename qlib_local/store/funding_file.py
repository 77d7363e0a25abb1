"""Reading funding-rate files for import, as strictly as bar files.

A funding file has a time column and a rate column, under any of the names the common
sources use: ccxt and Binance write ``fundingTime``/``fundingRate``, OKX ``fundingTime``/
``realizedRate``, freqtrade's ``*-funding_rate.feather`` keeps the rate in ``open`` (a
candle layout with ``high``/``low``/``close`` zero). Venues stamp a settlement a few ms
after the hour (Binance's ``1637193600008``), so times are rounded to the nearest minute.
Nothing reaches the store unless every row passes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from qlib_local.errors import DataError
from qlib_local.store.files import TIME_COLUMNS, read_table
from qlib_local.store.funding import MAX_FUNDING_RATE
from qlib_local.timeframes import MINUTE_MS

FUNDING_TIME_COLUMNS = ("fundingtime", "funding_time", *TIME_COLUMNS)
RATE_COLUMNS = ("rate", "fundingrate", "funding_rate", "realizedrate", "realized_rate", "open")


def snap_funding_times(ts_ms: np.ndarray) -> np.ndarray:
    """Settlement times to the nearest whole minute (venues stamp them a few ms late)."""
    return (np.asarray(ts_ms, np.int64) + MINUTE_MS // 2) // MINUTE_MS * MINUTE_MS


def read_funding_file(path: str | Path, sort_dedupe: bool = False) -> pd.Series:
    """Settled rates of a csv/feather/parquet file on a UTC DatetimeIndex (rows numbered from 1)."""
    path = Path(path)
    raw = read_table(path)
    if isinstance(raw.index, pd.DatetimeIndex):
        raw = raw.reset_index(names="date")
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    time_col = next((c for c in FUNDING_TIME_COLUMNS if c in raw.columns), None)
    rate_col = next((c for c in RATE_COLUMNS if c in raw.columns), None)
    missing = ([] if time_col else ["a time (fundingTime, date, ts, timestamp)"]) + (
        [] if rate_col else ["a rate (rate, fundingRate, realizedRate, or open as freqtrade writes it)"])
    if missing:
        raise DataError(f"{path}: missing column(s): {' and '.join(missing)}; found {', '.join(raw.columns) or 'none'}")
    if raw.empty:
        raise DataError(f"{path}: no funding rates (a header and no rows)")
    times = _times(raw[time_col], path)
    rates = pd.to_numeric(raw[rate_col], errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(rates) | (np.abs(rates) > MAX_FUNDING_RATE)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        v = raw[rate_col].iloc[i]
        shown = repr(v) if isinstance(v, str) else str(v)
        raise DataError(f"{path}: {int(bad.sum())} rate(s) in column {rate_col!r} not a finite number within "
                        f"±{MAX_FUNDING_RATE:g}, first row {i + 1} ({times[i]}): {shown}")
    series = pd.Series(rates, index=times, name="rate")
    dups = int(series.index.duplicated().sum())
    unordered = int((np.diff(series.index.asi8) < 0).sum())
    if dups or unordered:
        if not sort_dedupe:
            what = [f"{dups} duplicate funding time(s) (after rounding to the minute)"] if dups else []
            what += [f"{unordered} out-of-order time(s)"] if unordered else []
            raise DataError(f"{path}: {' and '.join(what)}; pass --sort-dedupe to import sorted and de-duplicated")
        series = series.sort_index(kind="stable")
        series = series[~series.index.duplicated(keep="last")]
    return series


def _times(col: pd.Series, path: Path) -> pd.DatetimeIndex:
    if pd.api.types.is_numeric_dtype(col):
        v = col.to_numpy(np.float64)
        unit = "ms" if np.nanmax(np.abs(v)) > 1e11 else "s"
        parsed = pd.to_datetime(col, unit=unit, utc=True, errors="coerce")
    else:
        parsed = pd.to_datetime(col, utc=True, errors="coerce", format="mixed")
    bad = parsed.isna()
    if bad.any():
        raise DataError(f"{path}: {int(bad.sum())} unparseable time(s), first {col[bad].iloc[0]!r} "
                        f"at row {int(np.flatnonzero(bad)[0]) + 1}")
    ms = snap_funding_times(pd.DatetimeIndex(parsed).as_unit("ms").asi8)
    return pd.DatetimeIndex(ms.astype("datetime64[ms]"), name="ts").tz_localize("UTC")
