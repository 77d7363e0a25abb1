"""``qlib-local sweep`` and ``qlib-local walkforward``: result files, the executed notebook, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pandas as pd
import pytest
import yaml

from qlib_local.cli.main import main

CLI = [sys.executable, "-m", "qlib_local"]
GRID = {"SmaCross_20_60": {"strategy_name": {"fast": [5, 10], "slow": [30, 60]}, "rule_type": ["1H", "4H"],
                          "offset": ["0h", "2h"]},
        "BtcBullAndCoinBull_21_55": {"hold_period": [3, 6]}}


@pytest.fixture
def grid_file(tmp_path):
    def write(grid: dict, name: str = "grid.yaml"):
        path = tmp_path / name
        path.write_text(yaml.safe_dump(grid, sort_keys=False))  # axis order is column order
        return path

    return write


def test_sweep_writes_one_row_per_combination_with_errors_listed(hourly_root, tmp_path, example_raw, write_cfg,
                                                                  grid_file, capsys):
    out = tmp_path / "out"
    code = main(["sweep", str(write_cfg(example_raw)), "--grid", str(grid_file(GRID)), "--root", str(hourly_root),
                 "--start", "2025-01-05", "--out", str(out), "--metric", "calmar", "--top", "3"])
    assert code == 0
    table = pd.read_csv(out / "sweep.csv", index_col="combination")
    assert len(table) == 32 and list(table.columns[:5]) == ["fast", "slow", "rule_type", "offset", "hold_period"]
    bad = table[table["error"].notna()]
    assert len(bad) == 8 and (bad["offset"] == "2h").all() and (bad["rule_type"] == "1H").all()
    assert bad["error"].str.contains("offset").all()
    assert table.loc[table["error"].isna(), "calmar_ratio"].notna().all()
    printed = capsys.readouterr().out
    assert "32 combinations (8 invalid" in printed and "wrote" in printed


@pytest.mark.parametrize(("grid", "extra", "message"), [
    ({"strategies[0].colour": [1]}, [], "error: grid strategies[0].colour: colour is not a field"),
    ({"strategies[0].leverage": [2, 500]}, [], "error: grid strategies[SmaCross_20_60].leverage: value 500 is "
                                                "invalid in every combination; combination 1: strategies[0]"),
    (GRID, ["--memory-mb", "nan"], "error: --memory-mb"),
    (GRID, ["--threads", "0"], "error: --threads"),
    (GRID, ["--metric", "luck"], "error: metric 'luck'"),
    (GRID, ["--max-combinations", "10"], "error: grid: 32 combinations, more than the limit 10"),
])
def test_sweep_refuses_bad_input_in_one_line_before_writing(hourly_root, tmp_path, example_raw, write_cfg, grid_file,
                                                            capsys, grid, extra, message):
    out = tmp_path / "out"
    code = main(["sweep", str(write_cfg(example_raw)), "--grid", str(grid_file(grid)), "--root", str(hourly_root),
                 "--out", str(out), *extra])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(message) and err.count("\n") == 1, err
    assert not out.exists()


def test_walkforward_subprocess_writes_results_and_the_executed_notebook(hourly_root, tmp_path, example_raw,
                                                                         write_cfg, grid_file):
    out = tmp_path / "wf"
    grid = {"SmaCross_20_60": {"strategy_name": {"fast": [5, 10], "slow": [30, 60]}}}
    proc = subprocess.run([*CLI, "walkforward", str(write_cfg(example_raw)), "--grid", str(grid_file(grid)),
                           "--root", str(hourly_root), "--strategy", "SmaCross_20_60", "--train", "10d",
                           "--test", "5d", "--out", str(out)], capture_output=True, text=True, cwd=tmp_path,
                          timeout=280)
    assert proc.returncode == 0, proc.stderr
    windows = pd.read_csv(out / "windows.csv")
    summary = json.loads((out / "summary.json").read_text())
    assert len(windows) == summary["windows"] == (150 - 10) // 5 and summary["axes"]  # 150 days: train 10, test 5 == ["fast", "slow"]
    assert {"is_sharpe_ratio", "oos_sharpe_ratio", "fast", "slow"} <= set(windows.columns)
    equity = pd.read_csv(out / "oos_equity.csv", index_col="timestamp")
    assert len(equity) == summary["windows"] * 120 and equity["equity"].iloc[-1] == pytest.approx(summary["end_value"], rel=1e-12)
    nb = nbformat.read(out / "05_walk_forward.ipynb", as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert sum("application/vnd.plotly.v1+json" in o.get("data", {}) for o in outputs) == 2
    assert "out of sample: equity 10000.00 ->" in proc.stdout


@pytest.mark.parametrize(("extra", "message"), [
    (["--train", "90min", "--test", "5d"], "error: train: 90min is not a whole number of"),
    (["--train", "10d", "--test", "5d", "--step", "2d"], "error: step: 48 bars is shorter than the test window"),
    (["--train", "200d", "--test", "5d"], "error: walk-forward needs at least train + test"),
])
def test_walkforward_refuses_bad_windows_in_one_line(hourly_root, tmp_path, example_raw, write_cfg, grid_file, capsys,
                                                     extra, message):
    out = tmp_path / "wf"
    code = main(["walkforward", str(write_cfg(example_raw)), "--grid", str(grid_file(GRID)), "--root",
                 str(hourly_root), "--out", str(out), *extra])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(message) and err.count("\n") == 1, err
    assert not out.exists()
