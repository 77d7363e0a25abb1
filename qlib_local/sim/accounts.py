"""Accounts of the local exchange: USDT cash, positions, orders and fills, and margin math.

Pure domain state, no HTTP: cross margin on linear USDT swaps, where
``upl = (mark - avgPx) * pos * ctVal`` and equity is cash plus unrealized PnL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

NET, LONG, SHORT = "net", "long", "short"
NET_MODE, LONG_SHORT_MODE = "net_mode", "long_short_mode"
DEFAULT_LEVER = 10.0


@dataclass
class Position:
    """Contracts held on one side; ``pos`` is signed in net mode (negative = short)."""

    inst_id: str
    pos_side: str
    pos: float = 0.0
    avg_px: float = 0.0
    realized_pnl: float = 0.0
    fee: float = 0.0
    c_time: int = 0
    u_time: int = 0
    pos_id: str = ""


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
    frozen: float = 0.0  # margin set aside while resting
    checked_to: int = 0  # matching has looked at bars up to here


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


@dataclass
class Account:
    """One API key's trading account (cross margin, USDT settled)."""

    name: str
    api_key: str
    secret: str
    passphrase: str
    cash: float = 10_000.0
    simulated: bool | None = None  # None: accept x-simulated-trading 0 and 1
    uid: str = ""
    pos_mode: str = NET_MODE
    leverage: dict[str, float] = field(default_factory=dict)
    positions: dict[tuple[str, str], Position] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    cl_ord_ids: dict[str, str] = field(default_factory=dict)  # clOrdId -> ordId
    fills: list[Fill] = field(default_factory=list)
    u_time: int = 0

    def lever(self, inst_id: str) -> float:
        return self.leverage.get(inst_id, DEFAULT_LEVER)

    def open_positions(self) -> list[Position]:
        return [p for p in self.positions.values() if p.pos != 0]

    def pending(self) -> list[Order]:
        return [o for o in self.orders.values() if o.state in ("live", "partially_filled")]

    def frozen(self) -> float:
        return sum(o.frozen for o in self.pending())

    def signed_exposure(self, inst_id: str) -> float:
        """Net contracts (long minus short) held in ``inst_id``."""
        total = 0.0
        for (iid, side), p in self.positions.items():
            if iid == inst_id:
                total += -p.pos if side == SHORT else p.pos
        return total


def upl(p: Position, mark: float, ct_val: float) -> float:
    """Linear unrealized PnL; a short side holds positive ``pos`` in long/short mode."""
    sign = -1.0 if p.pos_side == SHORT else 1.0
    return (mark - p.avg_px) * p.pos * ct_val * sign


def notional(p: Position, mark: float, ct_val: float) -> float:
    return abs(p.pos) * ct_val * mark
