"""Private OKX V5 trade endpoints: place (one or a batch), cancel, look up, pending orders, fills.

Kept apart from the account endpoints: these are the ones that place and cancel orders
through the engine, and answer per order (``sCode``/``sMsg``) where OKX does.
"""

from __future__ import annotations

from typing import Any

from qlib_local.sim import views
from qlib_local.sim.context import Ctx, Result, account, int_param, limit_param
from qlib_local.sim.protocol import OkxError, ParamError

MAX_BATCH = 20


def _echo(req: dict[str, Any], key: str) -> str:
    """A refused order's own clOrdId/tag for its ack; "" when it was not a string."""
    v = req.get(key)
    return v if isinstance(v, str) else ""


def _place_many(ctx: Ctx, reqs: list[dict[str, Any]]) -> Result:
    acct = account(ctx)
    acks, ok = [], 0
    for req in reqs:
        try:
            order = ctx.engine.place(acct, req, ctx.now)
            acks.append(views.ack_view(order, ctx.now))
            ok += 1
        except OkxError as e:
            acks.append({"ordId": "", "clOrdId": _echo(req, "clOrdId"), "tag": _echo(req, "tag"),
                         "ts": str(ctx.now), "sCode": e.code, "sMsg": e.msg})
    code = "0" if ok == len(reqs) else ("1" if ok == 0 else "2")
    return code, ("" if code == "0" else OkxError(code).msg), acks


def ep_place_order(ctx: Ctx) -> Result:
    ctx.engine.validate(account(ctx), ctx.obj())  # malformed single orders answer at the top level
    return _place_many(ctx, [ctx.body])


def ep_batch_orders(ctx: Ctx) -> Result:
    reqs = ctx.body
    if not isinstance(reqs, list) or not reqs:
        raise ParamError("50014", "data")
    if len(reqs) > MAX_BATCH:
        raise ParamError("51000", "data", f"Up to {MAX_BATCH} orders per batch")
    if not all(isinstance(r, dict) for r in reqs):  # before any order is placed: a batch is checked whole
        raise ParamError("50002")
    return _place_many(ctx, reqs)


def ep_cancel_order(ctx: Ctx) -> Result:
    acct = account(ctx)
    ctx.obj()
    inst_id = ctx.field("instId")
    if not inst_id:
        raise ParamError("50014", "instId")
    cl, oid = ctx.field("clOrdId"), ctx.field("ordId")
    try:
        order = ctx.engine.cancel(acct, inst_id, oid, cl, ctx.now)
    except ParamError:
        raise
    except OkxError as e:
        return "1", OkxError("1").msg, [{"ordId": oid, "clOrdId": cl, "ts": str(ctx.now), "sCode": e.code, "sMsg": e.msg}]
    return [{"ordId": order.ord_id, "clOrdId": order.cl_ord_id, "ts": str(ctx.now), "sCode": "0", "sMsg": ""}]


def ep_get_order(ctx: Ctx) -> Result:
    order = ctx.engine.get_order(account(ctx), ctx.required("instId"), ctx.q("ordId"), ctx.q("clOrdId"), ctx.now)
    return [views.order_view(order, ctx.engine)]


def ep_orders_pending(ctx: Ctx) -> Result:
    acct = account(ctx)
    inst_id, ord_type, state = ctx.q("instId"), ctx.q("ordType"), ctx.q("state")
    orders = sorted(acct.pending(), key=lambda o: int(o.ord_id), reverse=True)
    after, before = int_param(ctx, "after"), int_param(ctx, "before")
    orders = [
        o for o in orders
        if (not inst_id or o.inst_id == inst_id) and (not ord_type or o.ord_type == ord_type)
        and (not state or o.state == state) and (after is None or int(o.ord_id) < after)
        and (before is None or int(o.ord_id) > before)
    ]
    return [views.order_view(o, ctx.engine) for o in orders[: limit_param(ctx, 100, 100)]]


def ep_fills(ctx: Ctx) -> Result:
    acct = account(ctx)
    inst_id, ord_id = ctx.q("instId"), ctx.q("ordId")
    after, before = int_param(ctx, "after"), int_param(ctx, "before")
    fills = [
        f for f in reversed(acct.fills)
        if (not inst_id or f.inst_id == inst_id) and (not ord_id or f.ord_id == ord_id)
        and (after is None or int(f.bill_id) < after) and (before is None or int(f.bill_id) > before)
    ]
    return [views.fill_view(f, ctx.engine) for f in fills[: limit_param(ctx, 100, 100)]]
