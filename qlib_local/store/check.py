"""Health of stored datasets: gaps, duplicates, off-grid bars, bad bars, series that disagree."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from qlib_local.store import layout
from qlib_local.store.funding import FUNDING
from qlib_local.store.kline_store import COLUMNS, KlineStore
from qlib_local.store.parquet_io import read_parquet
from qlib_local.store.validate import find_bad_bars
from qlib_local.timeframes import parse_timeframe

# Two stored series agree on a bar when prices match to 1e-9 and volumes to 1e-6 (relative):
# an exchange's own coarse bar and the sum of its fine bars differ only by float rounding.
PRICE_RTOL, VOLUME_RTOL = 1e-9, 1e-6


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
    bad_bars: int = 0  # stored bars breaking the bar rule (written before the rule, or by hand)
    first_bad: str | None = None

    @property
    def ok(self) -> bool:
        return not (self.missing_bars or self.duplicates or self.off_grid or self.bad_bars)


@dataclass
class Disagreement:
    """A coarser stored series whose bars differ from a finer stored series resampled."""

    exchange: str
    instrument: str
    coarse: str
    fine: str
    bars: int  # bars that differ
    compared: int  # bars both series hold complete
    first: pd.Timestamp
    detail: str


def find_gaps(ts_ms: np.ndarray, step_ms: int) -> list[tuple[int, int]]:
    """Runs of missing bars between sorted bar times, as (first missing, last missing)."""
    if len(ts_ms) < 2:
        return []
    d = np.diff(ts_ms)
    at = np.flatnonzero(d > step_ms)
    return [(int(ts_ms[i] + step_ms), int(ts_ms[i + 1] - step_ms)) for i in at]


def check_dataset(store: KlineStore, exchange: str, instrument: str, timeframe: str) -> DatasetReport:
    """One stored dataset as it is; an unreadable file raises StoreFileError naming it."""
    step = parse_timeframe(timeframe)
    ddir = store.dataset_dir(exchange, instrument, timeframe)
    duplicates = 0
    for fs in layout.live_files(layout.scan(ddir)).values():
        for f in fs:
            t = read_parquet([f.path], ["ts"]).column("ts").to_numpy()
            duplicates += len(t) - len(np.unique(t))
    bars = store.read(exchange, instrument, timeframe, base=timeframe)
    ts = bars.index.as_unit("ms").asi8
    gaps = find_gaps(ts, step)
    bad = find_bad_bars({c: bars[c].to_numpy(np.float64) for c in COLUMNS})
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
        bad_bars=bad.count if bad else 0,
        first_bad=f"{bars.index[bad.first]}: {bad.reason}" if bad else None,
    )


def _differs(a: np.ndarray, b: np.ndarray, rtol: float, nan_ok: bool) -> np.ndarray:
    same = np.isclose(a, b, rtol=rtol, atol=0.0)
    if nan_ok:  # an unknown quote volume on either side is not a disagreement
        same |= np.isnan(a) | np.isnan(b)
    return ~same


def compare_series(store: KlineStore, exchange: str, instrument: str, fine: str, coarse: str) -> Disagreement | None:
    """``coarse`` as stored against ``fine`` resampled to it, on the bars both hold complete."""
    stored = store.read(exchange, instrument, coarse, base=coarse)
    built = store.read(exchange, instrument, coarse, base=fine)
    common = stored.index.intersection(built.index)
    a, b = stored.loc[common], built.loc[common]
    diff = np.zeros(len(common), bool)
    per_col = {}
    for col in COLUMNS:
        rtol = PRICE_RTOL if col in ("open", "high", "low", "close") else VOLUME_RTOL
        per_col[col] = _differs(a[col].to_numpy(), b[col].to_numpy(), rtol, nan_ok=col == "quote_volume")
        diff |= per_col[col]
    if not diff.any():
        return None
    i = int(np.flatnonzero(diff)[0])
    col = next(c for c in COLUMNS if per_col[c][i])
    detail = f"{col} {a[col].iloc[i]:.10g} stored vs {b[col].iloc[i]:.10g} from {fine}"
    return Disagreement(exchange, instrument, coarse, fine, int(diff.sum()), len(common), common[i], detail)


def series_pairs(store: KlineStore, exchange: str, instrument: str) -> list[tuple[str, str]]:
    """(fine, coarse) pairs of stored series of one instrument where fine divides coarse."""
    tfs = store.timeframes(exchange, instrument)
    return [
        (f, c)
        for i, f in enumerate(tfs)
        for c in tfs[i + 1 :]
        if parse_timeframe(c) % parse_timeframe(f) == 0
    ]


def datasets(store: KlineStore, exchange: str | None = None) -> list[tuple[str, str, str]]:
    """(exchange, instrument, timeframe) of every stored bar dataset, mark-price bars included."""
    out = []
    names = [exchange] if exchange else [n for n in store.namespaces() if not n.endswith(FUNDING)]
    for ex in names:
        for inst in store.instruments(ex):
            out.extend((ex, inst, tf) for tf in store.timeframes(ex, inst))
    return out
