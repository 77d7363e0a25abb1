"""The report notebook draws what ``qlib-local backtest`` wrote: it reads stats.json and the
parquet files (run under papermill), it does not run the backtest again."""

from __future__ import annotations

import json

import nbformat
import pandas as pd
import pytest

from qlib_local.backtest.report import execute_notebook, read_outputs
from qlib_local.cli.main import main
from qlib_local.errors import QlibError


def _text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            parts.append(o.get("text", ""))
            parts.append(str(o.get("data", {}).get("text/plain", "")))
            parts.append(str(o.get("data", {}).get("text/html", "")))
    return "\n".join(parts)


def test_report_notebook_reads_the_written_outputs(hourly_root, tmp_path, example_raw, write_cfg, capsys):
    out = tmp_path / "out"
    cfg = write_cfg(example_raw)
    assert main(["backtest", str(cfg), "--root", str(hourly_root), "--start", "2025-03-20", "--out", str(out),
                 "--no-notebook"]) == 0
    assert not (out / "03_backtest.ipynb").exists()
    written = read_outputs(out)
    assert written.stats["bars"] == len(written.equity) and list(written.prices.columns) == list(
        written.positions.columns)
    # alter what was written: the notebook must show the altered figures, which no backtest computes
    stats = json.loads((out / "stats.json").read_text())
    stats["bars"] = 987654
    stats["account"]["sharpe_ratio"] = 42.4242
    (out / "stats.json").write_text(json.dumps(stats))
    nb = nbformat.read(execute_notebook(out, {"out": str(out), "config": str(cfg)}), as_version=4)
    text = _text(nb)
    assert "987654" in text and "42.4242" in text
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert len(pd.read_csv(out / "orders.csv")) > 0  # the orders chart had orders to draw
    capsys.readouterr()


def test_report_refuses_an_incomplete_output_folder(hourly_root, tmp_path, example_raw, write_cfg):
    out = tmp_path / "out"
    assert main(["backtest", str(write_cfg(example_raw)), "--root", str(hourly_root), "--start", "2025-03-20",
                 "--out", str(out), "--no-notebook"]) == 0
    (out / "positions.parquet").unlink()
    with pytest.raises(QlibError, match=r"no positions.parquet \(run `qlib-local backtest CONFIG --out"):
        read_outputs(out)
