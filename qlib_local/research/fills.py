"""Numba fill models of the backtest (see :mod:`qlib_local.research.execution`).

``execution`` travels as a tuple: (style, spread, impact, maker fee, deadline_bars, tick [N],
liquidity [T, N] = contracts traded in each base bar). ``fill_cost`` returns what one net order
of ``d`` contracts of instrument ``i`` at close ``t`` costs (slippage, spread, impact, fee), its
average fill price and the fee rate it paid, so the kernel and the orders report agree.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from qlib_local.perp.contracts import unit_notional, unit_value

MARKET, MAKER_FIRST = 0, 1


@njit(cache=True)
def market_price(p, sgn, qty, slippage, spread, impact, tick, high, low, liquidity):
    """A market order's average price: slippage and square-root impact in the order's share
    of the bar's volume, plus the half-spread ``max(tick, spread x range)``."""
    share = 1.0
    if np.isfinite(liquidity) and liquidity > 0.0:
        share = qty / liquidity
    return p * (1.0 + sgn * (slippage + impact * np.sqrt(share))) + sgn * half_spread(spread, tick, high, low)


@njit(cache=True)
def half_spread(spread, tick, high, low):
    """The book's half-spread: ``max(tick, spread x (high - low))``, 0 when ``spread`` is 0."""
    if spread <= 0.0:
        return 0.0
    rng = high - low if np.isfinite(high) and np.isfinite(low) else 0.0
    return max(tick, spread * rng)


@njit(cache=True)
def fill_cost(execution, t, i, d, close, high, low, ct, ct_type, taker, slippage):
    """(cost, average fill price, fee rate) of a net order of ``d`` contracts decided at close ``t``."""
    style, spread, impact, maker, deadline, tick, liquidity = execution
    p = close[t, i]
    sgn = 1.0 if d > 0 else -1.0
    qty = abs(d)
    if style == MAKER_FIRST:
        t_len = close.shape[0]
        last = min(t + deadline, t_len - 1)
        lim = p - sgn * half_spread(spread, tick[i], high[t, i], low[t, i])  # the bid for a buy, the ask for a sell
        edge = tick[i] * (1.0 - 1e-6)
        for u in range(t + 1, last + 1):
            x = low[u, i] if d > 0 else high[u, i]
            if np.isfinite(x) and ((d > 0 and x <= lim - edge) or (d < 0 and x >= lim + edge)):
                cost = d * (unit_value(lim, ct, ct_type) - unit_value(p, ct, ct_type))
                return cost + qty * unit_notional(lim, ct, ct_type) * maker, lim, maker
        if last > t:  # not filled by the deadline: market at the deadline bar's close
            q = close[last, i]
            fill = market_price(q, sgn, qty, slippage, spread, impact, tick[i], high[last, i], low[last, i],
                                liquidity[last, i])
            cost = d * (unit_value(fill, ct, ct_type) - unit_value(p, ct, ct_type))
            return cost + qty * unit_notional(fill, ct, ct_type) * taker, fill, taker
    fill = market_price(p, sgn, qty, slippage, spread, impact, tick[i], high[t, i], low[t, i], liquidity[t, i])
    cost = d * (unit_value(fill, ct, ct_type) - unit_value(p, ct, ct_type))
    return cost + qty * unit_notional(fill, ct, ct_type) * taker, fill, taker
