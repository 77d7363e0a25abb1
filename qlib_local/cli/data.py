"""``qlib-local data ...``: import, export, list, check and synthesize bars (and funding and mark prices)."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

import pandas as pd

from qlib_local.errors import DataError
from qlib_local.store import KlineStore, StoreFileError, default_root
from qlib_local.store.check import DatasetReport, check_dataset, compare_series, datasets, series_pairs
from qlib_local.store.files import read_bar_file, write_bar_file
from qlib_local.store.funding import FUNDING, MARK, funding_exchange, funding_instruments, mark_exchange
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

    p = dsub.add_parser("import", help="import a csv/feather/parquet file of bars, funding rates or mark prices")
    p.add_argument("path", type=Path)
    p.add_argument("--exchange", required=True)
    p.add_argument("--symbol", required=True, help="the exchange's own instrument id, e.g. BTC-USDT-SWAP")
    p.add_argument("--timeframe", default=None, help="the bars' timeframe (not for --funding)")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--funding", action="store_true",
                      help="a funding-rate file: a time and a rate column (rate, fundingRate, or open as freqtrade writes)")
    kind.add_argument("--mark", action="store_true", help="mark-price candles (volume ignored)")
    p.add_argument(
        "--sort-dedupe", action="store_true", help="sort and drop duplicate timestamps (last wins)"
    )
    p.add_argument(
        "--drop-bad-rows",
        action="store_true",
        help="leave out (and list) rows breaking the bar rule instead of refusing the file",
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

    p = dsub.add_parser(
        "check", help="gaps, duplicates, bad bars, unreadable files and disagreeing series of each dataset"
    )
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
    p.add_argument("--no-funding", action="store_true", help="write no funding rates")
    p.add_argument("--no-mark", action="store_true", help="write no mark-price candles")
    p.add_argument("--inverse", action="store_true", help="add coin-margined BTC-USD-SWAP (and ETH-USD-SWAP)")
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
    if args.funding:
        return _import_funding(args)
    if not args.timeframe:
        raise DataError("--timeframe is needed to import bars (only --funding files have none)")
    tf = normalize_timeframe(args.timeframe)
    read = read_bar_file(args.path, sort_dedupe=args.sort_dedupe, drop_bad_rows=args.drop_bad_rows,
                         no_volume=args.mark)
    bars = read.bars
    store = open_store(args, create=True)
    exchange = mark_exchange(args.exchange) if args.mark else args.exchange
    n = store.upsert(exchange, args.symbol, tf, bars)
    if read.dropped:
        print(f"dropped {read.dropped} bad row(s) of {args.path}:")
        for line in read.dropped_lines:
            print(f"  {line}")
        if read.dropped > len(read.dropped_lines):
            print(f"  ... and {read.dropped - len(read.dropped_lines)} more")
    what = "mark-price candles" if args.mark else "bars"
    print(f"imported {n} {tf} {what} of {exchange}/{args.symbol} ({bars.index[0]} .. {bars.index[-1]})")
    return 0


def _import_funding(args: argparse.Namespace) -> int:
    from qlib_local.store.funding_file import read_funding_file

    if args.drop_bad_rows:
        raise DataError("--drop-bad-rows applies to bars; a funding file is imported whole or not at all")
    rates = read_funding_file(args.path, sort_dedupe=args.sort_dedupe)
    store = open_store(args, create=True)
    n = store.upsert_funding(args.exchange, args.symbol, rates)
    print(f"imported {n} funding rates of {args.exchange}/{args.symbol} ({rates.index[0]} .. {rates.index[-1]}, "
          f"mean {rates.mean():.6%} per settlement)")
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
    exchanges = [args.exchange] if args.exchange else sorted(  # an exchange may have funding and no bars
        {n.removesuffix(FUNDING) for n in store.namespaces() if not n.endswith(MARK)})
    funding = [(ex, inst) for ex in exchanges for inst in funding_instruments(store, ex)]
    if not rows and not funding:
        print(f"no datasets under {store.root}")
        return 0
    lines = []  # all read before any is printed: an unreadable file is one error line, nothing else
    for ex, inst, tf in rows:
        bars = store.read(ex, inst, tf, columns=("close",), base=tf)
        first = str(bars.index[0]) if len(bars) else "-"
        last = str(bars.index[-1]) if len(bars) else "-"
        lines.append(f"{ex:<12} {inst:<22} {tf:>4} {first:<26} {last:<26}")
    for ex, inst in funding:
        r = store.read_funding(ex, inst)
        lines.append(f"{funding_exchange(ex):<12} {inst:<22} {'rate':>4} {str(r.index[0]):<26} {str(r.index[-1]):<26}"
                     f" {len(r)} settlements")
    print(f"{'exchange':<12} {'instrument':<22} {'tf':>4} {'first bar':<26} {'last bar':<26}")
    print("\n".join(lines))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    store = open_store(args)
    rows = [r for r in datasets(store, args.exchange) if args.symbol in (None, r[1])]
    if not rows:
        raise DataError(f"no datasets to check under {store.root}")
    bad: set[tuple[str, str, str]] = set()
    unreadable: set[tuple[str, str, str]] = set()
    for ex, inst, tf in rows:
        try:
            rep = check_dataset(store, ex, inst, tf)
        except StoreFileError as e:  # report it and check every other dataset
            print(f"{ex}/{inst}/{tf}: ERROR {e}")
            bad.add((ex, inst, tf))
            unreadable.add((ex, inst, tf))
            continue
        if not rep.ok:
            bad.add((ex, inst, tf))
        _print_report(rep, args.max_gaps)
    for ex, inst in sorted({(ex, inst) for ex, inst, _ in rows}):
        for fine, coarse in series_pairs(store, ex, inst):
            if {(ex, inst, fine), (ex, inst, coarse)} & unreadable:
                continue
            d = compare_series(store, ex, inst, fine, coarse)
            if d is not None:
                bad.add((ex, inst, coarse))
                print(
                    f"{ex}/{inst}/{coarse}: PROBLEMS disagrees with the {fine} series on {d.bars} of "
                    f"{d.compared} bar(s), first {d.first}: {d.detail}"
                )
    print(f"{len(rows)} dataset(s) checked, {len(bad)} with problems")
    return 1 if bad else 0


def _print_report(rep: DatasetReport, max_gaps: int) -> None:
    marker = f" complete_up_to={rep.complete_up_to}" if rep.complete_up_to is not None else ""
    print(
        f"{rep.exchange}/{rep.instrument}/{rep.timeframe}: {'ok' if rep.ok else 'PROBLEMS'} rows={rep.rows} "
        f"last={rep.last} gaps={len(rep.gaps)} missing_bars={rep.missing_bars} duplicates={rep.duplicates} "
        f"off_grid={rep.off_grid} bad_bars={rep.bad_bars}{marker}"
    )
    if rep.first_bad:
        print(f"  first bad bar {rep.first_bad}")
    for a, b in rep.gaps[:max_gaps]:
        n = (b - a) // pd.Timedelta(milliseconds=parse_timeframe(rep.timeframe)) + 1
        print(f"  gap {a} .. {b} ({n} bar(s))")
    if len(rep.gaps) > max_gaps:
        print(f"  ... {len(rep.gaps) - max_gaps} more gap(s)")


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
        funding=not args.no_funding,
        mark=not args.no_mark,
        inverse=args.inverse,
    )
    store = open_store(args, create=True)
    names = write_synthetic(store, cfg, exchange=args.exchange)
    extra = [w for w, on in (("funding rates", cfg.funding), ("mark-price candles", cfg.mark)) if on]
    print(
        f"wrote {len(names)} synthetic {cfg.timeframe} instruments x {cfg.days:g} days to {store.root}/{args.exchange}"
        + (f" with {' and '.join(extra)}" if extra else "")
    )
    return 0
