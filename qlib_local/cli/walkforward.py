"""``qlib-local walkforward CONFIG --grid GRID --train 60d --test 15d --out DIR``.

Writes ``windows.csv`` (per window: bounds, the combination chosen, in-sample vs
out-of-sample statistics), ``oos_equity.csv`` (the stitched out-of-sample curve),
``summary.json`` and the executed report notebook ``05_walk_forward.ipynb``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from qlib_local.cli.sweep import add_sweep_options, executor, prepare

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "research" / "05_walk_forward.ipynb"


def register(subparsers) -> None:
    p = subparsers.add_parser("walkforward", help="walk a parameter grid forward: choose in-sample, trade out of sample",
                              description="Rolling or anchored walk-forward: on each train window the grid's best "
                                          "combination by --metric is chosen and traded on the next test window.")
    add_sweep_options(p)
    p.add_argument("--train", required=True, help="train window: bars (e.g. 1440) or a duration (60d)")
    p.add_argument("--test", required=True, help="test window: bars or a duration (15d)")
    p.add_argument("--step", default=None, help="window step (default: the test window)")
    p.add_argument("--anchored", action="store_true", help="train windows all start at the first bar")
    p.add_argument("--no-notebook", action="store_true", help="skip executing the report notebook")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from qlib_local.backtest.report import execute_notebook
    from qlib_local.backtest.walkforward import walk_forward

    store, plan, options = prepare(args)
    ex = executor(args, options)
    try:
        wf = walk_forward(plan, store, args.train, args.test, args.step, args.anchored, args.metric, args.start,
                          args.end, memory_mb=options["memory_mb"], executor=ex)
    finally:
        if hasattr(ex, "close"):
            ex.close()
    paths = wf.write(args.out)
    s = wf.summary
    print(f"{s['windows']} windows of {s['train_bars']} train + {s['test_bars']} test {s['base_timeframe']} bars "
          f"({'anchored' if s['anchored'] else 'rolling'}), {s['combinations']} combinations, chosen by {s['metric']}")
    cols = ["window", "test_start", *s["axes"], f"is_{s['metric']}", f"oos_{s['metric']}"]
    print(wf.windows[[c for c in dict.fromkeys(cols) if c in wf.windows]].to_string(index=False))
    print(f"out of sample: equity {s['start_value']:.2f} -> {s['end_value']:.2f}")
    for p in paths.values():
        print(f"wrote {p}")
    if not args.no_notebook:
        nb = execute_notebook(args.out, {"config": str(Path(args.config).resolve()),
                                         "root": str(Path(args.root or store.root).resolve()),
                                         "results": str(Path(args.out).resolve())}, NOTEBOOK)
        print(f"wrote {nb}")
    return 0
