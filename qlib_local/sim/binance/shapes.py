"""Engine objects rendered as Binance futures JSON (numbers as strings, ids and times as integers)."""

from __future__ import annotations

import math
from typing import Any

from qlib_local.perp import unit_notional
from qlib_local.sim.accounts import LONG, NET, SHORT, Account, Fill, Order, Position
from qlib_local.sim.margin import CcyBalance, liq_px, risk
from qlib_local.sim.market import MAX_LMT_SZ, MAX_MKT_SZ, MarketData
from qlib_local.sim.protocol import num, tick_decimals
from qlib_local.sim.views import amount
from qlib_local.specs import InstrumentSpec

PERPETUAL_DELIVERY = 4133404800000  # Binance's delivery date of a perpetual
POS_SIDE = {NET: "BOTH", LONG: "LONG", SHORT: "SHORT"}
TIF = {"limit": "GTC", "post_only": "GTX", "ioc": "IOC", "fok": "FOK", "market": "GTC"}
STATUS = {"live": "NEW", "partially_filled": "PARTIALLY_FILLED", "filled": "FILLED", "canceled": "CANCELED"}


def decimals(step: float) -> int:
    return tick_decimals(step)


def pair(inst_id: str) -> str:
    return inst_id.split("_")[0]


def base_asset(spec: InstrumentSpec) -> str:
    return spec.settle_ccy if spec.inverse else spec.base_ccy


def symbol_info(market: MarketData, inst_id: str, min_notional: float) -> dict[str, Any]:
    """One ``exchangeInfo.symbols`` row (fapi or dapi by the contract type)."""
    spec = market.spec(inst_id)
    pd_, qd = decimals(spec.tick_sz), decimals(spec.lot_sz)
    filters: list[dict[str, Any]] = [
        {"filterType": "PRICE_FILTER", "minPrice": num(spec.tick_sz), "maxPrice": "4529764",
         "tickSize": num(spec.tick_sz)},
        {"filterType": "LOT_SIZE", "minQty": num(spec.min_sz), "maxQty": num(MAX_LMT_SZ), "stepSize": num(spec.lot_sz)},
        {"filterType": "MARKET_LOT_SIZE", "minQty": num(spec.min_sz), "maxQty": num(MAX_MKT_SZ),
         "stepSize": num(spec.lot_sz)},
        {"filterType": "MAX_NUM_ORDERS", "limit": 200},
        {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500",
         "multiplierDecimal": "4"},
    ]
    row: dict[str, Any] = {
        "symbol": inst_id, "pair": pair(inst_id) if spec.inverse else inst_id, "contractType": "PERPETUAL",
        "deliveryDate": PERPETUAL_DELIVERY, "onboardDate": market.list_time(inst_id),
        "baseAsset": base_asset(spec), "quoteAsset": "USD" if spec.inverse else spec.settle_ccy,
        "marginAsset": spec.settle_ccy, "pricePrecision": pd_, "quantityPrecision": qd,
        "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN", "underlyingSubType": [],
        "triggerProtect": "0.0500", "liquidationFee": num(spec.liq_fee), "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000, "filters": filters,
        "orderTypes": ["LIMIT", "MARKET"], "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
    }
    if spec.inverse:
        row.update(contractStatus="TRADING", contractSize=int(spec.ct_val) if spec.ct_val.is_integer()
                   else spec.ct_val, equalQtyPrecision=4)
    else:
        row.update(status="TRADING", settlePlan=0, requiredMarginPercent="5.0000", maintMarginPercent="2.5000")
        filters.append({"filterType": "MIN_NOTIONAL", "notional": num(min_notional)})
    return row


def order_type(o: Order) -> str:
    return "MARKET" if o.ord_type in ("market", "optimal_limit_ioc") else "LIMIT"


def order_status(o: Order) -> str:
    if o.state == "canceled" and o.ord_type in ("ioc", "fok") and o.acc_fill_sz < o.sz:
        return "EXPIRED"
    return STATUS.get(o.state, "NEW")


def order_view(o: Order, market: MarketData) -> dict[str, Any]:
    spec = market.spec(o.inst_id)
    pd_ = decimals(spec.tick_sz)
    kind = order_type(o)
    filled = o.acc_fill_sz
    row: dict[str, Any] = {
        "orderId": int(o.ord_id), "symbol": o.inst_id, "status": order_status(o), "clientOrderId": o.cl_ord_id,
        "price": num(o.px or 0.0, pd_), "avgPrice": num(o.avg_px if filled else 0.0, pd_),
        "origQty": num(o.sz), "executedQty": num(filled), "cumQty": num(filled),
        "timeInForce": TIF.get(o.ord_type, "GTC"), "type": kind, "reduceOnly": o.reduce_only,
        "closePosition": False, "side": o.side.upper(), "positionSide": POS_SIDE[o.pos_side], "stopPrice": "0",
        "workingType": "CONTRACT_PRICE", "priceProtect": False, "origType": kind, "priceMatch": "NONE",
        "selfTradePreventionMode": "NONE", "goodTillDate": 0, "time": o.c_time, "updateTime": o.u_time,
    }
    if spec.inverse:
        row["pair"] = pair(o.inst_id)
        row["cumBase"] = amount(filled * spec.ct_val / o.avg_px) if filled else "0"
    else:
        row["cumQuote"] = amount(filled * spec.ct_val * o.avg_px) if filled else "0"
    return row


def trade_view(f: Fill, market: MarketData) -> dict[str, Any]:
    spec = market.spec(f.inst_id)
    buy = f.side == "buy"
    row: dict[str, Any] = {
        "symbol": f.inst_id, "id": int(f.trade_id), "orderId": int(f.ord_id), "side": f.side.upper(),
        "price": num(f.fill_px, decimals(spec.tick_sz)), "qty": num(f.fill_sz), "realizedPnl": amount(f.pnl),
        "commission": amount(-f.fee), "commissionAsset": f.ccy, "time": f.ts,
        "positionSide": POS_SIDE[f.pos_side], "buyer": buy, "maker": f.exec_type == "M",
    }
    if spec.inverse:
        row.update(pair=pair(f.inst_id), marginAsset=spec.settle_ccy,
                   baseQty=amount(f.fill_sz * unit_notional(f.fill_px, spec.ct_val, spec.ct_type_code)))
    else:
        row["quoteQty"] = amount(f.fill_sz * unit_notional(f.fill_px, spec.ct_val, spec.ct_type_code))
    return row


def position_view(p: Position, acct: Account, market: MarketData, now: int) -> dict[str, Any]:
    spec = market.spec(p.inst_id)
    pd_ = decimals(spec.tick_sz)
    r = risk(market, acct, p, now)
    liq = liq_px(market, acct, p, now)
    signed_notional = math.copysign(r.notional, r.q)
    row: dict[str, Any] = {
        "symbol": p.inst_id, "positionSide": POS_SIDE[p.pos_side], "positionAmt": num(r.q),
        "entryPrice": num(p.avg_px), "breakEvenPrice": num(p.avg_px), "markPrice": num(r.mark, pd_),
        "unRealizedProfit": amount(r.upl), "liquidationPrice": num(liq, pd_) if math.isfinite(liq) else "0",
        "isolatedMargin": "0", "isolatedWallet": "0", "marginType": "cross", "leverage": num(acct.lever(p.inst_id)),
        "initialMargin": amount(r.imr), "maintMargin": amount(r.mmr), "positionInitialMargin": amount(r.imr),
        "openOrderInitialMargin": "0", "adl": 0, "bidNotional": "0", "askNotional": "0",
        "marginAsset": spec.settle_ccy, "updateTime": p.u_time,
    }
    if spec.inverse:
        row.update(notionalValue=amount(signed_notional), maxQty=num(MAX_LMT_SZ), isAutoAddMargin="false")
    else:
        row["notional"] = amount(signed_notional)
    return row


def asset_view(b: CcyBalance, u_time: int) -> dict[str, Any]:
    """One ``assets`` row of an account (``updateTime`` never 0: ccxt skips such rows)."""
    return {
        "asset": b.ccy, "walletBalance": amount(b.cash), "unrealizedProfit": amount(b.upl),
        "marginBalance": amount(b.eq), "maintMargin": amount(b.mmr), "initialMargin": amount(b.imr + b.frozen),
        "positionInitialMargin": amount(b.imr), "openOrderInitialMargin": amount(b.frozen),
        "crossWalletBalance": amount(b.cash), "crossUnPnl": amount(b.upl), "availableBalance": amount(b.avail),
        "maxWithdrawAmount": amount(min(b.avail, b.cash)), "marginAvailable": True, "updateTime": max(u_time, 1),
    }


def balance_row(b: CcyBalance, alias: str, u_time: int) -> dict[str, Any]:
    """One row of ``/v2/balance`` (fapi) or ``/v1/balance`` (dapi)."""
    return {
        "accountAlias": alias, "asset": b.ccy, "balance": amount(b.cash), "crossWalletBalance": amount(b.cash),
        "crossUnPnl": amount(b.upl), "availableBalance": amount(b.avail),
        "maxWithdrawAmount": amount(min(b.avail, b.cash)), "marginAvailable": True, "updateTime": max(u_time, 1),
    }
