"""Domain objects rendered as OKX V5 JSON objects (every number a string)."""

from __future__ import annotations

from typing import Any

from qlib_local.sim.accounts import Account, Fill, Order, Position, notional, upl
from qlib_local.sim.matching import Balance, Engine
from qlib_local.sim.protocol import num, tick_decimals


def order_view(o: Order, engine: Engine) -> dict[str, Any]:
    dec = tick_decimals(engine.market.spec(o.inst_id).tick_sz)
    filled = o.acc_fill_sz > 0
    return {
        "instType": "SWAP", "instId": o.inst_id, "tgtCcy": "", "ccy": "", "ordId": o.ord_id,
        "clOrdId": o.cl_ord_id, "tag": o.tag, "px": num(o.px, dec) if o.px is not None else "",
        "pxUsd": "", "pxVol": "", "pxType": "", "sz": num(o.sz), "pnl": num(o.pnl),
        "ordType": o.ord_type, "side": o.side, "posSide": o.pos_side, "tdMode": o.td_mode,
        "accFillSz": num(o.acc_fill_sz), "fillPx": num(o.fill_px, dec) if filled else "",
        "tradeId": "", "fillSz": num(o.fill_sz) if filled else "0",
        "fillTime": str(o.fill_time) if o.fill_time else "", "avgPx": num(o.avg_px) if filled else "",
        "state": o.state, "stpId": "", "stpMode": "cancel_maker", "lever": num(o.lever),
        "attachAlgoClOrdId": "", "tpTriggerPx": "", "tpTriggerPxType": "", "tpOrdPx": "",
        "slTriggerPx": "", "slTriggerPxType": "", "slOrdPx": "", "attachAlgoOrds": [],
        "linkedAlgoOrd": {"algoId": ""}, "feeCcy": "USDT", "fee": num(o.fee), "rebateCcy": "USDT",
        "rebate": "0", "source": "", "category": "normal", "reduceOnly": "true" if o.reduce_only else "false",
        "isTpLimit": "false", "cancelSource": "", "cancelSourceReason": "", "quickMgnType": "",
        "algoClOrdId": "", "algoId": "", "uTime": str(o.u_time), "cTime": str(o.c_time),
    }


def ack_view(o: Order, now: int, code: str = "0", msg: str = "") -> dict[str, str]:
    return {"ordId": o.ord_id, "clOrdId": o.cl_ord_id, "tag": o.tag, "ts": str(now), "sCode": code, "sMsg": msg}


def fill_view(f: Fill, engine: Engine) -> dict[str, str]:
    dec = tick_decimals(engine.market.spec(f.inst_id).tick_sz)
    return {
        "instType": "SWAP", "instId": f.inst_id, "tradeId": f.trade_id, "ordId": f.ord_id,
        "clOrdId": f.cl_ord_id, "billId": f.bill_id, "subType": "1", "tag": f.tag,
        "fillPx": num(f.fill_px, dec), "fillSz": num(f.fill_sz), "fillIdxPx": "", "fillPnl": num(f.pnl),
        "fillPxVol": "", "fillPxUsd": "", "fillMarkVol": "", "fillFwdPx": "", "fillMarkPx": num(f.fill_px, dec),
        "side": f.side, "posSide": f.pos_side, "execType": f.exec_type, "feeCcy": "USDT",
        "fee": num(f.fee), "ts": str(f.ts), "fillTime": str(f.ts), "feeRate": "",
    }


def position_view(p: Position, acct: Account, engine: Engine, now: int) -> dict[str, str]:
    spec = engine.market.spec(p.inst_id)
    dec = tick_decimals(spec.tick_sz)
    mark = engine.mark(p.inst_id, now)
    lever = acct.lever(p.inst_id)
    n = notional(p, mark, spec.ct_val)
    u = upl(p, mark, spec.ct_val)
    imr = n / lever
    return {
        "instType": "SWAP", "instId": p.inst_id, "posId": p.pos_id, "posSide": p.pos_side,
        "pos": num(p.pos), "availPos": "", "avgPx": num(p.avg_px), "markPx": num(mark, dec),
        "last": num(mark, dec), "idxPx": num(mark, dec), "upl": num(u), "uplRatio": num(u / imr if imr else 0.0),
        "uplLastPx": num(u), "lever": num(lever), "mgnMode": "cross", "margin": "", "imr": num(imr),
        "mmr": num(n * 0.004), "mgnRatio": "", "liqPx": "", "notionalUsd": num(n), "ccy": "USDT",
        "realizedPnl": num(p.realized_pnl), "pnl": num(p.realized_pnl), "fee": "0", "fundingFee": "0",
        "adl": "1", "interest": "", "tradeId": "", "optVal": "", "pendingCloseOrdLiabVal": "",
        "bizRefId": "", "bizRefType": "", "baseBal": "", "quoteBal": "", "deltaBS": "", "deltaPA": "",
        "gammaBS": "", "gammaPA": "", "thetaBS": "", "thetaPA": "", "vegaBS": "", "vegaPA": "",
        "spotInUseAmt": "", "spotInUseCcy": "", "usdPx": "", "closeOrderAlgo": [],
        "cTime": str(p.c_time), "uTime": str(p.u_time),
    }


def balance_view(b: Balance, acct: Account, now: int) -> dict[str, Any]:
    detail = {
        "ccy": "USDT", "eq": num(b.eq), "cashBal": num(b.cash), "availBal": num(b.avail),
        "availEq": num(b.avail), "frozenBal": num(b.imr + b.frozen), "ordFrozen": num(b.frozen),
        "upl": num(b.upl), "uplLiab": "0", "imr": num(b.imr), "mmr": num(b.imr * 0.4), "eqUsd": num(b.eq),
        "disEq": num(b.eq), "isoEq": "0", "isoUpl": "0", "liab": "0", "maxLoan": "", "mgnRatio": "",
        "notionalLever": "", "crossLiab": "0", "interest": "0", "stgyEq": "0", "twap": "0",
        "spotInUseAmt": "", "spotBal": "", "openAvgPx": "", "accAvgPx": "", "totalPnl": "",
        "totalPnlRatio": "", "clSpotInUseAmt": "", "maxSpotInUse": "", "spotIsoBal": "0",
        "smtSyncEq": "0", "spotCopyTradingEq": "0", "fixedBal": "0", "borrowFroz": "",
        "collateralEnabled": False, "rewardBal": "0", "autoLendStatus": "off", "autoLendMtAmt": "0",
        "uTime": str(acct.u_time or now),
    }
    return {
        "totalEq": num(b.eq), "adjEq": num(b.eq), "isoEq": "0", "ordFroz": num(b.frozen),
        "imr": num(b.imr), "mmr": num(b.imr * 0.4), "borrowFroz": "", "mgnRatio": "",
        "notionalUsd": num(b.imr), "notionalUsdForBorrow": "0", "notionalUsdForFutures": "0",
        "notionalUsdForOption": "0", "notionalUsdForSwap": "0", "upl": num(b.upl),
        "availEq": num(b.avail), "uTime": str(now), "details": [detail],
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
