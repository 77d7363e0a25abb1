"""Funding settlement and liquidation: the money the exchange moves on its own, as its clock passes.

- **Funding**: at each funding time of an instrument (every ``funding_interval_h`` hours,
  epoch-aligned) every open position receives ``perp.funding_flow`` at the mark of that
  time and the store's rate for it, in the instrument's settlement currency, once per
  (account, instrument, funding time). No stored rate for a time: nothing settles.
- **Liquidation**, as the backtest judges it: each closed base bar at its adverse extreme
  (longs at the low, shorts at the high, all at once); when an account's equity in a
  currency is at or below its maintenance margin there, every position of that currency
  is closed at those prices paying the liquidation fee, equity below zero is absorbed
  (the insurance fund) and the currency's pending orders are canceled.

The engine (``matching.Engine.sync``) interleaves these with order fills in time order;
the functions here find the next event and apply it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from numba import njit

from qlib_local.perp import funding_flow, is_funding_time, maintenance_margin, pnl, unit_notional
from qlib_local.perp.margin import stack_tables
from qlib_local.sim.accounts import (
    BILL_FUNDING,
    BILL_LIQUIDATION,
    SUB_FUNDING_EXPENSE,
    SUB_FUNDING_INCOME,
    SUB_LIQ_TRANSFER_IN,
    Account,
    Fill,
    Order,
    Position,
    liquidation_sub_type,
)
from qlib_local.sim.market import MarketData
from qlib_local.store.funding import MAX_FUNDING_RATE

log = logging.getLogger(__name__)

# Events at the same millisecond happen in this order: the fills of resting orders by the
# bar closing then, the judgement of that bar, funding, then fills at the new bar's open.
PHASE_FILL, PHASE_LIQUIDATION, PHASE_FUNDING, PHASE_OPEN = 0, 1, 2, 3
Key = tuple[int, int]  # (time ms, phase)


# ------------------------------------------------------------------ funding
def next_funding(market: MarketData, accounts: Iterable[Account], after: Key, now: int) -> int | None:
    """The earliest funding time after ``after`` and at most ``now`` of an instrument someone holds."""
    t0, phase = after
    best = None
    for inst in {p.inst_id for a in accounts for p in a.open_positions()}:
        iv = market.spec(inst).funding_interval_ms
        t = t0 if phase < PHASE_FUNDING and is_funding_time(t0, iv) else (t0 // iv + 1) * iv
        if t <= now and (best is None or t < best):
            best = t
    return best


def settle_funding(market: MarketData, accounts: Iterable[Account], ts: int, next_id: Callable[[], str]) -> None:
    """Settle funding time ``ts`` on every open position whose instrument settles then, exactly once."""
    for acct in accounts:
        for inst in sorted({p.inst_id for p in acct.open_positions()}):
            spec = market.spec(inst)
            if not is_funding_time(ts, spec.funding_interval_ms) or acct.funded_to.get(inst, -1) >= ts:
                continue
            acct.funded_to[inst] = ts
            rate = market.funding_rate(inst, ts)
            if rate is None:
                continue
            mark = market.mark_price(inst, ts)
            if not (math.isfinite(rate) and abs(rate) <= MAX_FUNDING_RATE and math.isfinite(mark) and mark > 0):
                log.warning("local exchange: %s funding at %d not settled: rate %r, mark %r", inst, ts, rate, mark)
                continue
            for p in [p for p in acct.open_positions() if p.inst_id == inst]:
                flow = funding_flow(p.signed, mark, rate, spec.ct_val, spec.ct_type_code)
                if flow == 0.0:
                    continue
                p.funding_fee += flow
                sub = SUB_FUNDING_INCOME if flow > 0 else SUB_FUNDING_EXPENSE
                acct.book(next_id(), ts, spec.settle_ccy, BILL_FUNDING, sub, flow, inst_id=inst, pnl=flow,
                          sz=abs(p.pos), px=mark)


# ------------------------------------------------------------------ liquidation
@dataclass
class Breach:
    """An account's currency found at or below maintenance margin on the bar closing at ``ts``."""

    acct: Account
    ccy: str
    ts: int
    closes: list[tuple[Position, float]]  # every position of the currency and its adverse price


@njit(cache=True)
def first_breach(q, avg, ct, ct_type, adverse, cash, bounds, rates, cums) -> int:
    """Index of the first bar whose adverse prices put equity at or below maintenance margin; -1: none."""
    n, t_len = adverse.shape
    for t in range(t_len):
        eq = cash
        mm = 0.0
        for i in range(n):
            eq += pnl(q[i], avg[i], adverse[i, t], ct[i], ct_type[i])
            mm += maintenance_margin(q[i], adverse[i, t], ct[i], ct_type[i], bounds[i], rates[i], cums[i])
        if eq <= mm:
            return t
    return -1


def _adverse_path(market: MarketData, positions: list[Position], lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Close times of the base bars closing in [lo, hi] (any held instrument) and each position's
    adverse price at each: the low (long) or high (short) of its bar closing then, else its last close."""
    window = {}
    for inst in {p.inst_id for p in positions}:
        s = market.series(inst)
        i0 = max(int(np.searchsorted(s.ts, lo - s.base_ms, "left")) - 1, 0)  # one bar before: the last close
        i1 = int(np.searchsorted(s.ts, hi - s.base_ms, "right"))
        window[inst] = (s, i0, i1, s.ts[i0:i1] + s.base_ms)
    parts = [closes[closes >= lo] for _, _, _, closes in window.values()]
    times = np.unique(np.concatenate(parts)) if parts else np.empty(0, np.int64)
    adverse = np.empty((len(positions), len(times)))
    for k, p in enumerate(positions):
        s, i0, i1, closes = window[p.inst_id]
        idx = np.searchsorted(closes, times, "right") - 1
        safe = np.maximum(idx, 0) + i0
        exact = (idx >= 0) & (closes[np.maximum(idx, 0)] == times) if len(closes) else np.zeros(len(times), bool)
        adverse[k] = np.where(exact, (s.low if p.signed > 0 else s.high)[safe], s.close[safe])
        for j in np.flatnonzero(idx < 0):  # no bar of this instrument has closed by then: its last price
            adverse[k, j] = market.mark_price(p.inst_id, int(times[j]))
    return times, adverse


def find_breach(market: MarketData, acct: Account, ccy: str, after: Key, horizon: int) -> Breach | None:
    """The first bar after ``after`` and closing by ``horizon`` that liquidates ``acct`` in ``ccy``."""
    positions = [p for p in acct.open_positions() if market.spec(p.inst_id).settle_ccy == ccy]
    if not positions:
        return None
    t0, phase = after
    lo = t0 if phase < PHASE_LIQUIDATION else t0 + 1
    if lo > horizon:
        return None
    times, adverse = _adverse_path(market, positions, lo, horizon)
    if not len(times):
        return None
    specs = [market.spec(p.inst_id) for p in positions]
    bounds, rates, cums = stack_tables([s.margin_table for s in specs])
    k = first_breach(np.array([p.signed for p in positions]), np.array([p.avg_px for p in positions]),
                     np.array([s.ct_val for s in specs]), np.array([s.ct_type_code for s in specs], np.int64),
                     adverse, acct.balances.get(ccy, 0.0), bounds, rates, cums)
    if k < 0:
        return None
    return Breach(acct, ccy, int(times[k]), [(p, float(adverse[i, k])) for i, p in enumerate(positions)])


def liquidate(market: MarketData, b: Breach, next_id: Callable[[], str]) -> None:
    """Close every position of the breached currency at its adverse price with the liquidation
    fee, absorb equity below zero, cancel the currency's pending orders."""
    acct, ccy, ts = b.acct, b.ccy, b.ts
    for p, px in b.closes:
        spec = market.spec(p.inst_id)
        q, qty = p.signed, abs(p.pos)
        realized = pnl(q, p.avg_px, px, spec.ct_val, spec.ct_type_code)
        penalty = spec.liq_fee * qty * unit_notional(px, spec.ct_val, spec.ct_type_code)
        side, sub = ("sell" if q > 0 else "buy"), liquidation_sub_type(q, p.pos_side)
        order = Order(
            ord_id=next_id(), cl_ord_id="", tag="", inst_id=p.inst_id, side=side, pos_side=p.pos_side,
            ord_type="market", td_mode="cross", sz=qty, px=None, reduce_only=True, lever=acct.lever(p.inst_id),
            c_time=ts, u_time=ts, state="filled", acc_fill_sz=qty, avg_px=px, fill_px=px, fill_sz=qty,
            fill_time=ts, fee=-penalty, pnl=realized, checked_to=ts, category="full_liquidation", ccy=ccy,
        )
        acct.orders[order.ord_id] = order
        trade_id, bill_id = next_id(), next_id()
        acct.fills.append(Fill(trade_id, bill_id, order.ord_id, "", "", p.inst_id, side, p.pos_side, px, qty,
                               -penalty, realized, "T", ts, sub, ccy))
        acct.book(bill_id, ts, ccy, BILL_LIQUIDATION, sub, realized - penalty, inst_id=p.inst_id, pnl=realized,
                  fee=-penalty, sz=qty, px=px, ord_id=order.ord_id, trade_id=trade_id, exec_type="T")
        p.realized_pnl += realized
        p.liq_penalty -= penalty
        p.pos, p.u_time = 0.0, ts
    shortfall = -acct.balances.get(ccy, 0.0)
    if shortfall > 0:  # the loss beyond the account is not the trader's
        acct.book(next_id(), ts, ccy, BILL_LIQUIDATION, SUB_LIQ_TRANSFER_IN, shortfall)
        acct.balances[ccy] = 0.0
    for o in acct.pending():
        if o.ccy == ccy:
            o.state, o.u_time, o.frozen = "canceled", ts, 0.0
    log.warning("local exchange: account %s liquidated in %s on the bar closing at %d (%d position(s))",
                acct.name, ccy, ts, len(b.closes))
