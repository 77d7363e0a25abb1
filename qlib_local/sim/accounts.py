"""Accounts of the local exchange: cash per currency, positions, orders, fills and bills.

Pure domain state, no HTTP and no prices. Each instrument settles in its own currency
(USDT for linear swaps, the coin for inverse ones), so cash is kept per currency and
every PnL, fee, funding payment and liquidation moves the cash of that currency only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

NET, LONG, SHORT = "net", "long", "short"
NET_MODE, LONG_SHORT_MODE = "net_mode", "long_short_mode"
DEFAULT_LEVER = 10.0
USDT = "USDT"

# OKX bill types and sub-types (account/bills): what moved the balance
BILL_TRADE, BILL_LIQUIDATION, BILL_FUNDING = "2", "5", "8"
SUB_BUY, SUB_SELL = "1", "2"
SUB_OPEN_LONG, SUB_OPEN_SHORT, SUB_CLOSE_LONG, SUB_CLOSE_SHORT = "3", "4", "5", "6"
SUB_LIQ_LONG, SUB_LIQ_SHORT, SUB_LIQ_BUY, SUB_LIQ_SELL = "104", "105", "106", "107"
SUB_LIQ_TRANSFER_IN = "110"  # the insurance fund covering what a liquidation left below zero
SUB_FUNDING_EXPENSE, SUB_FUNDING_INCOME = "173", "174"


@dataclass
class Position:
    """Contracts held on one side; ``pos`` is signed in net mode (negative = short).

    The accumulators follow OKX: they start at zero when the position opens, and
    ``realizedPnl = pnl + fee + fundingFee + liqPenalty``.
    """

    inst_id: str
    pos_side: str
    pos: float = 0.0
    avg_px: float = 0.0
    realized_pnl: float = 0.0  # OKX ``pnl``: closing PnL, fees excluded
    fee: float = 0.0  # negative = paid
    funding_fee: float = 0.0
    liq_penalty: float = 0.0  # negative: liquidation fees paid
    c_time: int = 0
    u_time: int = 0
    pos_id: str = ""

    @property
    def signed(self) -> float:
        """Signed contracts (negative = short) whatever the position mode."""
        return -self.pos if self.pos_side == SHORT else self.pos

    def reopen(self, ts: int) -> None:
        """A flat position starts again: a new lifecycle, fresh accumulators."""
        self.c_time = ts
        self.realized_pnl = self.fee = self.funding_fee = self.liq_penalty = 0.0


@dataclass
class Order:
    ord_id: str
    cl_ord_id: str
    tag: str
    inst_id: str
    side: str
    pos_side: str
    ord_type: str
    td_mode: str
    sz: float
    px: float | None
    reduce_only: bool
    lever: float
    c_time: int
    u_time: int
    state: str = "live"
    acc_fill_sz: float = 0.0
    avg_px: float = 0.0
    fill_px: float | None = None
    fill_sz: float = 0.0
    fill_time: int | None = None
    fee: float = 0.0  # negative = paid, as OKX reports it
    pnl: float = 0.0
    frozen: float = 0.0  # margin set aside while resting (settlement currency)
    checked_to: int = 0  # matching has looked at bars up to here
    category: str = "normal"  # OKX: normal | full_liquidation
    cancel_source: str = ""  # OKX cancelSource: "31" a post-only order that would have taken
    ccy: str = USDT  # settlement currency of the instrument


@dataclass
class Fill:
    trade_id: str
    bill_id: str
    ord_id: str
    cl_ord_id: str
    tag: str
    inst_id: str
    side: str
    pos_side: str
    fill_px: float
    fill_sz: float
    fee: float
    pnl: float
    exec_type: str  # T taker / M maker
    ts: int
    sub_type: str = SUB_BUY
    ccy: str = USDT


@dataclass
class Bill:
    """One change of a currency's balance, as OKX's ``account/bills`` reports it."""

    bill_id: str
    ts: int
    ccy: str
    type: str
    sub_type: str
    bal_chg: float
    bal: float  # the currency's cash after this bill
    inst_id: str = ""
    pnl: float = 0.0
    fee: float = 0.0  # negative = paid
    sz: float = 0.0
    px: float | None = None
    ord_id: str = ""
    cl_ord_id: str = ""
    trade_id: str = ""
    exec_type: str = ""
    tag: str = ""


@dataclass
class Account:
    """One API key's trading account: cross margin within each settlement currency."""

    name: str
    api_key: str
    secret: str
    passphrase: str
    balances: dict[str, float] = field(default_factory=lambda: {USDT: 10_000.0})  # cash by currency
    simulated: bool | None = None  # None: accept x-simulated-trading 0 and 1
    uid: str = ""
    pos_mode: str = NET_MODE
    leverage: dict[str, float] = field(default_factory=dict)
    positions: dict[tuple[str, str], Position] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    cl_ord_ids: dict[str, str] = field(default_factory=dict)  # clOrdId -> ordId
    fills: list[Fill] = field(default_factory=list)
    bills: list[Bill] = field(default_factory=list)
    funded_to: dict[str, int] = field(default_factory=dict)  # instrument -> last funding time settled
    u_time: int = 0

    @property
    def cash(self) -> float:
        """USDT cash (the linear swaps' currency); ``balances`` has every currency."""
        return self.balances.get(USDT, 0.0)

    def lever(self, inst_id: str) -> float:
        return self.leverage.get(inst_id, DEFAULT_LEVER)

    def open_positions(self) -> list[Position]:
        return [p for p in self.positions.values() if p.pos != 0]

    def pending(self) -> list[Order]:
        return [o for o in self.orders.values() if o.state in ("live", "partially_filled")]

    def signed_exposure(self, inst_id: str) -> float:
        """Net contracts (long minus short) held in ``inst_id``."""
        return sum(p.signed for (iid, _), p in self.positions.items() if iid == inst_id)

    def book(self, bill_id: str, ts: int, ccy: str, kind: str, sub_type: str, amount: float, **info) -> Bill:
        """Move ``amount`` into the ``ccy`` cash and record the bill that says why."""
        self.balances[ccy] = self.balances.get(ccy, 0.0) + amount
        bill = Bill(bill_id, ts, ccy, kind, sub_type, amount, self.balances[ccy], **info)
        self.bills.append(bill)
        self.u_time = max(self.u_time, ts)
        return bill


def trade_sub_type(side: str, pos_side: str) -> str:
    """OKX's bill/fill sub-type of a trade: buy/sell in net mode, open/close long/short otherwise."""
    if pos_side == NET:
        return SUB_BUY if side == "buy" else SUB_SELL
    if pos_side == LONG:
        return SUB_OPEN_LONG if side == "buy" else SUB_CLOSE_LONG
    return SUB_OPEN_SHORT if side == "sell" else SUB_CLOSE_SHORT


def liquidation_sub_type(q: float, pos_side: str) -> str:
    """OKX's sub-type of a liquidation closing ``q`` signed contracts."""
    if pos_side == NET:
        return SUB_LIQ_SELL if q > 0 else SUB_LIQ_BUY
    return SUB_LIQ_LONG if q > 0 else SUB_LIQ_SHORT
