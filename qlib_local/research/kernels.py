"""Numba kernels of the target-position model: arrays in, arrays out.

``step_strategy`` is THE model: live calls it once per due strategy through
:meth:`qlib_local.research.model.Model.step`, and :func:`simulate` calls the very same
compiled function at every bar of a backtest, so both produce identical contracts.
Contract arithmetic (linear and inverse), funding and margin come from
:mod:`qlib_local.perp`, the definitions the local exchanges use too.

Arguments travel as small tuples of arrays so the signatures stay readable:

- ``params`` (per strategy): kind, position, leverage, vol_ratio, n_inst, hold_period, side, rebalance
  (``RESIZE`` / ``KEEP_CONTRACTS``), min_trade
- ``inst`` (per instrument): ct_val, ct_type, lot_sz
- ``margin`` (per instrument): tier bounds [N, K], tier rates [N, K], tier cums [N, K], liq_fee [N]
- ``market`` ([T, N] on the base timeline): close, high, low, mark, funding rate (0 = none)
- ``state``: hold [S, N], last_signal [S, N], tranches [S, H, N], tranche_value [S, H], steps [S],
  members [S, H, N] (int8: selected at the slot's last roll, what ``keep`` compares with)
- ``fx`` [N]: settlement currency per unit of the sizing currency (ones for one-currency accounts;
  a COIN-M account of several coins, whose capital is in USD, has 1 / each swap's price: an
  inverse swap's USD amount is then ``amount / ctVal`` contracts; see
  :mod:`qlib_local.research.kernels_wallets`)

Intent codes (int8): timing -1/0/1 and ``KEEP`` (no information, keep the position);
event 1 = selected, 0 = not.
"""

from __future__ import annotations

import sys

import numpy as np
from numba import njit

from qlib_local import specs as _specs
from qlib_local.perp import contracts as _contracts
from qlib_local.perp import margin as _margin
from qlib_local.perp.contracts import contracts_for, funding_flow, unit_notional, unit_value
from qlib_local.perp.margin import margin_ceiling, tier_margin
from qlib_local.research import fills as _fills
from qlib_local.research import styles as _styles
from qlib_local.research.fills import fill_cost, key_cache_on
from qlib_local.research.styles import order_styles
from qlib_local.specs import LOT_ULPS

_EPS = sys.float_info.epsilon
_EXACT = 2.0**52
TIMING = 0
EVENT = 1
KEEP = 2
RESIZE, KEEP_CONTRACTS = 0, 1  # rebalance: re-size held positions from current equity | keep their contracts
FLOW_FEE, FLOW_FUNDING, FLOW_LIQUIDATION = 0, 1, 2  # simulate's per-strategy cash flows: fees+slippage, funding, liquidation


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
def damped(new: float, old: float, held: float, min_trade: float) -> float:
    """``new`` contracts, or ``old`` when the change is a same-sign re-size smaller than
    ``min_trade`` x ``|held|`` (the strategy's position): an open, a close or a flip always goes."""
    if old != 0.0 and new != 0.0 and (old > 0.0) == (new > 0.0) and abs(new - old) < min_trade * abs(held):
        return old
    return new


@njit(cache=True)
def step_strategy(s, params, inst, intent, price, capital, state, fx):
    """Advance strategy ``s`` by one of its closed bars; updates ``state`` in place.

    Timing: on a signal change, hold sign * floor(contracts worth capital*lev*vr/n) lots; with
    ``resize`` an unchanged non-zero signal re-sizes to that amount at every bar, ``keep`` holds.
    Event: roll slot ``steps % hold_period``: drop its deselected instruments, size each selected
    one at capital/hold_period x leverage / k; with ``keep`` an instrument selected at the slot's
    last roll too keeps its contracts. A same-sign re-size below ``min_trade`` x the strategy's
    position is not made (:func:`damped`).
    Contracts worth an amount: ``amount / (price*ctVal)`` linear, ``amount*price/ctVal`` inverse.
    """
    kind, _, leverage, vol_ratio, n_inst, hold_period, side, rebalance, min_trade = params
    ct, ct_type, lot = inst
    hold, last_sig, tranche, tranche_val, steps, members = state
    n = hold.shape[1]
    keep = rebalance[s] == KEEP_CONTRACTS
    if kind[s] == TIMING:
        for i in range(n):
            sig = intent[i]
            if sig == KEEP or not np.isfinite(price[i]):
                continue
            if sig == last_sig[s, i] and (sig == 0 or keep):
                continue
            last_sig[s, i] = sig
            if sig == 0:
                hold[s, i] = 0.0
            else:
                amount = capital * leverage[s] * vol_ratio[s] / n_inst[s]
                q = sig * floor_lots(contracts_for(amount * fx[i], price[i], ct[i], ct_type[i]), lot[i])
                hold[s, i] = damped(q, hold[s, i], hold[s, i], min_trade[s])
        return
    h = hold_period[s]
    slot = steps[s] % h
    k = 0
    for i in range(n):
        if intent[i] == 1 and np.isfinite(price[i]):
            k += 1
    value = capital / h
    sized = False
    for i in range(n):
        if not (intent[i] == 1 and np.isfinite(price[i])):
            tranche[s, slot, i] = 0.0
            members[s, slot, i] = 0
            continue
        if keep and members[s, slot, i] == 1:
            continue  # selected at this slot's last roll and now: its contracts stay
        q = side[s] * floor_lots(contracts_for(value * leverage[s] / k * fx[i], price[i], ct[i], ct_type[i]), lot[i])
        tranche[s, slot, i] = damped(q, tranche[s, slot, i], hold[s, i], min_trade[s])
        members[s, slot, i] = 1
        sized = True
    if k == 0:
        tranche_val[s, slot] = 0.0
    elif sized or not keep:
        tranche_val[s, slot] = value
    steps[s] += 1
    for i in range(n):
        acc = 0.0
        for j in range(h):
            acc += tranche[s, j, i]
        hold[s, i] = np.round(acc, 10)


@njit(cache=True)
def liquidate_state(state) -> None:
    """After a liquidation every strategy is flat: holdings and tranches are gone.

    A timing strategy keeps its last signal, so it re-enters only on a new signal; an
    event strategy's empty slots refill at their next rolls (from the equity left)."""
    hold, _, tranche, tranche_val, _, members = state
    hold[:] = 0.0
    tranche[:] = 0.0
    tranche_val[:] = 0.0
    members[:] = 0


@njit(cache=True)
def margin_call(cur, prev, high, low, ct, ct_type, margin, equity):
    """Equity and maintenance margin at the bar's adverse extremes (each long at its low,
    each short at its high, all at once); returns (equity there, margin there, adverse prices)."""
    adv = np.empty_like(prev)
    notional = np.empty_like(prev)
    ceiling = margin_ceiling(margin[0], margin[1], margin[2])
    eq, _ = adverse_equity(cur, prev, high, low, ct, ct_type, equity, ceiling, adv, notional)
    return eq, adverse_margin(cur, prev, notional, margin), adv


@njit(cache=True)
def adverse_equity(cur, prev, high, low, ct, ct_type, equity, ceiling, adv, notional):
    """Equity with every position at its adverse extreme, and a ceiling of the maintenance
    margin there (:func:`qlib_local.perp.margin.margin_ceiling`; infinite when it does not
    apply); fills ``adv`` with those prices and ``notional`` with each position's notional."""
    rate, offset = ceiling
    adv[:] = prev
    eq = equity
    cap = 0.0
    for i in range(cur.shape[0]):
        if cur[i] == 0.0 or not np.isfinite(prev[i]):
            continue
        x = low[i] if cur[i] > 0 else high[i]
        if np.isfinite(x) and x > 0:
            adv[i] = x
        eq += cur[i] * (unit_value(adv[i], ct[i], ct_type[i]) - unit_value(prev[i], ct[i], ct_type[i]))
        n_i = abs(cur[i]) * unit_notional(adv[i], ct[i], ct_type[i])
        notional[i] = n_i
        cap += n_i * rate[i] + offset[i] if n_i >= 0.0 else np.inf  # NaN/negative: no ceiling
    return eq, cap


@njit(cache=True)
def adverse_margin(cur, prev, notional, margin):
    """The account's maintenance margin there: each held position's tier margin, in order."""
    bounds, rates, cums, _ = margin
    mm = 0.0
    for i in range(cur.shape[0]):
        if cur[i] != 0.0 and np.isfinite(prev[i]):
            mm += tier_margin(notional[i], bounds, rates, cums, i)
    return mm


@njit(cache=True)
def simulate(market, inst, margin, params, due, codes, init_equity, fee, slippage, state, record, margin_on,
             execution=None):
    """Walk the base-bar timeline; at each close (in this order):

    1. liquidation: with ``margin_on``, if equity at the bar's adverse extremes is at or
       below the maintenance margin there, every position is closed at those prices with
       the liquidation fee; equity below zero is absorbed (the venue's insurance fund);
    2. mark to market at the close;
    3. funding: positions held at a funding time receive ``-value at mark x rate``;
    4. step the due strategies, net, fill the difference at close x (1 ± slippage), taker fee
       (or, given ``execution``, by :func:`qlib_local.research.fills.fill_cost` in the style
       :func:`qlib_local.research.styles.order_styles` picks for the order).

    ``execution``: (one fill tuple per style, style index of each strategy [S]).

    Fees, funding and liquidation losses are attributed to strategies: fees in proportion
    to each one's position change, funding and losses by its own contracts. Returns net
    contracts [T, N], per-strategy equity [T, S], account equity before trading [T],
    per-strategy contracts [T, S, N] (when ``record``) and per-strategy cash flows
    [T, S, 3] (fee, funding, liquidation; summed into row 0 unless ``record``).
    """
    close, high, low, mark, funding = market
    ct, ct_type, _ = inst
    position = params[1]
    hold = state[0]
    liq_fee = margin[3]
    t_len, n = close.shape
    n_s = due.shape[0]
    net = np.zeros((t_len, n))
    eq_strat = np.empty((t_len, n_s))
    eq_before = np.empty(t_len)
    strat_hold = np.zeros((t_len if record else 1, n_s, n))
    flows = np.zeros((t_len if record else 1, n_s, 3))
    pnl = np.zeros(n_s)
    cur = np.zeros(n)
    prev = np.full(n, np.nan)
    old = np.empty(n_s)
    fx = np.ones(n)  # one currency: capital is in the settlement currency
    adv = np.empty(n)  # scratch of the margin check: adverse prices and notionals
    notional = np.empty(n)
    ceiling = margin_ceiling(margin[0], margin[1], margin[2])
    order_style = np.zeros(n, np.int64)  # each instrument's style at this close (index into execution[0])
    for t in range(t_len):
        r = t if record else 0
        p = close[t]
        liquidated = False
        if margin_on:
            held = False
            for i in range(n):
                if cur[i] != 0.0:
                    held = True
                    break
            if held:
                eq_now = init_equity + pnl.sum()
                eq_adv, cap = adverse_equity(cur, prev, high[t], low[t], ct, ct_type, eq_now, ceiling, adv, notional)
                # above the ceiling no tier lookup is needed: the margin is at most the ceiling
                if not eq_adv > cap and eq_adv <= adverse_margin(cur, prev, notional, margin):
                    liquidated = True
                    before = pnl.copy()
                    for i in range(n):
                        if cur[i] == 0.0 or not np.isfinite(prev[i]):
                            continue
                        move = unit_value(adv[i], ct[i], ct_type[i]) - unit_value(prev[i], ct[i], ct_type[i])
                        cost = liq_fee[i] * abs(cur[i]) * unit_notional(adv[i], ct[i], ct_type[i])
                        gross = 0.0
                        for s in range(n_s):
                            gross += abs(hold[s, i])
                        for s in range(n_s):
                            if hold[s, i] != 0.0:
                                pnl[s] += hold[s, i] * move - cost * abs(hold[s, i]) / gross
                    total = init_equity + pnl.sum()
                    if total < 0.0:  # the loss beyond the account is not the trader's
                        loss = 0.0
                        for s in range(n_s):
                            loss += max(before[s] - pnl[s], 0.0)
                        for s in range(n_s):
                            if loss > 0.0:
                                pnl[s] += -total * max(before[s] - pnl[s], 0.0) / loss
                    for s in range(n_s):
                        flows[r, s, FLOW_LIQUIDATION] += pnl[s] - before[s]
                    cur[:] = 0.0
                    liquidate_state(state)
        if not liquidated:
            for i in range(n):
                if np.isfinite(prev[i]) and np.isfinite(p[i]) and p[i] != prev[i]:
                    move = unit_value(p[i], ct[i], ct_type[i]) - unit_value(prev[i], ct[i], ct_type[i])
                    for s in range(n_s):
                        if hold[s, i] != 0.0:
                            pnl[s] += hold[s, i] * move
        for i in range(n):
            rate = funding[t, i]
            if rate != 0.0 and cur[i] != 0.0 and np.isfinite(rate):
                m = mark[t, i] if np.isfinite(mark[t, i]) else p[i]
                for s in range(n_s):
                    if hold[s, i] != 0.0:
                        f = funding_flow(hold[s, i], m, rate, ct[i], ct_type[i])
                        pnl[s] += f
                        flows[r, s, FLOW_FUNDING] += f
        equity = init_equity + pnl.sum()
        eq_before[t] = equity
        cap = max(equity, 0.0)
        if due[:, t].any():
            before_hold = hold.copy()
            for s in range(n_s):
                if due[s, t]:
                    step_strategy(s, params, inst, codes[s, t], p, cap * position[s], state, fx)
            if execution is not None and len(execution[0]) > 1:  # one style: no netting rule to apply
                order_style = order_styles(hold - before_hold, execution[1])
            for i in range(n):
                target = 0.0
                gross = 0.0
                for s in range(n_s):
                    target += hold[s, i]
                    old[s] = abs(hold[s, i] - before_hold[s, i])
                    gross += old[s]
                target = np.round(target, 10)
                d = target - cur[i]
                if d != 0.0 and gross > 0.0:
                    if execution is None:
                        sgn = 1.0 if d > 0 else -1.0
                        fill = p[i] * (1.0 + slippage * sgn)
                        slip = d * (unit_value(fill, ct[i], ct_type[i]) - unit_value(p[i], ct[i], ct_type[i]))
                        cost = slip + abs(d) * unit_notional(fill, ct[i], ct_type[i]) * fee
                    else:
                        cost = fill_cost(execution[0][order_style[i]], t, i, d, close, high, low, ct[i], ct_type[i],
                                         fee, slippage, cur[i])[0]
                    for s in range(n_s):
                        share = cost * old[s] / gross
                        pnl[s] -= share
                        flows[r, s, FLOW_FEE] -= share
                cur[i] = target
        net[t] = cur
        for s in range(n_s):
            eq_strat[t, s] = init_equity * position[s] + pnl[s]
        if record:
            strat_hold[t] = hold
        for i in range(n):
            if np.isfinite(p[i]):
                prev[i] = p[i]
    return net, eq_strat, eq_before, strat_hold, flows


@njit(cache=True)
def simulate_batch(market, inst, margin, params, due, codes, init_equity, fee, slippage, h_max, margin_on):
    """Many single-strategy accounts (a parameter sweep): ``codes`` [A, T, N] -> total equity [A, T]."""
    n_a, t_len, n = codes.shape
    out = np.empty((n_a, t_len))
    position = params[1]
    for a in range(n_a):
        state = (np.zeros((1, n)), np.zeros((1, n), np.int8), np.zeros((1, h_max, n)), np.zeros((1, h_max)),
                 np.zeros(1, np.int64), np.zeros((1, h_max, n), np.int8))
        _, eq, _, _, _ = simulate(market, inst, margin, params, due, codes[a : a + 1], init_equity, fee, slippage,
                                  state, False, margin_on)
        out[a] = init_equity * (1.0 - position[0]) + eq[:, 0]
    return out


key_cache_on(globals(), [_fills, _styles, _contracts, _margin, _specs])  # what these kernels compile in
