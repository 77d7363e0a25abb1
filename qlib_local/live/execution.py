"""The execution engine: record intents, send in batches, resolve every outcome, poll fills.

Rules that keep real money safe:

- an order is in the ledger (state ``intent``) before its request leaves;
- a request whose outcome is unknown (timeout, dropped connection, 5xx) is never simply
  resent: each of its clOrdIds is looked up first and only the ones the exchange does
  not know are sent again, under the same clOrdId;
- refusals before processing (kind ``retry_later``/``clock_skew``: rate limits, outages) are
  retried with backoff, within a time budget; when it runs out, the orders the exchange does
  not have are recorded as ``not_placed`` and the rest as ``unknown`` for the next run's reconcile;
- a rejected order (``insufficient_margin``, ...) never stops the others;
- a duplicate client id is adopted only when the exchange's order under it is the same
  order (instrument, side, size, bar); one this run had not sent before was placed before this
  run (a lost or fresh ledger): adopted, but its fills are not counted as this run's. Any other
  order under our id means the id is taken: the next attempt's id is used;
- on a venue that refuses a client id only while its order is open (``ids_unique_after_final``
  false), a filled order's id would be accepted again: every id is looked up before it is
  first sent, and one the exchange knows is treated as a duplicate answer.

Only domain kinds decide here; the venue's codes and messages are kept for the ledger and alerts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from qlib_local.ledger import Ledger, OrderRow
from qlib_local.live.clordid import MAX_ATTEMPTS, cl_ord_id
from qlib_local.live.errors import LiveError, VenueError
from qlib_local.live.guards import same_order
from qlib_local.live.retry import RetryPolicy
from qlib_local.live.types import RETRY_KINDS, Ack, Kind, OrderRequest, OrderStatus
from qlib_local.live.venue import Venue

log = logging.getLogger(__name__)


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


class Executor:
    """Sends one bar's orders for one account and records everything in the ledger."""

    def __init__(self, venue: Venue, ledger: Ledger, account: str, run_id: str, pos_mode: str,
                 policy: ExecPolicy | None = None, alert: Callable[[str, str], None] | None = None):
        self.venue, self.ledger, self.account, self.run_id = venue, ledger, account, run_id
        self.pos_mode = pos_mode
        self.policy = policy or ExecPolicy()
        self.alert = alert or (lambda kind, msg: None)
        self.sent: set[str] = set()  # clOrdIds this executor has put in a request
        self.not_ours: set[str] = set()  # our ids whose order on the exchange this run did not place
        self.absent: set[str] = set()  # ids the exchange said it does not know (looked up before sending)
        self._sent_lock = threading.Lock()
        self.bar_ts = 0

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

    # ------------------------------------------------------------------ send
    def execute(self, bar_ts: int, orders: list[OrderRequest], since_ms: int) -> ExecReport:
        """Closing legs first, then opening legs; each phase's batches go out in parallel."""
        rep = ExecReport()
        if not orders:
            return rep
        rep.rounds, self.bar_ts = 1, bar_ts
        self.send(orders, rep)
        self.poll(list(rep.requests.values()), rep)
        self.record_fills(since_ms, rep)
        return rep

    def send(self, orders: list[OrderRequest], rep: ExecReport) -> None:
        """Record ``orders`` as intents, then send them: closing legs first, each phase's batches in
        parallel, every outcome resolved (the answers land in ``rep``; nothing is polled here)."""
        rep.requests.update({o.cl_ord_id: o for o in orders})
        self.ledger.add_orders([order_row(o, self.account, self.bar_ts, self.run_id) for o in orders])
        size = self.venue.caps.max_batch
        for phase in ("close", "open"):
            todo = [o for o in orders if o.leg == phase]
            batches = [todo[i:i + size] for i in range(0, len(todo), size)]
            if not batches:
                continue
            with ThreadPoolExecutor(min(self.policy.workers, len(batches))) as pool:
                for _ in pool.map(lambda b: self._send(b, rep), batches):
                    pass

    def _send(self, batch: list[OrderRequest], rep: ExecReport) -> None:
        """One batch until every order is answered for good, or the retry budget is spent."""
        start, attempt, last = time.monotonic(), 0, None
        pending = list(batch)
        while pending:
            attempt += 1
            held: list[OrderRequest] = []
            if not self.venue.caps.ids_unique_after_final:
                pending, held, why = self._look_before_sending(pending, rep)
                last = VenueError(why) if why else last
            if pending:
                with self._sent_lock:
                    fresh = {o.cl_ord_id for o in pending} - self.sent
                    self.sent |= fresh
                try:
                    acks = self.venue.place_batch(pending, self.pos_mode)
                except VenueError as e:
                    last = e
                    if e.ambiguous:
                        pending = self._unresolved_after_ambiguous(pending, rep)
                    elif not e.retryable:
                        for o in pending:
                            self._reject(o, Ack(o.cl_ord_id, "", e.kind, e.code, str(e)), rep)
                        pending = []
                else:
                    pending, refusal = self._apply_acks(pending, acks, rep, fresh)
                    if pending:
                        last = VenueError(f"{len(pending)} order(s) refused for now: {refusal}")
            pending += held
            if pending:
                pending = self._wait(pending, last, attempt, start, rep)

    def _wait(self, pending: list[OrderRequest], last: Exception | None, attempt: int, start: float,
              rep: ExecReport) -> list[OrderRequest]:
        """Back off before the next attempt; past the budget, give up on ``pending`` (returns [])."""
        policy = self.policy.retry
        delay = policy.delay(attempt)
        if attempt >= policy.attempts or time.monotonic() - start + delay > policy.budget_s:
            self._give_up(pending, last, attempt, rep)
            return []
        log.warning("placing %d order(s): %s; retry %d in %.2fs", len(pending), last, attempt, delay)
        time.sleep(delay)
        return pending

    def _look_before_sending(self, orders: list[OrderRequest],
                             rep: ExecReport) -> tuple[list[OrderRequest], list[OrderRequest], str]:
        """On a venue that accepts a filled order's client id again: every id about to go out for the
        first time is looked up, and one the exchange knows is handled as a duplicate answer (the next
        attempt's id is looked up in turn). Returns (orders to send, orders whose lookup failed: not
        sent now, and why)."""
        send, held, why = [], [], ""
        todo = list(orders)
        while todo:
            with self._sent_lock:
                unseen = [o for o in todo if o.cl_ord_id not in self.sent and o.cl_ord_id not in self.absent]
            send += [o for o in todo if o not in unseen]
            if not unseen:
                break
            with ThreadPoolExecutor(min(self.policy.workers, len(unseen))) as pool:
                answers = list(pool.map(self.lookup, unseen))
            todo, updates, t = [], [], time.monotonic()
            for o, st in zip(unseen, answers, strict=True):
                if st is None:
                    self.absent.add(o.cl_ord_id)
                    send.append(o)
                elif isinstance(st, VenueError):
                    held.append(o)
                    why = f"looking {o.cl_ord_id} up before sending it: {st}"
                else:
                    nxt = self._on_duplicate(o, st, True, rep, t, updates)
                    if nxt is not None:
                        todo.append(nxt)
            self.ledger.update_orders(updates)
        return send, held, why

    def _on_duplicate(self, o: OrderRequest, st: OrderStatus, before: bool, rep: ExecReport, t: float,
                      updates: list) -> OrderRequest | None:
        """The exchange has an order under ``o``'s id: adopt it if it is ``o`` (``before``: this run had
        not sent it, so it was placed before this run), else the next attempt's order (None: none left)."""
        cl = o.cl_ord_id
        if same_order(o, st, self.bar_ts):
            rep.acks[cl] = Ack(cl, st.ord_id, Kind.ACCEPTED, "", "adopted")
            rep.ack_times[cl] = t
            msg = {"msg": "adopted: placed before this run"} if before else {}
            updates.append((cl, {**status_to_changes(st), **msg}))
            if before:
                rep.earlier.append(cl)
                self.not_ours.add(cl)
            return None
        nxt = self._next_attempt(o, st, rep)
        updates.append((cl, {"state": "rejected", "code": Kind.DUPLICATE_CLIENT_ID.value, "msg": (
            f"client id taken by another order ({st.inst_id} {st.side} {st.sz:g}); "
            + (f"sent as attempt {nxt.attempt}" if nxt else "no attempt left"))}))
        if nxt is None:
            self._reject(o, Ack(cl, "", Kind.DUPLICATE_CLIENT_ID, "", "client id taken, no attempt left"), rep,
                         record=False)
        return nxt

    def _apply_acks(self, sent: list[OrderRequest], acks: list[Ack], rep: ExecReport,
                    fresh: set[str]) -> tuple[list[OrderRequest], str]:
        """Record per-order answers; returns the orders to send again (refused before processing) and why.

        ``fresh``: the client ids this request carried for the first time (a duplicate among them
        was placed before this run).
        """
        retry, updates, refusal = [], [], ""
        by_cl = {o.cl_ord_id: o for o in sent}
        t = time.monotonic()
        for a in acks:
            o = by_cl[a.cl_ord_id]
            if a.ok:
                rep.acks[a.cl_ord_id] = a
                rep.ack_times[a.cl_ord_id] = t
                updates.append((a.cl_ord_id, {"state": "live", "ord_id": a.ord_id, "code": Kind.ACCEPTED.value,
                                              "msg": ""}))
            elif a.kind == Kind.DUPLICATE_CLIENT_ID:
                st = self.lookup(o)
                if isinstance(st, OrderStatus):
                    nxt = self._on_duplicate(o, st, a.cl_ord_id in fresh, rep, t, updates)
                    if nxt is not None:
                        retry.append(nxt)
                        refusal = f"client id {a.cl_ord_id} taken by another order"
                else:
                    refusal = f"duplicate client id {a.cl_ord_id} not found"
                    retry.append(o)
            elif a.kind == Kind.WOULD_TAKE:  # a post-only order that would have taken: not an error, re-price
                rep.would_take.append(a.cl_ord_id)
                updates.append((a.cl_ord_id, {"state": "canceled", "code": a.kind.value, "msg": _raw(a)}))
            elif a.kind in RETRY_KINDS or a.kind == Kind.UNKNOWN_OUTCOME:
                refusal = f"{a.text}"
                retry.extend(self._unresolved_after_ambiguous([o], rep) if a.kind == Kind.UNKNOWN_OUTCOME else [o])
            else:
                self._reject(o, a, rep, record=False)
                updates.append((a.cl_ord_id, {"state": "rejected", "code": a.kind.value, "msg": _raw(a)}))
        self.ledger.update_orders(updates)
        return retry, refusal

    def _next_attempt(self, o: OrderRequest, taken: OrderStatus, rep: ExecReport) -> OrderRequest | None:
        """The same order under the next attempt's client id, recorded as an intent (None past the last attempt)."""
        if o.attempt >= MAX_ATTEMPTS:
            return None
        n = o.attempt + 1
        cl = cl_ord_id(self.account, self.bar_ts, o.inst_id, o.pos_side, o.leg, n, self.venue.caps.id_rule)
        nxt = replace(o, cl_ord_id=cl, attempt=n)
        self.ledger.add_orders([order_row(nxt, self.account, self.bar_ts, self.run_id)])
        rep.requests.pop(o.cl_ord_id, None)
        rep.requests[nxt.cl_ord_id] = nxt
        rep.taken.append(o.cl_ord_id)
        self.not_ours.add(o.cl_ord_id)
        self.ledger.event(self.account, self.run_id, "warning", "clordid_taken",
                          f"{o.cl_ord_id} is taken on the exchange by a different order ({taken.inst_id} {taken.side} "
                          f"{taken.sz:g}, {taken.state}); {o.inst_id} {o.side} {o.sz:g} sent as {nxt.cl_ord_id}")
        return nxt

    def _reject(self, o: OrderRequest, a: Ack, rep: ExecReport, record: bool = True) -> None:
        rep.rejected[o.cl_ord_id] = a
        if record:
            self.ledger.update_order(o.cl_ord_id, state="rejected", code=a.kind.value, msg=_raw(a))
        text = f"{o.inst_id} {o.side} {o.sz:g} rejected ({a.kind.value}): {self.venue.caps.name} {_raw(a)}".rstrip()
        self.ledger.event(self.account, self.run_id, "error", "rejected", text)
        self.alert("rejected", text)

    def _unresolved_after_ambiguous(self, orders: list[OrderRequest], rep: ExecReport) -> list[OrderRequest]:
        """After an unknown outcome: adopt what the exchange has, resend only what it does not."""
        resend = []
        for o in orders:
            st = self.lookup(o)
            if isinstance(st, OrderStatus) and not same_order(o, st, self.bar_ts):
                nxt = self._next_attempt(o, st, rep)  # the id was taken before: our request was refused
                self.ledger.update_order(o.cl_ord_id, state="rejected", code=Kind.DUPLICATE_CLIENT_ID.value,
                                         msg="client id taken by another order")
                if nxt is not None:
                    resend.append(nxt)
                else:
                    self._reject(o, Ack(o.cl_ord_id, "", Kind.DUPLICATE_CLIENT_ID, "", "client id taken, no attempt left"),
                                 rep)
            elif isinstance(st, OrderStatus):
                rep.acks[o.cl_ord_id] = Ack(o.cl_ord_id, st.ord_id, Kind.ACCEPTED, "", "found after an unanswered request")
                rep.ack_times[o.cl_ord_id] = time.monotonic()
                self.ledger.update_order(o.cl_ord_id, **status_to_changes(st))
            else:
                if st is None:
                    self.absent.add(o.cl_ord_id)
                resend.append(o)  # None: not there, safe to send; error: still unknown, retry later
        return resend

    def _give_up(self, pending: list[OrderRequest], last: Exception | None, attempts: int, rep: ExecReport) -> None:
        rows = [r for r in (self.ledger.order(o.cl_ord_id) for o in pending) if r is not None]
        states = self.resolve(rows)
        for cl, st in states.items():
            if st == "not_placed":
                rep.not_placed.append(cl)
            elif st == "unknown":
                rep.unknown.append(cl)
            else:
                rep.acks[cl] = Ack(cl, "", Kind.ACCEPTED, "", "found at give-up")
        msg = f"gave up placing {len(pending)} order(s) after {attempts} attempt(s): {last}"
        rep.errors.append(msg)
        self.ledger.event(self.account, self.run_id, "error", "place_failed", msg)

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
        run = [o for o in self.ledger.orders(self.account) if o.run_id == self.run_id]
        try:
            fills = self.venue.fills(since_ms, {o.inst_id for o in run} | {o.inst_id for o in rep.requests.values()})
        except (VenueError, LiveError) as e:
            rep.errors.append(f"fills: {e}")
            return
        mine = {o.cl_ord_id for o in run} - self.not_ours
        rep.new_fills = self.ledger.add_fills(self.account, [f.as_row() for f in fills if f.cl_ord_id in mine])
        self.ledger.add_fills(self.account, [f.as_row() for f in fills if f.cl_ord_id in self.not_ours])  # not this run's

def _raw(a: Ack) -> str:
    """The venue's own code and message of an answer (for the ledger's ``msg``)."""
    return " ".join(x for x in (a.code, a.msg) if x)
