"""``qlib-local data ...``: import, export, list, check and synthesize bars."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

import pandas as pd

from qlib_local.errors import DataError
from qlib_local.store import KlineStore, default_root
from qlib_local.store.check import check_dataset, datasets
from qlib_local.store.files import read_bar_file, write_bar_file
from qlib_local.timeframes import base_timeframe, normalize_timeframe, parse_timeframe

# Further `data` subcommands living in their own modules (download, update, collect).
EXTRA_MODULES = ("qlib_local.cli.data_sources",)


def add_root(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", type=Path, default=None, help="data root (default $QLIB_LOCAL_ROOT or ./data)")


def open_store(args: argparse.Namespace, create: bool = False) -> KlineStore:
    return KlineStore(args.root or default_root(), create=create)


def register(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="the local K-line store")
    dsub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)

    p = dsub.add_parser("import", help="import a csv/feather/parquet file of bars")
    p.add_argument("path", type=Path)
    p.add_argument("--exchange", required=True)
    p.add_argument("--symbol", required=True, help="the exchange's own instrument id, e.g. BTC-USDT-SWAP")
    p.add_argument("--timeframe", required=True)
    p.add_argument(
        "--sort-dedupe", action="store_true", help="sort and drop duplicate timestamps (last wins)"
    )
    add_root(p)
    p.set_defaults(func=cmd_import)

    p = dsub.add_parser("export", help="export bars, resampled if a coarser timeframe is asked")
    p.add_argument("--exchange", required=True)
    p.add_argument("--symbol", required=True)
    p.add_argument("--timeframe", required=True)
    p.add_argument("--offset", default="0h")
    p.add_argument("--start", default=None, help="ISO time, inclusive")
    p.add_argument("--end", default=None, help="ISO time, exclusive")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv")
    p.add_argument("--out", type=Path, required=True)
    add_root(p)
    p.set_defaults(func=cmd_export)

    p = dsub.add_parser("list", help="datasets in the store")
    p.add_argument("--exchange", default=None)
    add_root(p)
    p.set_defaults(func=cmd_list)

    p = dsub.add_parser("check", help="gaps, duplicates and the last bar of each dataset")
    p.add_argument("--exchange", default=None)
    p.add_argument("--symbol", default=None)
    p.add_argument("--max-gaps", type=int, default=5, help="gaps listed per dataset")
    add_root(p)
    p.set_defaults(func=cmd_check)

    p = dsub.add_parser("synth", help="write deterministic synthetic swap candles")
    p.add_argument("--instruments", type=int, default=10)
    p.add_argument("--timeframe", default="1m")
    p.add_argument("--days", type=float, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--start", default="2025-01-01")
    p.add_argument("--gaps", type=int, default=0, help="random runs of missing bars per instrument")
    p.add_argument("--exchange", default="okx")
    add_root(p)
    p.set_defaults(func=cmd_synth)

    for module in EXTRA_MODULES:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
            continue
        mod.register(dsub)


def cmd_import(args: argparse.Namespace) -> int:
    tf = normalize_timeframe(args.timeframe)
    bars = read_bar_file(args.path, sort_dedupe=args.sort_dedupe)
    store = open_store(args, create=True)
    n = store.upsert(args.exchange, args.symbol, tf, bars)
    print(f"imported {n} {tf} bars of {args.exchange}/{args.symbol} ({bars.index[0]} .. {bars.index[-1]})")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    tf = normalize_timeframe(args.timeframe)
    base_timeframe(tf, args.offset)  # refuses offsets no exchange timeframe divides
    store = open_store(args)
    if not store.timeframes(args.exchange, args.symbol):
        raise DataError(f"no data stored for {args.exchange}/{args.symbol}")
    bars = store.read(args.exchange, args.symbol, tf, args.start, args.end, offset=args.offset)
    if bars.empty:
        raise DataError(f"no complete {tf} bars of {args.exchange}/{args.symbol} in that range")
    write_bar_file(bars, args.out, args.format)
    skipped = len(bars.attrs.get("incomplete", []))
    note = f", {skipped} incomplete bar(s) left out" if skipped else ""
    print(f"exported {len(bars)} {tf} bars to {args.out}{note}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    store = open_store(args)
    rows = datasets(store, args.exchange)
    if not rows:
        print(f"no datasets under {store.root}")
        return 0
    print(f"{'exchange':<12} {'instrument':<22} {'tf':>4} {'first bar':<26} {'last bar':<26}")
    for ex, inst, tf in rows:
        bars = store.read(ex, inst, tf, columns=("close",))
        first = str(bars.index[0]) if len(bars) else "-"
        last = str(bars.index[-1]) if len(bars) else "-"
        print(f"{ex:<12} {inst:<22} {tf:>4} {first:<26} {last:<26}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    store = open_store(args)
    rows = [r for r in datasets(store, args.exchange) if args.symbol in (None, r[1])]
    if not rows:
        raise DataError(f"no datasets to check under {store.root}")
    bad = 0
    for ex, inst, tf in rows:
        rep = check_dataset(store, ex, inst, tf)
        status = "ok" if rep.ok else "PROBLEMS"
        bad += not rep.ok
        marker = f" complete_up_to={rep.complete_up_to}" if rep.complete_up_to is not None else ""
        print(
            f"{ex}/{inst}/{tf}: {status} rows={rep.rows} last={rep.last} gaps={len(rep.gaps)} "
            f"missing_bars={rep.missing_bars} duplicates={rep.duplicates} off_grid={rep.off_grid}{marker}"
        )
        for a, b in rep.gaps[: args.max_gaps]:
            n = (b - a) // pd.Timedelta(milliseconds=parse_timeframe(tf)) + 1
            print(f"  gap {a} .. {b} ({n} bar(s))")
        if len(rep.gaps) > args.max_gaps:
            print(f"  ... {len(rep.gaps) - args.max_gaps} more gap(s)")
    print(f"{len(rows)} dataset(s) checked, {bad} with problems")
    return 1 if bad else 0


def cmd_synth(args: argparse.Namespace) -> int:
    from qlib_local.synth import SynthConfig, write_synthetic

    if args.instruments < 1 or args.days <= 0:
        raise DataError("--instruments must be at least 1 and --days positive")
    cfg = SynthConfig(
        instruments=args.instruments,
        timeframe=normalize_timeframe(args.timeframe),
        days=args.days,
        seed=args.seed,
        start=args.start,
        gaps=args.gaps,
    )
    store = open_store(args, create=True)
    names = write_synthetic(store, cfg, exchange=args.exchange)
    print(
        f"wrote {len(names)} synthetic {cfg.timeframe} instruments x {cfg.days:g} days to {store.root}/{args.exchange}"
    )
    return 0
