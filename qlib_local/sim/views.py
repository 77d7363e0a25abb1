"""Domain objects rendered as OKX V5 JSON objects (every number a string)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from qlib_local.perp import pnl
from qlib_local.sim.accounts import Account, Bill, Fill, Order, Position
from qlib_local.sim.margin import CcyBalance, ccy_balance, liq_px, risk
from qlib_local.sim.matching import Engine
from qlib_local.sim.protocol import num, tick_decimals

POST_ONLY_REASON = "Order canceled by system because the post-only order would have taken liquidity"


def amount(x: float) -> str:
    """A currency amount: 12 significant digits, enough for coin balances (0.0000392156862745
    BTC) without float noise."""
    if not math.isfinite(x):
        return ""
    return np.format_float_positional(float(x), precision=12, unique=False, fractional=False, trim="-")


def order_view(o: Order, engine: Engine) -> dict[str, Any]:
    dec = tick_decimals(engine.market.spec(o.inst_id).tick_sz)
    filled = o.acc_fill_sz > 0
    return {
        "instType": "SWAP", "instId": o.inst_id, "tgtCcy": "", "ccy": "", "ordId": o.ord_id,
        "clOrdId": o.cl_ord_id, "tag": o.tag, "px": num(o.px, dec) if o.px is not None else "",
        "pxUsd": "", "pxVol": "", "pxType": "", "sz": num(o.sz), "pnl": amount(o.pnl),
        "ordType": o.ord_type, "side": o.side, "posSide": o.pos_side, "tdMode": o.td_mode,
        "accFillSz": num(o.acc_fill_sz), "fillPx": num(o.fill_px, dec) if filled else "",
        "tradeId": "", "fillSz": num(o.fill_sz) if filled else "0",
        "fillTime": str(o.fill_time) if o.fill_time else "", "avgPx": num(o.avg_px) if filled else "",
        "state": o.state, "stpId": "", "stpMode": "cancel_maker", "lever": num(o.lever),
        "attachAlgoClOrdId": "", "tpTriggerPx": "", "tpTriggerPxType": "", "tpOrdPx": "",
        "slTriggerPx": "", "slTriggerPxType": "", "slOrdPx": "", "attachAlgoOrds": [],
        "linkedAlgoOrd": {"algoId": ""}, "feeCcy": o.ccy, "fee": amount(o.fee), "rebateCcy": o.ccy,
        "rebate": "0", "source": "", "category": o.category, "reduceOnly": "true" if o.reduce_only else "false",
        "isTpLimit": "false", "cancelSource": o.cancel_source,
        "cancelSourceReason": POST_ONLY_REASON if o.cancel_source == "31" else "", "quickMgnType": "",
        "algoClOrdId": "", "algoId": "", "uTime": str(o.u_time), "cTime": str(o.c_time),
    }


def ack_view(o: Order, now: int, code: str = "0", msg: str = "") -> dict[str, str]:
    return {"ordId": o.ord_id, "clOrdId": o.cl_ord_id, "tag": o.tag, "ts": str(now), "sCode": code, "sMsg": msg}


def fill_view(f: Fill, engine: Engine) -> dict[str, str]:
    dec = tick_decimals(engine.market.spec(f.inst_id).tick_sz)
    return {
        "instType": "SWAP", "instId": f.inst_id, "tradeId": f.trade_id, "ordId": f.ord_id,
        "clOrdId": f.cl_ord_id, "billId": f.bill_id, "subType": f.sub_type, "tag": f.tag,
        "fillPx": num(f.fill_px, dec), "fillSz": num(f.fill_sz), "fillIdxPx": "", "fillPnl": amount(f.pnl),
        "fillPxVol": "", "fillPxUsd": "", "fillMarkVol": "", "fillFwdPx": "", "fillMarkPx": num(f.fill_px, dec),
        "side": f.side, "posSide": f.pos_side, "execType": f.exec_type, "feeCcy": f.ccy,
        "fee": amount(f.fee), "ts": str(f.ts), "fillTime": str(f.ts), "feeRate": "",
    }


def _ratio(x: float) -> str:
    """A ratio OKX leaves empty when it is undefined (no margin, no equity)."""
    return num(x) if math.isfinite(x) else ""


def position_view(p: Position, acct: Account, engine: Engine, now: int) -> dict[str, Any]:
    market = engine.market
    spec = market.spec(p.inst_id)
    dec = tick_decimals(spec.tick_sz)
    r = risk(market, acct, p, now)
    bal = ccy_balance(market, acct, spec.settle_ccy, now)
    liq = liq_px(market, acct, p, now)
    last = engine.last(p.inst_id, now)
    return {
        "instType": "SWAP", "instId": p.inst_id, "posId": p.pos_id, "posSide": p.pos_side,
        "pos": num(p.pos), "posCcy": "", "availPos": "", "avgPx": num(p.avg_px), "markPx": num(r.mark, dec),
        "last": num(last, dec), "idxPx": num(r.mark, dec), "upl": amount(r.upl),
        "uplRatio": num(r.upl / r.imr if r.imr else 0.0), "uplLastPx": amount(risk_upl(market, p, last)),
        "lever": num(acct.lever(p.inst_id)), "mgnMode": "cross", "margin": "", "imr": amount(r.imr),
        "mmr": amount(r.mmr), "mgnRatio": _ratio(bal.mgn_ratio), "liqPx": num(liq, dec) if math.isfinite(liq) else "",
        "notionalUsd": num(r.notional * bal.usd_px) if math.isfinite(bal.usd_px) else "", "ccy": spec.settle_ccy,
        "realizedPnl": amount(p.realized_pnl + p.fee + p.funding_fee + p.liq_penalty), "pnl": amount(p.realized_pnl),
        "fee": amount(p.fee), "fundingFee": amount(p.funding_fee), "liqPenalty": amount(p.liq_penalty),
        "adl": "1", "interest": "", "tradeId": "", "optVal": "", "pendingCloseOrdLiabVal": "",
        "bizRefId": "", "bizRefType": "", "baseBal": "", "quoteBal": "", "deltaBS": "", "deltaPA": "",
        "gammaBS": "", "gammaPA": "", "thetaBS": "", "thetaPA": "", "vegaBS": "", "vegaPA": "",
        "spotInUseAmt": "", "spotInUseCcy": "", "usdPx": _ratio(bal.usd_px), "closeOrderAlgo": [],
        "cTime": str(p.c_time), "uTime": str(p.u_time),
    }


def risk_upl(market: Any, p: Position, px: float) -> float:
    spec = market.spec(p.inst_id)
    return pnl(p.signed, p.avg_px, px, spec.ct_val, spec.ct_type_code)


def _detail(b: CcyBalance, acct: Account, now: int) -> dict[str, Any]:
    usd = b.usd_px if math.isfinite(b.usd_px) else 0.0
    return {
        "ccy": b.ccy, "eq": amount(b.eq), "cashBal": amount(b.cash), "availBal": amount(b.avail),
        "availEq": amount(b.avail), "frozenBal": amount(b.imr + b.frozen), "ordFrozen": amount(b.frozen),
        "upl": amount(b.upl), "uplLiab": "0", "imr": amount(b.imr), "mmr": amount(b.mmr), "eqUsd": amount(b.eq * usd),
        "disEq": amount(b.eq * usd), "isoEq": "0", "isoUpl": "0", "liab": "0", "maxLoan": "",
        "mgnRatio": _ratio(b.mgn_ratio), "notionalLever": _ratio(b.notional / b.eq if b.eq > 0 else math.nan),
        "crossLiab": "0", "interest": "0", "stgyEq": "0", "twap": "0",
        "spotInUseAmt": "", "spotBal": "", "openAvgPx": "", "accAvgPx": "", "totalPnl": "",
        "totalPnlRatio": "", "clSpotInUseAmt": "", "maxSpotInUse": "", "spotIsoBal": "0",
        "smtSyncEq": "0", "spotCopyTradingEq": "0", "fixedBal": "0", "borrowFroz": "",
        "collateralEnabled": False, "rewardBal": "0", "autoLendStatus": "off", "autoLendMtAmt": "0",
        "uTime": str(acct.u_time or now),
    }


def balance_view(balances: list[CcyBalance], acct: Account, now: int) -> dict[str, Any]:
    """OKX's single-currency margin shape: ``details`` per currency, account totals in USD
    (each currency valued at its USD price; one without a price yet counts 0)."""

    def usd(field: str) -> float:
        return sum(getattr(b, field) * b.usd_px for b in balances if math.isfinite(b.usd_px))

    return {
        "totalEq": num(usd("eq")), "adjEq": num(usd("eq")), "isoEq": "0", "ordFroz": num(usd("frozen")),
        "imr": num(usd("imr")), "mmr": num(usd("mmr")), "borrowFroz": "", "mgnRatio": "",
        "notionalUsd": num(usd("notional")), "notionalUsdForBorrow": "0", "notionalUsdForFutures": "0",
        "notionalUsdForOption": "0", "notionalUsdForSwap": num(usd("notional")), "upl": num(usd("upl")),
        "availEq": num(usd("avail")), "uTime": str(now), "details": [_detail(b, acct, now) for b in balances],
    }


def bill_view(b: Bill, market: Any) -> dict[str, str]:
    spec = market.spec(b.inst_id) if b.inst_id else None
    return {
        "bal": amount(b.bal), "balChg": amount(b.bal_chg), "billId": b.bill_id, "ccy": b.ccy, "clOrdId": b.cl_ord_id,
        "execType": b.exec_type, "fee": amount(b.fee), "fillFwdPx": "", "fillIdxPx": "", "fillMarkPx": "",
        "fillMarkVol": "", "fillPxUsd": "", "fillPxVol": "", "fillTime": str(b.ts) if b.trade_id else "",
        "from": "", "instId": b.inst_id, "instType": "SWAP" if b.inst_id else "", "interest": "0",
        "mgnMode": "cross" if b.inst_id else "", "notes": "", "ordId": b.ord_id, "pnl": amount(b.pnl),
        "posBal": "0", "posBalChg": "0", "px": num(b.px, tick_decimals(spec.tick_sz)) if b.px is not None and spec else "",
        "subType": b.sub_type, "sz": num(b.sz), "tag": b.tag, "to": "", "tradeId": b.trade_id, "ts": str(b.ts),
        "type": b.type,
    }


def config_view(acct: Account) -> dict[str, Any]:
    return {
        "uid": acct.uid, "mainUid": acct.uid, "acctLv": "2", "acctStpMode": "cancel_maker",
        "posMode": acct.pos_mode, "autoLoan": False, "greeksType": "PA", "feeType": "0",
        "level": "Lv1", "levelTmp": "", "ctIsoMode": "automatic", "mgnIsoMode": "automatic",
        "roleType": "0", "traderInsts": [], "spotRoleType": "0", "spotTraderInsts": [],
        "opAuth": "0", "kycLv": "2", "label": acct.name, "ip": "", "perm": "read_only,trade",
        "liquidationGear": "-1", "enableSpotBorrow": False, "spotBorrowAutoRepay": False,
        "type": "0", "settleCcy": "USDT", "settleCcyList": ["USDT"],
    }
