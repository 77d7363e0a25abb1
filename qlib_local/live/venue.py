"""The venue port: everything a live run asks of an exchange, in domain terms (no HTTP here).

The session, reconcile, planning and execution talk only to a :class:`Venue`. Each adapter
(``qlib_local.venues.okx``, ``qlib_local.venues.binance``) implements it and describes its
venue as data in :class:`VenueCaps`: batch size, client-id rule, where ``reduceOnly`` and
``posSide`` apply, position and margin modes, pacing table, error codes mapped to the
domain :class:`~qlib_local.live.types.Kind`. The core reads those facts and never branches
on an exchange's name; :func:`qlib_local.venues.registry.open_venue` picks the adapter from
the account's ``exchange``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from qlib_local.live.types import (
    Ack,
    Balance,
    FillInfo,
    FundingInfo,
    Kind,
    OrderRequest,
    OrderStatus,
    PositionInfo,
)
from qlib_local.specs import InstrumentSpec

NET_MODE, LONG_SHORT_MODE = "net_mode", "long_short_mode"
POSITION_MODES = frozenset({NET_MODE, LONG_SHORT_MODE})
MARGIN_MODES = frozenset({"cross", "isolated"})


@dataclass(frozen=True)
class IdRule:
    """Which client order ids a venue accepts: 1 to ``max_len`` characters of the class ``chars``."""

    max_len: int
    chars: str  # a regex character class body, e.g. "A-Za-z0-9"

    def allows(self, cl: str) -> bool:
        return 0 < len(cl) <= self.max_len and re.fullmatch(f"[{self.chars}]+", cl) is not None


@dataclass(frozen=True)
class Window:
    """At most ``limit`` units per sliding ``window_s`` (per instrument when ``per_inst``)."""

    limit: int
    window_s: float
    per_inst: bool = False


@dataclass(frozen=True)
class PacingTable:
    """A venue's published limits: windows by name, and what each request costs in which window.

    ``costs[(method, path)] = {window: (units per request, units per order it carries)}``;
    a per-endpoint limit is a window of its own, a shared weight budget is one window many
    endpoints draw on. Requests without an entry are not paced.
    """

    windows: Mapping[str, Window] = field(default_factory=dict)
    costs: Mapping[tuple[str, str], Mapping[str, tuple[int, int]]] = field(default_factory=dict)

    @classmethod
    def per_endpoint(cls, limits: Mapping[tuple[str, str], Window]) -> PacingTable:
        """One window per endpoint, one unit per request (OKX publishes its limits that way)."""
        names = {key: f"{key[0]} {key[1]}" for key in limits}
        return cls({names[k]: w for k, w in limits.items()}, {k: {names[k]: (1, 0)} for k in limits})


@dataclass(frozen=True)
class VenueCaps:
    """What one venue can do and how it says things: data the core reads instead of branching."""

    name: str  # for messages: "OKX", "Binance USDⓈ-M"
    max_batch: int  # orders per batch request
    id_rule: IdRule
    ids_unique_after_final: bool  # False: a client id is refused only while its order is open (so look first)
    needs_passphrase: bool
    url_modes: frozenset[str]  # account modes in which the account's `url` is used
    settle_ccy: str | None  # the currency balances are in; None: each instrument's own (coin-margined)
    pacing: PacingTable
    error_kinds: Mapping[str, Kind]  # the venue's codes -> domain kinds (unlisted: rejected_other)
    position_modes: frozenset[str] = POSITION_MODES
    margin_modes: frozenset[str] = MARGIN_MODES
    reduce_only_modes: frozenset[str] = frozenset({NET_MODE})  # position modes where reduceOnly is sent
    pos_side_modes: frozenset[str] = frozenset({LONG_SHORT_MODE})  # ... and where the position side is
    leverage_per_side: bool = False  # isolated long/short positions carry their own leverage
    integer_leverage: bool = False
    fee_topup: bool = False  # buys the venue's fee-discount coin on spot for the futures wallet (FeeTopupPort)

    def kind(self, code: str, default: Kind = Kind.REJECTED_OTHER) -> Kind:
        return self.error_kinds.get(str(code), default)


def sane_quotes(bids: Mapping[str, float], asks: Mapping[str, float]) -> dict[str, tuple[float, float]]:
    """(bid, ask) per instrument where both are known (finite, positive) and the bid is below the ask:
    a crossed or one-sided quote is no quote (a maker order is never priced from it)."""
    return {i: (bids[i], asks[i]) for i in bids.keys() & asks.keys() if 0 < bids[i] < asks[i]}


def order_flags(o: OrderRequest, pos_mode: str, caps: VenueCaps) -> tuple[str | None, bool]:
    """(position side to send or None, whether to send reduceOnly) for ``o`` in ``pos_mode``."""
    side = o.pos_side if pos_mode in caps.pos_side_modes else None
    return side, bool(o.reduce_only and pos_mode in caps.reduce_only_modes)


class Venue(Protocol):
    """One account on one exchange. Reads are idempotent and retried by the adapter; placing is
    not retried there (the execution engine resends only what the exchange is known not to have)."""

    caps: VenueCaps
    requests: int  # requests sent so far (for benchmarks and tests)

    def close(self) -> None: ...

    # -------------------------------------------------------------- public
    def server_time_ms(self) -> int: ...
    def instruments(self) -> dict[str, InstrumentSpec]: ...
    def last_prices(self) -> dict[str, float]: ...
    def mark_prices(self) -> dict[str, float]: ...
    def quotes(self) -> dict[str, tuple[float, float]]: ...  # (best bid, best ask); only sane pairs

    # -------------------------------------------------------------- account
    def position_mode(self) -> str: ...
    def set_position_mode(self, mode: str) -> None: ...
    def set_leverage(self, inst_id: str, lever: float, mgn_mode: str, pos_side: str = "") -> None: ...
    def balance(self, ccy: str) -> Balance: ...
    def positions(self) -> list[PositionInfo]: ...
    def funding(self, since_ms: int, inst_ids: Collection[str]) -> list[FundingInfo]: ...

    # -------------------------------------------------------------- orders
    def place_batch(self, orders: list[OrderRequest], pos_mode: str) -> list[Ack]: ...
    def order(self, inst_id: str, cl_ord_id: str) -> OrderStatus | None: ...
    def pending_orders(self) -> list[OrderStatus]: ...
    def cancel(self, inst_id: str, cl_ord_id: str) -> bool: ...
    def fills(self, since_ms: int, inst_ids: Collection[str]) -> list[FillInfo]: ...
