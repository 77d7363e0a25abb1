"""Domain objects of the live path: orders, acks, fills, positions, balances (no HTTP here)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

NET, LONG, SHORT = "net", "long", "short"


class Kind(StrEnum):
    """What an exchange's answer means to the live path, whatever the venue's own code.

    Adapters map their venue's codes onto these (capability data, not branches); the core
    decides on the kind only and keeps the venue's code and message for the logs.
    """

    ACCEPTED = "accepted"
    DUPLICATE_CLIENT_ID = "duplicate_client_id"  # an order under this client id exists: look it up
    RETRY_LATER = "retry_later"  # rate limit, busy, down: refused before processing, resend as is
    CLOCK_SKEW = "clock_skew"  # the request's timestamp was outside the venue's window: refused, resend
    UNKNOWN_OUTCOME = "unknown_outcome"  # may have been processed: look up before resending
    INSUFFICIENT_MARGIN = "insufficient_margin"
    BELOW_MIN_SIZE = "below_min_size"  # under the minimum size or notional
    BAD_PRECISION = "bad_precision"  # size or price off the lot/tick grid or over the precision
    REDUCE_ONLY_REJECTED = "reduce_only_rejected"  # nothing to reduce in that direction
    UNKNOWN_ORDER = "unknown_order"  # no such order (lookup, cancel of a final or unknown order)
    WOULD_TAKE = "would_take"  # a post-only order that would have taken liquidity: refused, re-price it
    NO_CHANGE = "no_change"  # a setting already had that value (position mode, margin type)
    AUTH = "auth"  # key, signature, passphrase or permissions
    REJECTED_OTHER = "rejected_other"


RETRY_KINDS = frozenset({Kind.RETRY_LATER, Kind.CLOCK_SKEW})  # per-order refusals worth resending as they are


@dataclass(frozen=True)
class OrderRequest:
    """One order to send; ``cl_ord_id`` makes it idempotent on the exchange."""

    cl_ord_id: str
    inst_id: str
    side: str  # buy | sell
    sz: float  # contracts, a lot multiple
    pos_side: str = NET
    reduce_only: bool = False
    ord_type: str = "market"  # market | post_only (a limit at ``px`` that only ever rests)
    td_mode: str = "cross"
    leg: str = "open"  # close | open
    attempt: int = 1
    px: float | None = None  # the limit price of a post_only order
    parent: str = ""  # a child order's parent (the planned order it carries out part of); "" for a parent

    @property
    def signed(self) -> float:
        return self.sz if self.side == "buy" else -self.sz


@dataclass(frozen=True)
class Ack:
    """The exchange's answer to one placement: its domain ``kind``, and the venue's own ``code``
    and ``msg`` for the logs (the core never decides on those)."""

    cl_ord_id: str
    ord_id: str
    kind: Kind
    code: str = ""
    msg: str = ""

    @property
    def ok(self) -> bool:
        return self.kind == Kind.ACCEPTED

    @property
    def text(self) -> str:
        """``kind (venue code: message)`` for ledger rows, events and alerts."""
        raw = " ".join(x for x in (self.code, self.msg) if x)
        return f"{self.kind}" + (f" ({raw})" if raw else "")


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
class FundingInfo:
    """One funding payment of a position (negative: paid), in ``ccy``."""

    bill_id: str
    inst_id: str
    amount: float
    ccy: str
    ts: int


@dataclass(frozen=True)
class Balance:
    """Equity in the account's settlement currency ``ccy`` (the coin for inverse swaps)."""

    total_eq: float
    avail_eq: float
    upl: float = 0.0
    ccy: str = "USDT"
    eq_usd: float | None = None  # the exchange's USD value of ``total_eq``


def net_exposure(positions: list[PositionInfo]) -> dict[str, float]:
    """Signed contracts per instrument (long minus short)."""
    out: dict[str, float] = {}
    for p in positions:
        out[p.inst_id] = round(out.get(p.inst_id, 0.0) + p.signed, 10)
    return {k: v for k, v in out.items() if v != 0}
