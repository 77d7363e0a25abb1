"""Backtests of research configs: the shared model over history, statistics, sweeps, reports.

``orders_portfolio`` (vectorbt) is imported on first use: vectorbt's import takes seconds.
"""

from qlib_local.backtest.engine import BacktestResult, orders_frame, run_backtest
from qlib_local.backtest.stats import drawdown, orders_portfolio, returns, summary
from qlib_local.backtest.sweep import grid_names, run_sweep, sweep_table, variant

__all__ = [
    "BacktestResult", "drawdown", "grid_names", "orders_frame", "orders_portfolio", "returns", "run_backtest",
    "run_sweep", "summary", "sweep_table", "variant",
]
