"""Spot and wallet routes for the BNB fee top-up: coins, spot markets, a market order on the
spot wallet, and transfers between the spot wallet and the futures wallets.

Spot prices are the USDⓈ-M perpetual's (the store holds no spot bars): ``BNBUSDT`` spot
trades at ``BNBUSDT``'s last price, paying ``spot_fee`` in the asset received.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from qlib_local.sim.binance.account_routes import BILL_TRANSFER
from qlib_local.sim.binance.context import USDM_ASSETS, Ctx
from qlib_local.sim.binance.errors import BinanceError
from qlib_local.sim.binance.shapes import decimals
from qlib_local.sim.protocol import num
from qlib_local.sim.views import amount

TRANSFER_TYPES = {  # type -> (from, to); "spot" is the spot wallet, else a futures family
    "MAIN_UMFUTURE": ("spot", "fapi"), "UMFUTURE_MAIN": ("fapi", "spot"),
    "MAIN_CMFUTURE": ("spot", "dapi"), "CMFUTURE_MAIN": ("dapi", "spot"),
}
LEGACY_TYPES = {"1": "MAIN_UMFUTURE", "2": "UMFUTURE_MAIN", "3": "MAIN_CMFUTURE", "4": "CMFUTURE_MAIN"}
_spot_ids = itertools.count(1)


def _coins(ctx: Ctx) -> set[str]:
    out = {"USDT", "BNB"}
    for i in ctx.market.inst_ids:
        spec = ctx.spec(i)
        out |= {spec.settle_ccy, spec.base_ccy}
    return out


def ep_coins(ctx: Ctx) -> Any:
    wallet = ctx.state.spot.get(ctx.account.api_key, {})
    return [{"coin": c, "name": c, "depositAllEnable": True, "withdrawAllEnable": True, "trading": True,
             "free": amount(wallet.get(c, 0.0)), "locked": "0", "freeze": "0", "withdrawing": "0", "ipoing": "0",
             "ipoable": "0", "storage": "0", "isLegalMoney": False, "networkList": []} for c in sorted(_coins(ctx))]


def ep_margin_pairs(ctx: Ctx) -> Any:
    return []


def _spot_symbols(ctx: Ctx) -> list[str]:
    return [i for i in ctx.state.symbols("fapi") if ctx.spec(i).settle_ccy == "USDT" and ctx.market.listed(i, ctx.now)]


def ep_spot_exchange_info(ctx: Ctx) -> Any:
    rows = []
    for i in _spot_symbols(ctx):
        spec = ctx.spec(i)
        rows.append({
            "symbol": i, "status": "TRADING", "baseAsset": spec.base_ccy, "baseAssetPrecision": 8,
            "quoteAsset": "USDT", "quotePrecision": 8, "quoteAssetPrecision": 8,
            "orderTypes": ["MARKET"], "icebergAllowed": False, "ocoAllowed": False,
            "quoteOrderQtyMarketAllowed": True, "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
            "permissions": ["SPOT"], "permissionSets": [["SPOT"]],
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": num(spec.tick_sz), "maxPrice": "1000000",
                 "tickSize": num(spec.tick_sz)},
                {"filterType": "LOT_SIZE", "minQty": num(spec.lot_sz), "maxQty": "900000",
                 "stepSize": num(spec.lot_sz)},
                {"filterType": "NOTIONAL", "minNotional": "5", "applyMinToMarket": True, "maxNotional": "9000000"},
            ],
        })
    return {"timezone": "UTC", "serverTime": ctx.now, "rateLimits": [], "exchangeFilters": [], "symbols": rows}


def ep_spot_account(ctx: Ctx) -> Any:
    wallet = ctx.state.spot.get(ctx.account.api_key, {})
    return {"makerCommission": 10, "takerCommission": 10, "canTrade": True, "canWithdraw": True,
            "canDeposit": True, "updateTime": ctx.now, "accountType": "SPOT", "permissions": ["SPOT"],
            "balances": [{"asset": a, "free": amount(v), "locked": "0"} for a, v in sorted(wallet.items())]}


def ep_spot_order(ctx: Ctx) -> Any:
    """A MARKET order on the spot wallet, by ``quantity`` (base) or ``quoteOrderQty`` (USDT)."""
    p = ctx.params
    inst = p.required("symbol")
    if inst not in _spot_symbols(ctx):
        raise BinanceError(-1121)
    side = p.required("side")
    if side not in ("BUY", "SELL"):
        raise BinanceError(-1117)
    if p.required("type") != "MARKET":
        raise BinanceError(-1116)
    spec = ctx.spec(inst)
    px = ctx.engine.last(inst, ctx.now)
    qty_s, quote_s = p.decimal("quantity"), p.decimal("quoteOrderQty")
    if (qty_s is None) == (quote_s is None):
        raise BinanceError(-1102, "quantity", msg="Param 'quantity' or 'quoteOrderQty' must be sent, but not both.")
    step = spec.lot_sz
    qty = float(qty_s) if qty_s is not None else math.floor(float(quote_s) / px / step + 1e-9) * step
    qty = round(qty, decimals(step))
    if qty_s is not None and len(qty_s.split(".")[1].rstrip("0") if "." in qty_s else "") > decimals(step):
        raise BinanceError(-1111)
    if not qty > 0 or qty * px < 5.0:
        raise BinanceError(-1013, msg="Filter failure: NOTIONAL")
    base, wallet = spec.base_ccy, ctx.state.spot.setdefault(ctx.account.api_key, {})
    cost = qty * px
    pay, pay_amt, get, get_amt = ("USDT", cost, base, qty) if side == "BUY" else (base, qty, "USDT", cost)
    if wallet.get(pay, 0.0) + 1e-12 < pay_amt:
        raise BinanceError(-2010, msg="Account has insufficient balance for requested action.")
    fee = get_amt * ctx.state.spot_fee
    wallet[pay] = wallet.get(pay, 0.0) - pay_amt
    wallet[get] = wallet.get(get, 0.0) + get_amt - fee
    oid = next(_spot_ids)
    cid = p.text("newClientOrderId") or f"sim{oid}"
    order = {"symbol": inst, "orderId": oid, "orderListId": -1, "clientOrderId": cid, "transactTime": ctx.now,
            "price": "0.00000000", "origQty": amount(qty), "executedQty": amount(qty),
            "cummulativeQuoteQty": amount(cost), "status": "FILLED", "timeInForce": "GTC", "type": "MARKET",
            "side": side, "workingTime": ctx.now, "selfTradePreventionMode": "NONE",
            "fills": [{"price": num(px, decimals(spec.tick_sz)), "qty": amount(qty), "commission": amount(fee),
                       "commissionAsset": get, "tradeId": oid}]}
    ctx.state.spot_orders[(ctx.account.api_key, cid)] = order
    return order


def ep_get_spot_order(ctx: Ctx) -> Any:
    """A spot order by ``origClientOrderId`` (or ``orderId``): GET /api/v3/order's shape (no fills); -2013 unknown."""
    p = ctx.params
    inst, cid, oid = p.required("symbol"), p.text("origClientOrderId"), p.text("orderId")
    if not cid and not oid:
        raise BinanceError(-1102, "orderId", msg="Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
    mine = [o for (key, c), o in ctx.state.spot_orders.items() if key == ctx.account.api_key and o["symbol"] == inst
            and (c == cid if cid else str(o["orderId"]) == oid)]
    if not mine:
        raise BinanceError(-2013)
    o = mine[-1]
    return {k: v for k, v in o.items() if k != "fills"} | {"time": o["transactTime"], "updateTime": o["transactTime"],
                                                          "isWorking": True, "origQuoteOrderQty": "0.00000000"}


def _transfer(ctx: Ctx, kind: str) -> int:
    p = ctx.params
    asset = p.required("asset")
    amt_s = p.decimal("amount", required=True)
    assert amt_s is not None
    amt = float(amt_s)
    if not amt > 0:
        raise BinanceError(-1130, "amount")
    src, dst = TRANSFER_TYPES[kind]
    acct, wallet = ctx.account, ctx.state.spot.setdefault(ctx.account.api_key, {})
    futures = dst if src == "spot" else src
    wallet_assets = USDM_ASSETS if futures == "fapi" else {ctx.spec(i).settle_ccy for i in ctx.state.symbols("dapi")}
    if asset not in wallet_assets:  # each futures wallet holds its own assets only
        raise BinanceError(-4001, msg="Asset is not supported.")
    with ctx.engine.lock:
        if src == "spot":
            have = wallet.get(asset, 0.0)
        else:
            have = min(ctx.engine.balance(acct, asset, ctx.now).avail, acct.balances.get(asset, 0.0))
        if have + 1e-12 < amt:
            raise BinanceError(-5013, msg="Asset transfer failed: insufficient balance")
        bill_id = ctx.engine._next_id()
        if src == "spot":
            wallet[asset] = have - amt
            acct.book(bill_id, ctx.now, asset, BILL_TRANSFER, "11", amt)
        else:
            wallet[asset] = wallet.get(asset, 0.0) + amt
            acct.book(bill_id, ctx.now, asset, BILL_TRANSFER, "11", -amt)
    return int(bill_id)


def ep_asset_transfer(ctx: Ctx) -> Any:
    kind = ctx.params.required("type")
    if kind not in TRANSFER_TYPES:
        raise BinanceError(-1130, "type")
    return {"tranId": _transfer(ctx, kind)}


def ep_futures_transfer(ctx: Ctx) -> Any:
    kind = ctx.params.required("type")
    if kind not in LEGACY_TYPES:
        raise BinanceError(-1130, "type")
    return {"tranId": _transfer(ctx, LEGACY_TYPES[kind])}
