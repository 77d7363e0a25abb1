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
    res = run_backtest(cfg, store, args.start, args.end)  # per-bar flows: funding paid and received in stats.json
    paths = write_outputs(res, args.out)
    total = res.equity["total"]
    ccy, d = res.settle_ccy, (8 if res.model.inverse else 2)  # a coin needs its satoshis
    print(f"{len(total)} bars, {len(res.orders)} orders, equity {total.iloc[0]:.{d}f} -> {total.iloc[-1]:.{d}f} {ccy}"
          + (f" ({res.equity_usd.iloc[-1]:,.2f} USD)" if res.equity_usd is not None else ""))
    fund = res.funding.sum(axis=1)
    print(f"funding ({cfg.funding}): paid {-fund[fund < 0].sum():.{d}f}, received {fund[fund > 0].sum():.{d}f} {ccy}; "
          f"margin {'on' if res.margin else 'off'}, {len(res.liquidations)} liquidation(s)")
    for p in paths.values():
        print(f"wrote {p}")
    if not args.no_notebook:
        nb = execute_notebook(args.out, {"config": str(Path(args.config).resolve()), "root": str(Path(root).resolve()),
                                         "start": args.start, "end": args.end})
        print(f"wrote {nb}")
    return 0
