"""The execution engine's terms and results, and an order in the ledger's terms.

``ExecPolicy`` is what one round may spend (retries, polling, threads), ``ExecReport`` what it
did (every answer, merged across rounds); ``order_row`` is an order's intent row and
``status_to_changes`` what the exchange said of it, as the ledger stores them. Kept apart from
the engine (:mod:`qlib_local.live.execution`) so the session, reconcile and the order styles
use them without the sending machinery.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qlib_local.ledger import OrderRow
from qlib_local.live.retry import RetryPolicy
from qlib_local.live.types import Ack, OrderRequest, OrderStatus


@dataclass(frozen=True)
class ExecPolicy:
    retry: RetryPolicy = RetryPolicy(attempts=8, base_s=0.1, cap_s=1.0, budget_s=15.0)
    poll_timeout_s: float = 10.0
    poll_interval_s: float = 0.2
    workers: int = 8


@dataclass
class ExecReport:
    acks: dict[str, Ack] = field(default_factory=dict)
    statuses: dict[str, OrderStatus] = field(default_factory=dict)
    rejected: dict[str, Ack] = field(default_factory=dict)
    not_placed: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    ack_times: dict[str, float] = field(default_factory=dict)  # monotonic time of each ack
    new_fills: int = 0
    requests: dict[str, OrderRequest] = field(default_factory=dict)  # every order sent, by clOrdId
    earlier: list[str] = field(default_factory=list)  # adopted orders placed before this run (not its fills)
    taken: list[str] = field(default_factory=list)  # our ids the exchange had for a different order
    would_take: list[str] = field(default_factory=list)  # post-only orders refused as they would have taken
    rounds: int = 0

    @property
    def ok(self) -> bool:
        return not self.unknown and not self.errors and not self.not_placed

    def merge(self, other: ExecReport) -> None:
        """Add a later round's outcome to this one."""
        for name in ("acks", "statuses", "rejected", "ack_times", "requests"):
            getattr(self, name).update(getattr(other, name))
        for name in ("not_placed", "unknown", "errors", "earlier", "taken", "would_take"):
            getattr(self, name).extend(getattr(other, name))
        self.new_fills += other.new_fills
        self.rounds += other.rounds


def status_to_changes(s: OrderStatus) -> dict:
    return {"state": s.state, "ord_id": s.ord_id, "acc_fill_sz": s.acc_fill_sz, "avg_px": s.avg_px, "fee": s.fee}


def order_row(o: OrderRequest, account: str, bar_ts: int, run_id: str) -> OrderRow:
    return OrderRow(cl_ord_id=o.cl_ord_id, account=account, bar_ts=bar_ts, inst_id=o.inst_id, side=o.side,
                    pos_side=o.pos_side, sz=o.sz, reduce_only=o.reduce_only, ord_type=o.ord_type, td_mode=o.td_mode,
                    leg=o.leg, attempt=o.attempt, run_id=run_id, px=o.px, parent=o.parent)

