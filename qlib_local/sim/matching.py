"""Order matching and account bookkeeping: the exchange's domain core, free of HTTP.

Liquidity comes from the book model (``qlib_local.sim.book``): market orders walk it from
the last price plus a configurable slippage (taker), limit orders that cross take the levels
up to their price (taker) and rest the rest; a post-only order that would cross is canceled
(OKX cancelSource 31; the Binance front end rejects it first with -5022). A resting order
fills at its price (maker) when a later base bar trades through it, at most one level's depth
per bar. Only bars that opened after an order was placed can fill it. The default book (no
spread, unlimited depth) is the old model, except that a resting price must be traded
through by a tick, not merely touched.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from qlib_local.perp import pnl, unit_notional
from qlib_local.sim import settlement
from qlib_local.sim.accounts import (
    BILL_TRADE,
    LONG,
    LONG_SHORT_MODE,
    NET,
    NET_MODE,
    SHORT,
    Account,
    Fill,
    Order,
    Position,
    trade_sub_type,
)
from qlib_local.sim.book import BookModel
from qlib_local.sim.margin import (
    CcyBalance,
    average_entry,
    ccy_balance,
    currencies,
    order_margin,
    priced_ccys,
)
from qlib_local.sim.market import MAX_LMT_SZ, MAX_MKT_SZ, MarketData
from qlib_local.sim.params import CL_ORD_ID_RE, OrderRequest, order_request
from qlib_local.sim.protocol import OkxError, ParamError, is_multiple, num
from qlib_local.sim.settlement import PHASE_FILL, PHASE_FUNDING, PHASE_LIQUIDATION, PHASE_OPEN, Key

__all__ = ["CcyBalance", "Engine", "FeeModel", "ParamError"]
IMMEDIATE = {"fok", "ioc", "optimal_limit_ioc"}
CANCEL_POST_ONLY = "31"  # OKX cancelSource: the post-only order would have taken liquidity


@dataclass
class FeeModel:
    maker: float = 0.0002
    taker: float = 0.0005
    slippage_bps: float = 0.0

    def __post_init__(self) -> None:
        for name in ("maker", "taker", "slippage_bps"):
            v = getattr(self, name)
            if not (math.isfinite(v) and 0 <= v < (10_000 if name == "slippage_bps" else 1)):
                raise ValueError(f"{name} must be a finite fee rate in [0, 1) (slippage in [0, 10000) bps), got {v}")


class Engine:
    """All accounts and their orders; every public method is atomic under one lock.

    ``start`` is the simulated time the exchange opens at: funding and liquidation are
    judged from there on (a first ``sync`` sets it when not given).
    """

    def __init__(self, market: MarketData, fees: FeeModel | None = None, start: int | None = None,
                 book: BookModel | None = None):
        self.market = market
        self.fees = fees or FeeModel()
        self.book = book or BookModel()
        self.lock = threading.RLock()
        self.accounts: dict[str, Account] = {}  # by API key
        self._ids = itertools.count(1)
        self.cursor: Key | None = None if start is None else (start, PHASE_OPEN)  # events done up to here
        # Venue hooks (a protocol front end sets them): the client order id rule, and who pays
        # a trade's fee in which currency: (account, instrument, fee in settle ccy, ts) -> (ccy, amount).
        self.cl_ord_id_re = CL_ORD_ID_RE
        self.cl_ord_id_open_only = False  # Binance: a client id is refused again only while its order is open
        self.fee_payer: Callable[[Account, str, float, int], tuple[str, float]] | None = None

    def _next_id(self) -> str:
        return str(600_000_000_000_000_000 + next(self._ids))

    # ------------------------------------------------------------ accounts
    def add_account(self, account: Account) -> Account:
        with self.lock:
            if account.api_key in self.accounts:
                raise ValueError(f"API key {account.api_key!r} is already in use")
            if any(a.name == account.name for a in self.accounts.values()):
                raise ValueError(f"account {account.name!r} already exists")
            known = priced_ccys(self.market)
            for ccy, amount in account.balances.items():
                if ccy not in known:
                    raise ValueError(f"no instrument settles in {ccy!r} (known: {', '.join(sorted(known))})")
                if isinstance(amount, bool) or not isinstance(amount, int | float) or not (
                        math.isfinite(amount) and amount >= 0):
                    raise ValueError(f"{ccy} balance must be a finite number >= 0, got {amount!r}")
                account.balances[ccy] = float(amount)
            account.uid = account.uid or str(700_000_000_000_000 + len(self.accounts) + 1)
            self.accounts[account.api_key] = account
            return account

    def by_name(self, name: str) -> Account:
        for a in self.accounts.values():
            if a.name == name:
                return a
        raise KeyError(name)

    def mark(self, inst_id: str, now: int) -> float:
        """Mark price: what positions are valued and margined at."""
        if self.market.price(inst_id, now) is None:
            raise OkxError("51001")
        return self.market.mark_price(inst_id, now)

    def last(self, inst_id: str, now: int) -> float:
        """Last traded price: what orders fill at."""
        p = self.market.price(inst_id, now)
        if p is None:
            raise OkxError("51001")
        return p

    def balance(self, acct: Account, ccy: str, now: int) -> CcyBalance:
        with self.lock:
            return ccy_balance(self.market, acct, ccy, now)

    def balances(self, acct: Account, now: int) -> list[CcyBalance]:
        """Every currency the account holds or trades, USDT first."""
        with self.lock:
            return [ccy_balance(self.market, acct, c, now) for c in currencies(self.market, acct)]

    def set_leverage(self, acct: Account, inst_id: str, lever: float, now: int) -> None:
        with self.lock:
            spec = self.market.check(inst_id, now)
            if lever > spec.max_lever:
                raise OkxError("59102")
            if not 1 <= lever <= spec.max_lever:  # NaN fails this: it must never reach the margin math
                raise ParamError("51000", "lever")
            acct.leverage[inst_id] = lever

    def set_position_mode(self, acct: Account, mode: str) -> None:
        with self.lock:
            if mode not in (NET_MODE, LONG_SHORT_MODE):
                raise ParamError("51000", "posMode")
            if mode != acct.pos_mode and (acct.open_positions() or acct.pending()):
                raise OkxError("59000")
            acct.pos_mode = mode

    # ------------------------------------------------------------ orders
    def validate(self, acct: Account, req: Any) -> OrderRequest:
        """Parameter checks OKX answers at the top level (50002 / 50014 / 51000)."""
        return order_request(req, acct.pos_mode, self.cl_ord_id_re)

    def place(self, acct: Account, req: Any, now: int) -> Order:
        """Validate, check size, price and margin, then fill or rest one order (raises OkxError)."""
        with self.lock:
            o = self.validate(acct, req)
            spec = self.market.check(o.inst_id, now)
            if o.cl_ord_id and o.cl_ord_id in acct.cl_ord_ids and (not self.cl_ord_id_open_only or acct.orders[
                    acct.cl_ord_ids[o.cl_ord_id]].state in ("live", "partially_filled")):
                raise OkxError("51016")
            if o.priceless and o.sz > MAX_MKT_SZ:
                raise OkxError("51202")
            if not o.priceless and o.sz > MAX_LMT_SZ:
                raise OkxError("51203", num(MAX_LMT_SZ))
            if o.sz < spec.min_sz - 1e-12:
                raise OkxError("51020")
            if not is_multiple(o.sz, spec.lot_sz):
                raise OkxError("51121")
            if o.px is not None and not is_multiple(o.px, spec.tick_sz):
                raise OkxError("51000", "px")  # OKX answers an off-tick price per order
            side, sz, px = o.side, o.sz, o.px
            closing = self._closable(acct, o.inst_id, side, o.pos_side, o.reduce_only)
            if (o.reduce_only or closing is not None) and not closing:
                raise OkxError("51169")
            last = self.last(o.inst_id, now)
            est_px = px if px is not None else last
            opening = self._opening_qty(acct, o.inst_id, side, o.pos_side, sz, o.reduce_only)
            lever = acct.lever(o.inst_id)
            margin, fee = order_margin(self.market, o.inst_id, opening, sz, est_px, lever, self.fees.taker)
            if not margin + fee <= self.balance(acct, spec.settle_ccy, now).avail + 1e-9:  # also refuses a NaN need
                raise OkxError("51008")
            order = Order(
                ord_id=self._next_id(), cl_ord_id=o.cl_ord_id, tag=o.tag, inst_id=o.inst_id, side=side,
                pos_side=o.pos_side, ord_type=o.ord_type, td_mode=o.td_mode, sz=sz, px=px,
                reduce_only=o.reduce_only, lever=lever, c_time=now, u_time=now, checked_to=now,
                ccy=spec.settle_ccy,
            )
            acct.orders[order.ord_id] = order
            if o.cl_ord_id:
                acct.cl_ord_ids[o.cl_ord_id] = order.ord_id
            if px is None:
                slip = self.fees.slippage_bps / 1e4
                base = spec.round_price(last * (1 + slip if side == "buy" else 1 - slip))
                for level_px, level_sz in self.book.walk(self.market, o.inst_id, side, sz, base, now):
                    self._fill(acct, order, level_sz, level_px, "T", now)
                return order
            crosses = self.would_take(o.inst_id, side, px, now)
            if crosses and o.ord_type == "post_only":
                order.state, order.cancel_source = "canceled", CANCEL_POST_ONLY
                return order
            if crosses:
                for level_px, level_sz in self.book.walk(self.market, o.inst_id, side, sz, last, now):
                    if (side == "buy" and level_px > px) or (side == "sell" and level_px < px):
                        break
                    self._fill(acct, order, level_sz, level_px, "T", now)
                    if order.state not in ("live", "partially_filled"):
                        return order
            if o.ord_type in IMMEDIATE:
                order.state = "canceled"  # what did not fill at once (OKX: canceled, accFillSz kept)
            else:
                left = sz - order.acc_fill_sz
                opening = self._opening_qty(acct, o.inst_id, side, o.pos_side, left, o.reduce_only)
                order.frozen = order_margin(self.market, o.inst_id, opening, left, px, lever, 0.0)[0]
            return order

    def quote(self, inst_id: str, now: int) -> tuple[float, float]:
        """(best bid, best ask) a maker can rest at without taking: the book's, at least a tick
        from the last price (with no spread the book is the last price itself, which a resting
        order may not touch)."""
        spec, last = self.market.spec(inst_id), self.last(inst_id, now)
        h = max(spec.tick_sz, self.book.half_spread(self.market, inst_id, now))
        return max(spec.tick_sz, spec.round_price(last - h)), spec.round_price(last + h)

    def would_take(self, inst_id: str, side: str, px: float, now: int) -> bool:
        """Whether a limit at ``px`` crosses the book (meets the best ask for a buy, bid for a sell)."""
        best = self.book.best(self.market, inst_id, side, self.last(inst_id, now), now)
        return (side == "buy" and px >= best) or (side == "sell" and px <= best)

    def _closable(self, acct: Account, inst_id: str, side: str, pos_side: str, reduce_only: bool) -> float | None:
        """Contracts an order may close; None when the order opens (so needs no position)."""
        if pos_side == NET:
            if not reduce_only:
                return None
            p = acct.positions.get((inst_id, NET))
            held = p.pos if p else 0.0
            return abs(held) if (held > 0 and side == "sell") or (held < 0 and side == "buy") else 0.0
        closes = (pos_side == LONG and side == "sell") or (pos_side == SHORT and side == "buy")
        if not closes:
            return None if not reduce_only else 0.0
        p = acct.positions.get((inst_id, pos_side))
        return p.pos if p else 0.0

    def _opening_qty(self, acct: Account, inst_id: str, side: str, pos_side: str, sz: float,
                     reduce_only: bool) -> float:
        """The part of an order that adds exposure, which is what needs margin."""
        if reduce_only:
            return 0.0
        if pos_side == NET:
            p = acct.positions.get((inst_id, NET))
            held = p.pos if p else 0.0
            q = sz if side == "buy" else -sz
            return max(0.0, abs(held + q) - abs(held))
        closes = (pos_side == LONG and side == "sell") or (pos_side == SHORT and side == "buy")
        return 0.0 if closes else sz

    def _fill(self, acct: Account, order: Order, qty: float, px: float, exec_type: str, ts: int) -> None:
        spec = self.market.spec(order.inst_id)
        closable = self._closable(acct, order.inst_id, order.side, order.pos_side, order.reduce_only)
        if closable is not None:
            qty = min(qty, closable)
        if qty <= 0:
            order.state, order.u_time, order.frozen = "canceled", ts, 0.0
            return
        rate = self.fees.maker if exec_type == "M" else self.fees.taker
        fee = qty * unit_notional(px, spec.ct_val, spec.ct_type_code) * rate
        fee_ccy, fee_paid = spec.settle_ccy, fee
        if self.fee_payer is not None:
            fee_ccy, fee_paid = self.fee_payer(acct, order.inst_id, fee, ts)
        if fee_ccy != spec.settle_ccy:  # paid in another currency (Binance's BNB): none in the settle ccy
            fee = 0.0
        p, realized = self._apply_position(acct, order, qty, px, ts)
        p.fee -= fee
        order.avg_px = (order.avg_px * order.acc_fill_sz + px * qty) / (order.acc_fill_sz + qty)
        order.acc_fill_sz += qty
        order.fill_px, order.fill_sz, order.fill_time = px, qty, ts
        order.fee -= fee
        order.pnl += realized
        left_before = order.sz - order.acc_fill_sz + qty
        order.state = "filled" if order.acc_fill_sz >= order.sz - 1e-12 else "partially_filled"
        order.u_time = ts
        order.frozen = 0.0 if order.state == "filled" else order.frozen * (left_before - qty) / left_before
        trade_id, bill_id = self._next_id(), self._next_id()
        sub = trade_sub_type(order.side, order.pos_side)
        acct.book(bill_id, ts, spec.settle_ccy, BILL_TRADE, sub, realized - fee, inst_id=order.inst_id, pnl=realized,
                  fee=-fee, sz=qty, px=px, ord_id=order.ord_id, cl_ord_id=order.cl_ord_id, trade_id=trade_id,
                  exec_type=exec_type, tag=order.tag)
        if fee_ccy != spec.settle_ccy:
            acct.book(self._next_id(), ts, fee_ccy, BILL_TRADE, sub, -fee_paid, inst_id=order.inst_id,
                      fee=-fee_paid, ord_id=order.ord_id, cl_ord_id=order.cl_ord_id, trade_id=trade_id,
                      exec_type=exec_type, tag=order.tag)
        acct.fills.append(Fill(
            trade_id=trade_id, bill_id=bill_id, ord_id=order.ord_id, cl_ord_id=order.cl_ord_id,
            tag=order.tag, inst_id=order.inst_id, side=order.side, pos_side=order.pos_side,
            fill_px=px, fill_sz=qty, fee=-fee_paid, pnl=realized, exec_type=exec_type, ts=ts, sub_type=sub,
            ccy=fee_ccy,
        ))

    def _apply_position(self, acct: Account, order: Order, qty: float, px: float, ts: int) -> tuple[Position, float]:
        """Update the position; returns it and the realized PnL (average-cost accounting)."""
        spec = self.market.spec(order.inst_id)
        key = (order.inst_id, order.pos_side)
        p = acct.positions.get(key)
        if p is None:
            p = acct.positions[key] = Position(order.inst_id, order.pos_side, pos_id=self._next_id())
        if p.pos == 0:
            p.reopen(ts)
        if order.pos_side == NET:
            signed, q = p.pos, (qty if order.side == "buy" else -qty)
        else:
            opening = (order.pos_side == LONG) == (order.side == "buy")
            signed, q = p.pos, (qty if opening else -qty)
        realized = 0.0
        direction = -1.0 if order.pos_side == SHORT else 1.0
        if signed == 0 or (signed > 0) == (q > 0):
            p.avg_px = average_entry(p.avg_px, abs(signed), px, abs(q), spec.ct_val, spec.ct_type_code)
            p.pos = signed + q
        else:
            closed = min(abs(q), abs(signed)) * (1.0 if signed > 0 else -1.0) * direction
            realized = pnl(closed, p.avg_px, px, spec.ct_val, spec.ct_type_code)
            p.pos = signed + q
            if abs(p.pos) < 1e-12:
                p.pos = 0.0
            elif (p.pos > 0) != (signed > 0):
                p.avg_px = px  # flipped through zero: the rest opens at this price
        p.realized_pnl += realized
        p.u_time = ts
        return p, realized

    def cancel(self, acct: Account, inst_id: str, ord_id: str, cl_ord_id: str, now: int) -> Order:
        with self.lock:
            self.sync(now)
            self.market.check(inst_id, now)
            order = self._find(acct, inst_id, ord_id, cl_ord_id)
            if order is None or order.state not in ("live", "partially_filled"):
                raise OkxError("51400")
            order.state, order.u_time, order.frozen = "canceled", now, 0.0
            return order

    def get_order(self, acct: Account, inst_id: str, ord_id: str, cl_ord_id: str, now: int) -> Order:
        with self.lock:
            self.sync(now)
            self.market.check(inst_id, now)
            order = self._find(acct, inst_id, ord_id, cl_ord_id)
            if order is None:
                raise OkxError("51603")
            return order

    def _find(self, acct: Account, inst_id: str, ord_id: str, cl_ord_id: str) -> Order | None:
        if not ord_id and not cl_ord_id:
            raise ParamError("50014", "ordId")
        oid = ord_id or acct.cl_ord_ids.get(cl_ord_id, "")
        order = acct.orders.get(oid)
        return order if order is not None and order.inst_id == inst_id else None

    # ------------------------------------------------------------ time
    def sync(self, now: int) -> None:
        """Bring every account to ``now``: resting limit fills, liquidations and funding
        settlements that the clock passed, one event at a time in time order."""
        with self.lock:
            if self.cursor is None:
                self.cursor = (now, PHASE_OPEN)
            while (event := self._next_event(now)) is not None:
                key, apply = event
                self.cursor = max(self.cursor, key)
                apply()
            self.cursor = max(self.cursor, (now, PHASE_OPEN))
            for acct in self.accounts.values():
                for order in acct.pending():
                    if order.px is not None:
                        ts, _, _ = self.market.closed_bars(order.inst_id, order.checked_to, now)
                        if len(ts):
                            order.checked_to = int(ts[-1]) + self.market.series(order.inst_id).base_ms

    def _next_event(self, now: int) -> tuple[Key, Callable[[], None]] | None:
        """The earliest pending event up to ``now`` and how to apply it."""
        assert self.cursor is not None
        best: tuple[Key, Callable[[], None]] | None = None
        for acct in self.accounts.values():
            for order in acct.pending():
                if order.px is not None and order.checked_to <= now:
                    hit = self._resting_hit(order, now)
                    if hit is not None and (best is None or hit[0] < best[0]):
                        key, fill_ts, qty = hit
                        best = key, (lambda a=acct, o=order, t=fill_ts, q=qty: self._rest_fill(a, o, q, t))
        funding = settlement.next_funding(self.market, self.accounts.values(), self.cursor, now)
        if funding is not None and (best is None or (funding, PHASE_FUNDING) < best[0]):
            best = (funding, PHASE_FUNDING), (lambda t=funding: settlement.settle_funding(
                self.market, self.accounts.values(), t, self._next_id))
        horizon = now if best is None else min(now, best[0][0])
        for acct in self.accounts.values():
            for ccy in {self.market.spec(p.inst_id).settle_ccy for p in acct.open_positions()}:
                b = settlement.find_breach(self.market, acct, ccy, self.cursor, horizon)
                if b is not None and (best is None or (b.ts, PHASE_LIQUIDATION) < best[0]):
                    horizon = b.ts
                    best = (b.ts, PHASE_LIQUIDATION), (lambda br=b: settlement.liquidate(self.market, br,
                                                                                          self._next_id))
        return best

    def _resting_hit(self, order: Order, now: int) -> tuple[Key, int, float] | None:
        """When and how much of a resting limit order fills, if by ``now``: (event key, fill
        time, contracts).

        The first base bar trading through the price (``BookModel.through``) fills at most one
        level's depth of it at the bar's close (stamped with the bar's open, as before); the
        forming bar's open through the price fills it at that open, with the last closed bar's depth."""
        px = order.px
        assert px is not None
        s = self.market.series(order.inst_id)
        tick = self.market.spec(order.inst_id).tick_sz
        left = order.sz - order.acc_fill_sz
        ts, hi, lo = self.market.closed_bars(order.inst_id, order.checked_to, now)
        idx = self.book.through(order.side, px, tick, hi, lo).nonzero()[0]
        if len(idx):
            t = int(ts[idx[0]])
            i = int(s.ts.searchsorted(t, "left"))
            return (t + s.base_ms, PHASE_FILL), t, min(left, self.book.bar_depth(self.market, order.inst_id, i))
        checked = int(ts[-1]) + s.base_ms if len(ts) else order.checked_to
        last = self.market.price(order.inst_id, now)
        j = int(s.ts.searchsorted(now, "right")) - 1
        if j >= 0 and s.ts[j] >= checked and last is not None and self.book.through(
                order.side, px, tick, np.array([last]), np.array([last]))[0]:
            return (int(s.ts[j]), PHASE_OPEN), int(s.ts[j]), min(left, self.book.bar_depth(
                self.market, order.inst_id, j - 1))
        return None

    def _rest_fill(self, acct: Account, order: Order, qty: float, ts: int) -> None:
        """A resting order's maker fill; the bar it filled in is spent (one level per bar)."""
        self._fill(acct, order, qty, float(order.px), "M", ts)  # type: ignore[arg-type]
        order.checked_to = max(order.checked_to, ts + self.market.series(order.inst_id).base_ms)


def on_clock(engine: Engine) -> Callable[[int], None]:
    """A clock listener that settles and matches whenever tests move the clock."""
    return engine.sync
