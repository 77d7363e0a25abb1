"""Order matching: the exchange's domain core, free of HTTP.

The ``Engine`` holds the accounts and places, cancels and looks up their orders under one lock.
Liquidity comes from the book model (``qlib_local.sim.book``): market orders walk it from
the last price plus a configurable slippage (taker), limit orders that cross take the levels
up to their price (taker) and rest the rest; a post-only order that would cross is canceled
(OKX cancelSource 31; the Binance front end rejects it first with -5022). A resting order
fills at its price (maker) when a later base bar trades through it, at most one level's depth
per bar. Only bars that opened after an order was placed can fill it. The default book (no
spread, unlimited depth) is the old model, except that a resting price must be traded
through by a tick, not merely touched.

What a fill does to an account is :mod:`qlib_local.sim.booking`; when a resting order fills,
and the clock's funding and liquidations, :mod:`qlib_local.sim.events` (``sync`` applies them).
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qlib_local.sim.accounts import LONG_SHORT_MODE, NET_MODE, Account, Order
from qlib_local.sim.book import BookModel
from qlib_local.sim.booking import FeePayer, book_fill, closable, opening_qty
from qlib_local.sim.events import next_event
from qlib_local.sim.margin import CcyBalance, ccy_balance, currencies, order_margin, priced_ccys
from qlib_local.sim.market import MAX_LMT_SZ, MAX_MKT_SZ, MarketData
from qlib_local.sim.params import CL_ORD_ID_RE, OrderRequest, order_request
from qlib_local.sim.protocol import OkxError, ParamError, is_multiple, num
from qlib_local.sim.settlement import PHASE_OPEN, Key

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
        # a trade's fee in which currency (``booking.FeePayer``).
        self.cl_ord_id_re = CL_ORD_ID_RE
        self.cl_ord_id_open_only = False  # Binance: a client id is refused again only while its order is open
        self.fee_payer: FeePayer | None = None

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
            closing = closable(acct, o.inst_id, side, o.pos_side, o.reduce_only)
            if (o.reduce_only or closing is not None) and not closing:
                raise OkxError("51169")
            last = self.last(o.inst_id, now)
            est_px = px if px is not None else last
            opening = opening_qty(acct, o.inst_id, side, o.pos_side, sz, o.reduce_only)
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
                opening = opening_qty(acct, o.inst_id, side, o.pos_side, left, o.reduce_only)
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

    def _fill(self, acct: Account, order: Order, qty: float, px: float, exec_type: str, ts: int) -> None:
        rate = self.fees.maker if exec_type == "M" else self.fees.taker
        book_fill(self.market.spec(order.inst_id), acct, order, qty, px, exec_type, ts, rate, self.fee_payer,
                  self._next_id)

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
            while (event := next_event(self.market, self.book, self.accounts.values(), self.cursor, now,
                                       self._rest_fill, self._next_id)) is not None:
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

    def _rest_fill(self, acct: Account, order: Order, qty: float, ts: int) -> None:
        """A resting order's maker fill; the bar it filled in is spent (one level per bar)."""
        self._fill(acct, order, qty, float(order.px), "M", ts)  # type: ignore[arg-type]
        order.checked_to = max(order.checked_to, ts + self.market.series(order.inst_id).base_ms)


def on_clock(engine: Engine) -> Callable[[int], None]:
    """A clock listener that settles and matches whenever tests move the clock."""
    return engine.sync
