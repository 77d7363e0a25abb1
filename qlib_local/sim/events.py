"""The clock's own events, in time order: a resting order's fill, a funding settlement, a liquidation.

Kept apart from matching, which places and cancels orders when a request asks: these happen
because the simulated clock passed them, and ``Engine.sync`` applies them one at a time, the
earliest first (at one time: fills, then liquidations, then funding; ``settlement.PHASE_*``),
each seeing what the ones before it did to the accounts. A resting limit order
fills at its price (maker) when a base bar that opened after it was placed trades through it
by a tick (``BookModel.through``), at most one level's depth per bar.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import numpy as np

from qlib_local.sim import settlement
from qlib_local.sim.accounts import Account, Order
from qlib_local.sim.book import BookModel
from qlib_local.sim.market import MarketData
from qlib_local.sim.settlement import PHASE_FILL, PHASE_FUNDING, PHASE_LIQUIDATION, PHASE_OPEN, Key

RestFill = Callable[[Account, Order, float, int], None]  # (account, order, contracts, fill time)


def next_event(market: MarketData, book: BookModel, accounts: Collection[Account], cursor: Key, now: int,
               rest_fill: RestFill, next_id: Callable[[], str]) -> tuple[Key, Callable[[], None]] | None:
    """The earliest pending event after ``cursor`` up to ``now`` and how to apply it."""
    best: tuple[Key, Callable[[], None]] | None = None
    for acct in accounts:
        for order in acct.pending():
            if order.px is not None and order.checked_to <= now:
                hit = resting_hit(market, book, order, now)
                if hit is not None and (best is None or hit[0] < best[0]):
                    key, fill_ts, qty = hit
                    best = key, (lambda a=acct, o=order, t=fill_ts, q=qty: rest_fill(a, o, q, t))
    funding = settlement.next_funding(market, accounts, cursor, now)
    if funding is not None and (best is None or (funding, PHASE_FUNDING) < best[0]):
        best = (funding, PHASE_FUNDING), (lambda t=funding: settlement.settle_funding(market, accounts, t, next_id))
    horizon = now if best is None else min(now, best[0][0])
    for acct in accounts:
        for ccy in {market.spec(p.inst_id).settle_ccy for p in acct.open_positions()}:
            b = settlement.find_breach(market, acct, ccy, cursor, horizon)
            if b is not None and (best is None or (b.ts, PHASE_LIQUIDATION) < best[0]):
                horizon = b.ts
                best = (b.ts, PHASE_LIQUIDATION), (lambda br=b: settlement.liquidate(market, br, next_id))
    return best


def resting_hit(market: MarketData, book: BookModel, order: Order, now: int) -> tuple[Key, int, float] | None:
    """When and how much of a resting limit order fills, if by ``now``: (event key, fill
    time, contracts).

    The first base bar trading through the price (``BookModel.through``) fills at most one
    level's depth of it at the bar's close (stamped with the bar's open, as before); the
    forming bar's open through the price fills it at that open, with the last closed bar's depth."""
    px = order.px
    assert px is not None
    s = market.series(order.inst_id)
    tick = market.spec(order.inst_id).tick_sz
    left = order.sz - order.acc_fill_sz
    ts, hi, lo = market.closed_bars(order.inst_id, order.checked_to, now)
    idx = book.through(order.side, px, tick, hi, lo).nonzero()[0]
    if len(idx):
        t = int(ts[idx[0]])
        i = int(s.ts.searchsorted(t, "left"))
        return (t + s.base_ms, PHASE_FILL), t, min(left, book.bar_depth(market, order.inst_id, i))
    checked = int(ts[-1]) + s.base_ms if len(ts) else order.checked_to
    last = market.price(order.inst_id, now)
    j = int(s.ts.searchsorted(now, "right")) - 1
    if j >= 0 and s.ts[j] >= checked and last is not None and book.through(
            order.side, px, tick, np.array([last]), np.array([last]))[0]:
        return (int(s.ts[j]), PHASE_OPEN), int(s.ts[j]), min(left, book.bar_depth(
            market, order.inst_id, j - 1))
    return None
