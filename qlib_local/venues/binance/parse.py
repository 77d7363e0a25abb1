"""Binance futures JSON <-> domain objects, and Binance's answers -> domain kinds (pure functions).

The shapes are Binance's REST answers as ccxt receives them (the same its binance.py parses):
numbers mostly as strings, sides and statuses upper-case, ``positionSide`` BOTH/LONG/SHORT.
Every number is checked finite before use; a row that cannot be read is left out (an order
or a spec) or reads as nothing (a price), never as zero.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from qlib_local.errors import DataError
from qlib_local.live.errors import VenueError, venue_error
from qlib_local.live.types import (
    LONG,
    NET,
    SHORT,
    Ack,
    Balance,
    FillInfo,
    FundingInfo,
    Kind,
    OrderRequest,
    OrderStatus,
    PositionInfo,
)
from qlib_local.live.venue import VenueCaps, order_flags
from qlib_local.specs import InstrumentSpec
from qlib_local.venues.binance.caps import RATE_LIMIT_CODES, status_kind

log = logging.getLogger(__name__)

SIDES = {"BOTH": NET, "LONG": LONG, "SHORT": SHORT}
POSITION_SIDES = {v: k for k, v in SIDES.items()}
STATES = {"NEW": "live", "PARTIALLY_FILLED": "partially_filled", "FILLED": "filled", "CANCELED": "canceled",
          "EXPIRED": "canceled", "EXPIRED_IN_MATCH": "canceled", "REJECTED": "rejected"}
DEFAULT_FUNDING_H = 8.0


def num(v: Any, default: float = math.nan) -> float:
    """A finite float, else ``default`` (Binance sends most numbers as strings)."""
    try:
        x = float(v)
    except (TypeError, ValueError):
        return default
    return x if math.isfinite(x) else default


def fmt(x: float) -> str:
    """A quantity as Binance expects it: positional, no float noise."""
    return np.format_float_positional(round(float(x), 10), trim="-")


# ---------------------------------------------------------------------- errors
def error_of(status: int | None, body: Any, what: str, caps: VenueCaps) -> VenueError | None:
    """The error a Binance answer means, or None when it is a success (or a list of per-order answers).

    A ``{"code": <0, "msg": ...}`` body decides by its code; otherwise the HTTP status does.
    """
    code = msg = ""
    if isinstance(body, Mapping) and "code" in body:
        c = num(body.get("code"), 0.0)
        if c < 0:
            code, msg = str(int(c)), str(body.get("msg") or "")
    elif isinstance(body, str):
        msg = body.strip()[:200]
    kind = caps.kind(code) if code else status_kind(status or 200)
    if kind is None:
        return None
    text = f"{what}: {caps.name} {code or status} {msg}".rstrip()
    rate = code in RATE_LIMIT_CODES or status in (418, 429)
    return venue_error(kind, text, code or str(status or ""), status, rate_limited=rate)


# ---------------------------------------------------------------------- orders
def order_item(o: OrderRequest, pos_mode: str, caps: VenueCaps) -> dict[str, str]:
    """One batchOrders entry: our client id as ``newClientOrderId``; ``positionSide`` and
    ``reduceOnly`` where the capabilities say they apply (hedge mode refuses reduceOnly)."""
    item = {"symbol": o.inst_id, "side": o.side.upper(), "type": "MARKET", "quantity": fmt(o.sz),
            "newClientOrderId": o.cl_ord_id}
    if o.ord_type == "post_only":  # Binance's post-only: a limit order good-till-crossing
        if o.px is None:
            raise ValueError(f"{o.cl_ord_id}: a post_only order needs a price")
        item.update(type="LIMIT", timeInForce="GTX", price=fmt(o.px))
    elif o.ord_type != "market":
        raise ValueError(f"{o.cl_ord_id}: order type {o.ord_type} is not supported (market, post_only)")
    pos_side, reduce_only = order_flags(o, pos_mode, caps)
    if pos_side is not None:
        item["positionSide"] = POSITION_SIDES[pos_side]
    if reduce_only:
        item["reduceOnly"] = "true"
    return item


def ack_from_item(cl_ord_id: str, item: Any, caps: VenueCaps) -> Ack:
    """One order's answer in a batchOrders list: the order (accepted) or ``{"code", "msg"}``."""
    if isinstance(item, Mapping) and item.get("orderId") is not None and "code" not in item:
        got = str(item.get("clientOrderId") or cl_ord_id)
        if got != cl_ord_id:
            return Ack(cl_ord_id, "", Kind.UNKNOWN_OUTCOME, "", f"answer names client id {got!r}")
        return Ack(cl_ord_id, str(item["orderId"]), Kind.ACCEPTED)
    if isinstance(item, Mapping) and "code" in item:
        code = str(int(num(item.get("code"), 0.0)))
        return Ack(cl_ord_id, "", caps.kind(code), code, str(item.get("msg") or ""))
    return Ack(cl_ord_id, "", Kind.UNKNOWN_OUTCOME, "", "no answer for this order")


def status_from_order(r: Mapping[str, Any]) -> OrderStatus:
    """An order (``GET order``, ``openOrders``) in domain terms; Binance reports no fee here (fills do)."""
    filled = num(r.get("executedQty"), 0.0)
    avg = num(r.get("avgPrice"), 0.0)
    return OrderStatus(
        cl_ord_id=str(r.get("clientOrderId") or ""), ord_id=str(r.get("orderId") or ""), inst_id=str(r["symbol"]),
        side=str(r["side"]).lower(), pos_side=SIDES.get(str(r.get("positionSide") or "BOTH"), NET),
        sz=num(r.get("origQty"), 0.0), state=STATES.get(str(r.get("status")), "unknown"), acc_fill_sz=filled,
        avg_px=avg if filled > 0 and avg > 0 else None, fee=0.0, reduce_only=bool(r.get("reduceOnly")),
        ord_type="post_only" if r.get("timeInForce") == "GTX" else str(r.get("type") or "MARKET").lower(),
        td_mode="cross",
    )


def fill_from_trade(t: Mapping[str, Any], cl_of: Mapping[str, str]) -> FillInfo:
    """A trade (``userTrades``). Trade ids are per symbol on Binance, so the id is ``SYMBOL:id``;
    the commission is paid (positive), the domain's fee is what the account received."""
    return FillInfo(
        trade_id=f"{t['symbol']}:{t['id']}", ord_id=str(t["orderId"]), cl_ord_id=cl_of.get(str(t["orderId"]), ""),
        inst_id=str(t["symbol"]), side=str(t["side"]).lower(), pos_side=SIDES.get(str(t.get("positionSide")), NET),
        fill_px=num(t.get("price")), fill_sz=num(t.get("qty")), fee=-num(t.get("commission"), 0.0),
        pnl=num(t.get("realizedPnl"), 0.0), ts=int(num(t.get("time"), 0.0)),
    )


# ---------------------------------------------------------------------- account
def position_from_risk(r: Mapping[str, Any]) -> PositionInfo | None:
    """A ``positionRisk`` row; None when flat. Signed in one-way mode, positive per side in hedge mode."""
    amt = num(r.get("positionAmt"), 0.0)
    if amt == 0:
        return None
    side = SIDES.get(str(r.get("positionSide") or "BOTH"), NET)
    entry, lever = num(r.get("entryPrice"), 0.0), num(r.get("leverage"), 0.0)
    return PositionInfo(str(r["symbol"]), side, amt if side == NET else abs(amt), entry or None, lever or None)


def balance_from_account(a: Mapping[str, Any], ccy: str) -> Balance:
    """Equity, available and unrealized PnL of ``ccy`` (an ``account`` answer's ``assets`` row)."""
    row = next((x for x in a.get("assets") or [] if isinstance(x, Mapping) and x.get("asset") == ccy), None)
    if row is None:
        raise DataError(f"the account has no {ccy} balance")
    eq = num(row.get("marginBalance"))
    if math.isnan(eq):
        eq = num(row.get("walletBalance"), 0.0) + num(row.get("unrealizedProfit"), 0.0)
    return Balance(eq, num(row.get("availableBalance"), 0.0), num(row.get("unrealizedProfit"), 0.0), ccy=ccy)


def funding_from_income(r: Mapping[str, Any]) -> FundingInfo:
    return FundingInfo(bill_id=str(r.get("tranId") or ""), inst_id=str(r.get("symbol") or ""),
                       amount=num(r.get("income"), 0.0), ccy=str(r.get("asset") or ""), ts=int(num(r.get("time"), 0.0)))


def prices(rows: Any, key: str) -> dict[str, float]:
    """symbol -> price for rows whose price is a finite positive number (anything else is no price)."""
    out: dict[str, float] = {}
    for r in rows if isinstance(rows, list) else []:
        if isinstance(r, Mapping) and r.get("symbol"):
            v = num(r.get(key))
            if v > 0:
                out[str(r["symbol"])] = v
    return out


# ---------------------------------------------------------------------- specs
def _filters(s: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(f.get("filterType")): f for f in s.get("filters") or [] if isinstance(f, Mapping)}


def brackets_by_symbol(rows: Any) -> dict[str, list[Mapping[str, Any]]]:
    """``leverageBracket`` answers (USDⓈ-M: notionalCap; COIN-M v2: qtyCap) by symbol."""
    out = {}
    for r in rows if isinstance(rows, list) else []:
        if isinstance(r, Mapping) and r.get("symbol") and isinstance(r.get("brackets"), list):
            out[str(r["symbol"])] = sorted(r["brackets"], key=lambda b: num(b.get("bracket"), 0.0))
    return out


def spec_from_symbol(s: Mapping[str, Any], brackets: list[Mapping[str, Any]], funding_h: float,
                     inverse: bool) -> InstrumentSpec:
    """One perpetual: ``contractSize`` (COIN-M: USD a contract; USDⓈ-M: 1 coin), the market-order lot
    and minimum, the tick, the top bracket's leverage and the brackets' maintenance rates."""
    f = _filters(s)
    lot = f.get("MARKET_LOT_SIZE") or f.get("LOT_SIZE") or {}
    step = num(lot.get("stepSize"))
    tiers = []
    for b in brackets:
        cap = num(b.get("qtyCap" if inverse else "notionalCap"))
        tiers.append((cap, num(b.get("maintMarginRatio"))))
    if tiers:
        tiers[-1] = (math.inf, tiers[-1][1])
    lever = max((num(b.get("initialLeverage"), 0.0) for b in brackets), default=math.nan)
    return InstrumentSpec(
        inst_id=str(s["symbol"]), ct_val=num(s.get("contractSize"), 1.0) if inverse else 1.0, lot_sz=step,
        min_sz=max(num(lot.get("minQty"), step), step), tick_sz=num((f.get("PRICE_FILTER") or {}).get("tickSize")),
        max_lever=lever, ct_val_ccy="USD" if inverse else str(s.get("baseAsset") or ""),
        settle_ccy=str(s.get("marginAsset") or ""), list_time_ms=int(num(s.get("onboardDate"), 0.0)),
        ct_type="inverse" if inverse else "linear", mm_tiers=tuple(tiers), funding_interval_h=funding_h,
        min_notional=0.0 if inverse else num((f.get("MIN_NOTIONAL") or {}).get("notional"), 0.0),
    )


def specs_from(exchange_info: Any, brackets: Any, funding_info: Any, inverse: bool) -> dict[str, InstrumentSpec]:
    """Specs of the trading perpetuals; one whose numbers do not check out is left out (and logged),
    so it is not traded rather than sized on a wrong number."""
    by_symbol = brackets_by_symbol(brackets)
    hours = {str(r["symbol"]): num(r.get("fundingIntervalHours"), DEFAULT_FUNDING_H)
             for r in funding_info if isinstance(r, Mapping) and r.get("symbol")} if isinstance(funding_info, list) else {}
    out = {}
    symbols = exchange_info.get("symbols") if isinstance(exchange_info, Mapping) else None
    for s in symbols if isinstance(symbols, list) else []:
        if not isinstance(s, Mapping) or s.get("contractType") != "PERPETUAL":
            continue
        if (s.get("contractStatus") if inverse else s.get("status")) != "TRADING":
            continue
        sym = str(s.get("symbol"))
        try:
            out[sym] = spec_from_symbol(s, by_symbol.get(sym, []), hours.get(sym, DEFAULT_FUNDING_H), inverse)
        except (DataError, KeyError, TypeError, ValueError) as e:
            log.warning("leaving %s out: its spec does not check out (%s)", sym, e)
    return out
