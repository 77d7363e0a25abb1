"""Public OKX V5 endpoints: server time, instruments, candles, tickers, mark prices, funding rates.

Kept apart from the account and trade endpoints because these need no account: they read
the replayed store (``MarketData``) up to the simulated now, and the engine only for its book
quote and mark.
"""

from __future__ import annotations

from qlib_local.sim.context import Ctx, Result, int_param, limit_param
from qlib_local.sim.market import FUNDING_LIMIT, MARK_LIMIT
from qlib_local.sim.protocol import OkxError, num, tick_decimals


def ep_time(ctx: Ctx) -> Result:
    return [{"ts": str(ctx.now)}]


def ep_instruments(ctx: Ctx) -> Result:
    inst_type = ctx.required("instType")
    if inst_type != "SWAP":
        return []
    inst_id, family = ctx.q("instId"), ctx.q("instFamily") or ctx.q("uly")
    out = []
    for i in ctx.market.inst_ids:
        if (inst_id and i != inst_id) or not ctx.market.listed(i, ctx.now):
            continue
        row = ctx.market.instrument(i)
        if family and row["instFamily"] != family:
            continue
        out.append(row)
    if inst_id and not out:
        raise OkxError("51001")
    return out


def _candles(ctx: Ctx, recent_only: bool) -> Result:
    return ctx.market.candles(
        ctx.required("instId"), ctx.q("bar", "1m"), ctx.now, after=int_param(ctx, "after"),
        before=int_param(ctx, "before"), limit=limit_param(ctx), recent_only=recent_only,
        late_ms=ctx.state.faults.late_bar_ms,
    )


def ep_candles(ctx: Ctx) -> Result:
    return _candles(ctx, recent_only=True)


def ep_history_candles(ctx: Ctx) -> Result:
    return _candles(ctx, recent_only=False)


def _ticker(ctx: Ctx, inst_id: str) -> dict[str, str]:
    """The market's ticker with the book's best bid and ask (``Engine.quote``)."""
    row = ctx.market.ticker(inst_id, ctx.now)
    bid, ask = ctx.engine.quote(inst_id, ctx.now)
    dec = tick_decimals(ctx.market.spec(inst_id).tick_sz)
    return {**row, "bidPx": num(bid, dec), "askPx": num(ask, dec)}


def ep_ticker(ctx: Ctx) -> Result:
    return [_ticker(ctx, ctx.required("instId"))]


def ep_tickers(ctx: Ctx) -> Result:
    if ctx.required("instType") != "SWAP":
        return []
    return [_ticker(ctx, i) for i in ctx.market.inst_ids if ctx.market.listed(i, ctx.now)]


# ------------------------------------------------------------------ funding and mark prices
def ep_mark_price(ctx: Ctx) -> Result:
    """Mark price = the engine's mark (what the accounts' positions are valued at); instId narrows
    to one swap. The store's mark candles are served by the mark-price-candles endpoints and
    :meth:`MarketData.mark_price`."""
    if ctx.required("instType") != "SWAP":
        return []
    inst_id = ctx.q("instId")
    insts = [inst_id] if inst_id else [i for i in ctx.market.inst_ids if ctx.market.listed(i, ctx.now)]
    return [{"instType": "SWAP", "instId": i, "ts": str(ctx.now),
             "markPx": num(ctx.engine.mark(i, ctx.now), tick_decimals(ctx.market.check(i, ctx.now).tick_sz))}
            for i in insts]


def _mark_candles(ctx: Ctx, recent_only: bool) -> Result:
    return ctx.market.mark_candles(
        ctx.required("instId"), ctx.q("bar", "1m"), ctx.now, after=int_param(ctx, "after"),
        before=int_param(ctx, "before"), limit=limit_param(ctx, MARK_LIMIT), recent_only=recent_only,
        late_ms=ctx.state.faults.late_bar_ms,
    )


def ep_mark_price_candles(ctx: Ctx) -> Result:
    return _mark_candles(ctx, recent_only=True)


def ep_history_mark_price_candles(ctx: Ctx) -> Result:
    return _mark_candles(ctx, recent_only=False)


def ep_funding_rate(ctx: Ctx) -> Result:
    """The coming settlement (``fundingTime``) and the one after. Its rate is not known before
    it settles, so the local exchange quotes the last settled rate as the estimate (no look-ahead)."""
    inst_id = ctx.required("instId")
    ctx.market.check(inst_id, ctx.now)
    nxt = ctx.market.next_funding_time(inst_id, ctx.now)
    last = ctx.market.last_funding(inst_id, ctx.now)
    rate = num(last[1]) if last else "0"
    interval = ctx.market.spec(inst_id).funding_interval_ms
    return [{"instType": "SWAP", "instId": inst_id, "method": "current_period", "formulaType": "withRate",
             "fundingRate": rate, "nextFundingRate": "", "fundingTime": str(nxt),
             "nextFundingTime": str(nxt + interval), "minFundingRate": "-0.0075", "maxFundingRate": "0.0075",
             "settState": "settled", "settFundingRate": rate, "premium": "", "interestRate": "0.0001",
             "impactValue": "", "ts": str(ctx.now)}]


def ep_funding_rate_history(ctx: Ctx) -> Result:
    """Settled rates, newest first; ``after``/``before`` page by funding time, ``limit`` <= 100."""
    inst_id = ctx.required("instId")
    rows = ctx.market.funding_history(inst_id, ctx.now, after=int_param(ctx, "after"),
                                      before=int_param(ctx, "before"), limit=limit_param(ctx, FUNDING_LIMIT, FUNDING_LIMIT))
    return [{"instType": "SWAP", "instId": inst_id, "formulaType": "withRate", "method": "current_period",
             "fundingRate": num(r), "realizedRate": num(r), "fundingTime": str(t)} for t, r in rows]
