"""Health of stored datasets: gaps, duplicates, off-grid bars, the newest bar."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from qlib_local.store import layout
from qlib_local.store.kline_store import KlineStore
from qlib_local.timeframes import parse_timeframe


@dataclass
class DatasetReport:
    exchange: str
    instrument: str
    timeframe: str
    rows: int
    first: pd.Timestamp | None
    last: pd.Timestamp | None
    missing_bars: int
    gaps: list[tuple[pd.Timestamp, pd.Timestamp]] = field(
        default_factory=list
    )  # [first missing, last missing]
    duplicates: int = 0  # repeated times inside one stored file: corruption, never produced by upsert
    off_grid: int = 0
    complete_up_to: pd.Timestamp | None = None

    @property
    def ok(self) -> bool:
        return not (self.missing_bars or self.duplicates or self.off_grid)


def find_gaps(ts_ms: np.ndarray, step_ms: int) -> list[tuple[int, int]]:
    """Runs of missing bars between sorted bar times, as (first missing, last missing)."""
    if len(ts_ms) < 2:
        return []
    d = np.diff(ts_ms)
    at = np.flatnonzero(d > step_ms)
    return [(int(ts_ms[i] + step_ms), int(ts_ms[i + 1] - step_ms)) for i in at]


def check_dataset(store: KlineStore, exchange: str, instrument: str, timeframe: str) -> DatasetReport:
    step = parse_timeframe(timeframe)
    ddir = store.dataset_dir(exchange, instrument, timeframe)
    duplicates = 0
    for fs in layout.live_files(layout.scan(ddir)).values():
        for f in fs:
            t = pq.read_table(f.path, columns=["ts"]).column("ts").to_numpy()
            duplicates += len(t) - len(np.unique(t))
    bars = store.read(exchange, instrument, timeframe, columns=("close",))
    ts = bars.index.as_unit("ms").asi8
    gaps = find_gaps(ts, step)
    return DatasetReport(
        exchange=exchange,
        instrument=instrument,
        timeframe=timeframe,
        rows=len(ts),
        first=bars.index[0] if len(ts) else None,
        last=bars.index[-1] if len(ts) else None,
        missing_bars=sum((b - a) // step + 1 for a, b in gaps),
        gaps=[(pd.Timestamp(a, unit="ms", tz="UTC"), pd.Timestamp(b, unit="ms", tz="UTC")) for a, b in gaps],
        duplicates=duplicates,
        off_grid=int((ts % step != 0).sum()),
        complete_up_to=store.complete_up_to(exchange, instrument, timeframe),
    )


def datasets(store: KlineStore, exchange: str | None = None) -> list[tuple[str, str, str]]:
    """(exchange, instrument, timeframe) of every stored dataset."""
    out = []
    for ex in [exchange] if exchange else store.exchanges():
        for inst in store.instruments(ex):
            out.extend((ex, inst, tf) for tf in store.timeframes(ex, inst))
    return out
