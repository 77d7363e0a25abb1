"""Stores a live run reads while the local exchange replays the clean data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from venue_kits import VenueKit

from qlib_local.store import KlineStore
from qlib_local.timeframes import HOUR_MS, from_ms

from .conftest import DATA, write_tick_data


def live_copy(root: Path, kit: VenueKit, close_ms: int, bad: Callable[[float], float] | None = None) -> KlineStore:
    """A store the run reads: the synthetic data, BTC's bar closing at ``close_ms`` with its close
    rewritten by ``bad`` (the low follows a lower close, so the bar still passes the store's bar
    rule: a wrong price that looks like a sane bar, which only the guard can catch)."""
    store = KlineStore(root, create=True, durable=False)
    write_tick_data(store, DATA, kit)
    if bad is not None:
        btc = kit.inst("BTC")
        row = store.read(kit.exchange, btc, "1H", from_ms(close_ms - HOUR_MS), from_ms(close_ms))
        row["close"] = row["close"].map(bad)
        row["low"] = row[["low", "close"]].min(axis=1)
        row["high"] = row[["high", "close"]].max(axis=1)
        store.upsert(kit.exchange, btc, "1H", row)
    return store
