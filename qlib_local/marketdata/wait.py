"""What a live job calls before it computes: wait for the collector, or fetch itself.

The collector writes a "complete up to" marker per (instrument, base timeframe) once
every bar opening before it is stored and closed. A job whose bar closes at ``t`` waits
until every instrument's marker reaches ``t``; if the collector is down or late it can
fetch the missing bars itself with :func:`catch_up` (same code path as the collector).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import pandas as pd

from qlib_local.marketdata.download import SeriesResult
from qlib_local.marketdata.needs import kept_timeframe
from qlib_local.marketdata.sources import Source
from qlib_local.marketdata.sync import sync
from qlib_local.store import KlineStore
from qlib_local.timeframes import normalize_timeframe


def behind(
    store: KlineStore, exchange: str, instruments: Iterable[str], timeframe: str, until: pd.Timestamp | str
) -> list[str]:
    """Instruments whose marker has not reached ``until`` (a bar close time); the marker read is
    that of the series the store keeps for ``timeframe`` (:func:`kept_timeframe`)."""
    tf, t = normalize_timeframe(timeframe), pd.Timestamp(until)
    t = t.tz_localize("UTC") if t.tzinfo is None else t
    out = []
    for inst in instruments:
        m = store.complete_up_to(exchange, inst, kept_timeframe(store, exchange, inst, tf))
        if m is None or m < t:
            out.append(inst)
    return out


def wait_complete(
    store: KlineStore,
    exchange: str,
    instruments: Iterable[str],
    timeframe: str,
    until: pd.Timestamp | str,
    timeout_s: float = 60.0,
    poll_s: float = 0.5,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Block until every instrument is complete up to ``until``; returns those still behind."""
    names = list(instruments)
    deadline = clock() + timeout_s
    while True:
        late = behind(store, exchange, names, timeframe, until)
        if not late or clock() >= deadline:
            return late
        names = late
        sleep(min(poll_s, max(0.0, deadline - clock())))


def catch_up(
    source: Source, store: KlineStore, instruments: Iterable[str], timeframe: str
) -> list[SeriesResult]:
    """Fetch and store every closed bar missing since the last stored one; move markers."""
    return sync(source, store, [(i, timeframe) for i in instruments])
