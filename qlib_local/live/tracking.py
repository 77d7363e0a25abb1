"""What became of the orders a run sent: looked up by client id, resolved, polled, their fills recorded.

The base of :class:`~qlib_local.live.execution.Executor`, kept apart from sending because it
only asks the exchange and writes down what it says: one order by its client id (``lookup``),
unresolved ledger rows (``resolve``, also reconcile's), accepted orders until each is final
(``poll``, which cancels what still rests at its timeout), and the fills since a time, split
into this run's and those of orders placed before it (``record_fills``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from qlib_local.ledger import Ledger, OrderRow
from qlib_local.live.errors import LiveError, VenueError
from qlib_local.live.exec_types import ExecPolicy, ExecReport, status_to_changes
from qlib_local.live.types import OrderRequest, OrderStatus
from qlib_local.live.venue import Venue


class OrderTracker:
    """Asks the exchange about one account's orders and records the answers in the ledger."""

    def __init__(self, venue: Venue, ledger: Ledger, account: str, run_id: str,
                 policy: ExecPolicy | None = None, alert: Callable[[str, str], None] | None = None):
        self.venue, self.ledger, self.account, self.run_id = venue, ledger, account, run_id
        self.policy = policy or ExecPolicy()
        self.alert = alert or (lambda kind, msg: None)
        self.not_ours: set[str] = set()  # our ids whose order on the exchange this run did not place

    # ------------------------------------------------------------------ resolve
    def lookup(self, o: OrderRow | OrderRequest) -> OrderStatus | None | VenueError:
        try:
            return self.venue.order(o.inst_id, o.cl_ord_id)
        except (VenueError, LiveError) as e:
            return e if isinstance(e, VenueError) else VenueError(str(e))

    def resolve(self, rows: list[OrderRow], absent_state: str = "not_placed") -> dict[str, str]:
        """Ask the exchange about each order; record what it says. Returns clOrdId -> state."""
        out: dict[str, str] = {}
        if not rows:
            return out
        with ThreadPoolExecutor(min(self.policy.workers, len(rows))) as pool:
            answers = list(pool.map(self.lookup, rows))
        updates = []
        for row, ans in zip(rows, answers, strict=True):
            if isinstance(ans, VenueError):
                updates.append((row.cl_ord_id, {"state": "unknown", "msg": str(ans)}))
                out[row.cl_ord_id] = "unknown"
            elif ans is None:
                updates.append((row.cl_ord_id, {"state": absent_state}))
                out[row.cl_ord_id] = absent_state
            else:
                updates.append((row.cl_ord_id, status_to_changes(ans)))
                out[row.cl_ord_id] = ans.state
        self.ledger.update_orders(updates)
        return out

    # ------------------------------------------------------------------ poll and fills
    def poll(self, orders: list[OrderRequest], rep: ExecReport) -> None:
        """Until every accepted order is final or the poll timeout; then cancel what still rests."""
        live = [o for o in orders if o.cl_ord_id in rep.acks]
        deadline = time.monotonic() + self.policy.poll_timeout_s
        while live:
            with ThreadPoolExecutor(min(self.policy.workers, len(live))) as pool:
                answers = list(pool.map(self.lookup, live))
            still, updates = [], []
            for o, st in zip(live, answers, strict=True):
                if isinstance(st, OrderStatus):
                    rep.statuses[o.cl_ord_id] = st
                    updates.append((o.cl_ord_id, status_to_changes(st)))
                    if not st.final:
                        still.append(o)
                else:
                    still.append(o)
            self.ledger.update_orders(updates)
            live = still
            if not live or time.monotonic() >= deadline:
                break
            time.sleep(self.policy.poll_interval_s)
        for o in live:
            try:
                self.venue.cancel(o.inst_id, o.cl_ord_id)
            except VenueError as e:
                rep.errors.append(f"cancel {o.cl_ord_id}: {e}")
            st = self.lookup(o)
            if isinstance(st, OrderStatus):
                rep.statuses[o.cl_ord_id] = st
                self.ledger.update_order(o.cl_ord_id, **status_to_changes(st))
                if st.acc_fill_sz and st.acc_fill_sz < st.sz:
                    text = f"{o.inst_id}: partially filled {st.acc_fill_sz:g} of {st.sz:g}, rest canceled"
                    self.ledger.event(self.account, self.run_id, "warning", "partial_fill", text)
                    self.alert("partial_fill", text)
            else:
                rep.unknown.append(o.cl_ord_id)
                self.ledger.update_order(o.cl_ord_id, state="unknown")

    def record_fills(self, since_ms: int, rep: ExecReport) -> None:
        """This run's fills since ``since_ms`` into the ledger (counted in ``rep.new_fills``); the fills of
        orders placed before this run are recorded too, not counted as this run's."""
        run = [o for o in self.ledger.orders(self.account) if o.run_id == self.run_id]
        try:
            fills = self.venue.fills(since_ms, {o.inst_id for o in run} | {o.inst_id for o in rep.requests.values()})
        except (VenueError, LiveError) as e:
            rep.errors.append(f"fills: {e}")
            return
        mine = {o.cl_ord_id for o in run} - self.not_ours
        rep.new_fills = self.ledger.add_fills(self.account, [f.as_row() for f in fills if f.cl_ord_id in mine])
        self.ledger.add_fills(self.account, [f.as_row() for f in fills if f.cl_ord_id in self.not_ours])  # not this run's
