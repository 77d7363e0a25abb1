"""Reading bar files for import and writing them for export.

Import is strict: a file with missing columns, no rows, unparseable dates, bars breaking the
bar rule (``validate``), or duplicate or unordered timestamps is refused with the problem
named, unless the caller explicitly asks for bad rows to be dropped (and reported) or for the
file to be sorted and de-duplicated. Nothing reaches the store until the whole file has passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.feather as feather
import pyarrow.parquet as pq

from qlib_local.errors import DataError
from qlib_local.store.kline_store import PRICE_COLUMNS
from qlib_local.store.validate import find_bad_bars, reason

TIME_COLUMNS = ("date", "timestamp", "ts", "time", "datetime")
READERS = {
    ".csv": lambda p: pd.read_csv(p),
    ".feather": lambda p: feather.read_table(p).to_pandas(),
    ".parquet": lambda p: pq.read_table(p).to_pandas(),
    ".pq": lambda p: pq.read_table(p).to_pandas(),
}
DROPPED_SHOWN = 10  # dropped rows listed one per line; the rest are counted


@dataclass
class BarFile:
    """The bars of a file, and the bad rows left out of it (``--drop-bad-rows``)."""

    bars: pd.DataFrame
    dropped: int = 0
    dropped_lines: list[str] = field(default_factory=list)  # "row N (time): reason", the first few


def read_table(path: Path) -> pd.DataFrame:
    """A csv/feather/parquet file as read, or one ``DataError`` line naming it."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise DataError(f"{path}: unsupported file type {path.suffix!r} (use .csv, .feather or .parquet)")
    try:
        raw = reader(path)
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise DataError(f"{path}: cannot read file ({str(e).splitlines()[0]})") from None
    return raw


def read_bar_file(path: str | Path, sort_dedupe: bool = False, drop_bad_rows: bool = False,
                  no_volume: bool = False) -> BarFile:
    """Bars of a csv/feather/parquet file on a UTC DatetimeIndex; rows are numbered from 1.

    ``no_volume``: candles that trade nothing (mark prices): the volume column may be absent
    or empty, and is stored as 0."""
    path = Path(path)
    raw = read_table(path)
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    time_col = next((c for c in TIME_COLUMNS if c in raw.columns), None)
    if time_col is None and isinstance(raw.index, pd.DatetimeIndex):
        raw = raw.reset_index(names="date")
        time_col = "date"
    if no_volume:
        raw = raw.assign(volume=0.0).drop(columns=["quote_volume"], errors="ignore")
    missing = ([] if time_col else ["date or timestamp"]) + [c for c in PRICE_COLUMNS if c not in raw.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
    if raw.empty:
        raise DataError(f"{path}: no bars (a header and no rows)")
    index = _parse_times(raw[time_col], path)
    frame = raw.drop(columns=[time_col])
    frame.index = index
    frame.index.name = "ts"
    keep = [c for c in (*PRICE_COLUMNS, "quote_volume") if c in frame.columns]
    frame = frame[keep].apply(pd.to_numeric, errors="coerce")
    frame, dropped, lines = _sane_rows(frame, path, drop_bad_rows)
    return BarFile(_ordered(frame, path, sort_dedupe), dropped, lines)


def _sane_rows(frame: pd.DataFrame, path: Path, drop: bool) -> tuple[pd.DataFrame, int, list[str]]:
    """The rows passing the bar rule; bad rows are refused, or dropped and listed when asked."""
    cols = {c: frame[c].to_numpy(np.float64) for c in frame.columns}
    bad = find_bad_bars(cols)
    if bad is None:
        return frame, 0, []

    def where(i: int) -> str:
        return f"row {i + 1} ({frame.index[i]})"

    if not drop:
        raise DataError(
            f"{path}: {bad.count} bad row(s), first {where(bad.first)}: {bad.reason}; "
            "pass --drop-bad-rows to import without them"
        )
    if bad.count == len(frame):
        raise DataError(f"{path}: all {bad.count} row(s) are bad, first {where(bad.first)}: {bad.reason}")
    rows = np.flatnonzero(bad.mask)
    lines = [f"{where(int(i))}: {reason(cols, int(i))}" for i in rows[:DROPPED_SHOWN]]
    return frame[~bad.mask], bad.count, lines


def _parse_times(col: pd.Series, path: Path) -> pd.DatetimeIndex:
    if pd.api.types.is_numeric_dtype(col):
        v = col.to_numpy()
        unit = "ms" if np.nanmax(np.abs(v)) > 1e11 else "s"
        parsed = pd.to_datetime(col, unit=unit, utc=True, errors="coerce")
    else:
        parsed = pd.to_datetime(col, utc=True, errors="coerce", format="mixed")
    bad = parsed.isna()
    if bad.any():
        first = col[bad].iloc[0]
        raise DataError(
            f"{path}: {int(bad.sum())} unparseable date(s), first {first!r} at row {int(np.flatnonzero(bad)[0]) + 1}"
        )
    return pd.DatetimeIndex(parsed).as_unit("ms")


def _ordered(frame: pd.DataFrame, path: Path, sort_dedupe: bool) -> pd.DataFrame:
    ts = frame.index.asi8
    dups = int(frame.index.duplicated().sum())
    unordered = int((np.diff(ts) < 0).sum()) if len(ts) > 1 else 0
    if not (dups or unordered):
        return frame
    if not sort_dedupe:
        problems = []
        if dups:
            problems.append(
                f"{dups} duplicate timestamp(s), first {frame.index[frame.index.duplicated()][0]}"
            )
        if unordered:
            problems.append(f"{unordered} out-of-order timestamp(s)")
        raise DataError(
            f"{path}: {' and '.join(problems)}; pass --sort-dedupe to import sorted and de-duplicated"
        )
    frame = frame.sort_index(kind="stable")
    return frame[~frame.index.duplicated(keep="last")]


def write_bar_file(frame: pd.DataFrame, path: str | Path, fmt: str) -> Path:
    """CSV columns ``date,open,high,low,close,volume`` with ISO 8601 UTC open times, or Parquet."""
    path = Path(path)
    if not path.parent.is_dir():
        raise DataError(f"{path.parent}: output folder does not exist")
    out = frame[list(PRICE_COLUMNS)].copy()
    out.attrs = {}  # resampling notes are not file metadata
    out.index = out.index.tz_convert("UTC")
    if fmt == "csv":
        out.insert(0, "date", out.index.strftime("%Y-%m-%dT%H:%M:%SZ"))
        out.to_csv(path, index=False)
    elif fmt == "parquet":
        out.index.name = "date"
        out.reset_index().to_parquet(path, index=False)
    else:
        raise DataError(f"unknown format {fmt!r} (use csv or parquet)")
    return path
