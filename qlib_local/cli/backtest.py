"""``qlib-local backtest CONFIG --out DIR``: run a config over the local store, write results and a report.

Imports happen inside :func:`run` (``--help`` stays instant), and vectorbt only with
``--trade-stats``: its import alone costs more than the whole backtest.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("backtest", help="backtest a strategy config over the local store",
                              description="Backtest a YAML strategy config; writes equity.csv, orders.csv, "
                                          "stats.json, positions.parquet, prices.parquet and the executed report "
                                          "notebook (which reads those files) into --out.")
    p.add_argument("config", type=Path, help="strategy config (YAML), e.g. strategies/example.yaml")
    p.add_argument("--root", type=Path, default=None, help="data root (default $QLIB_LOCAL_ROOT or ./data)")
    p.add_argument("--start", default=None, help="first bar to trade (UTC), e.g. 2025-01-01")
    p.add_argument("--end", default=None, help="trade bars opening before this time (UTC)")
    p.add_argument("--out", type=Path, default=None,
                   help="output directory (default runs/backtest/<config name>)")
    p.add_argument("--no-notebook", action="store_true", help="skip executing the report notebook")
    p.add_argument("--trade-stats", action="store_true",
                   help="add vectorbt's trade statistics (trades, win rate, profit factor, expectancy) to "
                        "stats.json; imports vectorbt (+4-6 s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import time

    from qlib_local.backtest.engine import run_backtest
    from qlib_local.backtest.report import execute_notebook, write_outputs
    from qlib_local.research import load_config
    from qlib_local.store import KlineStore, default_root

    if args.out is None:
        args.out = Path("runs") / "backtest" / Path(args.config).stem
    root = args.root or default_root()
    store = KlineStore(root)
    cfg = load_config(args.config, store)
    t0 = time.perf_counter()
    res = run_backtest(cfg, store, args.start, args.end)  # per-bar flows: funding paid and received in stats.json
    engine_s = time.perf_counter() - t0
    paths = write_outputs(res, args.out, trade_stats=args.trade_stats)
    total = res.equity["total"]
    ccy, d = res.settle_ccy, (8 if res.model.inverse and not res.model.multi_coin else 2)  # a coin needs its satoshis
    print(f"{len(total)} bars, {len(res.orders)} orders, equity {total.iloc[0]:.{d}f} -> {total.iloc[-1]:.{d}f} {ccy}"
          + (f" ({res.equity_usd.iloc[-1]:,.2f} USD)" if res.equity_usd is not None and ccy != "USD" else "")
          + f" (engine {engine_s:.2f} s)")
    fund = res.funding.sum(axis=1)
    print(f"funding ({cfg.funding}): paid {-fund[fund < 0].sum():.{d}f}, received {fund[fund > 0].sum():.{d}f} {ccy}; "
          f"margin {'on' if res.margin else 'off'}, {len(res.liquidations)} liquidation(s)")
    for p in paths.values():
        print(f"wrote {p}")
    if not args.no_notebook:
        out = Path(args.out).resolve()
        nb = execute_notebook(out, {"out": str(out), "config": str(Path(args.config).resolve())})
        print(f"wrote {nb}")
    return 0
