"""Public futures routes: time, exchangeInfo, klines, mark-price klines, premium index, funding rates."""

from __future__ import annotations

from typing import Any

import numpy as np

from qlib_local.sim.binance.context import Ctx
from qlib_local.sim.binance.errors import BinanceError
from qlib_local.sim.binance.shapes import decimals, pair, symbol_info
from qlib_local.sim.market import parse_bar
from qlib_local.sim.protocol import num
from qlib_local.timeframes import bar_open_ms

MAX_KLINES, DEFAULT_KLINES = 1500, 500
MAX_FUNDING, DEFAULT_FUNDING = 1000, 100
# Binance interval -> the engine's bar name (UTC-aligned); 8h and 1M are not served
INTERVALS = {"1m": "1m", "3m": "3m", "5m": "5m", "15m": "15m", "30m": "30m", "1h": "1H", "2h": "2H", "4h": "4H",
             "6h": "6Hutc", "12h": "12Hutc", "1d": "1Dutc", "3d": "3Dutc", "1w": "1Wutc"}
RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
    {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
]


def ep_ping(ctx: Ctx) -> Any:
    return {}


def ep_time(ctx: Ctx) -> Any:
    return {"serverTime": ctx.now}


def ep_exchange_info(ctx: Ctx) -> Any:
    fam = "dapi" if ctx.family == "dapi" else "fapi"
    rows = [symbol_info(ctx.market, i, ctx.state.min_notional) for i in ctx.state.symbols(fam)
            if ctx.market.listed(i, ctx.now)]
    assets = sorted({r["marginAsset"] for r in rows})
    return {"timezone": "UTC", "serverTime": ctx.now, "futuresType": "COIN_MARGINED" if fam == "dapi" else "U_MARGINED",
            "rateLimits": RATE_LIMITS, "exchangeFilters": [],
            "assets": [{"asset": a, "marginAvailable": True, "autoAssetExchange": "0"} for a in assets],
            "symbols": rows}


def _klines(ctx: Ctx, mark: bool) -> Any:
    p = ctx.params
    inst = ctx.symbol()
    interval = p.required("interval")
    if interval not in INTERVALS:
        raise BinanceError(-1120)
    limit = p.integer("limit")
    if limit is None:
        limit = DEFAULT_KLINES
    if not 1 <= limit <= MAX_KLINES:
        raise BinanceError(-1130, "limit")
    start, end = p.integer("startTime"), p.integer("endTime")
    if start is not None and end is not None and start > end:
        raise BinanceError(-1130, "startTime")
    bar = INTERVALS[interval]
    rule, off = parse_bar(bar)
    after = None if end is None else end + 1
    if start is not None:  # the first ``limit`` bars opening at or after startTime
        first = bar_open_ms(start + rule - 1, rule, off)
        cap = first + limit * rule
        after = cap if after is None else min(after, cap)
    rows = ctx.market.candles(inst, bar, ctx.now, after=after, before=None if start is None else start - 1,
                              limit=limit, recent_only=False, late_ms=ctx.state.faults.late_bar_ms)
    spec = ctx.spec(inst)
    out = []
    for ts, o, h, lo, c, _contracts, base, quote, _confirm in reversed(rows):
        if mark:
            volume = second = "0"
        elif spec.inverse:
            volume, second = num(float(quote) / spec.ct_val), base  # contracts; base-asset volume
        else:
            volume, second = base, quote
        out.append([int(ts), o, h, lo, c, volume, int(ts) + rule - 1, second, 0, "0", "0", "0"])
    return out


def ep_klines(ctx: Ctx) -> Any:
    return _klines(ctx, mark=False)


def ep_mark_klines(ctx: Ctx) -> Any:
    """Mark-price bars: the mark is the last price here, so the same bars without volume."""
    return _klines(ctx, mark=True)


def _last_rate(ctx: Ctx, inst: str) -> tuple[float, int]:
    """The most recent settled funding rate (0 when none yet) and the next funding time."""
    iv = ctx.spec(inst).funding_interval_ms
    rates = ctx.market.store.read_funding(ctx.market.exchange, inst, ctx.now - 30 * iv, ctx.now + 1)
    return (float(rates.iloc[-1]) if len(rates) else 0.0), (ctx.now // iv + 1) * iv


def _premium(ctx: Ctx, inst: str) -> dict[str, Any]:
    dec = decimals(ctx.spec(inst).tick_sz)
    mark = num(ctx.engine.mark(inst, ctx.now), dec)
    rate, nxt = _last_rate(ctx, inst)
    row = {"symbol": inst, "markPrice": mark, "indexPrice": mark, "estimatedSettlePrice": mark,
           "lastFundingRate": f"{rate:.8f}", "interestRate": "0.00010000", "nextFundingTime": nxt, "time": ctx.now}
    if ctx.family == "dapi":
        row["pair"] = pair(inst)
    return row


def ep_premium_index(ctx: Ctx) -> Any:
    inst = ctx.symbol(required=False)
    fam = "dapi" if ctx.family == "dapi" else "fapi"
    insts = [inst] if inst else [i for i in ctx.state.symbols(fam) if ctx.market.listed(i, ctx.now)]
    rows = [_premium(ctx, i) for i in insts]
    if ctx.family == "fapi" and inst:
        return rows[0]
    return rows


def ep_funding_rate(ctx: Ctx) -> Any:
    """Settled rates ascending, never past now: the first ``limit`` from startTime, else the last ``limit``."""
    p = ctx.params
    inst = ctx.symbol(required=False)
    limit = p.integer("limit")
    limit = DEFAULT_FUNDING if limit is None else limit
    if not 1 <= limit <= MAX_FUNDING:
        raise BinanceError(-1130, "limit")
    start, end = p.integer("startTime"), p.integer("endTime")
    fam = "dapi" if ctx.family == "dapi" else "fapi"
    insts = [inst] if inst else [i for i in ctx.state.symbols(fam) if ctx.market.listed(i, ctx.now)]
    hi = ctx.now if end is None else min(end, ctx.now)
    rows: list[tuple[int, str, float]] = []
    for i in insts:
        rates = ctx.market.store.read_funding(ctx.market.exchange, i, start, hi + 1)
        ts = rates.index.as_unit("ms").asi8
        rows += [(int(t), i, float(r)) for t, r in zip(ts, rates.to_numpy(np.float64), strict=True)]
    rows.sort()
    rows = rows[:limit] if start is not None else rows[-limit:]
    out = []
    for t, i, r in rows:
        mark = ctx.market.price(i, t)
        out.append({"symbol": i, "fundingTime": t, "fundingRate": f"{r:.8f}",
                    "markPrice": num(mark, decimals(ctx.spec(i).tick_sz)) if mark is not None else ""})
    return out


def ep_ticker_price(ctx: Ctx) -> Any:
    """Last prices: fapi answers an object for one symbol and a list for all; dapi always a list
    (rows carry ``ps``, the pair)."""
    inst = ctx.symbol(required=False)
    fam = "dapi" if ctx.family == "dapi" else "fapi"
    insts = [inst] if inst else [i for i in ctx.state.symbols(fam) if ctx.market.listed(i, ctx.now)]
    rows = []
    for i in insts:
        row = {"symbol": i, "price": num(ctx.engine.last(i, ctx.now), decimals(ctx.spec(i).tick_sz)), "time": ctx.now}
        if fam == "dapi":
            row = {"symbol": i, "ps": pair(i), "price": row["price"], "time": ctx.now}
        rows.append(row)
    if fam == "fapi" and inst:
        return rows[0]
    return rows


def ep_book_ticker(ctx: Ctx) -> Any:
    """Best bid and ask from the shared book (``Engine.quote``): fapi answers an object for one
    symbol and a list for all; dapi always a list (rows carry ``pair``)."""
    inst = ctx.symbol(required=False)
    fam = "dapi" if ctx.family == "dapi" else "fapi"
    insts = [inst] if inst else [i for i in ctx.state.symbols(fam) if ctx.market.listed(i, ctx.now)]
    rows = []
    for i in insts:
        dec = decimals(ctx.spec(i).tick_sz)
        bid, ask = ctx.engine.quote(i, ctx.now)
        depth = num(100 * ctx.spec(i).lot_sz)
        row = {"symbol": i, "bidPrice": num(bid, dec), "bidQty": depth, "askPrice": num(ask, dec), "askQty": depth,
               "time": ctx.now, "lastUpdateId": ctx.now}
        rows.append({**row, "pair": pair(i)} if fam == "dapi" else row)
    if fam == "fapi" and inst:
        return rows[0]
    return rows


FUNDING_CAP = "0.03000000"  # the adjusted funding rate cap and floor a fundingInfo row shows
DEFAULT_INTERVAL_H = 8


def ep_funding_info(ctx: Ctx) -> Any:
    """Binance lists only symbols whose funding was adjusted (a cap, floor or interval other than
    the default): here, the listed symbols whose interval is not 8 hours."""
    fam = "dapi" if ctx.family == "dapi" else "fapi"
    out = []
    for i in ctx.state.symbols(fam):
        if not ctx.market.listed(i, ctx.now):
            continue
        hours = ctx.spec(i).funding_interval_h
        if hours == DEFAULT_INTERVAL_H:
            continue
        out.append({"symbol": i, "adjustedFundingRateCap": FUNDING_CAP, "adjustedFundingRateFloor": f"-{FUNDING_CAP}",
                    "fundingIntervalHours": int(hours) if float(hours).is_integer() else hours,
                    "disclaimer": False})
    return out
