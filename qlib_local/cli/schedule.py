"""``qlib-local schedule``: print, install or remove the crontab for collectors and live runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qlib_local.errors import QlibError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "schedule",
        help="print (or --install / --uninstall) the crontab for collectors and live runs",
        description="Cron lines firing each account's live run --lead seconds before every bar close of its "
        "strategies, and the collector at every close. Times are UTC whatever the machine's zone.",
    )
    p.add_argument("--config", "--accounts", dest="config", default=None, help="accounts YAML (default: $QLIB_LOCAL_ACCOUNTS or ./accounts.yaml)")
    p.add_argument("--lead", type=int, default=30, help="seconds before the close to start live runs (default 30)")
    p.add_argument("--tz", default="auto", choices=("auto", "utc", "cron-tz", "convert"),
                   help="how UTC reaches cron: auto (default), utc, cron-tz (CRON_TZ=UTC), convert (fixed-offset zone)")
    p.add_argument("--log-dir", default=None, help="where job output is appended (default ./runs/logs)")
    act = p.add_mutually_exclusive_group()
    act.add_argument("--install", action="store_true", help="write the lines into the crontab as a marked block")
    act.add_argument("--uninstall", action="store_true", help="remove the marked block from the crontab")
    p.add_argument("--crontab-file", default=None,
                   help="edit this file instead of the user's crontab (also $QLIB_LOCAL_CRONTAB)")
    p.set_defaults(func=cmd_schedule)


def cmd_schedule(args: argparse.Namespace) -> int:
    from qlib_local.ops.crontab_block import CrontabTarget, install, render_block, tz_plan, uninstall
    from qlib_local.ops.plan import accounts_path, build_jobs

    if args.uninstall:
        target = CrontabTarget(args.crontab_file)
        removed = uninstall(target)
        print(f"removed the qlib-local block from {target.describe()}" if removed
              else f"no qlib-local block in {target.describe()}; nothing to remove")
        return 0
    if args.lead < 0:
        raise QlibError(f"--lead must be 0 or more seconds, got {args.lead}")
    path = accounts_path(args.config)
    jobs = build_jobs(path, args.lead, Path(args.log_dir) if args.log_dir else None)
    block = render_block(jobs, tz_plan(args.tz), source=str(path), lead_s=args.lead)
    if not args.install:
        print(block, end="")
        return 0
    target = CrontabTarget(args.crontab_file)
    changed = install(target, block)
    for job in jobs:
        if job.note:
            print(f"warning: {job.note}", file=sys.stderr)
    n = sum(1 for line in block.splitlines() if line and not line.startswith("#") and "=" not in line.split()[0])
    print(f"{'installed' if changed else 'already installed'}: {n} line(s) for {len(jobs)} job(s) in "
          f"{target.describe()}")
    if jobs and jobs[0].log is not None:
        print(f"job output goes to {jobs[0].log.parent}")
    return 0
