"""What a fill does to an account: the position at average cost, the fee, the bills, the fill record.

Kept apart from matching (which decides *whether*, *when* and *at what price* an order fills)
so that an order's effect on an account is written once, for taker fills, resting maker fills
and either front end: which part of an order closes and which opens (what needs margin), the
realized PnL, and a fee paid in the settle currency or, when a front end's ``fee_payer`` says so,
in another (Binance's BNB).
"""

from __future__ import annotations

from collections.abc import Callable

from qlib_local.perp import pnl, unit_notional
from qlib_local.sim.accounts import (
    BILL_TRADE,
    LONG,
    NET,
    SHORT,
    Account,
    Fill,
    Order,
    Position,
    trade_sub_type,
)
from qlib_local.sim.margin import average_entry
from qlib_local.specs import InstrumentSpec

# who pays a trade's fee in which currency: (account, instrument, fee in settle ccy, ts) -> (ccy, amount)
FeePayer = Callable[[Account, str, float, int], tuple[str, float]]


def closable(acct: Account, inst_id: str, side: str, pos_side: str, reduce_only: bool) -> float | None:
    """Contracts an order may close; None when the order opens (so needs no position)."""
    if pos_side == NET:
        if not reduce_only:
            return None
        p = acct.positions.get((inst_id, NET))
        held = p.pos if p else 0.0
        return abs(held) if (held > 0 and side == "sell") or (held < 0 and side == "buy") else 0.0
    closes = (pos_side == LONG and side == "sell") or (pos_side == SHORT and side == "buy")
    if not closes:
        return None if not reduce_only else 0.0
    p = acct.positions.get((inst_id, pos_side))
    return p.pos if p else 0.0


def opening_qty(acct: Account, inst_id: str, side: str, pos_side: str, sz: float, reduce_only: bool) -> float:
    """The part of an order that adds exposure, which is what needs margin."""
    if reduce_only:
        return 0.0
    if pos_side == NET:
        p = acct.positions.get((inst_id, NET))
        held = p.pos if p else 0.0
        q = sz if side == "buy" else -sz
        return max(0.0, abs(held + q) - abs(held))
    closes = (pos_side == LONG and side == "sell") or (pos_side == SHORT and side == "buy")
    return 0.0 if closes else sz


def book_fill(spec: InstrumentSpec, acct: Account, order: Order, qty: float, px: float, exec_type: str, ts: int,
              rate: float, fee_payer: FeePayer | None, next_id: Callable[[], str]) -> None:
    """``qty`` of ``order`` filled at ``px`` (``exec_type`` "T" taker, "M" maker, at fee ``rate``): a
    reduce-only or closing order fills at most what it may close, and is canceled when that is none."""
    most = closable(acct, order.inst_id, order.side, order.pos_side, order.reduce_only)
    if most is not None:
        qty = min(qty, most)
    if qty <= 0:
        order.state, order.u_time, order.frozen = "canceled", ts, 0.0
        return
    fee = qty * unit_notional(px, spec.ct_val, spec.ct_type_code) * rate
    fee_ccy, fee_paid = spec.settle_ccy, fee
    if fee_payer is not None:
        fee_ccy, fee_paid = fee_payer(acct, order.inst_id, fee, ts)
    if fee_ccy != spec.settle_ccy:  # paid in another currency (Binance's BNB): none in the settle ccy
        fee = 0.0
    p, realized = apply_position(spec, acct, order, qty, px, ts, next_id)
    p.fee -= fee
    order.avg_px = (order.avg_px * order.acc_fill_sz + px * qty) / (order.acc_fill_sz + qty)
    order.acc_fill_sz += qty
    order.fill_px, order.fill_sz, order.fill_time = px, qty, ts
    order.fee -= fee
    order.pnl += realized
    left_before = order.sz - order.acc_fill_sz + qty
    order.state = "filled" if order.acc_fill_sz >= order.sz - 1e-12 else "partially_filled"
    order.u_time = ts
    order.frozen = 0.0 if order.state == "filled" else order.frozen * (left_before - qty) / left_before
    trade_id, bill_id = next_id(), next_id()
    sub = trade_sub_type(order.side, order.pos_side)
    acct.book(bill_id, ts, spec.settle_ccy, BILL_TRADE, sub, realized - fee, inst_id=order.inst_id, pnl=realized,
              fee=-fee, sz=qty, px=px, ord_id=order.ord_id, cl_ord_id=order.cl_ord_id, trade_id=trade_id,
              exec_type=exec_type, tag=order.tag)
    if fee_ccy != spec.settle_ccy:
        acct.book(next_id(), ts, fee_ccy, BILL_TRADE, sub, -fee_paid, inst_id=order.inst_id,
                  fee=-fee_paid, ord_id=order.ord_id, cl_ord_id=order.cl_ord_id, trade_id=trade_id,
                  exec_type=exec_type, tag=order.tag)
    acct.fills.append(Fill(
        trade_id=trade_id, bill_id=bill_id, ord_id=order.ord_id, cl_ord_id=order.cl_ord_id,
        tag=order.tag, inst_id=order.inst_id, side=order.side, pos_side=order.pos_side,
        fill_px=px, fill_sz=qty, fee=-fee_paid, pnl=realized, exec_type=exec_type, ts=ts, sub_type=sub,
        ccy=fee_ccy,
    ))


def apply_position(spec: InstrumentSpec, acct: Account, order: Order, qty: float, px: float, ts: int,
                   next_id: Callable[[], str]) -> tuple[Position, float]:
    """Update the position; returns it and the realized PnL (average-cost accounting)."""
    key = (order.inst_id, order.pos_side)
    p = acct.positions.get(key)
    if p is None:
        p = acct.positions[key] = Position(order.inst_id, order.pos_side, pos_id=next_id())
    if p.pos == 0:
        p.reopen(ts)
    if order.pos_side == NET:
        signed, q = p.pos, (qty if order.side == "buy" else -qty)
    else:
        opening = (order.pos_side == LONG) == (order.side == "buy")
        signed, q = p.pos, (qty if opening else -qty)
    realized = 0.0
    direction = -1.0 if order.pos_side == SHORT else 1.0
    if signed == 0 or (signed > 0) == (q > 0):
        p.avg_px = average_entry(p.avg_px, abs(signed), px, abs(q), spec.ct_val, spec.ct_type_code)
        p.pos = signed + q
    else:
        closed = min(abs(q), abs(signed)) * (1.0 if signed > 0 else -1.0) * direction
        realized = pnl(closed, p.avg_px, px, spec.ct_val, spec.ct_type_code)
        p.pos = signed + q
        if abs(p.pos) < 1e-12:
            p.pos = 0.0
        elif (p.pos > 0) != (signed > 0):
            p.avg_px = px  # flipped through zero: the rest opens at this price
    p.realized_pnl += realized
    p.u_time = ts
    return p, realized
