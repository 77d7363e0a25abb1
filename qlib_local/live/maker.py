"""The ``maker_first`` order style: rest at the best price, re-price as the book moves, then market.

Each planned order (the *parent*) is carried out by *children*: a post-only limit at the best
bid (buy) or ask (sell), looked at every ``reprice_ms`` of the EXCHANGE's clock; a child no
longer at the best price is cancelled and the rest sent again at the new best price as the
next round's child. At the deadline the resting child is cancelled and what is left goes out
as one market child (``fallback: market``) or stays unfilled (``leave``; the run names the
instrument as not at target). A post-only child the venue refuses because it would have
taken (Binance -5022; OKX cancels it at once) is simply re-priced at the next look.

Safety is the execution engine's (:class:`~qlib_local.live.execution.Executor` sends every
child): each child's id derives from its parent's and its round
(:func:`~qlib_local.live.clordid.child_id`), it is in the ledger before it is sent, and an
unanswered request is resolved by looking the id up. A killed run leaves at most one resting
child per parent; the next run's reconcile cancels it, and the re-planned parent (the next
attempt, sized from the exchange's positions, which include every child's fills) can
neither double a child nor trade more than the target.

All waiting is on the exchange's clock (:class:`ExchangeClock`), so a test drives it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from qlib_local.live.clordid import MAX_ROUNDS, child_id
from qlib_local.live.errors import LiveError, VenueError
from qlib_local.live.exec_types import ExecReport, order_row, status_to_changes
from qlib_local.live.execution import Executor
from qlib_local.live.types import OrderRequest, OrderStatus
from qlib_local.research.execution import Execution

PARENT_TYPE = "maker_first"  # the ledger's ord_type of a parent row (never sent itself)


class ExchangeClock(Protocol):
    """The exchange's time, and a way to wait for it (production sleeps; a test moves the clock)."""

    def now_ms(self) -> int: ...
    def wait_until(self, t_ms: int) -> None: ...


class VenueClock:
    """The venue's server time, waited for by sleeping real time between looks at it."""

    def __init__(self, venue, poll_s: float = 0.5):
        self.venue, self.poll_s = venue, poll_s

    def now_ms(self) -> int:
        return self.venue.server_time_ms()

    def wait_until(self, t_ms: int) -> None:
        while (now := self.now_ms()) < t_ms:
            time.sleep(min(self.poll_s, max(0.01, (t_ms - now) / 1000)))


ClockFactory = Callable[[object], ExchangeClock]


@dataclass(frozen=True)
class MakerPolicy:
    reprice_ms: int
    deadline_ms: int
    fallback: str = "market"  # market | leave


def maker_policy(ex: Execution, base_ms: int) -> MakerPolicy:
    """The live maker policy of an ``execution`` block (``base_ms``: the base bar), as maker_first
    orders and twap's maker slices both take it."""
    return MakerPolicy(int(ex.reprice_s * 1000), ex.live_deadline_ms(base_ms), ex.fallback)


@dataclass
class Work:
    """One parent in progress: what its children filled, the resting child, the next round."""

    parent: OrderRequest
    lot: float
    policy: MakerPolicy  # its own reprice, deadline and fallback (strategies' styles may differ)
    filled: float = 0.0
    child: OrderRequest | None = None
    round: int = 0
    dead: bool = False  # a child was rejected or its outcome is unknown: no further child
    deadline: int = 0  # exchange ms: the last look, then the fallback
    next_look: int = 0  # exchange ms

    @property
    def remaining(self) -> float:
        left = self.parent.sz - self.filled
        if self.dead:
            return 0.0
        return math.floor(left / self.lot + 1e-6) * self.lot if left > 0 else 0.0


class MakerFirst:
    """Carries out one bar's parents as post-only children, then the fallback."""

    def __init__(self, ex: Executor, clock: ExchangeClock, policy: MakerPolicy, lots: dict[str, float]):
        self.ex, self.clock, self.policy, self.lots = ex, clock, policy, lots
        self.left: dict[str, float] = {}  # instrument -> contracts left unfilled (fallback leave)

    def execute(self, bar_ts: int, parents: list[OrderRequest], since_ms: int,
                policies: Mapping[str, MakerPolicy] | None = None) -> ExecReport:
        """Carry ``parents`` out; ``policies`` gives a parent its own policy by its id (strategies with
        their own styles), else the constructor's. All start now; each looks on its own ``reprice_ms``
        and falls back at its own deadline."""
        ex = self.ex
        rep = ExecReport(rounds=1)
        if not parents:
            return rep
        ex.bar_ts = bar_ts
        ex.ledger.add_orders([replace(order_row(p, ex.account, bar_ts, ex.run_id), ord_type=PARENT_TYPE,
                                      state="working") for p in parents])
        t0 = self.clock.now_ms()
        work = []
        for p in parents:
            policy = (policies or {}).get(p.cl_ord_id, self.policy)
            work.append(Work(p, self.lots.get(p.inst_id, 1.0), policy=policy, deadline=t0 + policy.deadline_ms,
                             next_look=t0 + policy.reprice_ms))
        self._place(work, rep)
        going, ended = [w for w in work if w.remaining > 0], []
        while going:
            t = min(min(w.deadline, w.next_look) for w in going)
            self.clock.wait_until(t)
            now = self.clock.now_ms()
            due = [w for w in going if now >= min(w.deadline, w.next_look)]
            self._look(due, rep)
            ending = [w for w in due if now >= w.deadline]  # the deadline's look is the last
            if ending:
                self._cancel([w for w in ending if w.child is not None], rep)
                self._fallback(ending, rep)
                ended += ending
            placing = [w for w in due if now < w.deadline]  # no child is placed only to be cancelled
            for w in placing:
                w.next_look = min(w.deadline, now + w.policy.reprice_ms)
            if placing:
                self._place(placing, rep)
            going = [w for w in going if w.remaining > 0 and now < w.deadline]
        self._cancel([w for w in work if w.child is not None and w not in ended], rep)  # an unknown child: once more
        self._finish(work)
        ex.record_fills(since_ms, rep)
        return rep

    # ------------------------------------------------------------------ rounds
    def _place(self, work: list[Work], rep: ExecReport) -> None:
        """Every parent with something left and no child at the best price gets a new child there."""
        quotes = self.ex.venue.quotes()
        best = {id(w): q[0] if w.parent.side == "buy" else q[1]  # no sane quote: keep what rests, place nothing
                for w in work if (q := quotes.get(w.parent.inst_id)) is not None}
        self._cancel([w for w in work if id(w) in best and w.child is not None and w.child.px != best[id(w)]], rep)
        new = []
        for w in work:
            if id(w) in best and w.child is None and w.remaining > 0:
                w.child = self._child(w, "maker", best[id(w)])
                new.append(w.child)
        if new:
            self.ex.send(new, rep)
            for w in work:
                cl = w.child.cl_ord_id if w.child is not None else ""
                if cl in rep.would_take:
                    w.child = None  # refused as it would have taken: re-priced at the next look
                elif cl in rep.rejected or cl in rep.not_placed:
                    w.child, w.dead = None, True  # the engine named it (event, alert); no second try this run
                elif cl in rep.unknown:
                    w.dead = True  # kept: the deadline's cancel and lookup try it once more

    def _child(self, w: Work, kind: str, px: float | None) -> OrderRequest:
        if w.round > MAX_ROUNDS:
            raise LiveError(f"{w.parent.cl_ord_id}: more than {MAX_ROUNDS + 1} children")
        cl = child_id(w.parent.cl_ord_id, w.round, kind, self.ex.venue.caps.id_rule)
        w.round += 1
        return replace(w.parent, cl_ord_id=cl, sz=w.remaining, px=px, parent=w.parent.cl_ord_id,
                       ord_type="post_only" if kind == "maker" else "market")

    def _look(self, work: list[Work], rep: ExecReport) -> None:
        """Children no longer resting are final: their fills count, the parent may need another."""
        resting = [w for w in work if w.child is not None]
        if not resting:
            return
        try:
            open_ids = {st.cl_ord_id for st in self.ex.venue.pending_orders()}
        except (VenueError, LiveError):
            return  # not known now: the next look (or the deadline) settles it
        done = [w for w in resting if w.child.cl_ord_id not in open_ids]
        self._settle(done, rep)

    def _settle(self, done: list[Work], rep: ExecReport) -> None:
        """Look the children of ``done`` up; a final one adds its fills and frees its parent."""
        updates = []
        for w in done:
            st = self.ex.lookup(w.child)
            if isinstance(st, OrderStatus):
                rep.statuses[w.child.cl_ord_id] = st
                updates.append((w.child.cl_ord_id, status_to_changes(st)))
                if st.final:
                    w.filled += st.acc_fill_sz
                    w.child = None
            elif st is None and w.child.cl_ord_id not in rep.acks:  # never accepted: nothing rests, nothing filled
                w.child = None
            # an accepted child the exchange does not show (or a failed lookup) stays: never stack a second
        self.ex.ledger.update_orders(updates)

    def _cancel(self, ws: list[Work], rep: ExecReport) -> None:
        for w in ws:
            try:
                self.ex.venue.cancel(w.child.inst_id, w.child.cl_ord_id)
            except VenueError as e:
                rep.errors.append(f"cancel {w.child.cl_ord_id}: {e}")
        self._settle(ws, rep)
        for w in ws:
            if w.child is not None:  # still not final after the cancel: wait for it, never stack a second child
                rep.unknown.append(w.child.cl_ord_id)

    def _fallback(self, work: list[Work], rep: ExecReport) -> None:
        """At the deadline: what is left goes out as market children, or is left and named."""
        todo = [w for w in work if w.remaining > 0 and w.child is None]
        for w in todo:
            if w.policy.fallback == "leave":
                self.left[w.parent.inst_id] = self.left.get(w.parent.inst_id, 0.0) + w.remaining
        todo = [w for w in todo if w.policy.fallback != "leave"]
        orders = []
        for w in todo:
            w.child = self._child(w, "taker", None)
            orders.append(w.child)
        if not orders:
            return
        sub = ExecReport()
        self.ex.send(orders, sub)
        self.ex.poll([o for o in orders if o.cl_ord_id in sub.acks], sub)
        for w in todo:
            st = sub.statuses.get(w.child.cl_ord_id)
            if st is not None and st.final:
                w.filled += st.acc_fill_sz
                w.child = None
        rep.merge(sub)

    def _finish(self, work: list[Work]) -> None:
        """Each parent's row: filled when its children filled it, canceled otherwise (the rest left)."""
        updates = []
        for w in work:
            state = "filled" if w.remaining <= 0 else "canceled"
            updates.append((w.parent.cl_ord_id, {"state": state, "acc_fill_sz": round(w.filled, 12),
                                                 "msg": f"{w.round} child order(s)"}))
        self.ex.ledger.update_orders(updates)
