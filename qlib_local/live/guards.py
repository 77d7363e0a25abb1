"""Guards between the model and the exchange: pure decisions the session applies before it trades.

- **price sanity**: the model's price (the store's close) against the exchange's last and mark
  price; an instrument outside its band is not traded this bar and gets no price in the model;
- **size caps**: no opening order, and no account's gross exposure after the plan, beyond what
  the strategies' capital shares and leverage allow (closing legs are never refused);
- **order identity**: an order the exchange already has under one of our clOrdIds is ours only
  if it is the same order (instrument, side, size, bar);
- **targets reached**: which instruments the exchange does not hold at their targets.

No I/O here: the session fetches, these functions decide (and are tested on their own).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from qlib_local.live.clordid import bar_of
from qlib_local.live.types import LONG, NET, SHORT, OrderRequest, OrderStatus, PositionInfo


@dataclass(frozen=True)
class GuardSettings:
    """The account's guard settings (``accounts.yaml``); defaults are a careful desk's."""

    band_ranges: float = 3.0  # price band = this many typical bar ranges ...
    band_min: float = 0.01  # ... but never tighter than 1% of the price (the close is seconds old) ...
    band_max: float = 0.10  # ... and never wider than 10%, however wild the instrument
    band_bars: int = 24  # base bars behind the close the typical range is the median of
    size_tolerance: float = 0.10  # caps allow this much more (price drift of positions held since sizing)


# ---------------------------------------------------------------------- price sanity
def typical_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> float:
    """Median (high - low) / close of an instrument's recent bars; NaN without a usable bar.

    The median, so the one bad bar the check is looking for cannot widen its own band.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (np.asarray(high, float) - np.asarray(low, float)) / np.asarray(close, float)
    r = r[np.isfinite(r) & (r >= 0) & (np.asarray(close, float) > 0)]
    return float(np.median(r)) if len(r) else math.nan


def price_band(typical: float, s: GuardSettings) -> float:
    """The band as a fraction of the price; the hard cap when the instrument's range is unknown."""
    if not math.isfinite(typical):
        return s.band_max
    return float(min(max(s.band_ranges * typical, s.band_min), s.band_max))


@dataclass(frozen=True)
class PriceCheck:
    """The model's price of one instrument against the exchange's, and the verdict."""

    inst_id: str
    model: float
    last: float | None
    mark: float | None
    band: float

    @property
    def deviation(self) -> float:
        """The larger relative distance to last and mark; inf when either is missing."""
        refs = [self.last, self.mark]
        if any(r is None or not math.isfinite(r) or r <= 0 for r in refs):
            return math.inf
        return max(abs(self.model / r - 1.0) for r in refs)  # type: ignore[operator]

    @property
    def ok(self) -> bool:
        return self.deviation <= self.band

    @property
    def reason(self) -> str:
        if self.ok:
            return ""
        if math.isinf(self.deviation):
            return (f"price check: the exchange gives no last/mark price (last {_px(self.last)}, "
                    f"mark {_px(self.mark)}) to check the model price {_px(self.model)} against")
        return (f"price check: model price {_px(self.model)} (the store's close) is {self.deviation:.1%} from "
                f"the exchange's last {_px(self.last)} / mark {_px(self.mark)}, band {self.band:.1%}")


def _px(v: float | None) -> str:
    return "none" if v is None else f"{v:.8g}"


def check_prices(model: Mapping[str, float], last: Mapping[str, float], mark: Mapping[str, float],
                 typical: Mapping[str, float], s: GuardSettings) -> list[PriceCheck]:
    """One check per instrument with a finite model price (instruments without one are stale already)."""
    out = []
    for inst, px in sorted(model.items()):
        if px is None or not math.isfinite(px):
            continue
        out.append(PriceCheck(inst, float(px), last.get(inst), mark.get(inst),
                              price_band(float(typical.get(inst, math.nan)), s)))
    return out


# ---------------------------------------------------------------------- size caps
def allowed_leverage(strategies: Iterable) -> float:
    """Sum over strategies of capital share x leverage (x volatility ratio for timing strategies):
    the most notional per unit of equity the model may ever hold, as it sizes."""
    return float(sum(s.position * s.leverage * (s.volatility_ratio if s.kind == "timing" else 1.0)
                     for s in strategies))


def exposure_cap(equity: float, leverage: float, tolerance: float) -> float:
    """The account's notional cap in its settlement currency (zero when equity is not positive)."""
    return max(float(equity), 0.0) * leverage * (1.0 + tolerance)


@dataclass(frozen=True)
class Refusal:
    order: OrderRequest
    reason: str

    @property
    def text(self) -> str:
        o = self.order
        return f"{o.inst_id} {o.side} {o.sz:g} refused before sending: {self.reason}"


def cap_orders(orders: list[OrderRequest], positions: list[PositionInfo], prices: Mapping[str, float],
               ct_val: Mapping[str, float], cap: float, inverse: Collection[str] = (),
               ccy: str = "USDT", whose: str = "the account's") -> tuple[list[OrderRequest], list[Refusal]]:
    """Orders that fit the cap, and the refused ones with why.

    Notional = contracts x ctVal x the exchange's price (``inverse`` instruments: contracts x
    ctVal / price, in the coin they settle in: the cap is in ``ccy``). Closing legs always pass and lower
    the gross first; opening legs are taken smallest first, so when the sum does not fit it
    is the largest (the likeliest wrong) that is refused.
    """
    def price(inst: str, fallback: float | None = None) -> float | None:
        p = prices.get(inst, fallback)
        return p if p is not None and math.isfinite(p) and p > 0 else None

    def unit(inst: str, px: float | None) -> float:
        if not px:
            return 0.0
        return ct_val.get(inst, 0.0) / px if inst in inverse else ct_val.get(inst, 0.0) * px

    gross = 0.0
    for p in positions:
        gross += abs(p.contracts) * unit(p.inst_id, price(p.inst_id, p.avg_px))
    refused: list[Refusal] = []
    sized: list[tuple[float, OrderRequest]] = []
    for o in orders:
        px = price(o.inst_id)
        if o.leg == "close":
            gross = max(gross - o.sz * unit(o.inst_id, px), 0.0)
        elif px is None or o.inst_id not in ct_val:
            refused.append(Refusal(o, "no exchange price to size it against"))
        else:
            sized.append((o.sz * unit(o.inst_id, px), o))
    fits: set[str] = set()
    for notional, o in sorted(sized, key=lambda t: (t[0], t[1].inst_id)):
        if notional > cap:
            refused.append(Refusal(o, f"order notional {notional:,.6g} {ccy} exceeds {whose} cap {cap:,.6g}"))
        elif gross + notional > cap:
            refused.append(Refusal(o, f"gross exposure would be {gross + notional:,.6g} {ccy}, over {whose} "
                                      f"cap {cap:,.6g}"))
        else:
            gross += notional
            fits.add(o.cl_ord_id)
    return [o for o in orders if o.leg == "close" or o.cl_ord_id in fits], refused


def cap_orders_by_wallet(orders: list[OrderRequest], positions: list[PositionInfo], prices: Mapping[str, float],
                         ct_val: Mapping[str, float], wallet_caps: Mapping[str, float], coin_of: Mapping[str, str],
                         usd_cap: float) -> tuple[list[OrderRequest], list[Refusal]]:
    """A COIN-M account of several coins (``coin_of``: instrument -> coin). Each coin's wallet caps
    the inverse swaps margined in it (``wallet_caps``: coin -> cap in the coin, what the wallet can
    margin at the account's leverage); then the account's USD cap (equity x the strategies' shares x
    leverage) caps the gross of all, as :func:`cap_orders` caps a one-wallet account. An order in a
    coin with no wallet is refused; closing legs always pass."""
    fits: set[str] = set()
    refused: list[Refusal] = []
    for coin, cap in sorted(wallet_caps.items()):
        mine = [o for o in orders if coin_of.get(o.inst_id) == coin]
        held = [p for p in positions if coin_of.get(p.inst_id) == coin]
        ok, bad = cap_orders(mine, held, prices, ct_val, cap, set(coin_of), coin, f"the {coin} wallet's")
        fits.update(o.cl_ord_id for o in ok)
        refused += bad
    refused += [Refusal(o, "no wallet margins this instrument") for o in orders
                if coin_of.get(o.inst_id) not in wallet_caps and o.leg != "close"]
    passed = [o for o in orders if o.cl_ord_id in fits or o.leg == "close"]
    # an inverse contract is ct_val USD whatever the price: priced at 1 as "linear", its notional is USD
    ones = {i: 1.0 for i, px in prices.items() if px is not None and math.isfinite(px) and px > 0}
    kept, over = cap_orders(passed, positions, ones, ct_val, usd_cap, (), "USD")
    return kept, refused + over


# ---------------------------------------------------------------------- order identity
def same_order(o: OrderRequest, st: OrderStatus, bar_ts: int) -> bool:
    """Is the exchange's order under ``o``'s clOrdId the one ``o`` describes (instrument, side, size, bar)?"""
    return (st.inst_id == o.inst_id and st.side == o.side and (st.pos_side or NET) == o.pos_side
            and abs(st.sz - o.sz) < 1e-9 and bar_of(st.cl_ord_id) == bar_ts)


# ---------------------------------------------------------------------- targets reached
def _held(positions: list[PositionInfo]) -> dict[tuple[str, str], float]:
    """Contracts per (instrument, pos_side): signed in net mode, positive per side in long/short mode."""
    out: dict[tuple[str, str], float] = {}
    for p in positions:
        v = abs(p.contracts) if p.pos_side in (LONG, SHORT) else p.contracts
        out[(p.inst_id, p.pos_side)] = out.get((p.inst_id, p.pos_side), 0.0) + v
    return out


def expected_positions(basis: list[PositionInfo], fills: Iterable[OrderStatus]) -> dict[tuple[str, str], float]:
    """``basis`` moved by the filled part of ``fills``: what the exchange must show once it has them."""
    out = _held(basis)
    for st in fills:
        side = st.pos_side or NET
        sign = 1.0 if (st.side == "buy") != (side == SHORT) else -1.0
        out[(st.inst_id, side)] = round(out.get((st.inst_id, side), 0.0) + sign * st.acc_fill_sz, 10)
    return out


def same_positions(want: Mapping[tuple[str, str], float], positions: list[PositionInfo],
                   lot_sz: Mapping[str, float]) -> bool:
    have = _held(positions)
    return all(abs(want.get(k, 0.0) - have.get(k, 0.0)) <= lot_sz.get(k[0], 1e-8) / 2 for k in set(want) | set(have))


def position_gaps(targets: Mapping[str, float], positions: list[PositionInfo], pos_mode: str,
                  lot_sz: Mapping[str, float], skipped: Iterable[str] = ()) -> dict[str, tuple[float, float]]:
    """Instruments (not skipped) whose exchange position differs from the target: inst -> (held net, target).

    Long/short mode compares each side (a target of -3 is long 0 and short 3), so a hedge
    that nets to the target does not pass.
    """
    held = _held(positions)
    skip = set(skipped)
    out = {}
    for inst, t in sorted(targets.items()):
        if inst in skip:
            continue
        tol = lot_sz.get(inst, 1e-8) / 2
        if pos_mode == "long_short_mode":
            lng, sht = held.get((inst, LONG), 0.0), held.get((inst, SHORT), 0.0)
            wrong = abs(lng - max(t, 0.0)) > tol or abs(sht - max(-t, 0.0)) > tol
            net = lng - sht
        else:
            net = held.get((inst, NET), 0.0)
            wrong = abs(net - t) > tol
        if wrong:
            out[inst] = (round(net, 10), float(t))
    return out
