"""Funding-rate history and mark-price candles, kept beside the bars with the same guarantees.

Both live in sibling namespaces of the exchange's folder, so every instrument listing of
the exchange itself stays bars only:

- **funding**: ``<root>/<exchange>@funding/<instrument>/`` holds one row per settlement
  (``ts`` = the funding time, ``rate`` = the rate settled then), in yearly partitions with
  the bars' file layout: atomic writes under a file lock, idempotent upserts (writing a
  settlement again replaces it), unlimited history;
- **mark prices**: ordinary OHLC bars (volume 0) of the exchange ``<exchange>@mark``, so the
  store's reads, resampling, markers and checks all apply (``store.read(mark_exchange(ex), ...)``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from filelock import FileLock

from qlib_local.errors import DataError
from qlib_local.store import layout
from qlib_local.store.parquet_io import atomic_write_table, merge_tables, read_parquet, table_to_frame
from qlib_local.timeframes import to_ms

FUNDING = "@funding"
MARK = "@mark"
MAX_FUNDING_RATE = 0.1  # per settlement; venues cap rates far below (a few percent at most)
FUNDING_SCHEMA = pa.schema([("ts", pa.timestamp("ms", tz="UTC")), ("rate", pa.float64())])
_PARTITION_TF = "8H"  # yearly partitions, as for bars of 15m and longer


def funding_exchange(exchange: str) -> str:
    return exchange + FUNDING


def mark_exchange(exchange: str) -> str:
    """The namespace whose bars are ``exchange``'s mark-price candles."""
    return exchange + MARK


def is_namespace(name: str) -> bool:
    """True for the funding and mark namespaces (not an exchange of their own)."""
    return name.endswith((FUNDING, MARK))


def funding_dir(store, exchange: str, instrument: str):
    for part, what in ((exchange, "exchange"), (instrument, "instrument")):
        if not part or "/" in part or part.startswith(".") or is_namespace(part):
            raise DataError(f"invalid {what} name {part!r}")
    return store.root / funding_exchange(exchange) / instrument


def validated_funding(rates: pd.Series | pd.DataFrame, label: str) -> pa.Table:
    """Settlement times strictly increasing, rates finite and within ±MAX_FUNDING_RATE; else one error."""
    series = rates["rate"] if isinstance(rates, pd.DataFrame) else rates
    idx = series.index
    if not isinstance(idx, pd.DatetimeIndex):
        raise DataError(f"{label}: funding rates need a DatetimeIndex of UTC funding times")
    idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
    ts = idx.as_unit("ms").asi8
    if len(ts) and (np.diff(ts) <= 0).any():
        raise DataError(f"{label}: funding times must be strictly increasing (sort and de-duplicate first)")
    values = pd.to_numeric(series, errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(values) | (np.abs(values) > MAX_FUNDING_RATE)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(f"{label}: {int(bad.sum())} funding rate(s) not finite or beyond ±{MAX_FUNDING_RATE:g}, "
                        f"first at {pd.Timestamp(ts[first], unit='ms', tz='UTC')}: {_shown(series.iloc[first])}; "
                        "nothing written")
    return pa.Table.from_arrays([pa.array(ts, pa.int64()).cast(pa.timestamp("ms", tz="UTC")), pa.array(values)],
                                schema=FUNDING_SCHEMA)


def _shown(v) -> str:
    return repr(v) if isinstance(v, str) else str(v)


def upsert_funding(store, exchange: str, instrument: str, rates: pd.Series | pd.DataFrame) -> int:
    """Insert or replace settlements (a Series of rates, or a frame with a ``rate`` column)."""
    table = validated_funding(rates, f"{exchange}/{instrument} funding")
    if table.num_rows == 0:
        return 0
    ddir = funding_dir(store, exchange, instrument)
    ddir.mkdir(parents=True, exist_ok=True)
    keys = layout.period_keys(table.column("ts").cast(pa.int64()).to_numpy(), _PARTITION_TF)
    with FileLock(str(ddir / layout.LOCK_FILE)):
        files = layout.scan(ddir)
        seq = max((f.seq for f in files), default=0)
        live = layout.live_files(files)
        for period in sorted(set(keys.tolist())):
            part = table.filter(pa.array(keys == period))
            old = live.get(period, [])
            merged = merge_tables([*(read_parquet([f.path]) for f in old), part]) if old else part
            seq += 1  # small tables: always a fresh full file (no deltas needed)
            atomic_write_table(merged, ddir / layout.file_name(period, seq, "full"), store.durable)
        for f in layout.stale_files(layout.scan(ddir)):
            f.path.unlink(missing_ok=True)
    return table.num_rows


def read_funding(store, exchange: str, instrument: str, start=None, end=None) -> pd.Series:
    """Rates settled in [start, end), indexed by funding time; empty when none are stored."""
    ddir = funding_dir(store, exchange, instrument)
    live = layout.live_files(layout.scan(ddir)) if ddir.is_dir() else {}
    tables = [merge_tables([read_parquet([f.path]) for f in fs]) for _, fs in sorted(live.items())]
    if tables:
        frame = table_to_frame(pa.concat_tables(tables), ["rate"])
    else:
        idx = pd.DatetimeIndex(np.empty(0, "datetime64[ms]"), name="ts").tz_localize("UTC")
        frame = pd.DataFrame({"rate": np.empty(0, np.float64)}, index=idx)
    ts = frame.index.as_unit("ms").asi8
    keep = np.ones(len(ts), bool)
    if start is not None:
        keep &= ts >= to_ms(start)
    if end is not None:
        keep &= ts < to_ms(end)
    return frame["rate"][keep]


def funding_instruments(store, exchange: str) -> list[str]:
    """Instruments of ``exchange`` with stored funding history."""
    base = store.root / funding_exchange(exchange)
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and layout.scan(p))
