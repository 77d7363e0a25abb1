"""On-disk layout of the K-line store.

``<root>/<exchange>/<instrument>/<timeframe>/`` holds one dataset. Bars are split into
time partitions (a month for timeframes under 15m, a year otherwise) so that a year of
1m bars is twelve files and an append touches one partition only. Each partition is one
*full* file plus at most a few small *delta* files::

    2026-11.0000000042.full.parquet
    2026-11.0000000043.delta.parquet

A reader takes the newest full file of a partition and the deltas with a higher sequence
number, applied in order (last write wins). Every file is written aside and renamed into
place, so any crash leaves a state some reader already accepted.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qlib_local.timeframes import MINUTE_MS, parse_timeframe

FILE_RE = re.compile(r"^(?P<period>\d{4}(?:-\d{2})?)\.(?P<seq>\d{10})\.(?P<kind>full|delta)\.parquet$")
MARKER_FILE = "complete_up_to.json"
LOCK_FILE = ".lock"
TMP_PREFIX = ".tmp-"


@dataclass(frozen=True, order=True)
class PartFile:
    period: str
    seq: int
    kind: str
    path: Path

    @property
    def is_full(self) -> bool:
        return self.kind == "full"


def monthly(timeframe: str) -> bool:
    return parse_timeframe(timeframe) < 15 * MINUTE_MS


def period_keys(ts_ms: np.ndarray, timeframe: str) -> np.ndarray:
    """Partition key per bar: ``YYYY-MM`` for fine timeframes, ``YYYY`` otherwise."""
    unit = "M" if monthly(timeframe) else "Y"
    return ts_ms.astype("datetime64[ms]").astype(f"datetime64[{unit}]").astype(str)


def period_bounds_ms(period: str) -> tuple[int, int]:
    """[start, end) of a partition in ms."""
    start = np.datetime64(period, "M" if "-" in period else "Y")
    end = start + 1
    return int(start.astype("datetime64[ms]").astype(np.int64)), int(
        end.astype("datetime64[ms]").astype(np.int64)
    )


def file_name(period: str, seq: int, kind: str) -> str:
    return f"{period}.{seq:010d}.{kind}.parquet"


def scan(dataset_dir: Path) -> list[PartFile]:
    """All part files of a dataset, sorted by (period, seq)."""
    out = []
    try:
        entries = os.scandir(dataset_dir)
    except FileNotFoundError:
        return []
    with entries:
        for e in entries:
            m = FILE_RE.match(e.name)
            if m:
                out.append(PartFile(m["period"], int(m["seq"]), m["kind"], Path(e.path)))
    out.sort()
    return out


def live_files(files: list[PartFile]) -> dict[str, list[PartFile]]:
    """Per period: the newest full file, then newer deltas in sequence order."""
    by_period: dict[str, list[PartFile]] = {}
    for f in files:
        by_period.setdefault(f.period, []).append(f)
    result = {}
    for period, fs in by_period.items():
        fulls = [f for f in fs if f.is_full]
        floor = fulls[-1].seq if fulls else -1
        chosen = ([fulls[-1]] if fulls else []) + [f for f in fs if not f.is_full and f.seq > floor]
        result[period] = chosen
    return result


def stale_files(files: list[PartFile]) -> list[PartFile]:
    """Files superseded by a newer full file of their period (safe to delete)."""
    live = {f.path for fs in live_files(files).values() for f in fs}
    return [f for f in files if f.path not in live]
