"""Ops fixtures: an accounts config with two accounts and their strategies files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from tests_support import REPO

PAPER_URL = "http://127.0.0.1:9"  # nothing listens: a job that does reach out fails at once, locally
EVENT_45M = {
    "strategies": [
        {"strategy_name": "SmaCross_20_60", "kind": "timing", "instruments": ["BTC-USDT-SWAP"],
         "rule_type": "45m", "offset": "0h", "position": 0.5, "leverage": 1},
        {"strategy_name": "SmaCross_5_20", "kind": "timing", "instruments": ["ETH-USDT-SWAP"],
         "rule_type": "12H", "offset": "2h15m", "position": 0.5, "leverage": 1},
    ]
}


@pytest.fixture
def accounts_dir(tmp_path: Path) -> Path:
    d = tmp_path / "desk"
    d.mkdir()
    shutil.copy(REPO / "strategies" / "example.yaml", d / "example.yaml")
    (d / "fast.yaml").write_text(yaml.safe_dump(EVENT_45M))
    (d / "accounts.yaml").write_text(yaml.safe_dump({"accounts": {
        "main": {"exchange": "okx", "mode": "paper", "url": PAPER_URL, "strategies": "example.yaml",
                 "store": "data"},
        "fast": {"exchange": "okx", "mode": "paper", "url": PAPER_URL, "strategies": "fast.yaml", "store": "data"},
    }}))
    return d
