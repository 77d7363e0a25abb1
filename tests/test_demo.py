"""`make demo` end to end: every step runs for real, writes its outputs, and leaves no process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import nbformat
import pandas as pd
import psutil
from tests_support import GUARD_S, REPO


def _processes_with(marker: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter():
        try:
            if p.environ().get("QLIB_DEMO_TEST_MARK") == marker:
                found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def test_demo_runs_the_whole_pipeline_and_leaves_nothing_running(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    runs = tmp_path / "runs"
    env = {**os.environ, "QLIB_DEMO_TEST_MARK": marker}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "qlib_local",
            "demo",
            "--workdir",
            str(tmp_path / "demo"),
            "--repo",
            str(REPO),
            "--runs",
            str(runs),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=2 * GUARD_S,  # a deadlock guard; the demo takes about a minute
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "=== demo finished ===" in out and "jupyter lab" in out

    # the backtest report: a notebook executed by papermill plus its tables
    bt = runs / "backtest" / "demo"
    equity = pd.read_csv(bt / "equity.csv")
    assert {"timestamp", "total", "SmaCross_20_60", "BtcBullAndCoinBull_21_55"} <= set(equity.columns)
    assert json.loads((bt / "stats.json").read_text())
    nb = nbformat.read(bt / "03_backtest.ipynb", as_version=4)
    assert not any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))

    # the paper run: one audit notebook for account demo, orders acknowledged by the local exchange
    live = sorted((runs / "live" / "demo").rglob("*.ipynb"))
    assert len(live) == 1
    text = live[0].read_text()
    assert "acknowledged" in text and '"output_type": "error"' not in text
    assert "exchange view of account demo:" in out and " 0 orders" not in out
    latest = {}
    for line in (runs / "live" / "index.jsonl").read_text().splitlines():  # append-only status log
        row = json.loads(line)
        latest[row["run_id"]] = row["status"]
    assert list(latest.values()) == ["ok"]

    # nothing left behind: no exchange, kernel or collector still running
    assert _processes_with(marker) == []
