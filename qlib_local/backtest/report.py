"""Backtest outputs: equity.csv, orders.csv, stats.json and the executed report notebook."""

from __future__ import annotations

import json
from pathlib import Path

from qlib_local.backtest.engine import BacktestResult
from qlib_local.backtest.stats import summary
from qlib_local.errors import QlibError

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks" / "research"
BACKTEST_NOTEBOOK = NOTEBOOK_DIR / "03_backtest.ipynb"


def write_outputs(res: BacktestResult, out: str | Path) -> dict[str, Path]:
    """Write the three result files; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"equity": out / "equity.csv", "orders": out / "orders.csv", "stats": out / "stats.json"}
    eq = res.equity.copy()
    if res.equity_usd is not None:  # a coin-settled account: its equity in USD beside the coin figures
        eq["usd"] = res.equity_usd
    eq.index.name = "timestamp"
    eq.to_csv(paths["equity"])
    res.orders.to_csv(paths["orders"], index=False)
    paths["stats"].write_text(json.dumps(summary(res), indent=1))
    return paths


def execute_notebook(out: str | Path, parameters: dict, notebook: Path = BACKTEST_NOTEBOOK) -> Path:
    """Run a research notebook headless with papermill, saving the executed copy into ``out``."""
    from qlib_local.notebook_runner import run_notebook

    if not notebook.exists():
        raise QlibError(f"report notebook {notebook} not found")
    dest = Path(out) / notebook.name
    run_notebook(notebook, dest, parameters, cwd=Path(out))
    return dest
