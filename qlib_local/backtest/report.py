"""Backtest outputs: equity.csv, orders.csv, stats.json, positions and prices, and the report notebook.

The report notebook reads these files (:func:`read_outputs`) instead of running the backtest
again, so ``qlib-local backtest`` computes everything once and the report only draws it.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from qlib_local.errors import QlibError

if TYPE_CHECKING:  # the notebook reads the files without loading the engine (numba)
    from qlib_local.backtest.engine import BacktestResult

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks" / "research"
BACKTEST_NOTEBOOK = NOTEBOOK_DIR / "03_backtest.ipynb"
FILES = {"equity": "equity.csv", "orders": "orders.csv", "stats": "stats.json",
         "positions": "positions.parquet", "prices": "prices.parquet", "funding": "funding.parquet"}


@dataclass(frozen=True)
class BacktestOutputs:
    """What ``qlib-local backtest`` wrote, read back (times are UTC bar closes)."""

    equity: pd.DataFrame  # total, one column per strategy
    orders: pd.DataFrame  # net orders
    stats: dict  # stats.json
    positions: pd.DataFrame  # net contracts per instrument after each close
    prices: pd.DataFrame  # the closes the backtest traded at (forward-filled), per instrument
    funding: pd.DataFrame  # funding received (+) or paid (-) per strategy at each close (settlement currency)


def write_outputs(res: BacktestResult, out: str | Path, trade_stats: bool = False) -> dict[str, Path]:
    """Write the result files; returns their paths. ``trade_stats`` adds vectorbt's trade records."""
    from qlib_local.backtest.stats import summary

    stats = summary(res, trade_stats=trade_stats)  # everything computed before anything is written
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {k: out / name for k, name in FILES.items()}
    eq = res.equity.copy()
    if res.equity_usd is not None:  # a coin-settled account: its equity in USD beside the coin figures
        eq["usd"] = res.equity_usd
    eq.index.name = "timestamp"
    eq.to_csv(paths["equity"])
    res.orders.to_csv(paths["orders"], index=False)
    paths["stats"].write_text(json.dumps(stats, indent=1))
    res.positions.rename_axis(index="timestamp", columns=None).to_parquet(paths["positions"])
    prices = res.data.close.reindex(columns=res.model.instruments)
    prices.rename_axis(index="timestamp", columns=None).to_parquet(paths["prices"])
    res.funding.rename_axis(index="timestamp", columns=None).to_parquet(paths["funding"])
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
                           pd.read_parquet(out / FILES["prices"]), pd.read_parquet(out / FILES["funding"]))


def execute_notebook(out: str | Path, parameters: dict, notebook: Path = BACKTEST_NOTEBOOK) -> Path:
    """Run a research notebook headless with papermill, saving the executed copy into ``out``."""
    # jsonschema (under papermill and nbformat) imports rfc3987_syntax when installed, to check
    # "iri" string formats, and that builds a Lark grammar: ~4 s of a ~5 s papermill import.
    # Notebook validation checks no IRIs; without it jsonschema skips that one format.
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    from qlib_local.notebook_runner import run_notebook

    if not notebook.exists():
        raise QlibError(f"report notebook {notebook} not found")
    dest = Path(out) / notebook.name
    # saved once at the end (and with the failing cell on an error), not after every cell: the
    # charts make it ~1 MB, and papermill's per-cell saves cost a second or more
    run_notebook(notebook, dest, parameters, cwd=Path(out), request_save_on_cell_execute=False)
    return dest


def show_figure(fig) -> None:
    """Display a Plotly figure as Plotly's own mime bundle (what ``fig.show()`` sends in Jupyter),
    without plotly's renderer machinery, whose first use imports nbformat and jsonschema (~2-4 s
    per kernel): the report notebook runs in a fresh kernel after every backtest."""
    from IPython.display import display

    display({"application/vnd.plotly.v1+json": {**json.loads(fig.to_json()), "config": {}}}, raw=True)
