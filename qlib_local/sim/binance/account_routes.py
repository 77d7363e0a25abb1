"""Signed futures account routes: account, balance, positions, brackets, leverage, modes, income, feeBurn."""

from __future__ import annotations

import math
from typing import Any

from qlib_local.sim.accounts import BILL_FUNDING, BILL_LIQUIDATION, BILL_TRADE, LONG_SHORT_MODE, NET_MODE
from qlib_local.sim.binance.context import USDM_ASSETS, Ctx
from qlib_local.sim.binance.errors import BinanceError, from_engine
from qlib_local.sim.binance.shapes import asset_view, balance_row, position_view
from qlib_local.sim.margin import CcyBalance
from qlib_local.sim.protocol import OkxError
from qlib_local.sim.views import amount
from qlib_local.timeframes import DAY_MS

BILL_TRANSFER = "1"  # OKX's bill type for a transfer, which the wallet routes book
INCOME_WINDOW_MS = 7 * DAY_MS  # income without a time range: the last 7 days
MAX_INCOME, DEFAULT_INCOME = 1000, 100
SUCCESS = {"code": 200, "msg": "success"}


def wallet_ccys(ctx: Ctx) -> list[str]:
    """The currencies of this family's wallet: USDT, USDC and BNB (fapi) or the coins (dapi)."""
    if ctx.family == "dapi":
        coins = {ctx.spec(i).settle_ccy for i in ctx.state.symbols("dapi")}
        return sorted(coins)
    return list(USDM_ASSETS)


def balances(ctx: Ctx) -> list[CcyBalance]:
    return [ctx.engine.balance(ctx.account, c, ctx.now) for c in wallet_ccys(ctx)]


def _positions(ctx: Ctx) -> list[dict[str, Any]]:
    fam = set(ctx.state.symbols("dapi" if ctx.family == "dapi" else "fapi"))
    want = ctx.symbol(required=False)
    pair = ctx.params.text("pair")
    rows = []
    for p in sorted(ctx.account.open_positions(), key=lambda p: (p.inst_id, p.pos_side)):
        if p.inst_id in fam and (not want or p.inst_id == want) and (not pair or p.inst_id.startswith(pair + "_")):
            rows.append(position_view(p, ctx.account, ctx.market, ctx.now))
    return rows


def ep_account(ctx: Ctx) -> Any:
    bals = balances(ctx)
    u = ctx.account.u_time
    assets = [asset_view(b, u) for b in bals]
    positions = _positions(ctx)
    out: dict[str, Any] = {"feeTier": 0, "canTrade": True, "canDeposit": True, "canWithdraw": True,
                           "updateTime": 0, "assets": assets, "positions": positions}
    if ctx.family == "fapi":  # USDⓈ-M totals are in USD (USDT taken 1:1; BNB at its price)
        def usd(f: str) -> str:
            return amount(sum(getattr(b, f) * b.usd_px for b in bals if math.isfinite(b.usd_px)))
        out.update(multiAssetsMargin=False, totalInitialMargin=usd("imr"), totalMaintMargin=usd("mmr"),
                   totalWalletBalance=usd("cash"), totalUnrealizedProfit=usd("upl"), totalMarginBalance=usd("eq"),
                   totalPositionInitialMargin=usd("imr"), totalOpenOrderInitialMargin=usd("frozen"),
                   totalCrossWalletBalance=usd("cash"), totalCrossUnPnl=usd("upl"), availableBalance=usd("avail"),
                   maxWithdrawAmount=usd("avail"))
    return out


def ep_balance(ctx: Ctx) -> Any:
    return [balance_row(b, ctx.account.name, ctx.account.u_time) for b in balances(ctx)]


def ep_position_risk(ctx: Ctx) -> Any:
    return _positions(ctx)


def ep_leverage_bracket(ctx: Ctx) -> Any:
    """One bracket per symbol: the maximum leverage up to any notional, the flat maintenance rate
    (or the instrument's tiers when it has them)."""
    fam = "dapi" if ctx.family == "dapi" else "fapi"
    want = ctx.symbol(required=False)
    out = []
    for i in ctx.state.symbols(fam):
        if want and i != want:
            continue
        spec = ctx.spec(i)
        tiers = spec.mm_tiers or ((float("inf"), spec.mmr),)
        floor = 0.0
        brackets = []
        for k, (cap, rate) in enumerate(tiers, start=1):
            cap_s = "9223372036854775807" if cap == float("inf") else amount(cap)
            key = ("qtyCap", "qtyFloor") if spec.inverse else ("notionalCap", "notionalFloor")
            brackets.append({"bracket": k, "initialLeverage": int(spec.max_lever), key[0]: cap_s,
                             key[1]: amount(floor), "maintMarginRatio": rate, "cum": 0.0})
            floor = cap
        out.append({"symbol": i, "brackets": brackets})
    return out


def ep_leverage(ctx: Ctx) -> Any:
    inst = ctx.symbol()
    lever = ctx.params.integer("leverage", required=True)
    assert lever is not None
    spec = ctx.spec(inst)
    if not 1 <= lever <= spec.max_lever:
        raise BinanceError(-4028, str(lever))
    try:
        ctx.engine.set_leverage(ctx.account, inst, float(lever), ctx.now)
    except OkxError as e:
        raise from_engine(e, "leverage") from None
    key = "maxQty" if spec.inverse else "maxNotionalValue"
    return {"leverage": lever, key: "9223372036854775807", "symbol": inst}


def ep_margin_type(ctx: Ctx) -> Any:
    ctx.symbol()
    kind = ctx.params.choice("marginType", ("CROSSED", "ISOLATED"))
    if kind == "CROSSED":
        raise BinanceError(-4046, msg="No need to change margin type.")
    raise BinanceError(-1130, "marginType", msg="Isolated margin is not supported by the local exchange.")


def ep_get_dual(ctx: Ctx) -> Any:
    return {"dualSidePosition": ctx.account.pos_mode == LONG_SHORT_MODE}


def ep_set_dual(ctx: Ctx) -> Any:
    dual = ctx.params.boolean("dualSidePosition")
    if dual is None:
        raise BinanceError(-1102, "dualSidePosition")
    mode = LONG_SHORT_MODE if dual else NET_MODE
    if mode == ctx.account.pos_mode:
        raise BinanceError(-4059)
    try:
        ctx.engine.set_position_mode(ctx.account, mode)
    except OkxError as e:
        raise BinanceError(-4067 if ctx.account.pending() else -4068) if e.code == "59000" else from_engine(e) from None
    return SUCCESS


def ep_get_fee_burn(ctx: Ctx) -> Any:
    return {"feeBurn": bool(ctx.state.fee_burn.get(ctx.account.api_key))}


def ep_set_fee_burn(ctx: Ctx) -> Any:
    on = ctx.params.boolean("feeBurn")
    if on is None:
        raise BinanceError(-1102, "feeBurn")
    ctx.state.fee_burn[ctx.account.api_key] = on
    return SUCCESS


def _income_rows(ctx: Ctx) -> list[dict[str, Any]]:
    """Every balance change of this family's wallet as Binance income rows, oldest first."""
    ccys = set(wallet_ccys(ctx))
    rows = []
    for b in ctx.account.bills:
        if b.ccy not in ccys:
            continue
        base = {"symbol": b.inst_id, "asset": b.ccy, "time": b.ts, "tranId": int(b.bill_id),
                "tradeId": b.trade_id, "info": b.sub_type}
        if b.type in (BILL_TRADE, BILL_LIQUIDATION):
            if b.pnl:
                rows.append({**base, "incomeType": "REALIZED_PNL", "income": amount(b.pnl)})
            if b.fee:
                kind = "INSURANCE_CLEAR" if b.type == BILL_LIQUIDATION else "COMMISSION"
                rows.append({**base, "incomeType": kind, "income": amount(b.fee)})
            if b.type == BILL_LIQUIDATION and not b.inst_id:  # the insurance fund covering a shortfall
                rows.append({**base, "incomeType": "INSURANCE_CLEAR", "income": amount(b.bal_chg)})
        elif b.type == BILL_FUNDING:
            rows.append({**base, "incomeType": "FUNDING_FEE", "income": amount(b.bal_chg)})
        elif b.type == BILL_TRANSFER:
            rows.append({**base, "incomeType": "TRANSFER", "income": amount(b.bal_chg), "info": "TRANSFER"})
    return rows


INCOME_TYPES = ("TRANSFER", "REALIZED_PNL", "FUNDING_FEE", "COMMISSION", "INSURANCE_CLEAR")


def ep_income(ctx: Ctx) -> Any:
    p = ctx.params
    inst = ctx.symbol(required=False)
    kind = p.text("incomeType")
    if kind and kind not in INCOME_TYPES + ("WELCOME_BONUS", "REFERRAL_KICKBACK", "COMMISSION_REBATE",
                                            "API_REBATE", "CONTEST_REWARD", "AUTO_EXCHANGE"):
        raise BinanceError(-1130, "incomeType")
    start, end = p.integer("startTime"), p.integer("endTime")
    limit = p.integer("limit")
    limit = DEFAULT_INCOME if limit is None else limit
    if not 1 <= limit <= MAX_INCOME:
        raise BinanceError(-1130, "limit")
    if start is None and end is None:
        start = ctx.now - INCOME_WINDOW_MS
    rows = [r for r in _income_rows(ctx)
            if (not inst or r["symbol"] == inst) and (not kind or r["incomeType"] == kind)
            and (start is None or r["time"] >= start) and (end is None or r["time"] <= end)]
    return rows[:limit]
