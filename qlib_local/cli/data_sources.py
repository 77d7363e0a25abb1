"""``qlib-local data download | update | collect``: exchange bars into the store."""

from __future__ import annotations

import argparse
import logging

from qlib_local.cli.data import add_root, open_store
from qlib_local.errors import DataError
from qlib_local.timeframes import from_ms, normalize_timeframe, parse_offset, parse_timeframe, to_ms

log = logging.getLogger("qlib_local.marketdata")


def _add_source_args(p: argparse.ArgumentParser, exchange_default: str | None = "okx") -> None:
    p.add_argument("--exchange", default=exchange_default, help="ccxt id: okx, binanceusdm, ...")
    p.add_argument("--base-url", default=None, help="REST base URL, e.g. the local exchange http://127.0.0.1:PORT")
    p.add_argument("--workers", type=int, default=None, help="concurrent requests (default: per exchange)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    add_root(p)


def _add_series_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="strategies YAML: collect what its strategies need")
    p.add_argument("--symbols", default=None, help="or: comma-separated instrument ids ...")
    p.add_argument("--timeframe", default=None, help="... in this timeframe")
    p.add_argument("--since", default=None, help="start of a never-stored series (default: 1,440 bars back)")


def register(dsub: argparse._SubParsersAction) -> None:
    p = dsub.add_parser("download", help="backfill closed bars from an exchange (resumable)")
    p.add_argument("--symbols", required=True, help="comma-separated exchange ids, e.g. BTC-USDT-SWAP,ETH-USDT-SWAP")
    p.add_argument("--timeframe", required=True)
    p.add_argument("--since", required=True, help="ISO time, inclusive")
    p.add_argument("--until", default=None, help="ISO time, exclusive (default: the exchange's now)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--chunk-bars", type=int, default=3000, help="bars per write (a kill loses at most one chunk)")
    _add_source_args(p)
    p.set_defaults(func=cmd_download)

    p = dsub.add_parser("update", help="append newly closed bars of every needed series; set markers")
    _add_series_args(p)
    _add_source_args(p, exchange_default=None)
    p.set_defaults(func=cmd_update)

    p = dsub.add_parser("collect", help="keep needed series current at every bar close (long-running)")
    _add_series_args(p)
    _add_source_args(p, exchange_default=None)
    p.add_argument("--repair-every", default="2h", help="re-fetch a recent window this often (e.g. 2h, 30m)")
    p.add_argument("--repair-window", type=int, default=120, help="bars re-fetched by a repair pass")
    p.add_argument("--late-max", type=float, default=30.0, help="seconds to poll for a bar published late")
    p.add_argument("--max-cycles", type=int, default=None, help="stop after this many cycles")
    p.add_argument("--clock", choices=("local", "exchange"), default="local",
                   help="schedule by the local clock or the exchange's (for a replayed exchange)")
    p.set_defaults(func=cmd_collect)


def _symbols(text: str) -> list[str]:
    out = [s.strip() for s in text.split(",") if s.strip()]
    if not out:
        raise DataError("--symbols: give at least one instrument id")
    return out


def _source(args: argparse.Namespace, exchange: str):
    from qlib_local.marketdata.sources import Source

    if args.workers is not None and args.workers < 1:
        raise DataError("--workers must be at least 1")
    return Source(exchange, base_url=args.base_url, timeout_ms=int(args.timeout * 1000))


def _fail_if_errors(results, what: str) -> None:
    errors = [r.error for r in results if r.error]
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise DataError(f"{what} failed for {len(errors)} series: {errors[0]}{more}")


def cmd_download(args: argparse.Namespace) -> int:
    from qlib_local.marketdata.download import download

    symbols = _symbols(args.symbols)
    tf = normalize_timeframe(args.timeframe)
    since = to_ms(args.since)
    until = to_ms(args.until) if args.until else None
    if until is not None and since >= until:
        raise DataError(f"--since {from_ms(since)} is not before --until {from_ms(until)}")
    source = _source(args, args.exchange)
    source.check_timeframe(tf)
    store = open_store(args, create=True)
    if args.chunk_bars < 1:
        raise DataError("--chunk-bars must be at least 1")
    results = download(source, store, symbols, tf, since, until, workers=args.workers,
                       chunk_bars=args.chunk_bars, progress=not args.no_progress)
    for r in results:
        print(f"{source.id}/{r.instrument}/{tf}: {r.written} bars in {r.pages} page(s), last {r.last}"
              + (f"  ERROR {r.error}" if r.error else ""))
    for inst in symbols:
        finer = [t for t in store.timeframes(source.id, inst) if parse_timeframe(tf) % parse_timeframe(t) == 0
                 and t != tf]
        if finer:
            print(f"note: {source.id}/{inst} also keeps {finer[0]} bars; every read uses them wherever they are "
                  f"complete, the {tf} bars only where they are not (the store rule)")
    _fail_if_errors(results, "download")
    return 0


def _series(args: argparse.Namespace, source) -> list[tuple[str, str]]:
    if args.config and args.symbols:
        raise DataError("give either --config or --symbols, not both")
    if args.symbols:
        if not args.timeframe:
            raise DataError("--symbols needs --timeframe")
        tf = source.check_timeframe(args.timeframe)
        symbols = _symbols(args.symbols)
        for s in symbols:
            source.symbol(s)
        return [(s, tf) for s in symbols]
    if not args.config:
        raise DataError("give --config strategies.yaml, or --symbols with --timeframe")
    from qlib_local.marketdata.needs import needed_series

    root = args.root or None
    series = sorted(needed_series(args.config, list_instruments=source.instruments, root=root))
    for _, tf in series:
        source.check_timeframe(tf)
    return series


def _exchange(args: argparse.Namespace) -> str:
    if args.exchange:
        return args.exchange
    if args.config:
        from qlib_local.marketdata.needs import config_exchange

        return config_exchange(args.config) or "okx"
    return "okx"


def cmd_update(args: argparse.Namespace) -> int:
    from qlib_local.marketdata.sync import sync

    if args.since:
        to_ms(args.since)
    source = _source(args, _exchange(args))
    series = _series(args, source)
    store = open_store(args, create=True)
    results = sync(source, store, series, since=args.since, workers=args.workers)
    for r in results:
        print(f"{source.id}/{r.instrument}/{r.timeframe}: +{r.written} bars, complete up to {r.complete_up_to}"
              + (f"  ERROR {r.error}" if r.error else ""))
    _fail_if_errors(results, "update")
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    from qlib_local.marketdata.collector import Collector, exchange_clock

    parse_offset(args.repair_every)
    if args.repair_window < 1:
        raise DataError("--repair-window must be at least 1 bar")
    if args.max_cycles is not None and args.max_cycles < 1:
        raise DataError("--max-cycles must be at least 1")
    source = _source(args, _exchange(args))
    series = _series(args, source)
    store = open_store(args, create=True)
    kw = {"now": exchange_clock(source)} if args.clock == "exchange" else {}
    collector = Collector(
        source, store, series, repair_every=args.repair_every, repair_window=args.repair_window,
        late_max_s=args.late_max, since=args.since, workers=args.workers, **kw,
    )
    log.info("collecting %d series from %s into %s", len(series), source.id, store.root)
    collector.run(args.max_cycles)
    return 0
