"""From target contracts to orders: the difference only, lot-rounded, closes reduce-only.

Pure functions (no I/O). A flip from long to short is two legs (close, then open) so
that a margin rejection of the opening leg still lets the close go through.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qlib_local.live.clordid import cl_ord_id
from qlib_local.live.types import LONG, NET, SHORT, OrderRequest, PositionInfo
from qlib_local.specs import InstrumentSpec, lot_count, lots_to_contracts

if TYPE_CHECKING:
    from qlib_local.live.venue import IdRule

EPS = 1e-9


@dataclass(frozen=True)
class Skip:
    inst_id: str
    reason: str
    contracts: float = 0.0


@dataclass
class Plan:
    orders: list[OrderRequest]
    skipped: list[Skip]

    @property
    def closes(self) -> list[OrderRequest]:
        return [o for o in self.orders if o.leg == "close"]

    @property
    def opens(self) -> list[OrderRequest]:
        return [o for o in self.orders if o.leg == "open"]


def lots(size: float, spec: InstrumentSpec, nearest: bool, scale: float = 0.0) -> float:
    """A size in whole lots: nearest for closes (the exchange's own size), floor for opens (never oversize).

    Exact at any size (``qlib_local.specs.lot_count``); ``scale`` is the largest position or
    target the size was computed from, whose float rounding the difference carries.
    """
    n = float(round(size / spec.lot_sz)) if nearest else lot_count(size, spec.lot_sz, scale)
    return lots_to_contracts(n, spec.lot_sz)


def legs_net(current: float, target: float) -> list[tuple[str, str, float, str]]:
    """(leg, side, size, pos_side) in net mode; sizes unrounded."""
    out = []
    if abs(target - current) < EPS:
        return out
    same = current * target > 0
    if current != 0 and (not same or abs(target) < abs(current)):
        size = abs(current) - abs(target) if same else abs(current)
        out.append(("close", "sell" if current > 0 else "buy", size, NET))
    if target != 0 and (not same or abs(target) > abs(current)):
        size = abs(target) - abs(current) if same else abs(target)
        out.append(("open", "buy" if target > 0 else "sell", size, NET))
    return out


def legs_long_short(long_now: float, short_now: float, target: float) -> list[tuple[str, str, float, str]]:
    want_long, want_short = max(target, 0.0), max(-target, 0.0)
    out = []
    if long_now > want_long + EPS:
        out.append(("close", "sell", long_now - want_long, LONG))
    if short_now > want_short + EPS:
        out.append(("close", "buy", short_now - want_short, SHORT))
    if want_long > long_now + EPS:
        out.append(("open", "buy", want_long - long_now, LONG))
    if want_short > short_now + EPS:
        out.append(("open", "sell", want_short - short_now, SHORT))
    return out


def plan_orders(account: str, bar_ts: int, targets: dict[str, float], positions: list[PositionInfo],
                specs: dict[str, InstrumentSpec], pos_mode: str = "net_mode", td_mode: str = "cross",
                skip: dict[str, str] | None = None, attempts: dict[tuple[str, str, str], int] | None = None,
                ord_type: str = "market", id_rule: IdRule | None = None,
                prices: Mapping[str, float] | None = None) -> Plan:
    """Orders moving ``positions`` to ``targets`` (instruments absent from ``targets`` are left alone).

    ``skip`` maps instruments not to trade to the reason (stale data, ...); ``attempts``
    gives the attempt number per (instrument, pos_side, leg) when earlier ones ended;
    ``id_rule`` is the venue's client-id rule every id is checked against; ``prices`` (last
    prices) judge an opening order against the instrument's ``min_notional`` (a close never is:
    the venue takes a reduce-only order of any notional, and a position must stay closable).
    """
    skip = skip or {}
    attempts = attempts or {}
    held: dict[tuple[str, str], float] = {}
    for p in positions:
        held[(p.inst_id, p.pos_side)] = held.get((p.inst_id, p.pos_side), 0.0) + p.contracts
    orders: list[OrderRequest] = []
    skipped: list[Skip] = []
    for inst in sorted(targets):
        target = float(targets[inst])
        if pos_mode == "long_short_mode":
            legs = legs_long_short(held.get((inst, LONG), 0.0), abs(held.get((inst, SHORT), 0.0)), target)
        else:
            legs = legs_net(held.get((inst, NET), 0.0), target)
        if not legs:
            continue
        if inst in skip:
            skipped.append(Skip(inst, skip[inst], target))
            continue
        spec = specs.get(inst)
        if spec is None:
            skipped.append(Skip(inst, "not tradable on the exchange (no instrument spec)", target))
            continue
        for leg, side, size, pos_side in legs:
            scale = max(abs(target), abs(held.get((inst, pos_side), 0.0)))  # what `size` was computed from
            sz = lots(size, spec, nearest=(leg == "close"), scale=scale)
            if sz < spec.min_sz - EPS:
                skipped.append(Skip(inst, f"{leg} {size:g} contracts is below minSz {spec.min_sz:g}", size))
                continue
            notional = sz * spec.ct_val * (prices or {}).get(inst, math.nan)
            if leg == "open" and not spec.inverse and notional < spec.min_notional - EPS:  # NaN: no price, no check
                skipped.append(Skip(inst, f"open {sz:g} contracts is {notional:g} {spec.settle_ccy} notional, "
                                          f"below minNotional {spec.min_notional:g}", size))
                continue
            n = attempts.get((inst, pos_side, leg), 1)
            orders.append(OrderRequest(
                cl_ord_id=cl_ord_id(account, bar_ts, inst, pos_side, leg, n, id_rule), inst_id=inst, side=side, sz=sz,
                pos_side=pos_side, reduce_only=(leg == "close" and pos_side == NET), ord_type=ord_type,
                td_mode=td_mode, leg=leg, attempt=n))
    return Plan(orders, skipped)


def leverage_wanted(instruments: list[str], specs: dict[str, InstrumentSpec], lever: float,
                    whole: bool = False) -> dict[str, float]:
    """The leverage to set per instrument: the configured one capped by the instrument's maximum,
    rounded down to a whole number where the venue takes only those (never above what is asked)."""
    out = {i: float(min(lever, specs[i].max_lever)) for i in instruments if i in specs}
    return {i: float(max(math.floor(v), 1)) for i, v in out.items()} if whole else out
