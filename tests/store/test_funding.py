"""Funding-rate history and mark-price bars in the store: atomic, idempotent, validated."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qlib_local.errors import DataError
from qlib_local.store import KlineStore
from qlib_local.store.check import datasets
from qlib_local.store.funding import funding_instruments, mark_exchange

INST = "BTC-USDT-SWAP"


def rates(start: str, n: int, value: float = 0.0001) -> pd.Series:
    idx = pd.date_range(start, periods=n, freq="8h", tz="UTC")
    return pd.Series(value + np.arange(n) * 1e-6, index=idx, name="rate")


def test_upsert_is_idempotent_and_spans_partitions(tmp_path):
    store = KlineStore(tmp_path, create=True, durable=False)
    first = rates("2024-12-30", 12)  # crosses a year boundary: two partitions
    assert store.upsert_funding("okx", INST, first) == 12
    assert store.upsert_funding("okx", INST, first) == 12  # again: nothing doubles
    back = store.read_funding("okx", INST)
    pd.testing.assert_series_equal(back, first, check_names=False, check_freq=False, check_index_type=False)
    newer = rates("2025-01-02 16:00", 3, 0.0005)  # overlaps the last stored settlements
    store.upsert_funding("okx", INST, newer)
    back = store.read_funding("okx", INST)
    assert len(back) == 12 + 3 - 1 and back.index.is_monotonic_increasing
    assert back.loc[newer.index[0]] == pytest.approx(0.0005)
    window = store.read_funding("okx", INST, start="2025-01-01", end="2025-01-02")
    assert len(window) == 3 and window.index.min() >= pd.Timestamp("2025-01-01", tz="UTC")
    assert funding_instruments(store, "okx") == [INST]
    assert store.exchanges() == []  # the funding namespace is not an exchange of bars


def test_bad_rates_are_refused_whole(tmp_path):
    store = KlineStore(tmp_path, create=True, durable=False)
    store.upsert_funding("okx", INST, rates("2025-01-01", 3))
    for bad in (np.nan, np.inf, 0.5):
        r = rates("2025-02-01", 4)
        r.iloc[2] = bad
        with pytest.raises(DataError, match="1 funding rate.*first at 2025-02-01 16:00"):
            store.upsert_funding("okx", INST, r)
    unsorted = rates("2025-02-01", 3).iloc[::-1]
    with pytest.raises(DataError, match="strictly increasing"):
        store.upsert_funding("okx", INST, unsorted)
    assert len(store.read_funding("okx", INST)) == 3  # nothing written by the refused calls
    assert store.read_funding("okx", "ETH-USDT-SWAP").empty


def test_mark_price_bars_are_bars_of_their_own_namespace(tmp_path):
    store = KlineStore(tmp_path, create=True, durable=False)
    idx = pd.date_range("2025-01-01", periods=6, freq="1h", tz="UTC", name="ts")
    c = np.array([100.0, 101, 102, 101, 100, 99])
    mark = pd.DataFrame({"open": c, "high": c + 1, "low": c - 1, "close": c, "volume": 0.0}, index=idx)
    store.upsert(mark_exchange("okx"), INST, "1H", mark)
    assert store.instruments("okx") == []  # the exchange's own listing stays bars only
    assert (mark_exchange("okx"), INST, "1H") in datasets(store)  # and data check covers it
    two = store.read(mark_exchange("okx"), INST, "2H")
    assert two["close"].tolist() == [101.0, 101.0, 99.0]
