"""The local K-line store: Parquet datasets that research and live jobs both read."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from filelock import FileLock

from qlib_local.errors import DataError
from qlib_local.store import layout
from qlib_local.store.funding import is_namespace, read_funding, upsert_funding
from qlib_local.store.parquet_io import (
    WRITE_OPTIONS,
    StoreFileError,
    atomic_write_table,
    atomic_write_text,
    empty_frame,
    merge_tables,
    read_parquet,
    table_to_frame,
)
from qlib_local.store.resample import resample_frame
from qlib_local.store.series_rule import finest_complete
from qlib_local.store.validate import find_bad_bars
from qlib_local.timeframes import (
    check_offset,
    normalize_timeframe,
    parse_offset,
    parse_timeframe,
    timeframe_name,
    to_ms,
)

__all__ = ["COLUMNS", "PRICE_COLUMNS", "ROOT_ENV", "WRITE_OPTIONS", "KlineStore", "StoreFileError", "default_root"]

ROOT_ENV = "QLIB_LOCAL_ROOT"
PRICE_COLUMNS = ("open", "high", "low", "close", "volume")
COLUMNS = (*PRICE_COLUMNS, "quote_volume")
SCHEMA = pa.schema([("ts", pa.timestamp("ms", tz="UTC"))] + [(c, pa.float64()) for c in COLUMNS])
COMPACT_AFTER = 8  # deltas per partition before they are folded into the full file


def default_root() -> Path:
    return Path(os.environ.get(ROOT_ENV, "data"))


class KlineStore:
    """Bars keyed by (exchange, instrument, timeframe), instruments by the exchange's own id."""

    def __init__(self, root: str | Path | None = None, create: bool = False, durable: bool = True):
        self.root = Path(root) if root is not None else default_root()
        self.durable = durable
        if not self.root.is_dir():
            if create:
                self.root.mkdir(parents=True, exist_ok=True)
            else:
                raise DataError(f"data root {self.root} does not exist (create it or pass --root)")

    # ----------------------------------------------------------------- paths
    def dataset_dir(self, exchange: str, instrument: str, timeframe: str) -> Path:
        for part, what in ((exchange, "exchange"), (instrument, "instrument")):
            if not part or "/" in part or part.startswith("."):
                raise DataError(f"invalid {what} name {part!r}")
        return self.root / exchange / instrument / normalize_timeframe(timeframe)

    def exchanges(self) -> list[str]:
        """Exchanges with stored bars (the funding and mark namespaces are listed by ``namespaces``)."""
        return [n for n in self.namespaces() if not is_namespace(n)]

    def namespaces(self) -> list[str]:
        """Every top-level folder: exchanges and their ``@funding``/``@mark`` namespaces."""
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))

    # ----------------------------------------------------------------- funding (see store.funding)
    def upsert_funding(self, exchange: str, instrument: str, rates: pd.Series | pd.DataFrame) -> int:
        return upsert_funding(self, exchange, instrument, rates)

    def read_funding(self, exchange: str, instrument: str, start=None, end=None) -> pd.Series:
        return read_funding(self, exchange, instrument, start, end)

    def instruments(self, exchange: str, timeframe: str | None = None) -> list[str]:
        base = self.root / exchange
        if not base.is_dir():
            return []
        names = sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
        if timeframe is None:
            return names
        tf = normalize_timeframe(timeframe)
        return [n for n in names if layout.scan(base / n / tf)]

    def timeframes(self, exchange: str, instrument: str) -> list[str]:
        base = self.root / exchange / instrument
        if not base.is_dir():
            return []
        tfs = [p.name for p in base.iterdir() if p.is_dir() and layout.scan(p)]
        return sorted(tfs, key=parse_timeframe)

    # ----------------------------------------------------------------- write
    def upsert(self, exchange: str, instrument: str, timeframe: str, bars: pd.DataFrame) -> int:
        """Insert or replace bars; writing a bar again replaces it. Returns rows written."""
        tf = normalize_timeframe(timeframe)
        table = self._validated_table(bars, tf, f"{exchange}/{instrument}/{tf}")
        if table.num_rows == 0:
            return 0
        ddir = self.dataset_dir(exchange, instrument, tf)
        ddir.mkdir(parents=True, exist_ok=True)
        ts = table.column("ts").cast(pa.int64()).to_numpy()
        keys = layout.period_keys(ts, tf)
        with FileLock(str(ddir / layout.LOCK_FILE)):
            files = layout.scan(ddir)
            seq = max((f.seq for f in files), default=0)
            live = layout.live_files(files)
            boundaries = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
            for i, start in enumerate(boundaries):
                stop = boundaries[i + 1] if i + 1 < len(boundaries) else len(keys)
                period = str(keys[start])
                part = table.slice(int(start), int(stop - start))
                seq += 1
                existing = live.get(period, [])
                kind = "full" if not existing else "delta"
                atomic_write_table(part, ddir / layout.file_name(period, seq, kind), self.durable)
                if kind == "delta" and len(existing) >= COMPACT_AFTER:
                    seq += 1
                    self._compact_partition(ddir, period, seq)
            self._remove_stale(ddir)
        return table.num_rows

    def compact(self, exchange: str, instrument: str, timeframe: str) -> None:
        """Fold every partition's deltas into its full file."""
        ddir = self.dataset_dir(exchange, instrument, timeframe)
        with FileLock(str(ddir / layout.LOCK_FILE)):
            files = layout.scan(ddir)
            seq = max((f.seq for f in files), default=0)
            for period, fs in layout.live_files(files).items():
                if len(fs) > 1:
                    seq += 1
                    self._compact_partition(ddir, period, seq)
            self._remove_stale(ddir)

    def _compact_partition(self, ddir: Path, period: str, seq: int) -> None:
        fs = layout.live_files(layout.scan(ddir))[period]
        merged = merge_tables([read_parquet([f.path]) for f in fs])
        atomic_write_table(merged, ddir / layout.file_name(period, seq, "full"), self.durable)

    def _remove_stale(self, ddir: Path) -> None:
        for f in layout.stale_files(layout.scan(ddir)):
            f.path.unlink(missing_ok=True)
        for p in ddir.glob(layout.TMP_PREFIX + "*"):  # left by a writer killed mid-write
            p.unlink(missing_ok=True)

    def _validated_table(self, bars: pd.DataFrame, tf: str, label: str) -> pa.Table:
        missing = [c for c in PRICE_COLUMNS if c not in bars.columns]
        if missing:
            raise DataError(f"{label}: missing column(s) {', '.join(missing)}")
        idx = bars.index
        if not isinstance(idx, pd.DatetimeIndex):
            raise DataError(f"{label}: bars need a DatetimeIndex of UTC open times")
        idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
        ts = idx.as_unit("ms").asi8
        if len(ts) and (np.diff(ts) <= 0).any():
            raise DataError(f"{label}: bar times must be strictly increasing (sort and de-duplicate first)")
        rule_ms = parse_timeframe(tf)
        bad = ts % rule_ms != 0
        if bad.any():
            raise DataError(
                f"{label}: {int(bad.sum())} bar time(s) not on the {tf} grid, first {pd.Timestamp(ts[bad][0], unit='ms')}"
            )
        cols = {}
        for c in COLUMNS:
            if c in bars.columns:
                cols[c] = pd.to_numeric(bars[c], errors="coerce").to_numpy(np.float64)
            else:
                cols[c] = np.full(len(ts), np.nan)
        for c in ("open", "high", "low", "close"):
            if np.isnan(cols[c]).any():
                raise DataError(f"{label}: column {c} has missing or non-numeric values")
        bad = find_bad_bars(cols)
        if bad is not None:
            raise DataError(
                f"{label}: {bad.count} bar(s) break the bar rule, first at "
                f"{pd.Timestamp(ts[bad.first], unit='ms', tz='UTC')}: {bad.reason}; nothing written"
            )
        return pa.Table.from_arrays(
            [pa.array(ts, pa.int64()).cast(pa.timestamp("ms", tz="UTC"))]
            + [pa.array(cols[c]) for c in COLUMNS],
            schema=SCHEMA,
        )

    # ----------------------------------------------------------------- read
    def read(
        self,
        exchange: str,
        instrument: str,
        timeframe: str,
        start: str | pd.Timestamp | None = None,
        end: str | pd.Timestamp | None = None,
        offset: str | int = 0,
        columns: Sequence[str] = COLUMNS,
        include_incomplete: bool = False,
        base: str | None = None,
    ) -> pd.DataFrame:
        """Bars with open time in [start, end) of any (rule, offset), complete bars only
        unless ``include_incomplete`` (then a boolean ``complete`` column says which).

        The store rule (``series_rule``): each bar comes from the finest stored series that
        holds it complete; coarser series fill only bars the finer ones cannot build, so adding
        a series never changes a bar already readable. ``base`` reads one stored series only
        (``base=timeframe``: that stored dataset as it is).
        """
        rule_ms, off_ms = parse_timeframe(timeframe), parse_offset(offset)
        check_offset(rule_ms, off_ms, str(timeframe), str(offset))
        tf = timeframe_name(rule_ms)
        start_ms = to_ms(start) if start is not None else None
        end_ms = to_ms(end) if end is not None else None
        sources = [normalize_timeframe(base)] if base else self.sources(exchange, instrument, tf, off_ms)
        if sources == [tf] and off_ms == 0:  # the stored series itself (an absent one reads empty)
            return self._read_stored(exchange, instrument, tf, start_ms, end_ms, columns)
        # Widen to whole target bars so edge bars are judged on all their base bars.
        lo = None if start_ms is None else (start_ms - off_ms) // rule_ms * rule_ms + off_ms
        hi = None if end_ms is None else -((-(end_ms - off_ms)) // rule_ms) * rule_ms + off_ms
        views = []
        for src in sources:
            raw = self._read_stored(exchange, instrument, src, lo, hi, COLUMNS)
            if src == tf and off_ms == 0:
                views.append(raw.assign(complete=True))
            else:
                views.append(resample_frame(raw, src, tf, off_ms, True, f"{exchange}/{instrument}"))
        out = finest_complete(views)
        ts = out.index.as_unit("ms").asi8
        keep = np.ones(len(ts), bool)
        if start_ms is not None:
            keep &= ts >= start_ms
        if end_ms is not None:
            keep &= ts < end_ms
        complete = out["complete"].to_numpy(bool)
        incomplete = list(out.index[keep & ~complete])
        out = out[keep] if include_incomplete else out[keep & complete]
        out = out[list(columns) + (["complete"] if include_incomplete else [])]
        out.attrs["incomplete"] = incomplete
        return out

    def sources(self, exchange: str, instrument: str, timeframe: str, offset: str | int = 0) -> list[str]:
        """Stored series a (rule, offset) view can be built from, finest first (the store rule's order)."""
        rule_ms, off_ms = parse_timeframe(timeframe), parse_offset(offset)
        stored = self.timeframes(exchange, instrument)
        if not stored:
            raise DataError(f"no data stored for {exchange}/{instrument}")
        fitting = [t for t in stored if rule_ms % parse_timeframe(t) == 0 and off_ms % parse_timeframe(t) == 0]
        if not fitting:
            raise DataError(
                f"{exchange}/{instrument}: no stored timeframe ({', '.join(stored)}) divides "
                f"{timeframe_name(rule_ms)} with that offset"
            )
        return fitting

    def _read_stored(
        self,
        exchange: str,
        instrument: str,
        tf: str,
        start_ms: int | None,
        end_ms: int | None,
        columns: Sequence[str],
    ) -> pd.DataFrame:
        ddir = self.dataset_dir(exchange, instrument, tf)
        for attempt in range(5):
            try:
                table = self._read_table(ddir, start_ms, end_ms, columns)
                break
            except FileNotFoundError:  # a concurrent compaction removed a file: list again
                if attempt == 4:
                    raise
        if table is None:
            return empty_frame(columns)
        return table_to_frame(table, columns)

    def _read_table(
        self, ddir: Path, start_ms: int | None, end_ms: int | None, columns: Sequence[str]
    ) -> pa.Table | None:
        """Partitions overlapping [start, end) in time order; runs of compacted partitions
        are read in one multi-threaded call, partitions with deltas are merged apart."""
        live = layout.live_files(layout.scan(ddir))
        cols = ["ts", *columns]
        filt = []
        if start_ms is not None:
            filt.append(("ts", ">=", pd.Timestamp(start_ms, unit="ms", tz="UTC")))
        if end_ms is not None:
            filt.append(("ts", "<", pd.Timestamp(end_ms, unit="ms", tz="UTC")))
        tables: list[pa.Table] = []
        run: list[str] = []

        def flush() -> None:
            if run:
                tables.append(read_parquet(list(run), cols, filt or None))
                run.clear()

        for period in sorted(live):
            p_lo, p_hi = layout.period_bounds_ms(period)
            if (start_ms is not None and p_hi <= start_ms) or (end_ms is not None and p_lo >= end_ms):
                continue
            fs = live[period]
            if len(fs) == 1:
                run.append(str(fs[0].path))
                continue
            flush()
            tables.append(merge_tables([read_parquet([f.path], cols, filt or None) for f in fs]))
        flush()
        if not tables:
            return None
        return tables[0] if len(tables) == 1 else pa.concat_tables(tables)

    def read_panel(
        self,
        exchange: str,
        instruments: Iterable[str] | None,
        timeframe: str,
        start: str | pd.Timestamp | None = None,
        end: str | pd.Timestamp | None = None,
        offset: str | int = 0,
        fields: Sequence[str] = ("close",),
        max_workers: int = 8,
    ) -> dict[str, pd.DataFrame]:
        """Wide frames (one column per instrument) per field, for cross-sectional work."""
        names = list(instruments) if instruments is not None else self.instruments(exchange)
        if not names:
            raise DataError(f"no instruments stored for exchange {exchange}")

        def one(name: str) -> pd.DataFrame:
            return self.read(exchange, name, timeframe, start, end, offset, columns=fields)

        with ThreadPoolExecutor(max_workers=max_workers) as pool:
            frames = list(pool.map(one, names))
        out = {}
        for field in fields:
            out[field] = pd.concat(
                {n: f[field] for n, f in zip(names, frames, strict=True)}, axis=1, sort=True
            )
            out[field].columns.name = "instrument"
        return out

    def last_bar_time(self, exchange: str, instrument: str, timeframe: str) -> pd.Timestamp | None:
        """Open time of the newest stored bar, reading only the last partition."""
        ddir = self.dataset_dir(exchange, instrument, timeframe)
        live = layout.live_files(layout.scan(ddir))
        if not live:
            return None
        last = max(live)
        ts = pa.concat_tables([read_parquet([f.path], ["ts"]) for f in live[last]]).column("ts")
        return pd.Timestamp(pc.max(ts).as_py()) if len(ts) else None

    # ----------------------------------------------------------------- markers
    def set_complete_up_to(self, exchange: str, instrument: str, timeframe: str, ts: pd.Timestamp) -> None:
        """Record that every bar opening before ``ts`` is stored and closed (live jobs wait on it)."""
        ddir = self.dataset_dir(exchange, instrument, timeframe)
        ddir.mkdir(parents=True, exist_ok=True)
        payload = {
            "complete_up_to": pd.Timestamp(ts).tz_convert("UTC").isoformat(),
            "written_at": pd.Timestamp.now(tz="UTC").isoformat(),
        }
        atomic_write_text(json.dumps(payload), ddir / layout.MARKER_FILE)

    def complete_up_to(self, exchange: str, instrument: str, timeframe: str) -> pd.Timestamp | None:
        path = self.dataset_dir(exchange, instrument, timeframe) / layout.MARKER_FILE
        try:
            return pd.Timestamp(json.loads(path.read_text())["complete_up_to"])
        except FileNotFoundError:
            return None

