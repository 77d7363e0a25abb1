"""Shared fixtures: every test makes its own data with the synthetic generator."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import settings
from tests_support import REPO

from qlib_local.store import KlineStore
from qlib_local.synth import SynthConfig, write_synthetic

EXAMPLE = REPO / "strategies" / "example.yaml"

# No wall-clock deadlines: a first call that compiles a numba kernel, on a busy machine, is slow
# without being wrong (hypothesis would call it flaky).
settings.register_profile("qlib_local", deadline=None)
settings.load_profile("qlib_local")


@pytest.fixture
def store(tmp_path: Path) -> KlineStore:
    return KlineStore(tmp_path / "data", create=True)


@pytest.fixture
def synth_store(tmp_path: Path) -> KlineStore:
    """Five OKX swaps, three days of 1m bars."""
    s = KlineStore(tmp_path / "data", create=True, durable=False)
    write_synthetic(s, SynthConfig(instruments=5, timeframe="1m", days=3, seed=7))
    return s


# Research and backtest: hourly synthetic swaps, long enough for the example event strategy's
# warm-up (its EMA55 on 4H bars: ~560 bars, 93 days) and then a bull market (days 100-135).
@pytest.fixture(scope="session")
def hourly_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hourly") / "data"
    write_synthetic(KlineStore(root, create=True, durable=False),
                    SynthConfig(instruments=6, timeframe="1H", days=150, seed=11))
    return root


@pytest.fixture
def hourly_store(hourly_root: Path) -> KlineStore:
    return KlineStore(hourly_root)


@pytest.fixture
def example_raw() -> dict:
    return yaml.safe_load(EXAMPLE.read_text())


@pytest.fixture
def write_cfg(tmp_path: Path):
    """Write a config dict to a YAML file and return its path."""

    def write(raw: dict, name: str = "cfg.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(raw))
        return path

    return write


@pytest.fixture
def plugin_copy(tmp_path: Path) -> Path:
    """A private copy of factors/ and strategies/ that a test may edit."""
    dest = tmp_path / "plugins"
    for sub in ("factors", "strategies"):
        shutil.copytree(REPO / sub, dest / sub, ignore=shutil.ignore_patterns("__pycache__"))
    return dest
