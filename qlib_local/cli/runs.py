"""``qlib-local runs list|show|failed``: the live runs index."""

from __future__ import annotations

import argparse
import os

import pandas as pd

from qlib_local.errors import QlibError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="list live runs and their output notebooks")
    p.add_argument("--runs-dir", default=os.environ.get("QLIB_LOCAL_RUNS", "runs/live"),
                   help="the live runs directory (default: $QLIB_LOCAL_RUNS or runs/live)")
    rs = p.add_subparsers(dest="runs_command", metavar="SUBCOMMAND", required=True)
    ls = rs.add_parser("list", help="every run, oldest first")
    ls.add_argument("--account")
    ls.add_argument("-n", type=int, default=50, help="show the last N runs")
    ls.set_defaults(func=cmd_list)
    sh = rs.add_parser("show", help="one run (a run id or a unique prefix)")
    sh.add_argument("run_id")
    sh.set_defaults(func=cmd_show)
    fl = rs.add_parser("failed", help="runs that failed or were killed")
    fl.add_argument("--account")
    fl.set_defaults(func=cmd_failed)


def _runs(args: argparse.Namespace) -> pd.DataFrame:
    from qlib_local.live import index

    df = index.read(args.runs_dir)
    if getattr(args, "account", None):
        df = df[df["account"] == args.account]
    return df


def _print(df: pd.DataFrame) -> None:
    if df.empty:
        print("no runs")
        return
    cols = ["run_id", "account", "bar", "status", "exit_code", "notebook"]
    with pd.option_context("display.width", 200, "display.max_colwidth", 90):
        print(df[cols].to_string(index=False))


def cmd_list(args: argparse.Namespace) -> int:
    _print(_runs(args).tail(args.n))
    return 0


def cmd_failed(args: argparse.Namespace) -> int:
    df = _runs(args)
    _print(df[df["status"].isin(["failed", "killed"])])
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    df = _runs(args)
    hit = df[df["run_id"].astype(str).str.startswith(args.run_id)]
    if len(hit) != 1:
        raise QlibError(f"{len(hit)} runs match {args.run_id!r}; give more of the run id")
    for k, v in hit.iloc[0].items():
        print(f"{k:>10}: {v}")
    return 0
