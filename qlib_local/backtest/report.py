"""Backtest outputs: equity.csv, orders.csv, stats.json, positions and prices, and the report notebook.

The report notebook reads these files (:func:`read_outputs`) instead of running the backtest
again, so ``qlib-local backtest`` computes everything once and the report only draws it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from qlib_local.backtest.engine import BacktestResult
from qlib_local.backtest.stats import summary
from qlib_local.errors import QlibError

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks" / "research"
BACKTEST_NOTEBOOK = NOTEBOOK_DIR / "03_backtest.ipynb"
FILES = {"equity": "equity.csv", "orders": "orders.csv", "stats": "stats.json",
         "positions": "positions.parquet", "prices": "prices.parquet"}


@dataclass(frozen=True)
class BacktestOutputs:
    """What ``qlib-local backtest`` wrote, read back (times are UTC bar closes)."""

    equity: pd.DataFrame  # total, one column per strategy
    orders: pd.DataFrame  # net orders
    stats: dict  # stats.json
    positions: pd.DataFrame  # net contracts per instrument after each close
    prices: pd.DataFrame  # the closes the backtest traded at (forward-filled), per instrument


def write_outputs(res: BacktestResult, out: str | Path, trade_stats: bool = False) -> dict[str, Path]:
    """Write the result files; returns their paths. ``trade_stats`` adds vectorbt's trade records."""
    stats = summary(res, trade_stats=trade_stats)  # everything computed before anything is written
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {k: out / name for k, name in FILES.items()}
    eq = res.equity.copy()
    eq.index.name = "timestamp"
    eq.to_csv(paths["equity"])
    res.orders.to_csv(paths["orders"], index=False)
    paths["stats"].write_text(json.dumps(stats, indent=1))
    res.positions.rename_axis(index="timestamp", columns=None).to_parquet(paths["positions"])
    prices = res.data.close.reindex(columns=res.model.instruments)
    prices.rename_axis(index="timestamp", columns=None).to_parquet(paths["prices"])
    return paths


def read_outputs(out: str | Path) -> BacktestOutputs:
    """The files of a backtest output folder, as frames (for the report notebook)."""
    out = Path(out)
    missing = [name for name in FILES.values() if not (out / name).is_file()]
    if missing:
        raise QlibError(f"{out}: no {', '.join(missing)} (run `qlib-local backtest CONFIG --out {out}` first)")
    equity = pd.read_csv(out / FILES["equity"], index_col="timestamp", parse_dates=True)
    orders = pd.read_csv(out / FILES["orders"], parse_dates=["timestamp"])
    stats = json.loads((out / FILES["stats"]).read_text())
    return BacktestOutputs(equity, orders, stats, pd.read_parquet(out / FILES["positions"]),
                           pd.read_parquet(out / FILES["prices"]))


def execute_notebook(out: str | Path, parameters: dict, notebook: Path = BACKTEST_NOTEBOOK) -> Path:
    """Run a research notebook headless with papermill, saving the executed copy into ``out``."""
    from qlib_local.notebook_runner import run_notebook

    if not notebook.exists():
        raise QlibError(f"report notebook {notebook} not found")
    dest = Path(out) / notebook.name
    run_notebook(notebook, dest, parameters, cwd=Path(out))
    return dest
