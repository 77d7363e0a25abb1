"""Backfill any range of closed bars into the store: paged, concurrent, resumable.

Pages of one series are fetched concurrently but consumed in time order, and written in
chunks of contiguous bars. The store therefore always holds a gap-free prefix of what was
asked, so a run killed at any point loses at most the chunk in flight, and a rerun
continues after the last stored bar.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import pandas as pd
from tqdm import tqdm

from qlib_local.errors import DataError, QlibError
from qlib_local.marketdata.sources import Source
from qlib_local.specs import save_specs
from qlib_local.store import KlineStore
from qlib_local.store.funding import mark_exchange
from qlib_local.timeframes import from_ms, parse_timeframe, to_ms

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")

CHUNK_BARS = 3000  # bars buffered before a write


@dataclass
class SeriesResult:
    instrument: str
    timeframe: str
    written: int = 0
    pages: int = 0
    last: pd.Timestamp | None = None
    error: str | None = None
    complete_up_to: pd.Timestamp | None = None


@dataclass
class Job:
    """One series to fetch over ``ranges`` (half-open ms intervals, in time order);
    ``price="mark"``: the instrument's mark-price candles (stored under ``<exchange>@mark``)."""

    instrument: str
    timeframe: str
    ranges: list[tuple[int, int]]
    pages: list[tuple[int, int]] = field(default_factory=list)
    price: str | None = None


def namespace(exchange: str, price: str | None) -> str:
    """Where a series of ``exchange`` is stored: its own folder, or its mark namespace."""
    return mark_exchange(exchange) if price == "mark" else exchange


def ceil_to(ms: int, step: int) -> int:
    return -(-ms // step) * step


def stored_span(store: KlineStore, exchange: str, inst: str, tf: str, lo: int, hi: int) -> tuple[int, int] | None:
    """(first, last) open time of stored bars in ``[lo, hi)``, or None."""
    df = store.read(exchange, inst, tf, from_ms(lo), from_ms(hi), columns=("close",), base=tf) if store.timeframes(
        exchange, inst
    ) else None
    if df is None or df.empty:
        return None
    ts = df.index.as_unit("ms").asi8
    return int(ts[0]), int(ts[-1])


def missing_ranges(
    store: KlineStore, exchange: str, inst: str, tf: str, since_ms: int, until_ms: int
) -> list[tuple[int, int]]:
    """The head before and the tail after what is stored in ``[since, until)``.

    Interior holes are not refetched: the store only ever gains contiguous runs, so a
    hole inside one is the exchange's own gap.
    """
    tf_ms = parse_timeframe(tf)
    lo, hi = ceil_to(since_ms, tf_ms), ceil_to(until_ms, tf_ms)
    if lo >= hi:
        return []
    span = stored_span(store, exchange, inst, tf, lo, hi)
    if span is None:
        return [(lo, hi)]
    first, last = span
    out = [(lo, first)] if first > lo else []
    if last + tf_ms < hi:
        out.append((last + tf_ms, hi))
    return out


def split_pages(ranges: Iterable[tuple[int, int]], tf_ms: int, page_limit: int) -> list[tuple[int, int]]:
    step = tf_ms * page_limit
    return [(a, min(a + step, hi)) for lo, hi in ranges for a in range(lo, hi, step)]


def ordered_map(
    pool: ThreadPoolExecutor, fn: Callable[[T], R], items: Sequence[T], window: int
) -> Iterator[R]:
    """``pool.map`` in order, but at most ``window`` calls ahead (bounded memory, early stop)."""
    pending: deque[Future[R]] = deque()
    it = iter(items)
    try:
        for x in it:
            pending.append(pool.submit(fn, x))
            if len(pending) >= window:
                break
        while pending:
            result = pending.popleft().result()
            nxt = next(it, None)
            if nxt is not None:
                pending.append(pool.submit(fn, nxt))
            yield result
    finally:
        for f in pending:
            f.cancel()


class SeriesWriter:
    """Buffers contiguous pages and upserts them in chunks."""

    def __init__(self, store: KlineStore, exchange: str, inst: str, tf: str, chunk_bars: int):
        self.store, self.exchange, self.inst, self.tf = store, exchange, inst, tf
        self.chunk_bars = chunk_bars
        self.buf: list[pd.DataFrame] = []
        self.rows = 0
        self.written = 0
        self.last: pd.Timestamp | None = None

    def add(self, df: pd.DataFrame) -> None:
        if df.empty:
            return
        self.buf.append(df)
        self.rows += len(df)
        if self.rows >= self.chunk_bars:
            self.flush()

    def flush(self) -> None:
        if not self.buf:
            return
        df = pd.concat(self.buf) if len(self.buf) > 1 else self.buf[0]
        df = df[~df.index.duplicated(keep="last")].sort_index()
        self.written += self.store.upsert(self.exchange, self.inst, self.tf, df)
        self.last = df.index[-1]
        self.buf, self.rows = [], 0


def run_jobs(
    source: Source,
    store: KlineStore,
    jobs: list[Job],
    now_ms: int,
    workers: int | None = None,
    chunk_bars: int = CHUNK_BARS,
    progress: bool = False,
    desc: str = "download",
) -> list[SeriesResult]:
    """Fetch every job's pages (concurrently, within ``workers``) and write them in order.

    A failing series is reported in its result; the others carry on.
    """
    workers = max(1, workers or source.workers)
    total = sum(len(j.pages) for j in jobs)
    bar = tqdm(total=total, desc=desc, unit="page", disable=not progress, leave=True)

    def one(job: Job, fetch_pool: ThreadPoolExecutor) -> SeriesResult:
        res = SeriesResult(job.instrument, job.timeframe)
        writer = SeriesWriter(store, namespace(source.id, job.price), job.instrument, job.timeframe, chunk_bars)

        def fetch(page: tuple[int, int]) -> pd.DataFrame:
            return source.fetch_page(job.instrument, job.timeframe, page[0], page[1], now_ms, job.price)

        try:
            for df in ordered_map(fetch_pool, fetch, job.pages, window=workers * 2):
                writer.add(df)
                res.pages += 1
                bar.update(1)
        except QlibError as e:
            res.error = str(e)
        except Exception as e:  # an exchange answer ccxt could not make sense of
            res.error = f"{job.instrument} {job.timeframe}: {type(e).__name__}: {e}"
        finally:
            writer.flush()  # the contiguous prefix fetched so far is kept
        res.written, res.last = writer.written, writer.last
        if res.error:
            log.warning("%s", res.error)
        return res

    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="fetch") as fetch_pool, ThreadPoolExecutor(
            min(workers, max(1, len(jobs))), thread_name_prefix="series"
        ) as series_pool:
            return list(series_pool.map(lambda j: one(j, fetch_pool), jobs))
    finally:
        bar.close()


def download(
    source: Source,
    store: KlineStore,
    instruments: Sequence[str],
    timeframe: str,
    since: str | pd.Timestamp | int,
    until: str | pd.Timestamp | int | None = None,
    workers: int | None = None,
    chunk_bars: int = CHUNK_BARS,
    progress: bool = False,
    price: str | None = None,
) -> list[SeriesResult]:
    """Backfill closed ``timeframe`` bars opening in ``[since, until)`` (until: exchange now);
    ``price="mark"``: mark-price candles instead."""
    tf = source.check_timeframe(timeframe)
    tf_ms = parse_timeframe(tf)
    since_ms = to_ms(since)
    until_ms = to_ms(until) if until is not None else None
    if until_ms is not None and since_ms >= until_ms:
        raise DataError(f"--since {from_ms(since_ms)} is not before --until {from_ms(until_ms)}")
    for inst in instruments:
        source.symbol(inst)  # unknown ids fail before anything is fetched
    save_specs(store.root, source.id, source.specs(list(instruments)))
    now_ms = source.server_time_ms()
    if since_ms >= now_ms:
        raise DataError(f"--since {from_ms(since_ms)} is after the exchange's now {from_ms(now_ms)}")
    end_ms = now_ms // tf_ms * tf_ms  # the forming bar opens here: never fetched
    if until_ms is not None:
        end_ms = min(end_ms, until_ms)
    jobs = []
    ns = namespace(source.id, price)
    for inst in instruments:
        listed = source.listed_ms(inst)
        lo = max(since_ms, listed // tf_ms * tf_ms) if listed else since_ms
        ranges = missing_ranges(store, ns, inst, tf, lo, end_ms)
        jobs.append(Job(inst, tf, ranges, split_pages(ranges, tf_ms, source.page_limit(price)), price))
    return run_jobs(source, store, jobs, now_ms, workers, chunk_bars, progress,
                    desc="mark prices" if price == "mark" else "download")

