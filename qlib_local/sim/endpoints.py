"""OKX V5 endpoints as plain functions of a request context: no HTTP, no Starlette.

Each takes a ``Ctx`` (query, parsed body, authenticated account, simulated now) and
returns the envelope's ``data``, or raises ``OkxError``; ``app`` serves them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qlib_local.sim import views
from qlib_local.sim.accounts import Account
from qlib_local.sim.clock import SimClock
from qlib_local.sim.faults import Faults
from qlib_local.sim.market import DEFAULT_LIMIT, FUNDING_LIMIT, MARK_LIMIT, MAX_LIMIT, MarketData
from qlib_local.sim.matching import Engine
from qlib_local.sim.params import integer, positive, text
from qlib_local.sim.protocol import OkxError, ParamError, num, tick_decimals
from qlib_local.sim.ratelimit import RateLimiter
from qlib_local.timeframes import DAY_MS

MAX_BATCH = 20
BILLS_WINDOW_MS = 7 * DAY_MS  # account/bills: the last 7 days
BILLS_ARCHIVE_WINDOW_MS = 92 * DAY_MS  # account/bills-archive: the last 3 months


@dataclass
class State:
    """Everything an endpoint may touch."""

    market: MarketData
    engine: Engine
    clock: SimClock
    faults: Faults
    limiter: RateLimiter


@dataclass
class Ctx:
    state: State
    query: dict[str, str]
    body: Any
    acct: Account | None
    now: int

    @property
    def engine(self) -> Engine:
        return self.state.engine

    @property
    def market(self) -> MarketData:
        return self.state.market

    def q(self, key: str, default: str = "") -> str:
        return self.query.get(key, default) or default

    def required(self, key: str) -> str:
        v = self.q(key)
        if not v:
            raise ParamError("50014", key)
        return v

    def obj(self) -> dict[str, Any]:
        """The body of an endpoint that takes one JSON object."""
        if not isinstance(self.body, dict):
            raise ParamError("50002")
        return self.body

    def field(self, key: str) -> str:
        return text(self.obj(), key)


# An endpoint returns data, or (code, msg, data) when per-item results decide the code.
Result = list[Any] | tuple[str, str, list[Any]]


def _int_param(ctx: Ctx, key: str) -> int | None:
    return integer(ctx.q(key), key)


def _limit(ctx: Ctx, maximum: int = MAX_LIMIT, default: int = DEFAULT_LIMIT) -> int:
    n = _int_param(ctx, "limit")
    if n is None:
        return default
    if n < 1:
        raise ParamError("51000", "limit")
    return min(n, maximum)


# ------------------------------------------------------------------ public
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
        ctx.required("instId"), ctx.q("bar", "1m"), ctx.now, after=_int_param(ctx, "after"),
        before=_int_param(ctx, "before"), limit=_limit(ctx), recent_only=recent_only,
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


# ------------------------------------------------------------------ public: funding and mark prices
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
        ctx.required("instId"), ctx.q("bar", "1m"), ctx.now, after=_int_param(ctx, "after"),
        before=_int_param(ctx, "before"), limit=_limit(ctx, MARK_LIMIT), recent_only=recent_only,
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
    rows = ctx.market.funding_history(inst_id, ctx.now, after=_int_param(ctx, "after"),
                                      before=_int_param(ctx, "before"), limit=_limit(ctx, FUNDING_LIMIT, FUNDING_LIMIT))
    return [{"instType": "SWAP", "instId": inst_id, "formulaType": "withRate", "method": "current_period",
             "fundingRate": num(r), "realizedRate": num(r), "fundingTime": str(t)} for t, r in rows]


# ------------------------------------------------------------------ account
def _acct(ctx: Ctx) -> Account:
    assert ctx.acct is not None
    return ctx.acct


def ep_currencies(ctx: Ctx) -> Result:
    return []


def ep_balance(ctx: Ctx) -> Result:
    """``ccy`` (comma-separated) narrows the details; totals always cover every currency, as OKX's do."""
    acct = _acct(ctx)
    balances = ctx.engine.balances(acct, ctx.now)
    view = views.balance_view(balances, acct, ctx.now)
    wanted = set(filter(None, ctx.q("ccy").split(",")))
    if wanted:
        view["details"] = [d for d in view["details"] if d["ccy"] in wanted]
    return [view]


def ep_positions(ctx: Ctx) -> Result:
    acct = _acct(ctx)
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
    return [views.config_view(_acct(ctx))]


def ep_set_leverage(ctx: Ctx) -> Result:
    acct = _acct(ctx)
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
    ctx.engine.set_position_mode(_acct(ctx), mode)
    return [{"posMode": mode}]


# ------------------------------------------------------------------ trade
def _echo(req: dict[str, Any], key: str) -> str:
    """A refused order's own clOrdId/tag for its ack; "" when it was not a string."""
    v = req.get(key)
    return v if isinstance(v, str) else ""


def _place_many(ctx: Ctx, reqs: list[dict[str, Any]]) -> Result:
    acct = _acct(ctx)
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
    ctx.engine.validate(_acct(ctx), ctx.obj())  # malformed single orders answer at the top level
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
    acct = _acct(ctx)
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
    order = ctx.engine.get_order(_acct(ctx), ctx.required("instId"), ctx.q("ordId"), ctx.q("clOrdId"), ctx.now)
    return [views.order_view(order, ctx.engine)]


def ep_orders_pending(ctx: Ctx) -> Result:
    acct = _acct(ctx)
    inst_id, ord_type, state = ctx.q("instId"), ctx.q("ordType"), ctx.q("state")
    orders = sorted(acct.pending(), key=lambda o: int(o.ord_id), reverse=True)
    after, before = _int_param(ctx, "after"), _int_param(ctx, "before")
    orders = [
        o for o in orders
        if (not inst_id or o.inst_id == inst_id) and (not ord_type or o.ord_type == ord_type)
        and (not state or o.state == state) and (after is None or int(o.ord_id) < after)
        and (before is None or int(o.ord_id) > before)
    ]
    return [views.order_view(o, ctx.engine) for o in orders[: _limit(ctx, 100, 100)]]


def ep_fills(ctx: Ctx) -> Result:
    acct = _acct(ctx)
    inst_id, ord_id = ctx.q("instId"), ctx.q("ordId")
    after, before = _int_param(ctx, "after"), _int_param(ctx, "before")
    fills = [
        f for f in reversed(acct.fills)
        if (not inst_id or f.inst_id == inst_id) and (not ord_id or f.ord_id == ord_id)
        and (after is None or int(f.bill_id) < after) and (before is None or int(f.bill_id) > before)
    ]
    return [views.fill_view(f, ctx.engine) for f in fills[: _limit(ctx, 100, 100)]]


def _bills(ctx: Ctx, window_ms: int) -> Result:
    """Bills newest first, ``window_ms`` back from now (OKX: 7 days, 3 months in the archive)."""
    acct = _acct(ctx)
    inst_type, ct_type = ctx.q("instType"), ctx.q("ctType")
    if (inst_type and inst_type != "SWAP") or (ctx.q("mgnMode") not in ("", "cross")):
        return []
    ccy, kind, sub = ctx.q("ccy"), ctx.q("type"), ctx.q("subType")
    inst_id = ctx.q("instId")
    after, before = _int_param(ctx, "after"), _int_param(ctx, "before")
    begin, end = _int_param(ctx, "begin"), _int_param(ctx, "end")
    limit = _limit(ctx, 100, 100)
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


# (method, path, handler, private, is trade endpoint with inTime/outTime)
ENDPOINTS: list[tuple[str, str, Callable[[Ctx], Result], bool, bool]] = [
    ("GET", "/api/v5/public/time", ep_time, False, False),
    ("GET", "/api/v5/public/instruments", ep_instruments, False, False),
    ("GET", "/api/v5/market/candles", ep_candles, False, False),
    ("GET", "/api/v5/market/history-candles", ep_history_candles, False, False),
    ("GET", "/api/v5/market/tickers", ep_tickers, False, False),
    ("GET", "/api/v5/market/ticker", ep_ticker, False, False),
    # public funding and mark prices (served from the store's @funding and @mark namespaces)
    ("GET", "/api/v5/public/mark-price", ep_mark_price, False, False),
    ("GET", "/api/v5/public/funding-rate", ep_funding_rate, False, False),
    ("GET", "/api/v5/public/funding-rate-history", ep_funding_rate_history, False, False),
    ("GET", "/api/v5/market/mark-price-candles", ep_mark_price_candles, False, False),
    ("GET", "/api/v5/market/history-mark-price-candles", ep_history_mark_price_candles, False, False),
    ("GET", "/api/v5/asset/currencies", ep_currencies, True, False),
    ("GET", "/api/v5/account/balance", ep_balance, True, False),
    ("GET", "/api/v5/account/positions", ep_positions, True, False),
    ("GET", "/api/v5/account/config", ep_config, True, False),
    ("GET", "/api/v5/account/bills", ep_bills, True, False),
    ("GET", "/api/v5/account/bills-archive", ep_bills_archive, True, False),
    ("POST", "/api/v5/account/set-leverage", ep_set_leverage, True, False),
    ("POST", "/api/v5/account/set-position-mode", ep_set_position_mode, True, False),
    ("POST", "/api/v5/trade/order", ep_place_order, True, True),
    ("GET", "/api/v5/trade/order", ep_get_order, True, False),
    ("POST", "/api/v5/trade/batch-orders", ep_batch_orders, True, True),
    ("POST", "/api/v5/trade/cancel-order", ep_cancel_order, True, True),
    ("GET", "/api/v5/trade/orders-pending", ep_orders_pending, True, False),
    ("GET", "/api/v5/trade/fills", ep_fills, True, False),
]
