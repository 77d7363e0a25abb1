"""``qlib-local demo``: the whole pipeline on embedded synthetic data."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the end-to-end demo on synthetic data")
    p.add_argument(
        "--workdir", type=Path, default=Path("demo"), help="where the demo keeps its data (default ./demo)"
    )
    p.add_argument(
        "--repo",
        type=Path,
        default=Path("."),
        help="the qlib_local checkout (strategies/, notebooks/, runs/)",
    )
    p.add_argument("--runs", type=Path, default=None, help="where output notebooks go (default REPO/runs)")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from qlib_local.demo import run_demo, summary

    repo = args.repo.resolve()
    runs = (args.runs or repo / "runs").resolve()
    result = run_demo(args.workdir.resolve(), repo, runs)
    print(summary(result, repo))
    return 0
