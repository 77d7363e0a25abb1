"""The guards' account settings: defaults, and every bad value refused with one error line."""

from __future__ import annotations

import pytest
import yaml

from qlib_local.cli.main import main
from qlib_local.live.accounts import load_account
from qlib_local.live.errors import ConfigError
from qlib_local.live.guards import GuardSettings

BASE = {"mode": "paper", "url": "http://127.0.0.1:1", "strategies": "s.yaml"}


def write(tmp_path, **fields):
    p = tmp_path / "accounts.yaml"
    p.write_text(yaml.safe_dump({"accounts": {"a": {**BASE, **fields}}}))
    return p


def test_defaults_and_overrides(tmp_path):
    assert load_account(write(tmp_path), "a").guards == GuardSettings(3.0, 0.01, 0.10, 24, 0.10)
    got = load_account(write(tmp_path, price_band_ranges=5, price_band_min=0.02, price_band_max=0.2,
                             price_band_bars=48, size_tolerance=0), "a").guards
    assert got == GuardSettings(5.0, 0.02, 0.2, 48, 0.0)


@pytest.mark.parametrize(("field", "value"), [
    ("price_band_ranges", -1), ("price_band_ranges", float("nan")), ("price_band_ranges", float("inf")),
    ("price_band_ranges", "3"), ("price_band_min", 0.2), ("price_band_max", 0.9), ("price_band_max", 0),
    ("price_band_bars", 1), ("price_band_bars", 24.5), ("price_band_bars", True), ("size_tolerance", -0.1),
    ("size_tolerance", 2), ("size_tolerance", float("nan"))])
def test_bad_settings_are_refused(tmp_path, field, value):
    with pytest.raises(ConfigError, match=f"accounts.a.{field}: (expected|must be)"):
        load_account(write(tmp_path, **{field: value}), "a")


def test_cli_says_one_error_line_and_exits_2(tmp_path, capsys):
    path = write(tmp_path, price_band_max=float("inf"))
    assert main(["live", "run", "a", "--accounts", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: accounts.a.price_band_max")
    assert not (tmp_path / "ledger").exists() and not (tmp_path / "runs").exists()
