"""Shared fixtures: every test makes its own data with the synthetic generator."""

from __future__ import annotations

from pathlib import Path

import pytest

from qlib_local.store import KlineStore
from qlib_local.synth import SynthConfig, write_synthetic

from tests_support import REPO  # noqa: F401  (re-exported for tests)


@pytest.fixture
def store(tmp_path: Path) -> KlineStore:
    return KlineStore(tmp_path / "data", create=True)


@pytest.fixture
def synth_store(tmp_path: Path) -> KlineStore:
    """Five OKX swaps, three days of 1m bars."""
    s = KlineStore(tmp_path / "data", create=True, durable=False)
    write_synthetic(s, SynthConfig(instruments=5, timeframe="1m", days=3, seed=7))
    return s
