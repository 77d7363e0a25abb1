"""``qlib-local backtest CONFIG --out DIR``: run a config over the local store, write results and a report."""

from __future__ import annotations

import argparse
from pathlib import Path

from qlib_local.store import KlineStore, default_root


def register(subparsers) -> None:
    p = subparsers.add_parser("backtest", help="backtest a strategy config over the local store",
                              description="Backtest a YAML strategy config; writes equity.csv, orders.csv, "
                                          "stats.json and the executed report notebook into --out.")
    p.add_argument("config", type=Path, help="strategy config (YAML), e.g. strategies/example.yaml")
    p.add_argument("--root", type=Path, default=None, help="data root (default $QLIB_LOCAL_ROOT or ./data)")
    p.add_argument("--start", default=None, help="first bar to trade (UTC), e.g. 2025-01-01")
    p.add_argument("--end", default=None, help="trade bars opening before this time (UTC)")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument("--no-notebook", action="store_true", help="skip executing the report notebook")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from qlib_local.backtest.engine import run_backtest
    from qlib_local.backtest.report import execute_notebook, write_outputs
    from qlib_local.research import load_config

    root = args.root or default_root()
    store = KlineStore(root)
    cfg = load_config(args.config, store)
    res = run_backtest(cfg, store, args.start, args.end, record_positions=False)
    paths = write_outputs(res, args.out)
    total = res.equity["total"]
    print(f"{len(total)} bars, {len(res.orders)} orders, equity {total.iloc[0]:.2f} -> {total.iloc[-1]:.2f}")
    for p in paths.values():
        print(f"wrote {p}")
    if not args.no_notebook:
        nb = execute_notebook(args.out, {"config": str(Path(args.config).resolve()), "root": str(Path(root).resolve()),
                                         "start": args.start, "end": args.end})
        print(f"wrote {nb}")
    return 0
