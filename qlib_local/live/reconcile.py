"""Reconcile the ledger with the exchange before anything else; the exchange is the truth.

1. every order the ledger has not seen final is looked up by clOrdId (an order recorded
   as an intent that the exchange does not know was never placed);
2. resting orders of ours unknown to the ledger are adopted; ours from an earlier bar are
   canceled (their reason to trade is gone), and so is a resting child order of any bar (the
   run that re-priced it is gone: the account's lock says no run is working it); a parent
   still ``working`` in the ledger is closed as interrupted with what its children filled, its rest
   re-planned from positions (a twap parent's by the next attempt, on the slices not yet released);
3. fills of our orders are recorded (idempotent on trade id);
4. positions are compared with the ledger's last snapshot; differences are reported and
   the exchange's positions recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from qlib_local.ledger import Ledger, OrderRow
from qlib_local.live.clordid import bar_of, parent_of, prefix
from qlib_local.live.exec_types import status_to_changes
from qlib_local.live.tracking import OrderTracker
from qlib_local.live.types import OrderStatus, PositionInfo
from qlib_local.live.venue import Venue


@dataclass
class ReconcileReport:
    resolved: dict[str, str] = field(default_factory=dict)
    adopted: list[str] = field(default_factory=list)
    canceled: list[str] = field(default_factory=list)
    foreign_orders: list[str] = field(default_factory=list)
    position_diffs: pd.DataFrame = field(default_factory=pd.DataFrame)
    new_fills: int = 0
    positions: list[PositionInfo] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.adopted and self.position_diffs.empty and all(
            s in ("filled", "canceled", "rejected") for s in self.resolved.values())

    def lines(self) -> list[str]:
        out = [f"order {cl}: {st}" for cl, st in self.resolved.items()]
        out += [f"adopted order {cl} found on the exchange" for cl in self.adopted]
        out += [f"canceled stale order {cl}" for cl in self.canceled]
        out += [f"resting order not ours: {cl or '(no clOrdId)'}" for cl in self.foreign_orders]
        for r in self.position_diffs.itertuples():
            out.append(f"position {r.inst_id} {r.pos_side}: ledger {r.ledger:g}, exchange {r.exchange:g}")
        return out


def adopt_row(st: OrderStatus, account: str, run_id: str, bar_ts: int) -> OrderRow:
    leg = "close" if st.reduce_only or (st.pos_side == "long" and st.side == "sell") or (
        st.pos_side == "short" and st.side == "buy") else "open"
    return OrderRow(cl_ord_id=st.cl_ord_id, account=account, bar_ts=bar_ts, inst_id=st.inst_id, side=st.side,
                    pos_side=st.pos_side, sz=st.sz, reduce_only=st.reduce_only, ord_type=st.ord_type,
                    td_mode=st.td_mode, leg=leg, attempt=0, run_id=run_id, **status_to_changes(st))


def position_diffs(ledger_pos: pd.DataFrame, exchange: list[PositionInfo]) -> pd.DataFrame:
    led = {(r.inst_id, r.pos_side): float(r.contracts) for r in ledger_pos.itertuples()}
    ex = {(p.inst_id, p.pos_side): p.contracts for p in exchange}
    rows = [(i, s, led.get((i, s), 0.0), ex.get((i, s), 0.0)) for (i, s) in sorted(set(led) | set(ex))
            if abs(led.get((i, s), 0.0) - ex.get((i, s), 0.0)) > 1e-9]
    return pd.DataFrame(rows, columns=["inst_id", "pos_side", "ledger", "exchange"])


def reconcile(venue: Venue, ledger: Ledger, executor: OrderTracker, account: str, run_id: str, bar_ts: int,
              since_ms: int) -> ReconcileReport:
    rep = ReconcileReport()
    open_rows = ledger.open_orders(account)
    rep.resolved = executor.resolve(open_rows)
    mine = prefix(account)
    known = {o.cl_ord_id for o in ledger.orders(account)}
    for st in venue.pending_orders():
        if not st.cl_ord_id.startswith(mine):
            rep.foreign_orders.append(st.cl_ord_id)
            continue
        order_bar = bar_of(st.cl_ord_id) or 0
        if st.cl_ord_id not in known:
            ledger.add_orders([adopt_row(st, account, run_id, order_bar)])
            rep.adopted.append(st.cl_ord_id)
        if order_bar < bar_ts or parent_of(st.cl_ord_id) != st.cl_ord_id:
            venue.cancel(st.inst_id, st.cl_ord_id)
            rep.canceled.append(st.cl_ord_id)
    if rep.canceled:
        rows = [r for r in (ledger.order(cl) for cl in rep.canceled) if r is not None]
        rep.resolved.update(executor.resolve(rows))
    every = ledger.orders(account)
    working = [o for o in every if o.state == "working"]
    done: dict[str, float] = {}  # what each parent's children filled (resolved above)
    for o in every:
        if o.parent:
            done[o.parent] = done.get(o.parent, 0.0) + o.acc_fill_sz
    ledger.update_orders([(o.cl_ord_id, {
        "state": "canceled", "acc_fill_sz": round(done.get(o.cl_ord_id, 0.0), 12),
        "msg": f"interrupted: the run working it stopped ({done.get(o.cl_ord_id, 0.0):g} of {o.sz:g} filled by its "
               "children; the rest is re-planned from the positions" + (", resuming its twap slices)"
                                                                        if o.ord_type == "twap" else ")")})
        for o in working])
    rep.resolved.update({o.cl_ord_id: "canceled (interrupted parent)" for o in working})
    rows = ledger.orders(account)
    ours = {o.cl_ord_id for o in rows}
    insts = {o.inst_id for o in rows if o.bar_ts >= since_ms - 86_400_000}  # a fill is never long after its bar
    fills = [f.as_row() for f in venue.fills(since_ms, insts) if f.cl_ord_id in ours]
    rep.new_fills = ledger.add_fills(account, fills)
    rep.positions = venue.positions()
    _, led_pos = ledger.last_positions(account)
    rep.position_diffs = position_diffs(led_pos, rep.positions)
    ledger.record_positions(account, bar_ts, [(p.inst_id, p.pos_side, p.contracts, p.avg_px) for p in rep.positions],
                            "reconcile")
    return rep
