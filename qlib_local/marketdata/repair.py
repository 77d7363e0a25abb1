"""Re-fetch a recent window and overwrite bars the exchange has since corrected.

Exchanges occasionally restate a closed bar (a late trade, a data fix). Comparing a
recent window with the store and upserting only the differences keeps the store equal to
the exchange without rewriting unchanged bars.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from qlib_local.marketdata.download import split_pages
from qlib_local.marketdata.sources import Source
from qlib_local.store import KlineStore
from qlib_local.store.kline_store import COLUMNS
from qlib_local.timeframes import from_ms, parse_timeframe

log = logging.getLogger(__name__)


@dataclass
class RepairResult:
    instrument: str
    timeframe: str
    checked: int = 0
    corrected: int = 0  # stored bars that differed from the exchange
    filled: int = 0  # bars missing from the store inside the window
    error: str | None = None


def changed_rows(fresh: pd.DataFrame, stored: pd.DataFrame) -> tuple[pd.DataFrame, int, int]:
    """Rows of ``fresh`` absent from or different in ``stored`` (NaN equals NaN)."""
    common = fresh.index.intersection(stored.index)
    a = fresh.loc[common, list(COLUMNS)].to_numpy(np.float64)
    b = stored.loc[common, list(COLUMNS)].to_numpy(np.float64)
    differs = ~((a == b) | (np.isnan(a) & np.isnan(b))).all(axis=1)
    corrected = common[differs]
    new = fresh.index.difference(stored.index)
    rows = fresh.loc[corrected.union(new)].sort_index()
    return rows, len(corrected), len(new)


def repair_series(
    source: Source, store: KlineStore, inst: str, tf: str, window_bars: int, now_ms: int
) -> RepairResult:
    res = RepairResult(inst, tf)
    tf_ms = parse_timeframe(tf)
    end = now_ms // tf_ms * tf_ms
    lo = end - window_bars * tf_ms
    if store.last_bar_time(source.id, inst, tf) is None:
        return res  # nothing stored yet: nothing to repair
    stored = store.read(source.id, inst, tf, from_ms(lo), from_ms(end), base=tf)
    if stored.empty:
        return res
    lo = int(stored.index.as_unit("ms").asi8[0])  # never reach before what is stored
    pages = [source.fetch_page(inst, tf, a, b, now_ms) for a, b in split_pages([(lo, end)], tf_ms, source.caps.page_limit)]
    fresh = pd.concat(pages) if len(pages) > 1 else pages[0]
    res.checked = len(fresh)
    rows, res.corrected, res.filled = changed_rows(fresh, stored)
    if len(rows):
        store.upsert(source.id, inst, tf, rows)
        log.info("repair %s %s: %d corrected, %d filled", inst, tf, res.corrected, res.filled)
    return res


def repair(
    source: Source,
    store: KlineStore,
    series: Iterable[tuple[str, str]],
    window_bars: int,
    now_ms: int | None = None,
    workers: int | None = None,
) -> list[RepairResult]:
    """Repair the last ``window_bars`` closed bars of every series; errors stay per series."""
    now_ms = source.server_time_ms() if now_ms is None else now_ms

    def one(item: tuple[str, str]) -> RepairResult:
        inst, tf = item
        try:
            return repair_series(source, store, inst, tf, window_bars, now_ms)
        except Exception as e:  # one bad instrument must not stop the others
            log.warning("repair %s %s failed: %s", inst, tf, e)
            return RepairResult(inst, tf, error=str(e))

    with ThreadPoolExecutor(max(1, workers or source.workers), thread_name_prefix="repair") as pool:
        return list(pool.map(one, list(series)))
