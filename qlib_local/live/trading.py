"""The steps of a live run that move money: compute, plan, execute, record.

A mixin of :class:`~qlib_local.live.session.LiveSession` (which holds the plumbing: lock,
ledger, connection, clocks, data), kept apart because each of these steps applies a guard
from :mod:`qlib_local.live.guards`:

- ``compute`` checks each instrument's model price against the exchange's last and mark
  before the model's step; one outside its band is stepped as a stale one (no price, no
  intent), so the committed model state holds no target computed from a bad price;
- ``plan`` refuses opening orders over the account's size cap;
- ``execute`` adopts only the exchange's orders that are the ones planned, then trades what
  the exchange still does not hold, in bounded rounds under fresh attempt ids;
- ``record`` says ``ok`` only when the exchange holds every target, except for instruments
  the run names as not traded.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd

from qlib_local.ledger import Ledger
from qlib_local.live import guards
from qlib_local.live import wallets as W
from qlib_local.live.accounts import AccountConfig
from qlib_local.live.book import Book, StepResult, attribute_equity
from qlib_local.live.data import DataStatus
from qlib_local.live.errors import LiveError
from qlib_local.live.execution import ExecPolicy, ExecReport, Executor
from qlib_local.live.funding import FUNDING_LOOKBACK_MS, record_funding
from qlib_local.live.maker import ClockFactory, MakerFirst, VenueClock
from qlib_local.live.planning import Plan, Skip, plan_orders
from qlib_local.live.styles import group_orders, instrument_styles
from qlib_local.live.twap import run_twap
from qlib_local.live.types import Balance, PositionInfo
from qlib_local.live.venue import Venue
from qlib_local.research import ModelState
from qlib_local.specs import InstrumentSpec
from qlib_local.store import KlineStore
from qlib_local.timeframes import EXCHANGE_TIMEFRAMES, from_ms

MAX_ROUNDS = 3  # execute: the plan, then at most two more for what the exchange still does not hold


def step(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Skip after a skip; on failure record, notify and re-raise."""

    @functools.wraps(fn)
    def wrapper(self: Any, *a: Any, **kw: Any) -> Any:
        if self.status in ("skipped", "failed", "ok"):
            return None
        self.current = fn.__name__
        t0 = time.monotonic()
        try:
            return fn(self, *a, **kw)
        except BaseException as e:
            self.fail(e)
            raise
        finally:
            self.timings[fn.__name__] = time.monotonic() - t0

    return wrapper


class TradingSteps:
    """compute -> plan -> execute -> record; the state lives on the session (set in its ``__init__``)."""

    acct: AccountConfig
    run_id: str
    status: str
    store: KlineStore
    ledger: Ledger | None
    venue: Venue | None
    policy: ExecPolicy
    specs: dict[str, InstrumentSpec]
    book: Book | None
    bar_ms: int | None
    data: DataStatus | None
    result: StepResult | None
    balance_before: Balance | None
    positions_before: list[PositionInfo]
    plan_: Plan | None
    report: ExecReport | None
    positions_after: list[PositionInfo]
    balance_after: Balance | None
    strategy_equity: dict[str, float]
    wallets_before: dict[str, Balance]
    wallets_after: dict[str, Balance]
    coin_usd: dict[str, float]
    marks: dict[str, float]
    last_px: dict[str, float]
    mark_px: dict[str, float]
    price_checks: list[guards.PriceCheck]
    refusals: list[guards.Refusal]
    untraded: dict[str, str]
    funding_new: int
    order_style: dict[str, int]  # instrument -> index into the config's styles (research/styles.py's rule)
    exchange_clock: ClockFactory | None  # the maker style's clock (None: the venue's server time, slept for)
    event: Callable[[str, str, str], None]
    alert: Callable[[str, str], None]

    @property
    def settle_ccy(self) -> str:
        """The account's settlement currency: equity, sizing and funding are in it (the coin for
        inverse swaps). The one every traded instrument settles in (one per account, checked when
        the config loads and here); the venue's own when no instrument's spec is known yet; USD for
        a COIN-M account of several coins (a wallet per coin, valued at the coins' marks)."""
        if self.multi_coin:
            return W.USD
        insts = self.book.instruments if self.book is not None else []
        coins = sorted({self.specs[i].settle_ccy for i in insts if i in self.specs})
        if len(coins) > 1:
            raise LiveError(f"an account's strategies must trade instruments of one settlement currency; "
                            f"these settle in {', '.join(coins)}")
        return coins[0] if coins else ((self.venue.caps.settle_ccy if self.venue is not None else None) or "USDT")

    @property
    def multi_coin(self) -> bool:
        return self.book is not None and self.book.cfg.multi_coin

    def _wallets(self) -> dict[str, Balance]:
        """The balance of each wallet: each coin's of a multi-coin account, else the one."""
        assert self.venue is not None and self.book is not None
        if self.multi_coin:
            return W.fetch_wallets(self.venue, self.book.model.coins)
        ccy = self.settle_ccy
        return {ccy: self.venue.balance(ccy)}

    def _valued(self, wallets: dict[str, Balance], marks: dict[str, float]) -> Balance:
        """The account's balance: the one wallet's, or the wallets in USD at the coins' marks."""
        if not self.multi_coin:
            return next(iter(wallets.values()))
        assert self.book is not None
        self.coin_usd = W.coin_prices(self.book.model, marks, self.last_px)
        return W.usd_balance(wallets, self.coin_usd)

    def previous_state(self) -> tuple[ModelState, dict | None]:
        assert self.ledger is not None and self.book is not None and self.bar_ms is not None
        prev = self.ledger.last_bar_state(self.acct.name, before=self.bar_ms)
        if prev is None:
            return self.book.initial_state(), None
        st = ModelState.from_dict(prev["state"])
        if st.strategies != self.book.model.strategies or st.instruments != self.book.instruments:
            raise LiveError("the strategies config changed since the last run (strategies or instruments differ); "
                            "start a new ledger for the new config")
        return st, prev

    @step
    def compute(self) -> StepResult:
        """Equity, positions and prices from the exchange; the price check; then the model's step
        (reused if this bar was already committed). An instrument failing the price check is
        stepped exactly as a stale one (no price, no intent), so no target from a bad price is
        committed."""
        assert self.venue is not None and self.ledger is not None and self.book is not None and self.bar_ms is not None
        venue, book = self.venue, self.book
        name, bar = self.acct.name, self.bar_ms
        stale = dict(self.data.stale) if self.data else {}
        self.untraded.update(stale)
        committed = self.ledger.bar_state(name, bar)
        checked = [] if committed else [i for i in book.instruments if i in self.specs and i not in stale]
        with ThreadPoolExecutor(6) as pool:  # the exchange's answers and the store's reads, side by side
            fb, fp = pool.submit(self._wallets), pool.submit(venue.positions)
            fl, fm = pool.submit(venue.last_prices), pool.submit(venue.mark_prices)
            fr = pool.submit(self._typical_ranges, bar, checked)
            fx = pool.submit(book.prices, bar, set(stale)) if checked else None
            self.wallets_before, self.positions_before = fb.result(), fp.result()
            self.last_px, self.mark_px = fl.result(), fm.result()
            typical, model = fr.result(), (fx.result() if fx else None)
        self.balance_before = self._valued(self.wallets_before, self.mark_px)
        state, prev = self.previous_state()
        if committed is not None:  # a rerun of this bar: never re-size, never trade what the first run did not price
            st = ModelState.from_dict(committed["state"])
            targets = committed["targets"]
            self.result = StepResult(from_ms(bar), committed["due"], pd.Series(committed["prices"], dtype=float), {},
                                     st, targets, targets.sum(axis=0).round(10))
            for i in committed["stale"]:
                self.untraded.setdefault(i, "not priced when this bar was first computed (stale or price check)")
            self.event("info", "rerun", f"bar {from_ms(bar)} was already computed; reusing its targets")
            self.order_style = instrument_styles(state.hold, st.hold, book.instruments, book.cfg.style_of)
            return self.result
        equity = self.balance_before.total_eq
        self.ledger.record_equity(name, bar, "before", equity, self.balance_before.avail_eq)
        model_px = {i: float(model[i]) for i in checked} if model is not None else {}
        unpriced = set(stale) | self._check_prices(model_px, typical)
        self.result = r = book.step(state, bar, equity, unpriced)
        self.order_style = instrument_styles(state.hold, r.state.hold, book.instruments, book.cfg.style_of)
        prices = {k: float(v) for k, v in r.prices.items() if pd.notna(v)}
        self.ledger.commit_bar(name, bar, self.run_id, r.due, equity, prices, r.targets, r.state.to_dict(),
                               sorted(unpriced), r.tranche_rows())
        return r

    def _typical_ranges(self, bar: int, insts: list[str]) -> dict[str, float]:
        """Each instrument's typical base-bar range (fraction of price) over the bars before ``bar``."""
        assert self.book is not None
        book, n = self.book, self.acct.guards.band_bars
        start, end = from_ms(bar - n * EXCHANGE_TIMEFRAMES[book.base_tf]), from_ms(bar)

        def one(inst: str) -> float:
            df = self.store.read(book.cfg.exchange, inst, book.base_tf, start, end, columns=("high", "low", "close"))
            return guards.typical_range(df["high"].to_numpy(), df["low"].to_numpy(), df["close"].to_numpy())

        if not insts:
            return {}
        with ThreadPoolExecutor(min(8, len(insts))) as pool:
            return dict(zip(insts, pool.map(one, insts), strict=True))

    def _check_prices(self, model: dict[str, float], typical: dict[str, float]) -> set[str]:
        """The instruments whose model price is outside its band around the exchange's last and mark."""
        self.price_checks = guards.check_prices(model, self.last_px, self.mark_px, typical, self.acct.guards)
        bad = set()
        for c in self.price_checks:
            if not c.ok:
                text = f"{c.inst_id} not traded this bar: {c.reason}"
                self.event("error", "price_check", text)
                self.alert("price_check", text)
                self.untraded[c.inst_id] = c.reason
                bad.add(c.inst_id)
        return bad

    @step
    def plan(self) -> Plan:
        """Delta orders from the exchange's positions to the netted targets, within the size caps."""
        self.plan_ = self._plan_round(self.positions_before)
        return self.plan_

    def _plan_round(self, positions: list[PositionInfo]) -> Plan:
        """Orders from ``positions`` to the targets, skipping what the run does not trade; the
        caps refuse what is over them. New skips and refusals are named (event, alert)."""
        assert self.result is not None and self.ledger is not None and self.bar_ms is not None
        assert self.book is not None and self.balance_before is not None
        skip = dict(self.untraded)
        attempts: dict[tuple[str, str, str], int] = {}
        for o in self.ledger.orders(self.acct.name, bar_ts=self.bar_ms):
            key = (o.inst_id, o.pos_side, o.leg)
            if not o.final:
                skip[o.inst_id] = f"order {o.cl_ord_id} of this bar is still {o.state}"
            attempts[key] = max(attempts.get(key, 1), o.attempt + 1)
        targets = {i: float(v) for i, v in self.result.net.items()}
        assert self.venue is not None
        plan = plan_orders(self.acct.name, self.bar_ms, targets, positions, self.specs, self.acct.pos_mode,
                           self.acct.margin_mode, skip, attempts, self.acct.order_type, self.venue.caps.id_rule,
                           self.last_px)
        lev, tol = guards.allowed_leverage(self.book.cfg.strategies), self.acct.guards.size_tolerance
        ct_val = {i: sp.ct_val for i, sp in self.specs.items()}
        if self.multi_coin:  # each coin's wallet carries the swaps margined in it
            caps = {c: guards.exposure_cap(b.total_eq, self.acct.leverage, tol) for c, b in self.wallets_before.items()}
            coin_of = {i: self.specs[i].settle_ccy for i in self.book.instruments if i in self.specs}
            orders, refused = guards.cap_orders_by_wallet(plan.orders, positions, self.last_px, ct_val, caps, coin_of,
                                                          guards.exposure_cap(self.balance_before.total_eq, lev, tol))
        else:
            cap = guards.exposure_cap(self.balance_before.total_eq, lev, tol)
            orders, refused = guards.cap_orders(plan.orders, positions, self.last_px, ct_val, cap,
                                                {i for i, sp in self.specs.items() if sp.inverse}, self.settle_ccy)
        for r in refused:
            self.event("error", "refused_order", r.text)
            self.alert("refused_order", r.text)
            self.untraded.setdefault(r.order.inst_id, r.reason)
        self.refusals += refused
        plan = Plan(orders, plan.skipped + [Skip(r.order.inst_id, r.reason, r.order.sz) for r in refused])
        for sk in plan.skipped:
            if self.untraded.get(sk.inst_id) != sk.reason:
                self.event("warning", "skipped_order", f"{sk.inst_id}: {sk.reason}")
            self.untraded.setdefault(sk.inst_id, sk.reason)
        return plan

    def executor(self) -> Executor:
        assert self.venue is not None and self.ledger is not None
        return Executor(self.venue, self.ledger, self.acct.name, self.run_id, self.acct.pos_mode, self.policy,
                        alert=self.alert)

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
            clock = self.exchange_clock(self.venue) if self.exchange_clock else VenueClock(self.venue)
            maker = MakerFirst(ex, clock, next(iter(groups.maker)), {i: sp.lot_sz for i, sp in self.specs.items()})
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

    def _name_rejected(self) -> None:
        assert self.ledger is not None
        for cl, a in (self.report.rejected.items() if self.report else []):
            row = self.ledger.order(cl)
            if row is not None:
                self.untraded.setdefault(row.inst_id, f"order {cl} rejected: {a.text}")

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
