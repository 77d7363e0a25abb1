"""A local OKX exchange per test (real ccxt over HTTP on 127.0.0.1), synthetic data."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from tests_support import GUARD_MS

from qlib_local.marketdata import RetryPolicy, Source
from qlib_local.sim import LocalExchange
from qlib_local.store import KlineStore
from qlib_local.synth import SynthConfig, write_synthetic

START = "2025-01-02T12:00:30Z"  # 36 h of 1m history (2,160 bars: past the 1,440-bar recent window)
BTC, ETH, SOL = "BTC-USDT-SWAP", "ETH-USDT-SWAP", "SOL-USDT-SWAP"
PY = sys.executable
FAST_RETRY = RetryPolicy(retries=8, base_delay_s=0.05, max_delay_s=0.5)


@pytest.fixture(scope="session")
def sim_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three swaps (BTC, ETH, SOL), three days of 1m bars from 2025-01-01."""
    root = tmp_path_factory.mktemp("mdsim")
    write_synthetic(KlineStore(root, create=True, durable=False), SynthConfig(instruments=3, timeframe="1m", days=3, seed=7))
    return root


@pytest.fixture
def exchange(sim_root: Path) -> Iterator[LocalExchange]:
    with LocalExchange(sim_root, start=START) as ex:
        yield ex


@pytest.fixture
def source(exchange: LocalExchange) -> Source:
    return Source("okx", base_url=exchange.url, timeout_ms=GUARD_MS, retry=FAST_RETRY)


@pytest.fixture
def dest(tmp_path: Path) -> KlineStore:
    return KlineStore(tmp_path / "dest", create=True, durable=False)


def served(exchange: LocalExchange, inst: str, start: str, end: str | pd.Timestamp) -> pd.DataFrame:
    """What the exchange's data holds for [start, end) (prices before tick rounding)."""
    return exchange.market.store.read("okx", inst, "1m", start, end)


def assert_matches(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert got.index.equals(want.index)
    assert got.index.is_unique and got.index.is_monotonic_increasing
    rel = ((got["close"] - want["close"]).abs() / want["close"]).max()
    assert rel < 1e-3  # the exchange rounds prices to the tick size
    assert ((got["volume"] - want["volume"]).abs() / want["volume"]).max() < 1e-6
