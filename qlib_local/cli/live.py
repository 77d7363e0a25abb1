"""``qlib-local live run ACCOUNT``: one bar of live trading for one account (cron runs it)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def default_accounts() -> str:
    return os.environ.get("QLIB_LOCAL_ACCOUNTS", "accounts.yaml")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("live", help="live trading: run the live notebook for an account")
    lsub = p.add_subparsers(dest="live_command", metavar="SUBCOMMAND", required=True)
    r = lsub.add_parser("run", help="trade one bar close for ACCOUNT (papermill; the output notebook is the audit log)",
                        description="Executes notebooks/live/live.ipynb with papermill into "
                                    "runs/live/<account>/<date>/<time>.ipynb, holding the account's lock. "
                                    "Exit codes: 0 ok or skipped, 1 failed, 2 bad accounts or strategies file, secrets, "
                                    "store or --at (checked before anything is written), "
                                    "3 another run holds the lock.")
    r.add_argument("account")
    r.add_argument("--at", help="the bar close to trade (ISO, UTC); default: the next close (waits for it)")
    r.add_argument("--mode", choices=["paper", "demo", "live"], help="override the account's mode")
    r.add_argument("--accounts", default=default_accounts(),
                   help="accounts config (default: $QLIB_LOCAL_ACCOUNTS or ./accounts.yaml)")
    r.add_argument("--runs-dir", help="where output notebooks and the runs index go (default: the account's runs_dir)")
    r.add_argument("--in-process", action="store_true", help="run the steps in this process, without papermill")
    r.add_argument("--kernel", default="python3", help="Jupyter kernel for papermill")
    r.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from qlib_local.live.runner import run_live

    out = run_live(Path(args.accounts), args.account, at=args.at, mode=args.mode, in_process=args.in_process,
                   runs_dir=args.runs_dir, kernel=args.kernel)
    where = f" -> {out.notebook}" if out.notebook else ""
    print(f"run {out.run_id}: {out.status}{where}")
    if out.error:
        print(f"{'error' if out.status == 'failed' else 'note'}: {out.error}", file=sys.stderr)
    return out.exit_code
