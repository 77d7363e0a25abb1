"""The specs file: parsed once per content, re-read when it changes, never shared mutably."""

from __future__ import annotations

import json

import pytest

from qlib_local.errors import DataError
from qlib_local.specs import InstrumentSpec, load_specs, save_specs, specs_path


def test_specs_are_parsed_once_per_content_and_reparsed_when_it_changes(tmp_path):
    save_specs(tmp_path, "okx", {"BTC-USDT-SWAP": InstrumentSpec("BTC-USDT-SWAP", ct_val=0.01, lot_sz=0.1)})
    first, second = load_specs(tmp_path, "okx"), load_specs(tmp_path, "okx")
    assert first == second and first is not second  # each caller gets its own dict ...
    assert first["BTC-USDT-SWAP"] is second["BTC-USDT-SWAP"]  # ... of the same parsed (frozen) specs
    second.pop("BTC-USDT-SWAP")
    assert "BTC-USDT-SWAP" in load_specs(tmp_path, "okx")  # a caller's edit never reaches the next one

    # the same length, written in place (same inode, possibly the same mtime tick): still seen
    path = specs_path(tmp_path, "okx")
    text = path.read_text()
    assert '"lot_sz": 0.1' in text
    path.write_text(text.replace('"lot_sz": 0.1', '"lot_sz": 0.2'))
    assert load_specs(tmp_path, "okx")["BTC-USDT-SWAP"].lot_sz == 0.2


def test_a_bad_specs_file_is_refused_every_time(tmp_path):
    path = specs_path(tmp_path, "okx")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"BTC-USDT-SWAP": {"ct_val": -1}}))
    for _ in range(2):
        with pytest.raises(DataError, match="BTC-USDT-SWAP"):
            load_specs(tmp_path, "okx")
    path.unlink()
    assert load_specs(tmp_path, "okx") == {}
