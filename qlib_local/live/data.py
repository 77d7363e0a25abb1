"""Fresh data or no trade: wait for the store's "complete up to" markers, fetch, else skip.

A bar closing at ``t`` may be traded only once every instrument's base series is marked
complete up to ``t``. Until a deadline the collector gets to do that; then the job fetches
the missing bars itself (same code path as the collector); whatever is still behind is
stale and is not traded this bar.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from qlib_local.marketdata.wait import behind, wait_complete
from qlib_local.store import KlineStore
from qlib_local.timeframes import from_ms

log = logging.getLogger(__name__)


@dataclass
class DataStatus:
    close: pd.Timestamp
    ready: list[str] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)
    stale: dict[str, str] = field(default_factory=dict)
    waited_s: float = 0.0


def wait_for_data(store: KlineStore, exchange: str, bases: dict[str, str], close_ms: int, timeout_s: float,
                  fetch: Callable[[list[str], str], None] | None = None, poll_s: float = 0.1) -> DataStatus:
    """Wait for each instrument's base-timeframe marker (``bases``: the collector's own series)."""
    import time

    t0 = time.monotonic()
    close = from_ms(close_ms)
    st = DataStatus(close)
    instruments = list(bases)
    by_tf: dict[str, list[str]] = {}
    for inst, tf in bases.items():
        by_tf.setdefault(tf, []).append(inst)
    deadline = t0 + timeout_s
    late: dict[str, list[str]] = {}
    for tf, insts in by_tf.items():
        remaining = max(0.0, deadline - time.monotonic())
        lag = wait_complete(store, exchange, insts, tf, close, timeout_s=remaining, poll_s=poll_s)
        if lag:
            late[tf] = lag
    for tf, insts in late.items():
        if fetch is not None:
            try:
                fetch(insts, tf)
            except Exception as e:  # noqa: BLE001 - a failed fetch leaves the instruments stale
                log.warning("fetching %d late series failed: %s", len(insts), e)
            still = behind(store, exchange, insts, tf, close)
            st.fetched += [i for i in insts if i not in still]
            insts = still
        for i in insts:
            m = store.complete_up_to(exchange, i, tf)
            st.stale[i] = f"{tf} bars complete only up to {m.isoformat() if m is not None else 'never'}"
    st.ready = [i for i in instruments if i not in st.stale]
    st.waited_s = time.monotonic() - t0
    return st


def fetcher(exchange: str, domain: str | None, store: KlineStore) -> Callable[[list[str], str], None]:
    """Fetch missing closed bars through the market-data layer (ccxt against ``domain``: the local
    exchange in paper mode; None: the venue's own market data)."""

    def fetch(instruments: list[str], timeframe: str) -> None:
        from qlib_local.marketdata import catch_up
        from qlib_local.marketdata.retry import RetryPolicy
        from qlib_local.marketdata.sources import Source

        source = Source(exchange, base_url=domain, timeout_ms=5000, retry=RetryPolicy(retries=2))
        catch_up(source, store, instruments, timeframe)

    return fetch
