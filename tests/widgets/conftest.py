"""Widget fixtures: a private copy of the example strategies and an hourly synthetic store."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests_support import REPO

from qlib_local.store import KlineStore
from qlib_local.synth import SynthConfig, write_synthetic

EXAMPLE = REPO / "strategies" / "example.yaml"


@pytest.fixture(scope="session")
def hourly_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hourly") / "data"
    write_synthetic(KlineStore(root, create=True, durable=False),
                    SynthConfig(instruments=6, timeframe="1H", days=40, seed=11))
    return root


@pytest.fixture
def hourly_store(hourly_root: Path) -> KlineStore:
    return KlineStore(hourly_root)


@pytest.fixture
def example(tmp_path: Path) -> Path:
    dest = tmp_path / "strategies.yaml"
    shutil.copy(EXAMPLE, dest)
    return dest
