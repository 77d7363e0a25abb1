"""``qlib-local sweep CONFIG --grid GRID --out DIR``: every combination of a grid, one table.

The options shared with ``qlib-local walkforward`` (grid, data window, memory, threads, Ray)
are defined here once. Everything is validated (config, grid, numbers) before anything is
written; combinations that are invalid are listed in the table with their error.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from qlib_local.config_values import Bounds, integer, number
from qlib_local.errors import QlibError
from qlib_local.store import KlineStore, default_root

LIMITS = {"memory_mb": Bounds(1.0, 1e7), "threads": Bounds(1, 1024, integer=True),
          "ray_cpus": Bounds(1, 4096, integer=True), "top": Bounds(1, 10_000, integer=True),
          "max_combinations": Bounds(1, 10_000_000, integer=True)}


def add_sweep_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", type=Path, help="strategy config (YAML)")
    p.add_argument("--grid", type=Path, required=True, help="grid (YAML): fields to lists of values (docs/research.md)")
    p.add_argument("--root", type=Path, default=None, help="data root (default $QLIB_LOCAL_ROOT or ./data)")
    p.add_argument("--start", default=None, help="first bar to trade (UTC); earlier bars warm factors up")
    p.add_argument("--end", default=None, help="trade bars opening before this time (UTC)")
    p.add_argument("--strategy", action="append", default=None, metavar="ID",
                   help="keep only this strategy of the config (repeatable)")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument("--metric", default="sharpe", help="statistic that ranks combinations (default sharpe)")
    p.add_argument("--memory-mb", default="512", help="budget for signal arrays and cached factors (default 512)")
    p.add_argument("--threads", default=None, help="numba threads (default: NUMBA_NUM_THREADS or all cores)")
    p.add_argument("--serial", action="store_true", help="one thread, no parallel kernel")
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="run chunks on Ray: a local instance, or a cluster address")
    p.add_argument("--ray-cpus", default=None, help="CPUs of a local Ray instance (default: all)")
    p.add_argument("--max-combinations", default="100000", help="refuse larger grids (default 100000)")


def register(subparsers) -> None:
    p = subparsers.add_parser("sweep", help="run every combination of a parameter grid",
                              description="Sweep any config fields over a grid; writes sweep.csv (one row per "
                                          "combination: axis values, statistics, error) into --out.")
    add_sweep_options(p)
    p.add_argument("--top", default="10", help="rows of the best combinations to print (default 10)")
    p.set_defaults(func=run)


def checked(args: argparse.Namespace, name: str):
    """An option's value checked against ``LIMITS`` (None stays None)."""
    value = getattr(args, name)
    if value is None:
        return None
    bounds = LIMITS[name]
    where = "--" + name.replace("_", "-")
    try:
        parsed = float(value) if not bounds.integer else int(value)
    except ValueError:
        raise QlibError(f"{where}: expected {'an integer' if bounds.integer else 'a number'}, got {value!r}") from None
    return integer(where, parsed, bounds, QlibError) if bounds.integer else number(where, parsed, bounds, QlibError)


def prepare(args: argparse.Namespace):
    """Store, validated plan and run options; raises before anything is written."""
    from qlib_local.backtest.grid import GridError, plan_sweep
    from qlib_local.backtest.sweep import metric_column
    from qlib_local.yamlfile import read_yaml

    store = KlineStore(args.root or default_root())
    metric_column(args.metric)
    options = {k: checked(args, k) for k in ("memory_mb", "threads", "ray_cpus", "max_combinations")}
    grid = read_yaml(args.grid, GridError, f"grid file {args.grid} does not exist")
    plan = plan_sweep(args.config, grid, store, strategies=args.strategy,
                      max_combinations=options["max_combinations"])
    if not plan.valid:
        k, message = next(iter(plan.errors.items()))
        raise GridError(f"no valid combination in the grid; combination {k}: {message}")
    return store, plan, options


def executor(args: argparse.Namespace, options: dict):
    """Where chunks run: Ray (``--ray``), or this process (numba threads unless ``--serial``)."""
    from qlib_local.backtest.sweep import LocalExecutor

    if args.ray is None:
        return LocalExecutor(not args.serial, options["threads"])
    from qlib_local.backtest.distributed import RayExecutor

    return RayExecutor(None if args.ray == "local" else args.ray, options["ray_cpus"])


def run(args: argparse.Namespace) -> int:
    from qlib_local.backtest.sweep import sweep

    store, plan, options = prepare(args)
    top = checked(args, "top")
    ex = executor(args, options)
    try:
        res = sweep(plan, store, args.start, args.end, memory_mb=options["memory_mb"], executor=ex)
    finally:
        if hasattr(ex, "close"):
            ex.close()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "sweep.csv"
    res.table.to_csv(path)
    print(f"{len(plan)} combinations ({len(plan.errors)} invalid, listed with their error), "
          f"{len(res.chunks)} chunk(s), {res.groups[0].data.base_tf} bars")
    print(res.best(args.metric, top).drop(columns=["error"]).to_string())
    print(f"wrote {path}")
    return 0
