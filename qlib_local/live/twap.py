"""The ``twap`` order style: a large planned order cut into slices released over a window.

A planned order (the *parent*) of at least ``twap_min_notional`` (quote currency at the
exchange's last price) is carried out as ``twap_slices`` slices; slice ``k`` is released at
``bar close + k x window / slices`` on the EXCHANGE's clock (:class:`~qlib_local.live.maker.ExchangeClock`),
sized so that the parent has ``(k + 1) / slices`` of its contracts after it (lots rounded down,
the last slice the rest: a slice that filled short is made up by the next). A slice is one
``market`` child, or ``maker_first`` children (post-only at the best price, re-priced every
``reprice_s``) resting at most until the next slice's time, then the fallback (market, or
``leave``: the rest moves to the next slice; after the last one it is left and named).
A smaller parent goes as one order of the slice style (market: the parent itself; maker_first:
a ``maker_first`` parent with the full maker deadline).

Idempotence, as :mod:`qlib_local.live.maker`: the parent is in the ledger (``ord_type`` twap,
state ``working``) before any child; child ``r`` of slice ``k`` has the id
:func:`slice_child_id` = ``child_id(parent, 36 k + r)``: the parent's id, the slice and the
round in one base-36 digit each, and ``m``/``t`` (so ``twap_slices`` <= 36; a maker slice
re-prices at most 34 times, its last round kept for the fallback). Every child goes through
the execution engine (in the ledger before it is sent, an unanswered request looked up by id).
A killed run leaves its parent ``working``: reconcile cancels a resting child, closes the parent
as interrupted with what its children filled, and the re-run plans the rest from the exchange's
positions (which hold every child's fills) as the next attempt. That parent RESUMES the schedule:
the slices after the last one any earlier parent of this bar and leg released (read from the
children's ids), at their original times, the rest spread over them; past the window, one slice
at once. No child is sent twice and the parent never trades more than the target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from qlib_local.live.clordid import CHILD_LENGTH, LENGTH, child_id
from qlib_local.live.exec_types import ExecReport, order_row
from qlib_local.live.execution import Executor
from qlib_local.live.maker import PARENT_TYPE as MAKER_PARENT
from qlib_local.live.maker import ExchangeClock, MakerFirst, MakerPolicy, Work, maker_policy
from qlib_local.live.types import OrderRequest
from qlib_local.research.execution import Execution
from qlib_local.specs import InstrumentSpec

if TYPE_CHECKING:
    from qlib_local.live.trading import TradingSteps

PARENT_TYPE = "twap"  # the ledger's ord_type of a twap parent row (never sent itself)
PARENT_TYPES = (MAKER_PARENT, PARENT_TYPE)
PER_SLICE = 36  # child rounds per slice: one base-36 digit


def slice_child_id(parent: str, k: int, r: int, kind: str, rule=None) -> str:
    """The id of round ``r`` of slice ``k`` of ``parent`` (``kind`` maker or taker)."""
    if not (0 <= k < PER_SLICE and 0 <= r < PER_SLICE):
        raise ValueError(f"slice {k} round {r}: each must be 0..{PER_SLICE - 1}")
    return child_id(parent, k * PER_SLICE + r, kind, rule)


def slice_of(cl: str) -> int | None:
    """The slice a twap child's id names (None for a parent's id)."""
    return int(cl[LENGTH], 36) if len(cl) == CHILD_LENGTH else None


def slice_times(bar_ms: int, slices: int, window_ms: int) -> list[int]:
    """When each slice is released: ``k x window / slices`` after the bar's close (whole ms)."""
    return [bar_ms + k * window_ms // slices for k in range(slices)]


def cumulative(sz: float, n: int, lot: float) -> list[float]:
    """Contracts done after each of ``n`` slices: ``(j + 1) / n`` of ``sz`` in whole lots, the last ``sz``."""
    out = [round(math.floor(sz * (j + 1) / n / lot + 1e-9) * lot, 12) for j in range(n - 1)]
    return [*out, sz]


@dataclass(frozen=True)
class TwapPolicy:
    slices: int
    window_ms: int
    min_notional: float
    slice_style: str  # market | maker_first
    maker: MakerPolicy  # maker_first slices: reprice_ms, deadline_ms (capped at the next slice), fallback


@dataclass
class Slice(Work):
    """One maker slice in progress (``parent``: the slice's own size under the parent's id)."""

    k: int = 0
    last: bool = True
    job: Job | None = None


@dataclass
class Job:
    """One parent: the slices it still has to release, when, and the contracts done after each."""

    parent: OrderRequest
    slices: list[int]
    times: list[int]
    targets: list[float]
    lot: float
    min_sz: float
    filled: float = 0.0
    released: int = 0  # how many of ``slices`` went out
    children: int = 0
    dead: bool = False  # a child was rejected or its outcome is unknown: no further slice
    busy: bool = False
    resumes: list[str] = field(default_factory=list)
    after: Job | None = None  # the close leg of the same position (a flip): its share goes first
    twin: Job | None = None  # (a close leg) the opening leg after it

    @property
    def pending(self) -> bool:
        return not self.dead and self.released < len(self.slices)

    def due_size(self) -> float:
        """Contracts the next slice sends: what the parent should have after it, less what it has."""
        want = self.targets[self.released] - self.filled
        return round(math.floor(want / self.lot + 1e-6) * self.lot, 12) if want > 0 else 0.0


class Twap(MakerFirst):
    """Carries out one bar's parents as twap slices (market or maker_first), on the exchange's clock."""

    def __init__(self, ex: Executor, clock: ExchangeClock, policy: TwapPolicy, specs: dict[str, InstrumentSpec],
                 prices: dict[str, float]):
        super().__init__(ex, clock, policy.maker, {i: sp.lot_sz for i, sp in specs.items()})
        self.tw, self.specs, self.prices = policy, specs, prices
        self.bar = 0

    def quote_notional(self, p: OrderRequest) -> float:
        """The order's notional in the quote currency at the exchange's last price (inverse: USD)."""
        sp = self.specs.get(p.inst_id)
        px = self.prices.get(p.inst_id, math.nan)
        if sp is None:
            return math.nan
        return p.sz * sp.ct_val * (1.0 if sp.inverse else px)

    def execute(self, bar_ts: int, parents: list[OrderRequest], since_ms: int) -> ExecReport:
        ex, rep = self.ex, ExecReport(rounds=1)
        if not parents:
            return rep
        ex.bar_ts = self.bar = bar_ts
        now = self.clock.now_ms()
        big = [p for p in parents if not self.quote_notional(p) < self.tw.min_notional]  # unknown price: sliced
        small = [p for p in parents if p not in big]
        jobs = [self._job(p, bar_ts, now) for p in big]
        legs = {(j.parent.inst_id, j.parent.pos_side, j.parent.leg): j for j in jobs}
        for (inst, pos_side, leg), j in legs.items():
            if leg == "open" and (c := legs.get((inst, pos_side, "close"))) is not None:
                self._chain(c, j)
        one = self.tw.slice_style == "maker_first"
        ex.ledger.add_orders([replace(order_row(j.parent, ex.account, bar_ts, ex.run_id), ord_type=PARENT_TYPE,
                                      state="working", msg=self._plan_text(j)) for j in jobs]
                             + [replace(order_row(p, ex.account, bar_ts, ex.run_id), ord_type=MAKER_PARENT,
                                        state="working") for p in (small if one else [])])
        if small and not one:  # under the threshold, market: the parent itself, as the market style sends it
            sub = ex.execute(bar_ts, small, since_ms)
            rep.merge(replace(sub, rounds=0))
        singles = [Slice(p, self.lots.get(p.inst_id, 1.0), policy=self.policy, deadline=now + self.policy.deadline_ms)
                   for p in small] if one else []
        self._run(jobs, list(singles), rep)
        self._finish_all(jobs, singles)
        ex.record_fills(since_ms, rep)
        return rep

    # ------------------------------------------------------------------ the schedule
    def _job(self, p: OrderRequest, bar_ts: int, now: int) -> Job:
        """The parent's slices: all of them, or after a killed run the ones after the last released."""
        n = self.tw.slices
        times = slice_times(bar_ts, n, self.tw.window_ms)
        rows = self.ex.ledger.orders(self.ex.account, bar_ts=bar_ts)
        earlier = {o.cl_ord_id for o in rows if o.ord_type == PARENT_TYPE and o.attempt < p.attempt
                   and (o.inst_id, o.pos_side, o.leg) == (p.inst_id, p.pos_side, p.leg)}
        started = [k for o in rows if o.parent in earlier and (k := slice_of(o.cl_ord_id)) is not None]
        first = max(started) + 1 if started else 0
        ks = list(range(first, n)) if first < n else [n - 1]  # past the last slice: one more, at once
        sp = self.specs.get(p.inst_id)
        lot, min_sz = (sp.lot_sz, sp.min_sz) if sp is not None else (1.0, 1.0)
        return Job(p, ks, [max(times[k], now) if first >= n else times[k] for k in ks],
                   cumulative(p.sz, len(ks), lot), lot, min_sz, resumes=sorted(earlier))

    @staticmethod
    def _chain(c: Job, o: Job) -> None:
        """A flip of one position (net mode): one schedule over both legs (the close's slices and times),
        the close's share first, so an opening slice never takes the position a reduce-only slice is about
        to close: in the slice where the position crosses zero the closing share goes at market, then the
        opening share; an opening share whose close is behind waits for the next slice."""
        o.slices, o.times = list(c.slices), list(c.times)
        total = cumulative(c.parent.sz + o.parent.sz, len(c.slices), c.lot)
        c.targets = [min(x, c.parent.sz) for x in total]
        o.targets = [round(max(0.0, x - c.parent.sz), 12) for x in total]
        o.after, c.twin = c, o

    def _plan_text(self, j: Job) -> str:
        head = f"twap: slices {j.slices[0]}..{j.slices[-1]} of {self.tw.slices}, {self.tw.slice_style}"
        return head + (f"; resumes {', '.join(j.resumes)}" if j.resumes else "")

    def _end_of(self, k: int) -> int:
        """Until when slice ``k`` may rest: the next slice's time (the window's end for the last)."""
        return self.bar + (k + 1) * self.tw.window_ms // self.tw.slices

    def _run(self, jobs: list[Job], active: list[Slice], rep: ExecReport) -> None:
        """Release each due slice, look at the resting makers every ``reprice_ms``, end each at its deadline."""
        while True:
            now = self.clock.now_ms()
            active += self._release([j for j in jobs if j.pending and not j.busy and j.times[j.released] <= now],
                                    now, rep)
            todo = [w for w in active if now < w.deadline and (w.job is None or w.round < PER_SLICE - 1)]
            if todo:
                self._place(todo, rep)
            wake = [j.times[j.released] for j in jobs if j.pending and not j.busy]
            wake += [w.deadline for w in active] + ([now + self.policy.reprice_ms] if active else [])
            if not wake:
                return
            self.clock.wait_until(max(min(wake), now))
            self._look(active, rep)
            now = self.clock.now_ms()
            done = [w for w in active if now >= w.deadline or w.remaining <= 0]
            if done:
                self._end(done, rep)
                active[:] = [w for w in active if w not in done]

    def _release(self, due: list[Job], now: int, rep: ExecReport) -> list[Slice]:
        """The due slice of each job, closing legs first: market children sent and polled at once (the
        closing legs' before the opening legs' are looked at), maker slices returned."""
        makers = []
        for leg in ("close", "open"):
            market = []
            for j in [j for j in due if j.parent.leg == leg]:
                k, sz = j.slices[j.released], j.due_size()
                j.released += 1
                after = j.after
                if after is not None and (after.dead or after.busy
                                          or after.filled < after.targets[j.released - 1] - j.lot / 2):
                    j.dead = after.dead
                    continue  # the close of this position is behind: this opening share waits for the next slice
                if sz < j.min_sz - 1e-12:
                    continue  # nothing (or less than the venue's minimum) due: the next slice makes it up
                twin = j.twin
                crossing = twin is not None and twin.targets[j.released - 1] > twin.filled + j.lot / 2
                if self.tw.slice_style == "market" or crossing:  # a flip's closing share goes at once
                    j.children += 1
                    market.append((j, replace(j.parent, cl_ord_id=slice_child_id(
                        j.parent.cl_ord_id, k, 0, "taker", self.ex.venue.caps.id_rule), sz=sz, px=None,
                        parent=j.parent.cl_ord_id, ord_type="market")))
                else:
                    j.busy = True
                    deadline = min(now + self.policy.deadline_ms, max(self._end_of(k), now))
                    makers.append(Slice(replace(j.parent, sz=sz), self.lots.get(j.parent.inst_id, 1.0),
                                        policy=self.policy, deadline=deadline, k=k, last=j.released == len(j.slices), job=j))
            self._send_market(market, rep)
        return makers

    def _send_market(self, market: list[tuple[Job, OrderRequest]], rep: ExecReport) -> None:
        if not market:
            return
        sub = ExecReport()
        orders = [o for _, o in market]
        self.ex.send(orders, sub)
        self.ex.poll([o for o in orders if o.cl_ord_id in sub.acks], sub)
        for j, o in market:
            st = sub.statuses.get(o.cl_ord_id)
            if st is not None and st.final:
                j.filled += st.acc_fill_sz
            else:
                j.dead = True  # rejected, not placed or unknown: the engine named it; no further slice
        rep.merge(sub)

    def _child(self, w: Work, kind: str, px: float | None) -> OrderRequest:
        if not isinstance(w, Slice) or w.job is None:
            return super()._child(w, kind, px)  # a parent under the threshold: maker_first's own ids
        cl = slice_child_id(w.parent.cl_ord_id, w.k, w.round, kind, self.ex.venue.caps.id_rule)
        w.round += 1
        w.job.children += 1
        return replace(w.parent, cl_ord_id=cl, sz=w.remaining, px=px, parent=w.parent.cl_ord_id,
                       ord_type="post_only" if kind == "maker" else "market")

    def _end(self, done: list[Slice], rep: ExecReport) -> None:
        """Deadline: cancel the resting makers; the fallback for a single or a last slice, or any slice
        under ``fallback: market``; an earlier slice under ``leave`` hands its rest to the next one."""
        self._cancel([w for w in done if w.child is not None], rep)
        carry = self.policy.fallback == "leave"
        self._fallback([w for w in done if w.job is None or w.last or not carry], rep)
        for w in done:
            if w.job is not None:
                w.job.filled += w.filled
                w.job.busy = False
                w.job.dead = w.job.dead or w.dead

    def _finish_all(self, jobs: list[Job], singles: list[Slice]) -> None:
        """Each parent row: filled when its children filled it, canceled otherwise."""
        updates = []
        for j in jobs:
            left = j.parent.sz - j.filled
            state = "filled" if left < j.lot / 2 else "canceled"
            updates.append((j.parent.cl_ord_id, {"state": state, "acc_fill_sz": round(j.filled, 12), "msg": (
                f"{self._plan_text(j)}: {j.released} slice(s) released, {j.children} child order(s)")}))
        self.ex.ledger.update_orders(updates)
        self._finish(singles)


def twap_policy(ex: Execution, base_ms: int) -> TwapPolicy:
    """The live twap policy of an ``execution`` block (``base_ms``: the base bar)."""
    return TwapPolicy(ex.twap_slices, ex.twap_window_bars * base_ms, ex.twap_min_notional, ex.twap_slice_style,
                      maker_policy(ex, base_ms))


def run_twap(s: TradingSteps, ex: Executor, bar: int, since: int, policy: TwapPolicy,
             orders: list[OrderRequest]) -> ExecReport:
    """One group of the plan in the twap style (``ExecuteStep._first_round``): slices on the exchange's
    clock; what a maker slice left (``fallback: leave``) is named as not traded."""
    twap = Twap(ex, s.style_clock(), policy, s.specs, dict(s.last_px))
    rep = twap.execute(bar, orders, since)
    for inst, sz in sorted(twap.left.items()):
        why = f"{sz:g} contracts left unfilled at the twap's last slice (fallback: leave)"
        s.event("warning", "twap_left", f"{inst}: {why}")
        s.untraded.setdefault(inst, why)
    return rep
