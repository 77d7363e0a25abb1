"""Bring series up to the exchange's now and move their "complete up to" markers.

Shared by ``data update`` (once) and the collector (every bar close). A marker only
moves forward, and only to the end of the newest bar actually stored, so a bar the
exchange publishes late keeps the marker behind until it is in the store.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import pandas as pd

from qlib_local.errors import QlibError
from qlib_local.marketdata.download import CHUNK_BARS, Job, SeriesResult, namespace, run_jobs, split_pages
from qlib_local.marketdata.needs import kept_timeframe
from qlib_local.marketdata.sources import Source
from qlib_local.specs import load_specs, save_specs
from qlib_local.store import KlineStore
from qlib_local.timeframes import from_ms, parse_timeframe, to_ms

log = logging.getLogger(__name__)

DEFAULT_LOOKBACK_BARS = 1440  # a never-stored series starts with this many bars


def advance_marker(store: KlineStore, exchange: str, inst: str, tf: str, now_ms: int) -> pd.Timestamp | None:
    """Set the marker to the end of the newest stored bar, capped at the last close by ``now_ms``."""
    tf_ms = parse_timeframe(tf)
    last = store.last_bar_time(exchange, inst, tf)
    if last is None:
        return store.complete_up_to(exchange, inst, tf)
    marker = from_ms(min(to_ms(last) + tf_ms, now_ms // tf_ms * tf_ms))
    current = store.complete_up_to(exchange, inst, tf)
    if current is not None and current >= marker:
        return current
    store.set_complete_up_to(exchange, inst, tf, marker)
    return marker


def sync(
    source: Source,
    store: KlineStore,
    series: Iterable[tuple[str, str]],
    since: str | pd.Timestamp | int | None = None,
    lookback_bars: int = DEFAULT_LOOKBACK_BARS,
    workers: int | None = None,
    chunk_bars: int = CHUNK_BARS,
    progress: bool = False,
    now_ms: int | None = None,
    price: str | None = None,
) -> list[SeriesResult]:
    """Append every newly closed bar of each (instrument, timeframe); set markers.
    ``price="mark"``: the same for the instruments' mark-price candles (``<exchange>@mark``).

    Each (instrument, timeframe) goes to the series the store keeps for it
    (:func:`kept_timeframe`: a finer stored series is extended, no coarser one is started).
    A series with no stored bars starts at ``since`` (default: ``lookback_bars`` back).
    ``now_ms`` is the exchange's time (fetched when not given). Errors stay in their
    series' result.
    """
    now_ms = source.server_time_ms() if now_ms is None else now_ms
    ns = namespace(source.id, price)
    jobs: list[Job] = []
    failed: list[SeriesResult] = []
    for inst, timeframe in series:
        try:
            tf = source.check_timeframe(kept_timeframe(store, ns, inst, source.check_timeframe(timeframe)))
            tf_ms = parse_timeframe(tf)
            end = now_ms // tf_ms * tf_ms
            last = store.last_bar_time(ns, inst, tf)
            if last is not None:
                lo = to_ms(last) + tf_ms
            else:
                lo = to_ms(since) // tf_ms * tf_ms if since is not None else end - lookback_bars * tf_ms
                listed = source.listed_ms(inst)
                if listed:
                    lo = max(lo, -(-listed // tf_ms) * tf_ms)
        except QlibError as e:
            failed.append(SeriesResult(inst, timeframe, error=str(e)))
            continue
        ranges = [(lo, end)] if lo < end else []
        jobs.append(Job(inst, tf, ranges, split_pages(ranges, tf_ms, source.page_limit(price)), price))
    known = load_specs(store.root, source.id)
    new = [j.instrument for j in jobs if j.instrument not in known]
    if new:
        save_specs(store.root, source.id, source.specs(new))
    results = run_jobs(source, store, jobs, now_ms, workers, chunk_bars, progress, desc="update")
    for r in results:
        try:
            r.complete_up_to = advance_marker(store, ns, r.instrument, r.timeframe, now_ms)
        except QlibError as e:
            r.error = r.error or str(e)
    for r in failed:
        log.warning("%s", r.error)
    return results + failed


def lagging(results: Iterable[SeriesResult], now_ms: int) -> list[SeriesResult]:
    """Series whose newest closed bar is not stored yet (late on the exchange, or failed)."""
    out = []
    for r in results:
        tf_ms = parse_timeframe(r.timeframe)
        due = from_ms(now_ms // tf_ms * tf_ms)
        if r.complete_up_to is None or r.complete_up_to < due:
            out.append(r)
    return out
