"""Funding-rate history into the store: paged forward, resumable, settled rates only.

Venues cap a request (OKX 100 settlements, Binance 1,000) and disagree on which end of a
range they answer first (OKX newest first, Binance oldest first). So every request names
both ends of a window holding at most one page of settlements at the instrument's funding
interval; a page that comes back full means the venue settled more often than that (an
interval shortened in volatile times), and the window is halved and asked again. Windows
are fetched and written in time order, so the store always holds a gap-free prefix of what
was asked and a rerun continues after the last stored settlement. Only settlements at or
before the exchange's own clock are kept.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pandas as pd
from tqdm import tqdm

from qlib_local.errors import DataError, QlibError
from qlib_local.marketdata.sources import Source
from qlib_local.specs import load_specs, save_specs, spec_for
from qlib_local.store import KlineStore
from qlib_local.timeframes import DAY_MS, HOUR_MS, from_ms, to_ms

log = logging.getLogger(__name__)

DEFAULT_LOOKBACK_DAYS = 30  # a never-stored instrument's funding starts this far back in update/collect


@dataclass
class FundingResult:
    instrument: str
    written: int = 0
    pages: int = 0
    last: pd.Timestamp | None = None  # the newest settlement stored
    error: str | None = None
    skipped: bool = False  # nothing had settled since the last stored settlement


def missing_funding(store: KlineStore, exchange: str, inst: str, lo: int, hi: int,
                    interval_ms: int = 1) -> list[tuple[int, int]]:
    """The head before the first and the tail after the last stored settlement within ``[lo, hi)``;
    the tail only once a funding time (a multiple of ``interval_ms``) has come after the last."""
    stored = store.read_funding(exchange, inst)
    if stored.empty:
        return [(lo, hi)] if lo < hi else []
    ts = stored.index.as_unit("ms").asi8
    first, last = int(ts[0]), int(ts[-1])
    out = [(lo, min(first, hi))] if lo < min(first, hi) else []
    due = (last // interval_ms + 1) * interval_ms
    if max(last + 1, lo) < hi and due < hi:
        out.append((max(last + 1, lo), hi))
    return out


def _interval_ms(store: KlineStore, exchange: str, inst: str) -> int:
    return spec_for(load_specs(store.root, exchange), inst).funding_interval_ms


def _earliest(source: Source, since_ms: int, now_ms: int) -> int:
    """``since_ms``, moved up to what the venue still keeps (OKX: about three months)."""
    days = source.caps.funding_history_days
    return max(since_ms, now_ms - days * DAY_MS) if days else since_ms


def fetch_funding(source: Source, store: KlineStore, inst: str, ranges: list[tuple[int, int]], now_ms: int,
                  interval_ms: int, bar: tqdm | None = None) -> FundingResult:
    """Fetch and write each range window by window, oldest first (a failure keeps what came before)."""
    res = FundingResult(inst)
    span = max(HOUR_MS, source.caps.funding_limit * interval_ms)
    try:
        for lo, hi in ranges:
            while lo < hi:
                top = min(lo + span, hi)
                rates, full = source.fetch_funding_page(inst, lo, top, now_ms)
                if full and top - lo > HOUR_MS:  # more settlements in the window than one page holds
                    span = max(HOUR_MS, (top - lo) // 2)
                    continue
                if len(rates):
                    res.written += store.upsert_funding(source.id, inst, rates)
                    res.last = rates.index[-1]
                res.pages += 1
                if bar is not None:
                    bar.update(1)
                lo = top
    except QlibError as e:
        res.error = str(e)
    except Exception as e:  # an answer ccxt could not make sense of
        res.error = f"{inst} funding: {type(e).__name__}: {e}"
    if res.error:
        log.warning("%s", res.error)
    return res


def _run(source: Source, store: KlineStore, plans: list[tuple[str, list[tuple[int, int]], int]], now_ms: int,
         workers: int | None, progress: bool) -> list[FundingResult]:
    total = sum(-(-(hi - lo) // max(HOUR_MS, source.caps.funding_limit * iv)) for _, rs, iv in plans for lo, hi in rs)
    bar = tqdm(total=total, desc="funding", unit="page", disable=not progress, leave=True)
    try:
        with ThreadPoolExecutor(max(1, workers or source.workers), thread_name_prefix="funding") as pool:
            return list(pool.map(lambda p: fetch_funding(source, store, p[0], p[1], now_ms, p[2], bar), plans))
    finally:
        bar.close()


def _prepare(source: Source, store: KlineStore, instruments: Sequence[str]) -> None:
    for inst in instruments:
        source.symbol(inst)  # unknown ids fail before anything is fetched
    if not source.ex.has.get("fetchFundingRateHistory"):
        raise DataError(f"{source.id} serves no funding-rate history through ccxt")
    known = load_specs(store.root, source.id)
    new = [i for i in instruments if i not in known]
    if new:
        save_specs(store.root, source.id, source.specs(new))  # the funding interval lives in the spec


def download_funding(source: Source, store: KlineStore, instruments: Sequence[str], since: str | pd.Timestamp | int,
                     until: str | pd.Timestamp | int | None = None, workers: int | None = None,
                     progress: bool = False) -> list[FundingResult]:
    """Backfill settlements in ``[since, until)`` (until: the exchange's now); resumable."""
    since_ms = to_ms(since)
    until_ms = to_ms(until) if until is not None else None
    if until_ms is not None and since_ms >= until_ms:
        raise DataError(f"--since {from_ms(since_ms)} is not before --until {from_ms(until_ms)}")
    _prepare(source, store, instruments)
    now_ms = source.server_time_ms()
    if since_ms > now_ms:
        raise DataError(f"--since {from_ms(since_ms)} is after the exchange's now {from_ms(now_ms)}")
    hi = now_ms + 1 if until_ms is None else min(until_ms, now_ms + 1)
    lo = _earliest(source, since_ms, now_ms)
    if lo > since_ms:
        log.info("%s keeps about %d days of funding history: asking from %s", source.id,
                 source.caps.funding_history_days, from_ms(lo))
    plans = []
    for inst in instruments:
        interval = _interval_ms(store, source.id, inst)
        plans.append((inst, missing_funding(store, source.id, inst, lo, hi, interval), interval))
    return _run(source, store, plans, now_ms, workers, progress)


def sync_funding(source: Source, store: KlineStore, instruments: Sequence[str], since: str | pd.Timestamp | None = None,
                 now_ms: int | None = None, workers: int | None = None,
                 lookback_days: int = DEFAULT_LOOKBACK_DAYS) -> list[FundingResult]:
    """Append the settlements since the last stored one of each instrument.

    An instrument whose last stored settlement is its latest funding time by ``now_ms``
    is skipped without a request, so a collector waking every bar asks only after a
    settlement. A never-stored instrument starts at ``since`` (default ``lookback_days`` back).
    """
    try:
        _prepare(source, store, instruments)
    except QlibError as e:
        return [FundingResult(i, error=str(e)) for i in instruments]
    now_ms = source.server_time_ms() if now_ms is None else now_ms
    plans, skipped = [], []
    for inst in instruments:
        interval = _interval_ms(store, source.id, inst)
        last = store.read_funding(source.id, inst).index
        if len(last) and int(last[-1].value // 1_000_000) >= now_ms // interval * interval:
            skipped.append(FundingResult(inst, last=last[-1], skipped=True))
            continue
        if len(last):
            lo = int(last[-1].value // 1_000_000) + 1
        else:
            lo = to_ms(since) if since is not None else now_ms - lookback_days * DAY_MS
        plans.append((inst, [(_earliest(source, lo, now_ms), now_ms + 1)], interval))
    return _run(source, store, plans, now_ms, workers, False) + skipped
