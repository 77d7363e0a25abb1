"""``qlib-local check lookahead CONFIG``: factors and signals that read the future, and warm-ups.

Exit 0 when clean, 1 when a factor or signal reads later bars or a warm-up does not hold
(see :mod:`qlib_local.research.lookahead`), 2 on bad input (one ``error:`` line).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="check a strategy config for lookahead and warm-up bias")
    csub = p.add_subparsers(dest="check_command", metavar="SUBCOMMAND", required=True)
    la = csub.add_parser(
        "lookahead", help="recompute every factor and signal on histories cut at sampled bars",
        description="Recompute every factor and strategy signal of CONFIG on histories cut at sampled bars and "
                    "compare with the full-history value there: a value that changes when later bars are removed "
                    "is lookahead (exit 1). Also measures how many bars each factor needs before its value stops "
                    "depending on where the history starts, beside the warm-up the backtest and live runs apply.")
    la.add_argument("config", type=Path, help="strategy config (YAML)")
    la.add_argument("--root", type=Path, default=None, help="data root (default $QLIB_LOCAL_ROOT or ./data)")
    la.add_argument("--end", default=None, help="check the bars opening before this time (UTC)")
    la.add_argument("--samples", type=int, default=30, help="bars checked per panel, spread over the history "
                                                             "(plus the last; default 30)")
    la.add_argument("--seed", type=int, default=0, help="seed of the sampled bars (default 0)")
    la.add_argument("--json", action="store_true", help="print the report as JSON")
    la.set_defaults(func=cmd_lookahead)


def cmd_lookahead(args: argparse.Namespace) -> int:
    from qlib_local.errors import QlibError
    from qlib_local.research import load_config
    from qlib_local.research.lookahead import check
    from qlib_local.store import KlineStore, default_root

    if not 1 <= args.samples <= 10_000:
        raise QlibError(f"--samples: must be in [1, 10000], got {args.samples}")
    if not 0 <= args.seed < 2**32:
        raise QlibError(f"--seed: must be in [0, 2**32), got {args.seed}")
    store = KlineStore(args.root or default_root())
    cfg = load_config(args.config, store)
    report = check(cfg, store, end=args.end, samples=args.samples, seed=args.seed)
    print(json.dumps(report.to_dict(), indent=1) if args.json else report.text())
    return 0 if report.ok else 1
