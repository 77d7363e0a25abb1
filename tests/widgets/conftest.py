"""Widget fixtures: a private copy of the example strategies (the hourly store is shared)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests_support import REPO

EXAMPLE = REPO / "strategies" / "example.yaml"


@pytest.fixture
def example(tmp_path: Path) -> Path:
    dest = tmp_path / "strategies.yaml"
    shutil.copy(EXAMPLE, dest)
    return dest
