"""Numba fill models of the backtest (see :mod:`qlib_local.research.execution`).

``execution`` travels as a tuple: (style, spread, impact, maker fee, deadline_bars, tick [N],
liquidity [T, N] = contracts traded in each base bar, twap [4] = slices, window_bars, min
notional (quote currency), slice style). ``fill_cost`` returns what one net order of ``d``
contracts of instrument ``i`` at close ``t`` costs (slippage, spread, impact, fee), its average
fill price and the fee rate it paid, so the kernel and the orders report agree.

``twap`` (the conservative choice wherever the bars cannot say what live would get):

* an order whose quote notional at the decision close (contracts x ctVal x close; inverse:
  contracts x ctVal USD) is below ``min notional`` is one order of the slice style at ``t``;
* else slice ``k`` (``k = 0..N-1``) of ``d / N`` contracts goes at base bar
  ``s_k = t + floor(k x W / N)`` (``W`` the window in bars; past the data's end, its last bar):
  live releases it at ``k x W / N`` bars after the decision, and the local exchange's price
  then is the open of the forming bar, the close of bar ``s_k``;
* a ``market`` slice pays slippage, the half-spread of bar ``s_k`` and square-root impact on
  the share of bar ``s_k``'s volume taken by ALL the order's slices in that bar (where several
  slices share a bar, as if they were one order: never less than each alone), taker fee;
* a ``maker_first`` slice is the maker model above placed at ``s_k`` (limit = close of
  ``s_k`` -+ max(tick, its half-spread)) with the deadline ``min(deadline_bars, bars to the next slice)``
  (live cancels a slice's maker at the next slice's time at the latest), i.e. the bars closing
  while it rests: ``min(deadline_bars, floor((k+1) W / N) - floor(k W / N))``; 0 such bars:
  it cannot fill as a maker and is priced as a market slice at ``s_k``; one that reaches its
  deadline goes to market at the deadline bar (impact on its own share);
* a flip (the order crosses zero) under ``maker_first`` slices: in the slice where the position
  crosses zero, the closing share is a market piece at ``s_k`` and the opening share the slice
  style, as live sends it (the closing leg's share at once, so no opening maker waits on a
  reduce-only close); impact on the whole slice's share of the bar either way;
* every slice's price move from the DECISION close ``close[t]`` is a cost, booked with the fees
  at ``t`` on the whole position: the same money at the window's end as slices filled one by
  one (equity inside the window marks the whole order; a look-ahead of at most the window in
  costs only, as ``maker_first``'s).
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
from qlib_local.perp.contracts import INVERSE, unit_notional, unit_value

MARKET, MAKER_FIRST, TWAP = 0, 1, 2


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
def maker_offset(spread, tick, high, low):
    """How far from the close a maker rests: the half-spread, and at least a tick even with no spread
    (a post-only order may not rest at the last price; the local exchanges' ``quote`` rule)."""
    return max(tick, half_spread(spread, tick, high, low))


@njit(cache=True)
def style_fill(style, spread, impact, maker, deadline, tick, liquidity, t, i, d, taken, close, high, low, taker,
               slippage):
    """(fill price, fee rate) of ``d`` contracts placed at close ``t`` as ``market`` or ``maker_first``;
    ``taken``: the contracts whose share of the bar's volume sets a market fill's impact."""
    p = close[t, i]
    sgn = 1.0 if d > 0 else -1.0
    if style == MAKER_FIRST:
        t_len = close.shape[0]
        last = min(t + deadline, t_len - 1)
        lim = p - sgn * maker_offset(spread, tick[i], high[t, i], low[t, i])  # the bid for a buy, the ask for a sell
        edge = tick[i] * (1.0 - 1e-6)
        for u in range(t + 1, last + 1):
            # the bar the order is placed in (t + 1) only by its close: live rests the order after
            # that bar opened, and the local exchange fills only from bars opened after the order
            # (the conservative side: a range does not say whether its extreme came first).
            # Live re-prices to the new best at each close before the deadline (the book moved):
            # that order too rests from after bar u opened, so again only u's close counts.
            fresh = u == t + 1
            if u > t + 1 and np.isfinite(close[u - 1, i]):
                moved = close[u - 1, i] - sgn * maker_offset(spread, tick[i], high[u - 1, i], low[u - 1, i])
                fresh = moved != lim
                lim = moved
            x = close[u, i] if fresh else (low[u, i] if d > 0 else high[u, i])
            if np.isfinite(x) and ((d > 0 and x <= lim - edge) or (d < 0 and x >= lim + edge)):
                return lim, maker
        if last > t:  # not filled by the deadline: market at the deadline bar's close
            return market_price(close[last, i], sgn, abs(d), slippage, spread, impact, tick[i], high[last, i],
                                low[last, i], liquidity[last, i]), taker
    return market_price(p, sgn, taken, slippage, spread, impact, tick[i], high[t, i], low[t, i],
                        liquidity[t, i]), taker


@njit(cache=True)
def twap_fill(execution, t, i, d, close, high, low, ct, ct_type, taker, slippage, held=0.0):
    """(cost against ``close[t]``, average fill price, fee rate) of a net order carried out as twap slices;
    ``held``: the position before it (a flip's closing share in its crossing slice is a market piece)."""
    deadline, twap = execution[4], execution[7]  # the rest of the tuple is each slice's (slice_cost)
    n, w, slice_style = int(twap[0]), int(twap[1]), int(twap[3])
    p = close[t, i]
    qty = abs(d)
    t_len = close.shape[0]
    part = d / n
    closing = abs(held) if held * d < 0.0 and qty > abs(held) else 0.0  # a flip: the contracts that close
    cost = 0.0  # against close[t]
    notional = 0.0  # settlement currency at the fill prices
    value = 0.0  # sum of contracts x unit_value(fill): the average price's definition
    for k in range(n):
        off = (k * w) // n
        s = min(t + off, t_len - 1)
        together = ((off + 1) * n + w - 1) // w - (off * n + w - 1) // w  # slices in this bar: ceil((j+1)N/W) - ceil(jN/W)
        dl = min(deadline, ((k + 1) * w) // n - off)
        first = closing - k * qty / n  # of this slice, what still closes the old position
        if slice_style != MARKET and 1e-9 * qty < first < abs(part) - 1e-9 * qty:  # the crossing slice
            piece = first if d > 0 else -first  # live sends the closing share at once, at market
            a = slice_cost(execution, MARKET, 0, s, i, piece, abs(part) * together, p, close, high, low, ct,
                           ct_type, taker, slippage)
            b = slice_cost(execution, slice_style, dl, s, i, part - piece, abs(part) * together, p, close, high,
                           low, ct, ct_type, taker, slippage)
            cost, notional, value = cost + a[0] + b[0], notional + a[1] + b[1], value + a[2] + b[2]
        else:
            a = slice_cost(execution, slice_style, dl, s, i, part, abs(part) * together, p, close, high, low, ct,
                           ct_type, taker, slippage)
            cost, notional, value = cost + a[0], notional + a[1], value + a[2]
    uv = value / qty
    avg = -ct / uv if ct_type == INVERSE else uv / ct
    fee = cost - d * (uv - unit_value(p, ct, ct_type))
    return cost, avg, fee / notional if notional > 0.0 else taker


@njit(cache=True)
def slice_cost(execution, style, dl, s, i, q, taken, p, close, high, low, ct, ct_type, taker, slippage):
    """(cost against ``p``, notional, contracts x unit value) of ``q`` contracts placed at bar ``s`` in
    ``style``."""
    spread, impact, maker, tick, liquidity = execution[1], execution[2], execution[3], execution[5], execution[6]
    px, rate = style_fill(style, spread, impact, maker, dl, tick, liquidity, s, i, q, taken, close, high, low, taker,
                          slippage)
    un = abs(q) * unit_notional(px, ct, ct_type)
    return q * (unit_value(px, ct, ct_type) - unit_value(p, ct, ct_type)) + un * rate, un, abs(q) * unit_value(
        px, ct, ct_type)


@njit(cache=True)
def fill_cost(execution, t, i, d, close, high, low, ct, ct_type, taker, slippage, held=0.0):
    """(cost, average fill price, fee rate) of a net order of ``d`` contracts decided at close ``t``,
    the position before it ``held`` (twap prices a flip's crossing slice by it)."""
    style, spread, impact, maker, deadline, tick, liquidity, twap = execution
    p = close[t, i]
    qty = abs(d)
    if style == TWAP:
        quote = qty * unit_notional(p, ct, ct_type) * (p if ct_type == INVERSE else 1.0)
        if quote >= twap[2]:
            return twap_fill(execution, t, i, d, close, high, low, ct, ct_type, taker, slippage, held)
        style = int(twap[3])  # below the threshold: one order of the slice style
    fill, rate = style_fill(style, spread, impact, maker, deadline, tick, liquidity, t, i, d, qty, close, high, low,
                            taker, slippage)
    cost = d * (unit_value(fill, ct, ct_type) - unit_value(p, ct, ct_type))
    return cost + qty * unit_notional(fill, ct, ct_type) * rate, fill, rate


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
