"""Private OKX V5 account endpoints: currencies, balance, positions, config, leverage, position
mode, bills.

Kept apart from the trade endpoints: these read or set an account's standing (cash, positions,
settings, its bills' history) and place nothing.
"""

from __future__ import annotations

from qlib_local.sim import views
from qlib_local.sim.context import Ctx, Result, account, int_param, limit_param
from qlib_local.sim.params import positive
from qlib_local.sim.protocol import ParamError, num
from qlib_local.timeframes import DAY_MS

BILLS_WINDOW_MS = 7 * DAY_MS  # account/bills: the last 7 days
BILLS_ARCHIVE_WINDOW_MS = 92 * DAY_MS  # account/bills-archive: the last 3 months


def ep_currencies(ctx: Ctx) -> Result:
    return []


def ep_balance(ctx: Ctx) -> Result:
    """``ccy`` (comma-separated) narrows the details; totals always cover every currency, as OKX's do."""
    acct = account(ctx)
    balances = ctx.engine.balances(acct, ctx.now)
    view = views.balance_view(balances, acct, ctx.now)
    wanted = set(filter(None, ctx.q("ccy").split(",")))
    if wanted:
        view["details"] = [d for d in view["details"] if d["ccy"] in wanted]
    return [view]


def ep_positions(ctx: Ctx) -> Result:
    acct = account(ctx)
    inst_type = ctx.q("instType")
    if inst_type and inst_type != "SWAP":
        return []
    wanted = set(filter(None, ctx.q("instId").split(",")))
    rows = [
        views.position_view(p, acct, ctx.engine, ctx.now)
        for p in sorted(acct.open_positions(), key=lambda p: -p.u_time)
        if not wanted or p.inst_id in wanted
    ]
    pos_id = ctx.q("posId")
    return [r for r in rows if not pos_id or r["posId"] == pos_id]


def ep_config(ctx: Ctx) -> Result:
    return [views.config_view(account(ctx))]


def ep_set_leverage(ctx: Ctx) -> Result:
    acct = account(ctx)
    body = ctx.obj()
    mode, inst_id = ctx.field("mgnMode"), ctx.field("instId")
    if body.get("lever") in (None, ""):
        raise ParamError("50014", "lever")
    if not mode:
        raise ParamError("50014", "mgnMode")
    if mode not in ("cross", "isolated"):
        raise ParamError("51000", "mgnMode")
    if not inst_id:
        raise ParamError("50014", "instId")
    lever = positive(body["lever"], "lever")
    assert lever is not None
    if lever < 1:
        raise ParamError("51000", "lever")
    ctx.engine.set_leverage(acct, inst_id, lever, ctx.now)
    return [{"lever": num(lever), "mgnMode": mode, "instId": inst_id, "posSide": ctx.field("posSide") or "net"}]


def ep_set_position_mode(ctx: Ctx) -> Result:
    mode = ctx.field("posMode")
    if not mode:
        raise ParamError("50014", "posMode")
    ctx.engine.set_position_mode(account(ctx), mode)
    return [{"posMode": mode}]


def _bills(ctx: Ctx, window_ms: int) -> Result:
    """Bills newest first, ``window_ms`` back from now (OKX: 7 days, 3 months in the archive)."""
    acct = account(ctx)
    inst_type, ct_type = ctx.q("instType"), ctx.q("ctType")
    if (inst_type and inst_type != "SWAP") or (ctx.q("mgnMode") not in ("", "cross")):
        return []
    ccy, kind, sub = ctx.q("ccy"), ctx.q("type"), ctx.q("subType")
    inst_id = ctx.q("instId")
    after, before = int_param(ctx, "after"), int_param(ctx, "before")
    begin, end = int_param(ctx, "begin"), int_param(ctx, "end")
    limit = limit_param(ctx, 100, 100)
    since = ctx.now - window_ms
    rows = []
    for b in reversed(acct.bills):
        if b.ts < since or (begin is not None and b.ts < begin) or (end is not None and b.ts > end):
            continue
        if (ccy and b.ccy != ccy) or (kind and b.type != kind) or (sub and b.sub_type != sub):
            continue
        if (inst_id and b.inst_id != inst_id) or (inst_type and not b.inst_id):
            continue
        if ct_type and (not b.inst_id or ctx.market.spec(b.inst_id).ct_type != ct_type):
            continue
        if (after is not None and int(b.bill_id) >= after) or (before is not None and int(b.bill_id) <= before):
            continue
        rows.append(b)
    return [views.bill_view(b, ctx.market) for b in rows[:limit]]


def ep_bills(ctx: Ctx) -> Result:
    return _bills(ctx, BILLS_WINDOW_MS)


def ep_bills_archive(ctx: Ctx) -> Result:
    return _bills(ctx, BILLS_ARCHIVE_WINDOW_MS)
