"""The live run's execute step: the plan in its orders' styles, then bounded further rounds.

A base of :class:`~qlib_local.live.session.LiveSession`, on the state of
:class:`~qlib_local.live.trading.TradingSteps`. Kept apart from planning because this is the one
step that sends orders: it adopts only the exchange's orders that are the ones planned (see
:mod:`qlib_local.live.execution`), sends the market ones, then the ``maker_first`` and ``twap``
groups, and, while the exchange's positions (once they show the fills) still miss the targets,
plans and sends the remainder under fresh attempt ids, at most ``MAX_ROUNDS`` rounds in all.
"""

from __future__ import annotations

import time

from qlib_local.live import guards
from qlib_local.live.exec_types import ExecReport
from qlib_local.live.execution import Executor
from qlib_local.live.maker import MakerFirst
from qlib_local.live.styles import group_orders
from qlib_local.live.trading import TradingSteps, step
from qlib_local.live.twap import run_twap
from qlib_local.live.types import PositionInfo
from qlib_local.timeframes import EXCHANGE_TIMEFRAMES

MAX_ROUNDS = 3  # execute: the plan, then at most two more for what the exchange still does not hold


class ExecuteStep(TradingSteps):
    """execute: send, resolve, poll, record fills; then the further rounds."""

    @step
    def execute(self) -> ExecReport:
        """Send, resolve, poll, record fills (see :mod:`qlib_local.live.execution`); then, while the
        exchange's positions (once they show this round's fills) still miss targets, plan and send
        the remainder under fresh attempt ids, at most ``MAX_ROUNDS`` rounds in all."""
        assert self.plan_ is not None and self.bar_ms is not None and self.venue is not None
        self.marks["send"] = time.monotonic()
        ex, bar, since = self.executor(), self.bar_ms, self.bar_ms - 60_000
        self.report = rep = self._first_round(ex, bar, since)
        if rep.ack_times:
            self.marks["all_acked"] = max(rep.ack_times.values())
        basis, last = self.positions_before, rep
        for n in range(2, MAX_ROUNDS + 1):
            if not rep.ok or not last.requests:
                break
            self._name_rejected()
            positions = self._positions_showing(basis, last)
            if positions is None:
                break
            plan = self._plan_round(positions)
            if not plan.orders:
                break
            self.event("warning", "another_round", f"round {n}: the exchange's positions still miss the targets; "
                                                   f"sending {len(plan.orders)} more order(s)")
            basis, last = positions, ex.execute(bar, plan.orders, since)
            rep.merge(last)
        if rep.earlier:
            text = (f"{len(rep.earlier)} order(s) of this bar were placed before this run (a lost or fresh ledger?): "
                    "adopted, their fills not counted as this run's")
            self.event("warning", "adopted_earlier", text)
            self.alert("adopted_earlier", text)
        return rep

    def _first_round(self, ex: Executor, bar: int, since: int) -> ExecReport:
        """The plan in its orders' styles (each instrument's by :mod:`qlib_local.live.styles`): the
        market ones at once, then the maker_first ones together, each on its own policy; any further
        round is market: it only completes what the exchange still does not hold."""
        assert self.plan_ is not None and self.book is not None and self.venue is not None
        groups = group_orders(self.plan_.orders, self.order_style, self.book.cfg.styles,
                              EXCHANGE_TIMEFRAMES[self.book.base_tf])
        rep = ex.execute(bar, groups.market, since)
        if groups.maker:
            maker = MakerFirst(ex, self.style_clock(), next(iter(groups.maker)), {i: sp.lot_sz for i, sp in self.specs.items()})
            rep.merge(maker.execute(bar, [o for os in groups.maker.values() for o in os], since,
                                    {o.cl_ord_id: p for p, os in groups.maker.items() for o in os}))
            for inst, sz in sorted(maker.left.items()):
                why = f"{sz:g} contracts left unfilled at the maker deadline (fallback: leave)"
                self.event("warning", "maker_left", f"{inst}: {why}")
                self.untraded.setdefault(inst, why)
        for twap_policy, orders in groups.twap.items():
            rep.merge(run_twap(self, ex, bar, since, twap_policy, orders))
        rep.rounds = min(rep.rounds, 1)
        return rep

    def _positions_showing(self, basis: list[PositionInfo], rep: ExecReport) -> list[PositionInfo] | None:
        """The exchange's positions once they include ``rep``'s fills (None if they do not within ~2 s:
        planning on positions that lag the fills would trade twice)."""
        assert self.venue is not None
        want = guards.expected_positions(basis, [st for cl, st in rep.statuses.items() if cl not in rep.earlier])
        lots = {i: sp.lot_sz for i, sp in self.specs.items()}
        for _ in range(10):
            positions = self.venue.positions()
            if guards.same_positions(want, positions, lots):
                return positions
            time.sleep(0.2)
        self.event("error", "positions_lag", "the exchange's positions do not show this run's fills; no further round")
        return None
