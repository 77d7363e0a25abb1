"""Domain objects of the live path: orders, acks, fills, positions, balances (no HTTP here)."""

from __future__ import annotations

from dataclasses import dataclass

NET, LONG, SHORT = "net", "long", "short"


@dataclass(frozen=True)
class OrderRequest:
    """One order to send; ``cl_ord_id`` makes it idempotent on the exchange."""

    cl_ord_id: str
    inst_id: str
    side: str  # buy | sell
    sz: float  # contracts, a lot multiple
    pos_side: str = NET
    reduce_only: bool = False
    ord_type: str = "market"
    td_mode: str = "cross"
    leg: str = "open"  # close | open
    attempt: int = 1

    @property
    def signed(self) -> float:
        return self.sz if self.side == "buy" else -self.sz


@dataclass(frozen=True)
class Ack:
    """The exchange's answer to one placement: ``code`` "0" means accepted."""

    cl_ord_id: str
    ord_id: str
    code: str
    msg: str

    @property
    def ok(self) -> bool:
        return self.code == "0"


@dataclass(frozen=True)
class OrderStatus:
    cl_ord_id: str
    ord_id: str
    inst_id: str
    side: str
    pos_side: str
    sz: float
    state: str  # live | partially_filled | filled | canceled | mmp_canceled
    acc_fill_sz: float
    avg_px: float | None
    fee: float
    reduce_only: bool = False
    ord_type: str = "market"
    td_mode: str = "cross"

    @property
    def final(self) -> bool:
        return self.state not in ("live", "partially_filled")


@dataclass(frozen=True)
class FillInfo:
    trade_id: str
    ord_id: str
    cl_ord_id: str
    inst_id: str
    side: str
    pos_side: str
    fill_px: float
    fill_sz: float
    fee: float
    pnl: float
    ts: int

    def as_row(self) -> dict:
        return self.__dict__.copy()


@dataclass(frozen=True)
class PositionInfo:
    """Contracts held; ``contracts`` is signed in net mode, positive per side in long/short mode."""

    inst_id: str
    pos_side: str
    contracts: float
    avg_px: float | None = None
    lever: float | None = None

    @property
    def signed(self) -> float:
        return -abs(self.contracts) if self.pos_side == SHORT else self.contracts


@dataclass(frozen=True)
class Balance:
    """Equity in the account's settlement currency ``ccy`` (the coin for inverse swaps)."""

    total_eq: float
    avail_eq: float
    upl: float = 0.0
    ccy: str = "USDT"
    eq_usd: float | None = None  # the exchange's USD value of ``total_eq``


@dataclass(frozen=True)
class FundingBill:
    """One funding settlement of one position (OKX bill type 8), in the settlement currency."""

    bill_id: str
    inst_id: str
    ccy: str
    amount: float  # received (> 0) or paid (< 0)
    ts: int


def net_exposure(positions: list[PositionInfo]) -> dict[str, float]:
    """Signed contracts per instrument (long minus short)."""
    out: dict[str, float] = {}
    for p in positions:
        out[p.inst_id] = round(out.get(p.inst_id, 0.0) + p.signed, 10)
    return {k: v for k, v in out.items() if v != 0}
