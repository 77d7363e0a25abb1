"""The steps of a live run that decide what to trade: compute and plan, and the state every
trading step shares.

:class:`TradingSteps` is the base of :class:`~qlib_local.live.session.LiveSession` (which holds
the plumbing: lock, ledger, connection, clocks, data); the steps that send orders and judge the
run are its subclasses :class:`~qlib_local.live.rounds.ExecuteStep` and
:class:`~qlib_local.live.record.RecordStep`. Each step applies a guard from
:mod:`qlib_local.live.guards`:

- ``compute`` checks each instrument's model price against the exchange's last and mark
  before the model's step; one outside its band is stepped as a stale one (no price, no
  intent), so the committed model state holds no target computed from a bad price;
- ``plan`` refuses opening orders over the account's size cap;
- ``execute`` (:mod:`qlib_local.live.rounds`) adopts only the exchange's orders that are the
  ones planned, then trades what the exchange still does not hold, in bounded rounds under
  fresh attempt ids;
- ``record`` (:mod:`qlib_local.live.record`) says ``ok`` only when the exchange holds every
  target, except for instruments the run names as not traded.
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
from qlib_local.live.book import Book, StepResult
from qlib_local.live.data import DataStatus
from qlib_local.live.errors import LiveError
from qlib_local.live.exec_types import ExecPolicy, ExecReport
from qlib_local.live.execution import Executor
from qlib_local.live.maker import ClockFactory, ExchangeClock, VenueClock
from qlib_local.live.planning import Plan, Skip, plan_orders
from qlib_local.live.styles import instrument_styles
from qlib_local.live.types import Balance, PositionInfo
from qlib_local.live.venue import Venue
from qlib_local.research import ModelState
from qlib_local.specs import InstrumentSpec
from qlib_local.store import KlineStore
from qlib_local.timeframes import EXCHANGE_TIMEFRAMES, from_ms


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
    """compute -> plan (execute, record: the subclasses); the state lives on the session (set in its ``__init__``)."""

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

    def style_clock(self) -> ExchangeClock:
        """The clock maker and twap orders wait on: the session's (a test's, moved by hand), else the
        venue's server time, slept for."""
        assert self.venue is not None
        return self.exchange_clock(self.venue) if self.exchange_clock else VenueClock(self.venue)

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
        """The idempotent order sender of this run (reconcile and execute both use it)."""
        assert self.venue is not None and self.ledger is not None
        return Executor(self.venue, self.ledger, self.acct.name, self.run_id, self.acct.pos_mode, self.policy,
                        alert=self.alert)

    def _name_rejected(self) -> None:
        """Name the instrument of each rejected order as not traded (no further round, no gap)."""
        assert self.ledger is not None
        for cl, a in (self.report.rejected.items() if self.report else []):
            row = self.ledger.order(cl)
            if row is not None:
                self.untraded.setdefault(row.inst_id, f"order {cl} rejected: {a.text}")
