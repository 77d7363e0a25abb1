"""``qlib-local data download | update | collect``: exchange bars, funding rates and mark prices into the store."""

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
    p.add_argument("--since", default=None, help="start of a never-stored series (default: 1,440 bars back; "
                                                 "funding: 30 days)")
    p.add_argument("--no-funding", action="store_true",
                   help="leave funding rates alone (default: keep them current, unless the config says funding: off)")
    p.add_argument("--mark", action="store_true",
                   help="keep mark-price candles current too (also when the config says mark_prices: true)")


def register(dsub: argparse._SubParsersAction) -> None:
    p = dsub.add_parser("download", help="backfill closed bars, funding rates or mark prices (resumable)")
    p.add_argument("--symbols", required=True, help="comma-separated exchange ids, e.g. BTC-USDT-SWAP,ETH-USDT-SWAP")
    p.add_argument("--timeframe", default=None, help="the bars' timeframe (not needed for --funding alone)")
    p.add_argument("--funding", action="store_true", help="funding-rate history instead of bars")
    p.add_argument("--mark", action="store_true", help="mark-price candles of --timeframe instead of bars")
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
    candles = args.mark or not args.funding
    if candles and not args.timeframe:
        raise DataError("--timeframe is needed for bars and mark prices (only --funding alone has none)")
    tf = normalize_timeframe(args.timeframe) if candles else None
    since = to_ms(args.since)
    until = to_ms(args.until) if args.until else None
    if until is not None and since >= until:
        raise DataError(f"--since {from_ms(since)} is not before --until {from_ms(until)}")
    if args.chunk_bars < 1:
        raise DataError("--chunk-bars must be at least 1")
    source = _source(args, args.exchange)
    if tf:
        source.check_timeframe(tf)
    store = open_store(args, create=True)
    failed = []
    if args.funding:
        failed += _download_funding(args, source, store, symbols, since, until)
    if not candles:
        _fail_if_errors(failed, "download")
        return 0
    price = "mark" if args.mark else None
    results = download(source, store, symbols, tf, since, until, workers=args.workers,
                       chunk_bars=args.chunk_bars, progress=not args.no_progress, price=price)
    what = "mark-price candles" if args.mark else "bars"
    for r in results:
        print(f"{source.id}/{r.instrument}/{tf}: {r.written} {what} in {r.pages} page(s), last {r.last}"
              + (f"  ERROR {r.error}" if r.error else ""))
    for inst in [] if args.mark else symbols:
        finer = [t for t in store.timeframes(source.id, inst) if parse_timeframe(tf) % parse_timeframe(t) == 0
                 and t != tf]
        if finer:
            print(f"note: {source.id}/{inst} also keeps {finer[0]} bars; every read uses them wherever they are "
                  f"complete, the {tf} bars only where they are not (the store rule)")
    _fail_if_errors(failed + results, "download")
    return 0


def _download_funding(args: argparse.Namespace, source, store, symbols: list[str], since: int,
                      until: int | None) -> list:
    from qlib_local.marketdata.funding import download_funding

    results = download_funding(source, store, symbols, since, until, workers=args.workers,
                               progress=not args.no_progress)
    for r in results:
        print(f"{source.id}/{r.instrument}: {r.written} funding rates in {r.pages} page(s), last {r.last}"
              + (f"  ERROR {r.error}" if r.error else ""))
    days = source.caps.funding_history_days
    if days and since < source.server_time_ms() - days * 86_400_000:
        print(f"note: {source.id} keeps about {days} days of funding history; older settlements are not served")
    return results


def _series(args: argparse.Namespace, source) -> tuple[list[tuple[str, str]], bool, bool]:
    """The (instrument, timeframe) series to keep, and whether funding and mark prices come too."""
    if args.config and args.symbols:
        raise DataError("give either --config or --symbols, not both")
    if args.symbols:
        if not args.timeframe:
            raise DataError("--symbols needs --timeframe")
        tf = source.check_timeframe(args.timeframe)
        symbols = _symbols(args.symbols)
        for s in symbols:
            source.symbol(s)
        return [(s, tf) for s in symbols], not args.no_funding, args.mark
    if not args.config:
        raise DataError("give --config strategies.yaml, or --symbols with --timeframe")
    from qlib_local.marketdata.needs import base_by_instrument, load_strategies

    root = args.root or None
    cfg = load_strategies(args.config, list_instruments=source.instruments, root=root, list_specs=source.specs)
    series = sorted(base_by_instrument(cfg).items())
    for _, tf in series:
        source.check_timeframe(tf)
    return series, not args.no_funding and cfg.funding != "off", args.mark or cfg.mark_prices


def _print_extras(source, results_mark, results_funding) -> None:
    for r in results_mark:
        print(f"{source.id}/{r.instrument}/{r.timeframe} mark: +{r.written} candles, complete up to {r.complete_up_to}"
              + (f"  ERROR {r.error}" if r.error else ""))
    for r in results_funding:
        state = "nothing new settled" if r.skipped else f"+{r.written} funding rates"
        print(f"{source.id}/{r.instrument} funding: {state}, last {r.last}" + (f"  ERROR {r.error}" if r.error else ""))


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
    series, funding, mark = _series(args, source)
    store = open_store(args, create=True)
    now_ms = source.server_time_ms()
    results = sync(source, store, series, since=args.since, workers=args.workers, now_ms=now_ms)
    for r in results:
        print(f"{source.id}/{r.instrument}/{r.timeframe}: +{r.written} bars, complete up to {r.complete_up_to}"
              + (f"  ERROR {r.error}" if r.error else ""))
    marks = sync(source, store, series, since=args.since, workers=args.workers, now_ms=now_ms,
                 price="mark") if mark else []
    rates = []
    if funding:
        from qlib_local.marketdata.funding import sync_funding

        rates = sync_funding(source, store, sorted({i for i, _ in series}), since=args.since, now_ms=now_ms,
                             workers=args.workers)
    _print_extras(source, marks, rates)
    _fail_if_errors(results + marks + rates, "update")
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    from qlib_local.marketdata.collector import Collector, exchange_clock

    parse_offset(args.repair_every)
    if args.repair_window < 1:
        raise DataError("--repair-window must be at least 1 bar")
    if args.max_cycles is not None and args.max_cycles < 1:
        raise DataError("--max-cycles must be at least 1")
    source = _source(args, _exchange(args))
    series, funding, mark = _series(args, source)
    store = open_store(args, create=True)
    kw = {"now": exchange_clock(source)} if args.clock == "exchange" else {}
    collector = Collector(
        source, store, series, repair_every=args.repair_every, repair_window=args.repair_window,
        late_max_s=args.late_max, since=args.since, workers=args.workers, funding=funding, mark=mark, **kw,
    )
    log.info("collecting %d series from %s into %s", len(series), source.id, store.root)
    collector.run(args.max_cycles)
    return 0
