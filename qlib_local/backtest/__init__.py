"""Backtests of research configs: the shared model over history, vectorbt statistics, sweeps, reports."""

from qlib_local.backtest.engine import BacktestResult, orders_frame, run_backtest
from qlib_local.backtest.grid import GridError, SweepPlan, plan_sweep
from qlib_local.backtest.stats import drawdown, orders_portfolio, returns, summary
from qlib_local.backtest.sweep import SweepResult, grid_names, run_sweep, sweep, sweep_table, variant

__all__ = [
    "BacktestResult", "GridError", "SweepPlan", "SweepResult", "drawdown", "grid_names", "orders_frame",
    "orders_portfolio", "plan_sweep", "returns", "run_backtest", "run_sweep", "summary", "sweep", "sweep_table",
    "variant",
]
