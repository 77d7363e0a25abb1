"""``qlib-local sim serve``: the local OKX V5 exchange on a loopback port."""

from __future__ import annotations

import argparse
import contextlib
import math
import re
import signal
import sys
from pathlib import Path

from qlib_local.errors import QlibError

ACCOUNT_HELP = ("NAME:KEY:SECRET:PASSPHRASE:USDT (repeatable); the last part may list more currencies, "
                "e.g. 10000,BTC=1.5 or USDT=0,BTC=2 for inverse swaps")
_CCY = re.compile(r"[A-Z0-9]{2,12}")


def _amount(text: str, ccy: str, spec: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise QlibError(f"bad --account {spec!r}: {ccy} must be a number, got {text!r}") from None
    if not math.isfinite(v) or v < 0:
        raise QlibError(f"bad --account {spec!r}: {ccy} must be zero or more")
    return v


def parse_account(text: str) -> tuple[str, str, str, str, dict[str, float]]:
    """``NAME:KEY:SECRET:PASSPHRASE:CASH`` -> its parts and cash by currency, with a precise complaint
    otherwise. CASH is a USDT amount, or comma-separated ``CCY=AMOUNT`` items (a bare number is USDT)."""
    parts = text.split(":")
    if len(parts) != 5 or not all(parts[:4]):
        raise QlibError(f"bad --account {text!r}: expected {ACCOUNT_HELP.split(' (')[0]}")
    cash: dict[str, float] = {}
    for item in parts[4].split(","):
        ccy, sep, value = item.partition("=")
        if not sep:
            ccy, value = "USDT", item
        elif not _CCY.fullmatch(ccy):
            raise QlibError(f"bad --account {text!r}: {ccy!r} is not a currency code (e.g. BTC)")
        if ccy in cash:
            raise QlibError(f"bad --account {text!r}: {ccy} given twice")
        cash[ccy] = _amount(value, ccy, text)
    return parts[0], parts[1], parts[2], parts[3], cash


def parse_venue_account(text: str, venue: str) -> tuple[str, str, str, str, dict[str, float]]:
    """An ``--account`` for the venue: Binance has no passphrase, so NAME:KEY:SECRET:CASH there."""
    parts = text.split(":")
    if venue == "binance":
        if len(parts) != 4 or not all(parts[:3]):
            raise QlibError(f"bad --account {text!r}: expected NAME:KEY:SECRET:CASH for --venue binance")
        name, key, secret, _, cash = parse_account(f"{parts[0]}:{parts[1]}:{parts[2]}:-:{parts[3]}")
        return name, key, secret, "", cash
    return parse_account(text)


def register(subparsers: argparse._SubParsersAction) -> None:
    sim = subparsers.add_parser("sim", help="local OKX V5 exchange replaying the store")
    sub = sim.add_subparsers(dest="sim_command", metavar="SUBCOMMAND", required=True)
    p = sub.add_parser("serve", help="serve OKX V5 REST on a loopback port until stopped")
    p.add_argument("--root", required=True, help="K-line store root (instruments of exchange okx, or binance)")
    p.add_argument("--venue", choices=("okx", "binance"), default="okx",
                   help="protocol: OKX V5, or Binance futures (/fapi USDⓈ-M, /dapi COIN-M, plus the spot and "
                        "wallet routes of the BNB top-up) over the store's binance instruments")
    p.add_argument("--exchange", default=None,
                   help="the store folder to serve (default: okx, or binance for --venue binance); e.g. "
                        "binancecoinm to serve the store a COIN-M strategies file reads")
    p.add_argument("--sign-clock", choices=("wall", "sim"), default="wall",
                   help="binance: judge request timestamps against the wall clock, or the simulated clock "
                        "(clients then sync with fetch_time, e.g. ccxt adjustForTimeDifference)")
    p.add_argument("--port", type=int, default=8089, help="port (0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    p.add_argument("--start", help="simulated start time, ISO 8601 UTC (default: first bar + 1 day)")
    p.add_argument("--speed", type=float, default=1.0, help="replay speed, 1 = real time, 0 = frozen")
    p.add_argument("--account", action="append", default=[], metavar="SPEC", help=ACCOUNT_HELP)
    p.add_argument("--no-rate-limit", action="store_true", help="switch OKX rate limits off")
    p.add_argument("--maker-fee", type=float, default=0.0002)
    p.add_argument("--taker-fee", type=float, default=0.0005)
    p.add_argument("--slippage-bps", type=float, default=0.0, help="market-order slippage")
    p.add_argument("--book-spread-k", type=float, default=0.0,
                   help="book half-spread = max(tick, K x the last closed bar's range); 0 = no spread")
    p.add_argument("--book-depth-share", type=float, default=0.0,
                   help="contracts per book level = SHARE x the bar's volume; 0 = unlimited depth")
    p.add_argument("--through-ticks", type=int, default=1,
                   help="ticks a bar must trade through a resting limit to fill it")
    p.add_argument("--funding-rate", type=float, default=None,
                   help="synthetic funding rate settled at every funding time the store has no rate for")
    p.add_argument("--latency", action="append", default=[], metavar="PATH=SECONDS[:TIMES]",
                   help="add latency to an endpoint (fnmatch pattern, e.g. '/api/v5/trade/*')")
    p.add_argument("--fail", action="append", default=[], metavar="PATH=STATUS[:TIMES]",
                   help="answer an endpoint with an HTTP 5xx")
    p.add_argument("--hang", action="append", default=[], metavar="PATH=SECONDS[:TIMES]",
                   help="hold requests unanswered for SECONDS")
    p.add_argument("--drop-response", action="append", default=[], metavar="PATH[:TIMES]",
                   help="process the request, then cut the connection")
    p.add_argument("--late-bar", type=float, default=0.0, metavar="SECONDS",
                   help="publish each closed bar SECONDS (simulated) after its close")
    p.set_defaults(func=serve)


def serve(args: argparse.Namespace) -> int:
    from qlib_local.config_values import identifier
    from qlib_local.sim import FeeModel, LocalExchange
    from qlib_local.sim.book import BookModel
    from qlib_local.sim.faults import parse_fault_flag
    from qlib_local.sim.server import check_loopback
    from qlib_local.timeframes import to_ms

    check_loopback(args.host)
    accounts = [parse_venue_account(a, args.venue) for a in args.account]
    if not 0 <= args.port <= 65535:
        raise QlibError(f"bad --port {args.port}")
    if args.speed < 0:
        raise QlibError("--speed must be 0 or more")
    faults = []
    for kind, flags in (("latency", args.latency), ("fail", args.fail), ("hang", args.hang),
                        ("drop", args.drop_response)):
        for text in flags:
            try:
                faults.append((kind, *parse_fault_flag(kind, text)))
            except ValueError as e:
                raise QlibError(f"bad --{kind.replace('drop', 'drop-response')} {text!r}: {e}") from None
    root = Path(args.root)
    if not root.is_dir():
        raise QlibError(f"store root {root} does not exist")
    try:
        start = to_ms(args.start) if args.start else None
    except ValueError:
        raise QlibError(f"bad --start {args.start!r}: use ISO 8601, e.g. 2025-01-02T00:00:00Z") from None
    try:  # speed, fees and the late bar must be finite: the exchange refuses NaN and inf
        kind = LocalExchange
        if args.venue == "binance":
            from qlib_local.sim.binance import BinanceExchange as kind  # noqa: N813
        book = BookModel(args.book_spread_k, args.book_depth_share, args.through_ticks)
        folder = {"exchange": identifier("--exchange", args.exchange, QlibError)} if args.exchange else {}
        ex = kind(root, start=start, speed=args.speed, host=args.host, port=args.port,
                  rate_limit=not args.no_rate_limit, fees=FeeModel(args.maker_fee, args.taker_fee, args.slippage_bps),
                  funding_rate=args.funding_rate, **folder)
        ex.engine.book = book
        if args.venue == "binance" and args.sign_clock == "sim":
            ex.auth_clock = ex.clock.now_ms
        ex.faults.late_bar(args.late_bar)
    except ValueError as e:
        raise QlibError(f"bad option: {e}") from None
    ex.market.preload()  # an unreadable store file fails here, as one line, not on a request
    for name, key, secret, passphrase, cash in accounts:
        try:
            ex.add_account(name, key, secret, passphrase, balances={"USDT": 0.0, **cash})
        except ValueError as e:
            raise QlibError(f"bad --account: {e}") from None
    for kind, pattern, value, times in faults:
        try:
            ex.faults.add(kind, pattern, value, times)
        except ValueError as e:
            raise QlibError(str(e)) from None
    signal.signal(signal.SIGTERM, _interrupt)  # uvicorn re-raises it after a graceful shutdown
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C / SIGTERM: a normal way to stop
        ex.serve_forever(log_level="warning", on_ready=lambda url: _announce(ex, url))
    print("stopped", flush=True)
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _announce(ex, url: str) -> None:
    venue = "Binance futures" if type(ex).__name__ == "BinanceExchange" else "OKX V5"
    print(f"serving {venue} at {url} ({len(ex.market.inst_ids)} instruments, "
          f"sim time {ex.clock.now().isoformat()}, speed {ex.clock.speed:g}x, "
          f"{len(ex.accounts)} account(s))", flush=True)
    sys.stdout.flush()
