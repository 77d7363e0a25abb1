"""``qlib-local serve``: run the schedule in one foreground process (no cron needed)."""

from __future__ import annotations

import argparse
import logging
import signal
from pathlib import Path

from qlib_local.errors import QlibError

log = logging.getLogger("qlib_local.serve")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="run collectors and live runs on schedule in this process (for machines without cron)",
        description="The same jobs as `qlib-local schedule`, started --lead seconds before each close. "
        "A run still going when due again is skipped, not started twice; missed runs are logged, "
        "not replayed. Ctrl-C stops scheduling; runs in progress finish on their own.",
    )
    p.add_argument("--config", "--accounts", dest="config", default=None, help="accounts YAML (default: $QLIB_LOCAL_ACCOUNTS or ./accounts.yaml)")
    p.add_argument("--lead", type=int, default=30, help="seconds before the close to start live runs (default 30)")
    p.add_argument("--grace", type=float, default=60.0,
                   help="a run noticed later than this many seconds after its time is missed (default 60)")
    p.add_argument("--log-dir", default=None, help="where job output is appended (default ./runs/logs)")
    p.add_argument("--until", default=None, help="stop at this UTC time (ISO 8601); default: run until stopped")
    p.set_defaults(func=cmd_serve)


def _interrupt(signum, frame) -> None:  # SIGTERM (systemd, kill) stops like Ctrl-C
    raise KeyboardInterrupt


def cmd_serve(args: argparse.Namespace) -> int:
    from qlib_local.ops.plan import accounts_path, build_jobs
    from qlib_local.ops.scheduler import Scheduler
    from qlib_local.timeframes import to_ms

    if args.lead < 0:
        raise QlibError(f"--lead must be 0 or more seconds, got {args.lead}")
    if args.grace <= 0:
        raise QlibError(f"--grace must be more than 0 seconds, got {args.grace}")
    until = to_ms(args.until) / 1000 if args.until else None
    path = accounts_path(args.config)
    jobs = build_jobs(path, args.lead, Path(args.log_dir) if args.log_dir else None)
    sched = Scheduler(jobs, grace_s=args.grace)
    log.info("serving %d job(s) from %s (times UTC, live runs %d s before each close); output in %s",
             len(jobs), path, args.lead, jobs[0].log.parent if jobs[0].log else "-")
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        sched.run(until)
    except KeyboardInterrupt:
        log.info("stopping: no new runs will start")
    left = sched.still_running()
    for name, pid in left:
        log.info("%s (pid %d) is still running and will finish on its own", name, pid)
    return 0
