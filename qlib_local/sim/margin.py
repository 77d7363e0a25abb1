"""An account's margin per settlement currency, marked to market: what balances and positions report.

Cross margin within each currency (USDT for linear swaps, the coin for inverse ones):
equity is the currency's cash plus the unrealized PnL of the positions settling in it,
initial margin is notional / leverage, maintenance margin comes from the instrument's
tiers. Every number is computed with ``qlib_local.perp``, so linear and inverse
contracts share one code path and match the backtest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from qlib_local.perp import LINEAR, liquidation_price, maintenance_margin, pnl, unit_notional, unit_value
from qlib_local.sim.accounts import USDT, Account, Position
from qlib_local.sim.market import MarketData
from qlib_local.specs import InstrumentSpec

USD_LIKE = frozenset({"USD", USDT, "USDC"})  # valued 1:1 in USD


@dataclass(frozen=True)
class PositionRisk:
    """One position marked at ``mark`` (amounts in its settlement currency)."""

    q: float
    mark: float
    notional: float
    upl: float
    imr: float
    mmr: float


@dataclass(frozen=True)
class CcyBalance:
    """One currency of an account: cash, equity and margin (amounts in that currency)."""

    ccy: str
    cash: float
    upl: float
    eq: float
    imr: float
    mmr: float
    frozen: float
    notional: float
    usd_px: float  # USD per unit of the currency (NaN when no price is known yet)

    @property
    def avail(self) -> float:
        return max(0.0, self.eq - self.imr - self.frozen)

    @property
    def mgn_ratio(self) -> float:
        """Equity over maintenance margin: the account is liquidated at 1 (NaN without positions)."""
        return self.eq / self.mmr if self.mmr > 0 else math.nan


def settle_ccy(market: MarketData, inst_id: str) -> str:
    return market.spec(inst_id).settle_ccy


def margin_args(spec: InstrumentSpec) -> tuple:
    """The spec's contract and tier arguments for the perp kernels."""
    t = spec.margin_table
    return spec.ct_val, spec.ct_type_code, t.bounds, t.rates, t.cums


def risk(market: MarketData, acct: Account, p: Position, now: int) -> PositionRisk:
    spec = market.spec(p.inst_id)
    mark = market.mark_price(p.inst_id, now)
    ct, code, bounds, rates, cums = margin_args(spec)
    q = p.signed
    notional = abs(q) * unit_notional(mark, ct, code)
    return PositionRisk(q, mark, notional, pnl(q, p.avg_px, mark, ct, code), notional / acct.lever(p.inst_id),
                        maintenance_margin(q, mark, ct, code, bounds, rates, cums))


def currencies(market: MarketData, acct: Account) -> list[str]:
    """Currencies the account holds cash in or trades, USDT first."""
    ccys = set(acct.balances) | {settle_ccy(market, p.inst_id) for p in acct.open_positions()}
    ccys |= {o.ccy for o in acct.pending()}
    return sorted(ccys, key=lambda c: (c != USDT, c))


def frozen(acct: Account, ccy: str) -> float:
    return sum(o.frozen for o in acct.pending() if o.ccy == ccy)


def ccy_balance(market: MarketData, acct: Account, ccy: str, now: int) -> CcyBalance:
    u = imr = mmr = notional = 0.0
    for p in acct.open_positions():
        if settle_ccy(market, p.inst_id) == ccy:
            r = risk(market, acct, p, now)
            u, imr, mmr, notional = u + r.upl, imr + r.imr, mmr + r.mmr, notional + r.notional
    cash = acct.balances.get(ccy, 0.0)
    return CcyBalance(ccy, cash, u, cash + u, imr, mmr, frozen(acct, ccy), notional, usd_price(market, ccy, now))


def liq_px(market: MarketData, acct: Account, p: Position, now: int) -> float:
    """The estimated liquidation price of ``p``, every other position of its currency held
    (cross margin): where the currency's equity meets its maintenance margin. NaN: none."""
    spec = market.spec(p.inst_id)
    bal = ccy_balance(market, acct, spec.settle_ccy, now)
    r = risk(market, acct, p, now)
    ct, code, bounds, rates, cums = margin_args(spec)
    return liquidation_price(r.q, r.mark, bal.eq, bal.mmr - r.mmr, ct, code, bounds, rates, cums)


def usd_price(market: MarketData, ccy: str, now: int) -> float:
    """USD per unit of ``ccy``: 1 for USD-like coins, else the mark of an inverse swap settling
    in it (priced in USD), else of a linear swap on it (USDT taken as USD). NaN when none trades."""
    if ccy in USD_LIKE:
        return 1.0
    ranked = []
    for inst in market.inst_ids:
        spec = market.spec(inst)
        if spec.inverse and spec.settle_ccy == ccy:
            ranked.append((0, inst))
        elif not spec.inverse and spec.base_ccy == ccy and spec.settle_ccy in USD_LIKE:
            ranked.append((1, inst))
    for _, inst in sorted(ranked):
        if market.price(inst, now) is not None:
            return market.mark_price(inst, now)
    return math.nan


def priced_ccys(market: MarketData) -> set[str]:
    """Currencies an account may hold: USD-like ones and those some instrument settles in."""
    return set(USD_LIKE) | {market.spec(i).settle_ccy for i in market.inst_ids}


def order_margin(market: MarketData, inst_id: str, opening: float, sz: float, px: float, lever: float,
                 taker: float) -> tuple[float, float]:
    """(initial margin of the opening part, worst-case taker fee) of an order at ``px``."""
    spec = market.spec(inst_id)
    per_contract = unit_notional(px, spec.ct_val, spec.ct_type_code)
    return opening * per_contract / lever, sz * per_contract * taker


def average_entry(avg: float, held: float, px: float, qty: float, ct_val: float, ct_type: int) -> float:
    """Entry price after adding ``qty`` contracts at ``px`` to ``held`` at ``avg``: the price whose
    contract value is the contract-weighted mean of the two (arithmetic for linear contracts,
    harmonic for inverse ones), so ``perp.pnl`` from it is exactly the sum of both parts' PnL."""
    if held <= 0:
        return px
    if ct_type == LINEAR:  # the plain weighted mean, as it always was (bit for bit)
        return (avg * held + px * qty) / (held + qty)
    v = (held * unit_value(avg, ct_val, ct_type) + qty * unit_value(px, ct_val, ct_type)) / (held + qty)
    return unit_value(1.0, ct_val, ct_type) / v  # inverse: unit_value(p) = -ct_val / p
