"""The live run's record step: positions, equity and funding after trading, each strategy's
equity, and the run's verdict.

A base of :class:`~qlib_local.live.session.LiveSession`, on the state of
:class:`~qlib_local.live.trading.TradingSteps`. Kept apart because it is the step that judges
the run rather than trades: it says ``ok`` only when the exchange holds every target, except for
instruments the run names as not traded, and it attributes the account's equity (fees, funding,
price moves) to the strategies, per coin wallet for a COIN-M account of several coins.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pandas as pd

from qlib_local.live import guards
from qlib_local.live import wallets as W
from qlib_local.live.book import attribute_equity
from qlib_local.live.errors import LiveError
from qlib_local.live.funding import FUNDING_LOOKBACK_MS, record_funding
from qlib_local.live.trading import TradingSteps, step


class RecordStep(TradingSteps):
    """record: the after-trading snapshot, per-strategy equity and the verdict."""

    @step
    def record(self) -> None:
        """Positions and equity after trading, per-strategy equity; the run's verdict: ok only when
        the exchange holds every target, except for instruments the run names as not traded."""
        assert self.venue is not None and self.ledger is not None and self.result is not None and self.bar_ms is not None
        name, bar = self.acct.name, self.bar_ms
        with ThreadPoolExecutor(3) as pool:
            fb, fp = pool.submit(self._wallets), pool.submit(self.venue.positions)
            ff = pool.submit(self.venue.funding, bar - FUNDING_LOOKBACK_MS, ())
            fm = pool.submit(self.venue.mark_prices) if self.multi_coin else None
            self.wallets_after, self.positions_after = fb.result(), fp.result()
            bills = sorted(ff.result(), key=lambda b: (b.ts, b.bill_id))
            marks = fm.result() if fm is not None else self.mark_px
        self.balance_after = self._valued(self.wallets_after, marks)
        self.ledger.record_positions(name, bar, [(p.inst_id, p.pos_side, p.contracts, p.avg_px)
                                                 for p in self.positions_after], "after")
        self.ledger.record_equity(name, bar, "after", self.balance_after.total_eq, self.balance_after.avail_eq)
        self.funding_new = record_funding(self.ledger, name, bar, bills)
        self.strategy_equity = self._strategy_equity()
        if self.strategy_equity:
            self.ledger.record_strategy_equity(name, bar, self.strategy_equity)
        rep = self.report
        problems = []
        if rep is not None:
            problems += [f"{len(rep.rejected)} order(s) rejected"] if rep.rejected else []
            problems += [f"{len(rep.unknown)} order(s) with unknown outcome"] if rep.unknown else []
            problems += rep.errors
        if rep is not None and (rep.unknown or rep.not_placed or rep.errors):
            raise LiveError("; ".join(problems))
        self._name_rejected()
        gaps = guards.position_gaps(self.result.net.to_dict(), self.positions_after, self.acct.pos_mode,
                                    {i: sp.lot_sz for i, sp in self.specs.items()}, self.untraded)
        if gaps:
            raise LiveError(f"the exchange's positions miss the targets after {rep.rounds if rep else 0} round(s): "
                            + "; ".join(f"{i} holds {h:g}, target {t:g}" for i, (h, t) in gaps.items()))
        problems += [f"not traded: {i} ({why})" for i, why in sorted(self.untraded.items())]
        self.ledger.finish_run(self.run_id, "ok", "; ".join(problems) or None)
        self.status = "ok"

    def _strategy_equity(self) -> dict[str, float]:
        assert self.ledger is not None and self.result is not None and self.book is not None and self.bar_ms is not None
        prev = self.ledger.last_bar_state(self.acct.name, before=self.bar_ms)
        sids = self.book.model.strategies
        if self.multi_coin:  # each strategy's part of every coin wallet, valued at the marks
            return W.strategy_equity_usd(self.ledger, self.acct.name, self.bar_ms, prev, self.book.model, self.result,
                                         self.wallets_before, self._fees_paid, self.coin_usd)
        if prev is None:
            eq0 = self.balance_before.total_eq if self.balance_before else 0.0
            return {s: eq0 * self.book.cfg.strategy(s).position for s in sids}
        prev_eq = self.ledger.strategy_equity(self.acct.name, prev["bar_ts"])
        prev_equity = dict(zip(prev_eq["strategy"], prev_eq["equity"], strict=True))
        ct = pd.Series({i: self.book.specs[i].ct_val if i in self.book.specs else 1.0 for i in self.book.instruments})
        paid = self._fees_paid()
        inverse = pd.Series({i: self.book.specs[i].inverse if i in self.book.specs else False
                             for i in self.book.instruments})
        fund = self.ledger.strategy_funding(self.acct.name, self.bar_ms)
        funding = pd.Series(dict(zip(fund["strategy"], fund["amount"], strict=True)), dtype=float)
        return attribute_equity(prev_equity, prev["targets"], self.result.targets,
                                pd.Series(prev["prices"], dtype=float).reindex(self.book.instruments),
                                self.result.prices.reindex(self.book.instruments), ct, paid, inverse, funding)

    def _fees_paid(self) -> pd.Series:
        """Fees of this bar's orders per instrument (negative: paid), in each one's settlement currency."""
        assert self.ledger is not None
        fees = self.ledger.query(  # an order's fee, or its fills' where the venue's order carries none (Binance)
            "SELECT o.inst_id, SUM(CASE WHEN o.fee != 0 THEN o.fee ELSE COALESCE((SELECT SUM(f.fee) FROM fills f "
            "WHERE f.cl_ord_id = o.cl_ord_id AND f.account = o.account), 0) END) AS fee "
            "FROM orders o WHERE o.account=? AND o.bar_ts=? GROUP BY o.inst_id",
            (self.acct.name, self.bar_ms))
        return pd.Series(dict(zip(fees["inst_id"], -fees["fee"], strict=True)), dtype=float)
