"""Signed futures trade routes: order (new, query, cancel), batchOrders, openOrders, allOrders, userTrades.

A Binance order is checked for form here (Binance's codes), then translated into the
engine's order fields and placed by the same engine the OKX front end uses.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from qlib_local.sim.accounts import LONG, LONG_SHORT_MODE, NET, SHORT, Order
from qlib_local.sim.binance.context import Ctx
from qlib_local.sim.binance.errors import BinanceError, from_engine
from qlib_local.sim.binance.request import Params
from qlib_local.sim.binance.shapes import decimals, order_view, trade_view
from qlib_local.sim.protocol import OkxError, is_multiple
from qlib_local.timeframes import DAY_MS

CLIENT_ID_RANGE = r"^[\.A-Z\:/a-z0-9_-]{1,36}$"
CLIENT_ID_RE = re.compile(CLIENT_ID_RANGE[1:-1])
MAX_BATCH = 5
TIF_TYPES = {"GTC": "limit", "IOC": "ioc", "FOK": "fok", "GTX": "post_only"}
POS_SIDES = {"BOTH": NET, "LONG": LONG, "SHORT": SHORT}
MAX_ORDERS, DEFAULT_ORDERS = 1000, 500
MAX_TRADES, DEFAULT_TRADES = 1000, 500
TRADES_WINDOW_MS = 7 * DAY_MS


def _places(text: str) -> int:
    return len(text.split(".")[1].rstrip("0")) if "." in text else 0


def engine_request(ctx: Ctx, p: Params) -> dict[str, Any]:
    """Binance order parameters checked as Binance checks them, as the engine's order fields."""
    inst = ctx.symbol(params=p)
    spec = ctx.spec(inst)
    side = p.required("side")
    if side not in ("BUY", "SELL"):
        raise BinanceError(-1117)
    kind = p.required("type")
    if kind not in ("LIMIT", "MARKET"):
        raise BinanceError(-1116)
    qty = p.decimal("quantity", required=True)
    assert qty is not None
    if float(qty) <= 0:
        raise BinanceError(-4003)
    if _places(qty) > decimals(spec.lot_sz):
        raise BinanceError(-1111)
    price = p.decimal("price", required=kind == "LIMIT")
    if kind == "MARKET":
        if price is not None:
            raise BinanceError(-1106, "price")
        ord_type = "market"
    else:
        tif = p.text("timeInForce", "GTC")
        if tif not in TIF_TYPES:
            raise BinanceError(-1130, "timeInForce")
        ord_type = TIF_TYPES[tif]
        assert price is not None
        if float(price) <= 0:
            raise BinanceError(-1130, "price")
        if _places(price) > decimals(spec.tick_sz):
            raise BinanceError(-1111)
        if not is_multiple(float(price), spec.tick_sz):
            raise BinanceError(-4014)
    cid = p.text("newClientOrderId")
    if cid and not CLIENT_ID_RE.fullmatch(cid):
        raise BinanceError(-1100, "newClientOrderId", CLIENT_ID_RANGE)
    hedge = ctx.account.pos_mode == LONG_SHORT_MODE
    pos_side = p.text("positionSide", "BOTH")
    if pos_side not in POS_SIDES:
        raise BinanceError(-1130, "positionSide")
    if (pos_side == "BOTH") == hedge:
        raise BinanceError(-4061)
    reduce = p.boolean("reduceOnly")
    if reduce is not None and hedge:
        raise BinanceError(-1106, "reduceOnly")
    last = ctx.engine.last(inst, ctx.now)
    px = float(price) if price is not None else last
    if ord_type == "post_only" and ctx.engine.would_take(inst, side.lower(), px, ctx.now):
        raise BinanceError(-5022)
    if not spec.inverse and not reduce and float(qty) * spec.ct_val * px < ctx.state.min_notional - 1e-9:
        raise BinanceError(-4164, f"{ctx.state.min_notional:g}")
    return {"instId": inst, "tdMode": "cross", "side": side.lower(), "ordType": ord_type, "sz": qty,
            "px": price or "", "clOrdId": cid or f"sim{uuid.uuid4().hex[:22]}", "posSide": POS_SIDES[pos_side],
            "reduceOnly": "true" if reduce else "false"}


def _place(ctx: Ctx, p: Params) -> dict[str, Any]:
    req = engine_request(ctx, p)
    try:
        order = ctx.engine.place(ctx.account, req, ctx.now)
    except OkxError as e:
        raise from_engine(e) from None
    return order_view(order, ctx.market)


def ep_new_order(ctx: Ctx) -> Any:
    resp = ctx.params.text("newOrderRespType", "ACK")
    if resp not in ("ACK", "RESULT"):
        raise BinanceError(-1130, "newOrderRespType")
    return _place(ctx, ctx.params)


def ep_batch_orders(ctx: Ctx) -> Any:
    """Up to 5 orders; each answers its order or its own ``{code, msg}``, in input order."""
    raw = ctx.params.required("batchOrders")
    try:
        items = json.loads(raw, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    except (ValueError, RecursionError):
        raise BinanceError(-1130, "batchOrders") from None
    if not isinstance(items, list) or not items:
        raise BinanceError(-1130, "batchOrders")
    if len(items) > MAX_BATCH:
        raise BinanceError(-1130, "batchOrders", msg=f"Invalid batchOrders: at most {MAX_BATCH} orders")
    if not all(isinstance(i, dict) and all(isinstance(v, str | int | float | bool) for v in i.values())
               for i in items):
        raise BinanceError(-1130, "batchOrders")
    out = []
    for item in items:
        values = {str(k): (("true" if v else "false") if isinstance(v, bool) else str(v)) for k, v in item.items()}
        try:
            out.append(_place(ctx, Params(values)))
        except BinanceError as e:
            out.append(e.body())
    return out


def _find(ctx: Ctx) -> Order | None:
    inst = ctx.symbol()
    oid = ctx.params.integer("orderId")
    cid = ctx.params.text("origClientOrderId")
    if oid is None and not cid:
        raise BinanceError(-1102, "orderId", msg="Param 'origClientOrderId' or 'orderId' must be sent, but both "
                                                 "were empty/null!")
    acct = ctx.account
    order = acct.orders.get(str(oid)) if oid is not None else acct.orders.get(acct.cl_ord_ids.get(cid, ""))
    if order is None or order.inst_id != inst or (cid and order.cl_ord_id != cid):
        return None
    return order


def ep_get_order(ctx: Ctx) -> Any:
    order = _find(ctx)
    if order is None:
        raise BinanceError(-2013)
    return order_view(order, ctx.market)


def ep_cancel_order(ctx: Ctx) -> Any:
    order = _find(ctx)
    if order is None or order.state not in ("live", "partially_filled"):
        raise BinanceError(-2011)
    try:
        order = ctx.engine.cancel(ctx.account, order.inst_id, order.ord_id, "", ctx.now)
    except OkxError as e:
        raise from_engine(e) from None
    return order_view(order, ctx.market)


def _family_orders(ctx: Ctx, inst: str) -> list[Order]:
    fam = set(ctx.state.symbols("dapi" if ctx.family == "dapi" else "fapi"))
    return sorted((o for o in ctx.account.orders.values() if o.inst_id in fam and (not inst or o.inst_id == inst)),
                  key=lambda o: int(o.ord_id))


def ep_open_orders(ctx: Ctx) -> Any:
    inst = ctx.symbol(required=False)
    return [order_view(o, ctx.market) for o in _family_orders(ctx, inst) if o.state in ("live", "partially_filled")]


def ep_all_orders(ctx: Ctx) -> Any:
    p = ctx.params
    inst = ctx.symbol(required=ctx.family == "dapi")
    oid, start, end = p.integer("orderId"), p.integer("startTime"), p.integer("endTime")
    limit = p.integer("limit")
    limit = DEFAULT_ORDERS if limit is None else limit
    if not 1 <= limit <= MAX_ORDERS:
        raise BinanceError(-1130, "limit")
    rows = [o for o in _family_orders(ctx, inst)
            if (oid is None or int(o.ord_id) >= oid) and (start is None or o.c_time >= start)
            and (end is None or o.c_time <= end)]
    rows = rows[:limit] if oid is not None or start is not None else rows[-limit:]
    return [order_view(o, ctx.market) for o in rows]


def ep_user_trades(ctx: Ctx) -> Any:
    p = ctx.params
    inst = ctx.symbol()
    start, end, from_id = p.integer("startTime"), p.integer("endTime"), p.integer("fromId")
    oid = p.integer("orderId")
    limit = p.integer("limit")
    limit = DEFAULT_TRADES if limit is None else limit
    if not 1 <= limit <= MAX_TRADES:
        raise BinanceError(-1130, "limit")
    if start is not None and end is not None and end - start > TRADES_WINDOW_MS:
        raise BinanceError(-1130, "startTime", msg="The time between startTime and endTime can not be longer "
                                                   "than 7 days.")
    fills = [f for f in ctx.account.fills if f.inst_id == inst
             and (oid is None or int(f.ord_id) == oid) and (from_id is None or int(f.trade_id) >= from_id)
             and (start is None or f.ts >= start) and (end is None or f.ts <= end)]
    fills = fills[:limit] if start is not None or from_id is not None else fills[-limit:]
    return [trade_view(f, ctx.market) for f in fills]
