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
Asking about orders already sent (lookup, resolve, poll, fills) is the base class's,
:class:`~qlib_local.live.tracking.OrderTracker`; the policy and report types are
:mod:`qlib_local.live.exec_types`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from qlib_local.ledger import Ledger
from qlib_local.live.clordid import MAX_ATTEMPTS, cl_ord_id
from qlib_local.live.errors import VenueError
from qlib_local.live.exec_types import ExecPolicy, ExecReport, order_row, status_to_changes
from qlib_local.live.guards import same_order
from qlib_local.live.tracking import OrderTracker
from qlib_local.live.types import RETRY_KINDS, Ack, Kind, OrderRequest, OrderStatus
from qlib_local.live.venue import Venue

log = logging.getLogger(__name__)


class Executor(OrderTracker):
    """Sends one bar's orders for one account and records everything in the ledger."""

    def __init__(self, venue: Venue, ledger: Ledger, account: str, run_id: str, pos_mode: str,
                 policy: ExecPolicy | None = None, alert: Callable[[str, str], None] | None = None):
        super().__init__(venue, ledger, account, run_id, policy, alert)
        self.pos_mode = pos_mode
        self.sent: set[str] = set()  # clOrdIds this executor has put in a request
        self.absent: set[str] = set()  # ids the exchange said it does not know (looked up before sending)
        self._sent_lock = threading.Lock()
        self.bar_ts = 0

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


def _raw(a: Ack) -> str:
    """The venue's own code and message of an answer (for the ledger's ``msg``)."""
    return " ".join(x for x in (a.code, a.msg) if x)
