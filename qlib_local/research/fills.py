"""Numba fill models of the backtest (see :mod:`qlib_local.research.execution`).

``execution`` travels as a tuple: (style, spread, impact, maker fee, deadline_bars, tick [N],
liquidity [T, N] = contracts traded in each base bar). ``fill_cost`` returns what one net order
of ``d`` contracts of instrument ``i`` at close ``t`` costs (slippage, spread, impact, fee), its
average fill price and the fee rate it paid, so the kernel and the orders report agree.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from numba import njit
from numba.core.dispatcher import Dispatcher

from qlib_local.perp import contracts
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
            # the bar the order is placed in (t + 1) only by its close: live rests the order after
            # that bar opened, and the local exchange fills only from bars opened after the order
            # (the conservative side: a range does not say whether its extreme came first).
            # Live re-prices to the new best at each close before the deadline (the book moved):
            # that order too rests from after bar u opened, so again only u's close counts.
            fresh = u == t + 1
            if u > t + 1 and np.isfinite(close[u - 1, i]):
                moved = close[u - 1, i] - sgn * half_spread(spread, tick[i], high[u - 1, i], low[u - 1, i])
                fresh = moved != lim
                lim = moved
            x = close[u, i] if fresh else (low[u, i] if d > 0 else high[u, i])
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


def sources_digest(modules: list[ModuleType]) -> str:
    """SHA-256 of the modules' source files, in order."""
    h = hashlib.sha256()
    for m in modules:
        h.update(Path(m.__file__ or "").read_bytes())
    return h.hexdigest()


def key_cache_on(namespace: dict[str, Any], modules: list[ModuleType]) -> None:
    """Fold the sources a module's kernels compile in into their numba cache keys.

    ``cache=True`` keys a compiled function on its own bytecode and its own file's timestamp, but
    a kernel inlines what it calls from other modules: change only ``fill_cost`` and the cached
    ``simulate`` would keep the old fill model. With the digest of those modules' files in the key,
    a change in any of them compiles afresh (a stale entry never matches; nothing is deleted)."""
    digest = sources_digest(modules)
    name = namespace["__name__"]
    for f in list(namespace.values()):
        cache = getattr(f, "_cache", None) if isinstance(f, Dispatcher) else None
        if cache is None or f.py_func.__module__ != name or not hasattr(cache, "_index_key"):
            continue
        own = cache._index_key
        cache._index_key = lambda sig, codegen, own=own: (*own(sig, codegen), digest)


key_cache_on(globals(), [contracts])
