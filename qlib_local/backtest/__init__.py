"""Backtests of research configs: the shared model over history, statistics, sweeps, reports.

Names are imported on first use (PEP 562): the report notebook reads a backtest's files with
:mod:`qlib_local.backtest.report` without loading the engine (numba), and vectorbt
(``orders_portfolio``) only loads when called, as its import alone takes seconds.
"""

from __future__ import annotations

import importlib

# public name -> module that defines it
_EXPORTS = {
    "BacktestResult": "engine", "orders_frame": "engine", "run_backtest": "engine",
    "drawdown": "stats", "orders_portfolio": "stats", "returns": "stats", "summary": "stats",
    "GridError": "grid", "SweepPlan": "grid", "plan_sweep": "grid",
    "SweepResult": "sweep", "grid_names": "sweep", "run_sweep": "sweep", "sweep": "sweep", "sweep_table": "sweep",
    "variant": "sweep",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
