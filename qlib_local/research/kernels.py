"""Numba kernels of the target-position model: arrays in, arrays out.

``step_strategy`` is THE model: live calls it once per due strategy through
:meth:`qlib_local.research.model.Model.step`, and :func:`simulate` calls the very same
compiled function at every bar of a backtest, so both produce identical contracts.

Intent codes (int8): timing -1/0/1 and ``KEEP`` (no information, keep the position);
event 1 = selected, 0 = not.
"""

from __future__ import annotations

import sys

import numpy as np
from numba import njit

from qlib_local.specs import LOT_ULPS

_EPS = sys.float_info.epsilon
_EXACT = 2.0**52
TIMING = 0
EVENT = 1
KEEP = 2


@njit(cache=True)
def floor_lots(x: float, lot: float) -> float:
    """Contracts rounded down to the lot size, never negative, exact at any size.

    The rule of :func:`qlib_local.specs.floor_to_lot` (a test keeps the two equal): a
    quotient within ``LOT_ULPS`` float spacings of a whole lot count is that count.
    """
    if not x > 0:
        return 0.0
    q = x / lot
    n = q
    if q < _EXACT:
        n = np.floor(q + 0.5)
        if abs(q - n) > LOT_ULPS * _EPS * max(q, 1.0):
            n = np.floor(q)
    if lot < 1.0:
        per_contract = np.floor(1.0 / lot + 0.5)
        if abs(per_contract * lot - 1.0) <= 4 * _EPS:
            return n / per_contract
    return n * lot


@njit(cache=True)
def step_strategy(s, kind, intent, price, ct, lot, capital, leverage, vol_ratio, n_inst, hold_period, side,
                  hold, last_sig, tranche, tranche_val, steps):
    """Advance strategy ``s`` by one of its closed bars; updates the state arrays in place.

    Timing: on a signal change, hold sign * floor(capital*lev*vr/n / (price*ctVal)) lots.
    Event: roll slot ``steps % hold_period``: drop its tranche, open a new one worth
    capital/hold_period spread over the selected instruments x leverage.
    """
    n = hold.shape[1]
    if kind[s] == TIMING:
        for i in range(n):
            sig = intent[i]
            if sig == KEEP or sig == last_sig[s, i] or not np.isfinite(price[i]):
                continue
            last_sig[s, i] = sig
            if sig == 0:
                hold[s, i] = 0.0
            else:
                q = floor_lots(capital * leverage[s] * vol_ratio[s] / n_inst[s] / (price[i] * ct[i]), lot[i])
                hold[s, i] = sig * q
        return
    h = hold_period[s]
    slot = steps[s] % h
    k = 0
    for i in range(n):
        if intent[i] == 1 and np.isfinite(price[i]):
            k += 1
    value = capital / h
    for i in range(n):
        tranche[s, slot, i] = 0.0
        if k > 0 and intent[i] == 1 and np.isfinite(price[i]):
            tranche[s, slot, i] = side[s] * floor_lots(value * leverage[s] / k / (price[i] * ct[i]), lot[i])
    tranche_val[s, slot] = value if k > 0 else 0.0
    steps[s] += 1
    for i in range(n):
        acc = 0.0
        for j in range(h):
            acc += tranche[s, j, i]
        hold[s, i] = np.round(acc, 10)


@njit(cache=True)
def simulate(close, ct, lot, due, codes, kind, position, leverage, vol_ratio, n_inst, hold_period, side,
             init_equity, fee, slippage, hold, last_sig, tranche, tranche_val, steps, record):
    """Walk the base-bar timeline: mark to market, step due strategies, net, fill at the close.

    ``close`` [T, N] (forward-filled), ``due`` [S, T], ``codes`` [S, T, N]. Fills at the
    close plus slippage; fees per side on the NET traded notional, shared among the
    strategies in proportion to their own position changes. Returns net contracts
    [T, N], per-strategy equity [T, S], account equity before trading [T] and, when
    ``record``, per-strategy contracts [T, S, N].
    """
    t_len, n = close.shape
    n_s = due.shape[0]
    net = np.zeros((t_len, n))
    eq_strat = np.empty((t_len, n_s))
    eq_before = np.empty(t_len)
    strat_hold = np.zeros((t_len if record else 1, n_s, n))
    pnl = np.zeros(n_s)
    cur = np.zeros(n)
    prev = np.full(n, np.nan)
    old = np.empty(n_s)
    for t in range(t_len):
        p = close[t]
        for i in range(n):
            if np.isfinite(prev[i]) and np.isfinite(p[i]) and p[i] != prev[i]:
                move = ct[i] * (p[i] - prev[i])
                for s in range(n_s):
                    if hold[s, i] != 0.0:
                        pnl[s] += hold[s, i] * move
        equity = init_equity + pnl.sum()
        eq_before[t] = equity
        cap = max(equity, 0.0)
        if due[:, t].any():
            before = hold.copy()
            for s in range(n_s):
                if due[s, t]:
                    step_strategy(s, kind, codes[s, t], p, ct, lot, cap * position[s], leverage, vol_ratio,
                                  n_inst, hold_period, side, hold, last_sig, tranche, tranche_val, steps)
            for i in range(n):
                target = 0.0
                gross = 0.0
                for s in range(n_s):
                    target += hold[s, i]
                    old[s] = abs(hold[s, i] - before[s, i])
                    gross += old[s]
                target = np.round(target, 10)
                d = target - cur[i]
                if d != 0.0 and gross > 0.0:
                    sgn = 1.0 if d > 0 else -1.0
                    cost = abs(d) * ct[i] * p[i] * (slippage + fee * (1.0 + slippage * sgn))
                    for s in range(n_s):
                        pnl[s] -= cost * old[s] / gross
                cur[i] = target
        net[t] = cur
        for s in range(n_s):
            eq_strat[t, s] = init_equity * position[s] + pnl[s]
        if record:
            strat_hold[t] = hold
        for i in range(n):
            if np.isfinite(p[i]):
                prev[i] = p[i]
    return net, eq_strat, eq_before, strat_hold


@njit(cache=True)
def simulate_batch(close, ct, lot, due, codes, kind, position, leverage, vol_ratio, n_inst, hold_period, side,
                   init_equity, fee, slippage, h_max):
    """Many single-strategy accounts (a parameter sweep): ``codes`` [A, T, N] -> total equity [A, T]."""
    n_a, t_len, n = codes.shape
    out = np.empty((n_a, t_len))
    for a in range(n_a):
        hold = np.zeros((1, n))
        last_sig = np.zeros((1, n), np.int8)
        tranche = np.zeros((1, h_max, n))
        tranche_val = np.zeros((1, h_max))
        steps = np.zeros(1, np.int64)
        _, eq, _, _ = simulate(close, ct, lot, due, codes[a : a + 1], kind, position, leverage, vol_ratio,
                               n_inst, hold_period, side, init_equity, fee, slippage, hold, last_sig, tranche,
                               tranche_val, steps, False)
        out[a] = init_equity * (1.0 - position[0]) + eq[:, 0]
    return out
