"""The store's Parquet files: atomic writes, and reads that name the file they could not read.

A truncated or corrupt part file must not surface as a pyarrow traceback from whichever
command happened to touch it: every read raises :class:`StoreFileError` naming the file, so
the CLI prints one ``error:`` line and ``data check`` can report it and carry on.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from qlib_local.errors import DataError
from qlib_local.store import layout

# Prices are near-random floats that general-purpose codecs barely shrink (about 3%) but
# cost 2-3x the read time to decode, so values are stored plain; open times, evenly spaced,
# shrink to almost nothing with delta encoding.
WRITE_OPTIONS = {
    "compression": "none",
    "use_dictionary": False,
    "column_encoding": {"ts": "DELTA_BINARY_PACKED"},
    "write_statistics": ["ts"],
}


class StoreFileError(DataError):
    """A part file of the store that cannot be read (truncated, corrupt, or not ours)."""

    def __init__(self, path: str | Path, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(
            f"{path}: unreadable store file ({reason}); move it aside, then re-import or re-download its range"
        )


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _unreadable(e: BaseException) -> bool:
    """Errors that mean a broken file; a file removed by a concurrent compaction is not one."""
    return isinstance(e, pa.ArrowException | OSError) and not isinstance(e, FileNotFoundError)


def read_parquet(paths: Sequence[str | Path], columns: Sequence[str] | None = None, filters=None) -> pa.Table:
    """``pq.read_table`` of one or several part files; a broken one raises StoreFileError naming it."""
    try:
        return pq.read_table(
            [str(p) for p in paths] if len(paths) > 1 else str(paths[0]),
            columns=list(columns) if columns is not None else None,
            filters=filters,
        )
    except Exception as e:
        if not _unreadable(e):
            raise
        if len(paths) == 1:
            reason = _first_line(e).split(f"'{paths[0]}': ", 1)[-1]  # the path is named once, first
            raise StoreFileError(paths[0], reason) from None
        for p in paths:  # which one? read each alone
            read_parquet([p], columns, filters)
        raise StoreFileError(paths[0], _first_line(e)) from None


def atomic_write_table(table: pa.Table, dest: Path, durable: bool) -> None:
    """Write aside, then rename: readers never see a partial file."""
    tmp = dest.parent / f"{layout.TMP_PREFIX}{uuid.uuid4().hex}.parquet"
    try:
        pq.write_table(table, tmp, **WRITE_OPTIONS)
        if durable:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(text: str, dest: Path) -> None:
    tmp = dest.parent / f"{layout.TMP_PREFIX}{uuid.uuid4().hex}"
    tmp.write_text(text)
    os.replace(tmp, dest)


def merge_tables(parts: list[pa.Table]) -> pa.Table:
    """Concatenate in write order and keep the last version of each bar, sorted by time."""
    t = pa.concat_tables(parts)
    ts = t.column("ts").cast(pa.int64()).to_numpy()
    order = np.argsort(ts, kind="stable")
    sorted_ts = ts[order]
    keep = np.r_[sorted_ts[1:] != sorted_ts[:-1], True]  # last of each run of equal times
    return t.take(pa.array(order[keep]))


def empty_frame(columns: Sequence[str]) -> pd.DataFrame:
    idx = pd.DatetimeIndex(np.empty(0, "datetime64[ms]"), name="ts").tz_localize("UTC")
    return pd.DataFrame({c: np.empty(0, np.float64) for c in columns}, index=idx)


def table_to_frame(table: pa.Table, columns: Sequence[str]) -> pd.DataFrame:
    frame = table.select(list(columns)).to_pandas()
    ts = table.column("ts").cast(pa.int64()).to_numpy()
    frame.index = pd.DatetimeIndex(ts.view("datetime64[ms]"), dtype="datetime64[ms, UTC]", name="ts")
    return frame
