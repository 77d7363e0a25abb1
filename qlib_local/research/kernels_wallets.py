"""The backtest kernel of a COIN-M account of several coins: one wallet per coin.

Each coin's wallet (BTC for BTCUSD_PERP, ETH for ETHUSD_PERP) takes the PnL, fees, funding and
liquidation of its own swaps; the account's equity, what every strategy sizes from, is the
wallets in USD at the coins' prices, and a strategy's USD amount on an inverse swap is
``amount / ctVal`` contracts. The steps, the model (``step_strategy``) and the margin check are
:mod:`qlib_local.research.kernels`' own; only the accounting is per wallet. Kept apart so the
one-wallet kernel every sweep runs stays as it was. Its order step repeats ``simulate``'s line
for line: moved into a shared ``@njit`` function (inlined or not) it made the 100-combination
sweep 1.4-1.6x slower, measured side by side, with bit-identical results.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from qlib_local import specs as _specs
from qlib_local.perp import contracts as _contracts
from qlib_local.perp import margin as _margin
from qlib_local.perp.contracts import funding_flow, unit_notional, unit_value
from qlib_local.perp.margin import margin_ceiling
from qlib_local.research import fills as _fills
from qlib_local.research import kernels as _kernels
from qlib_local.research import styles as _styles
from qlib_local.research.fills import fill_cost, key_cache_on
from qlib_local.research.kernels import (
    FLOW_FEE,
    FLOW_FUNDING,
    FLOW_LIQUIDATION,
    adverse_equity,
    adverse_margin,
    step_strategy,
)
from qlib_local.research.styles import order_styles


@njit(cache=True)
def liquidate_coin(state, coin_of, c) -> None:
    """A multi-coin account's wallet ``c`` was liquidated: its instruments' holdings and tranches
    are gone, the other coins' positions stay (each wallet margins only its own swaps)."""
    hold, _, tranche, _, _, members = state
    for i in range(hold.shape[1]):
        if coin_of[i] == c:
            hold[:, i] = 0.0
            tranche[:, :, i] = 0.0
            members[:, :, i] = 0


@njit(cache=True)
def simulate_wallets(market, inst, margin, params, due, codes, wallets, fee, slippage, state, record, margin_on,
                     execution=None):
    """:func:`~qlib_local.research.kernels.simulate` for an account of one wallet per coin; at each close:

    1. liquidation: with ``margin_on``, if a wallet's equity at the bar's adverse extremes is at
       or below the maintenance margin there, every position it margins is closed at those
       prices with the liquidation fee; equity below zero is absorbed (the venue's insurance fund);
    2. mark to market at the close;
    3. funding: positions held at a funding time receive ``-value at mark x rate``;
    4. step the due strategies, net, fill the difference at close x (1 ± slippage), taker fee
       (or, given ``execution``, by :func:`qlib_local.research.fills.fill_cost`).

    ``wallets``: coin of each instrument [N], USD per coin at each close [T, C], starting wallet
    per coin [C]. Each coin's PnL, fees, funding and liquidation stay in its wallet; equity,
    per-strategy equity and the flows are in USD (each wallet at its coin's price), and capital
    in USD is sized into each swap's coin (``fx``). Returns what ``simulate`` returns.
    """
    close, high, low, mark, funding = market
    ct, ct_type, _ = inst
    position = params[1]
    hold = state[0]
    liq_fee = margin[3]
    t_len, n = close.shape
    n_s = due.shape[0]
    coin_of, usd, init = wallets
    n_c = init.shape[0]
    net = np.zeros((t_len, n))
    eq_strat = np.empty((t_len, n_s))
    eq_before = np.empty(t_len)
    strat_hold = np.zeros((t_len if record else 1, n_s, n))
    flows = np.zeros((t_len if record else 1, n_s, 3))
    pnl = np.zeros((n_s, n_c))
    cur = np.zeros(n)
    cur_c = np.zeros(n)
    prev = np.full(n, np.nan)
    old = np.empty(n_s)
    fx = np.ones(n)
    order_style = np.zeros(n, np.int64)  # each instrument's style at this close (index into execution[0])
    before = np.empty(n_s)
    liq = np.zeros(n_c, np.bool_)
    adv = np.empty(n)  # scratch of the margin check: adverse prices and notionals
    notional = np.empty(n)
    ceiling = margin_ceiling(margin[0], margin[1], margin[2])
    for t in range(t_len):
        r = t if record else 0
        p = close[t]
        liq[:] = False
        for c in range(n_c if margin_on else 0):
            held = False
            cc = cur_c  # the positions this wallet margins
            for i in range(n):
                cur_c[i] = cur[i] if coin_of[i] == c else 0.0
                if cur_c[i] != 0.0:
                    held = True
            if not held:
                continue
            eq_now = init[c] + pnl[:, c].sum()
            eq_adv, cap = adverse_equity(cc, prev, high[t], low[t], ct, ct_type, eq_now, ceiling, adv, notional)
            # above the ceiling no tier lookup is needed: the margin is at most the ceiling
            if eq_adv > cap or not eq_adv <= adverse_margin(cc, prev, notional, margin):
                continue  # safe (NaN equity too, as ever: only an equity at or below the margin liquidates)
            liq[c] = True
            before[:] = pnl[:, c]
            for i in range(n):
                if cc[i] == 0.0 or not np.isfinite(prev[i]):
                    continue
                move = unit_value(adv[i], ct[i], ct_type[i]) - unit_value(prev[i], ct[i], ct_type[i])
                cost = liq_fee[i] * abs(cc[i]) * unit_notional(adv[i], ct[i], ct_type[i])
                gross = 0.0
                for s in range(n_s):
                    gross += abs(hold[s, i])
                for s in range(n_s):
                    if hold[s, i] != 0.0:
                        pnl[s, c] += hold[s, i] * move - cost * abs(hold[s, i]) / gross
            total = init[c] + pnl[:, c].sum()
            if total < 0.0:  # the loss beyond the wallet is not the trader's
                loss = 0.0
                for s in range(n_s):
                    loss += max(before[s] - pnl[s, c], 0.0)
                for s in range(n_s):
                    if loss > 0.0:
                        pnl[s, c] += -total * max(before[s] - pnl[s, c], 0.0) / loss
            for s in range(n_s):
                flows[r, s, FLOW_LIQUIDATION] += (pnl[s, c] - before[s]) * usd[t, c]
            for i in range(n):
                if coin_of[i] == c:
                    cur[i] = 0.0
            liquidate_coin(state, coin_of, c)
        for i in range(n):
            c = coin_of[i]
            if not liq[c] and np.isfinite(prev[i]) and np.isfinite(p[i]) and p[i] != prev[i]:
                move = unit_value(p[i], ct[i], ct_type[i]) - unit_value(prev[i], ct[i], ct_type[i])
                for s in range(n_s):
                    if hold[s, i] != 0.0:
                        pnl[s, c] += hold[s, i] * move
        for i in range(n):
            rate = funding[t, i]
            if rate != 0.0 and cur[i] != 0.0 and np.isfinite(rate):
                c = coin_of[i]
                m = mark[t, i] if np.isfinite(mark[t, i]) else p[i]
                for s in range(n_s):
                    if hold[s, i] != 0.0:
                        f = funding_flow(hold[s, i], m, rate, ct[i], ct_type[i])
                        pnl[s, c] += f
                        flows[r, s, FLOW_FUNDING] += f * usd[t, c]
        equity = 0.0
        for c in range(n_c):
            equity += (init[c] + pnl[:, c].sum()) * usd[t, c]
        eq_before[t] = equity
        cap = max(equity, 0.0)
        if due[:, t].any():
            before_hold = hold.copy()
            for i in range(n):
                fx[i] = 1.0 / p[i] if np.isfinite(p[i]) and p[i] > 0 else 1.0
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
                    c = coin_of[i]
                    for s in range(n_s):
                        share = cost * old[s] / gross
                        pnl[s, c] -= share
                        flows[r, s, FLOW_FEE] -= share * usd[t, c]
                cur[i] = target
        net[t] = cur
        for s in range(n_s):
            acc = 0.0
            for c in range(n_c):
                acc += (init[c] * position[s] + pnl[s, c]) * usd[t, c]
            eq_strat[t, s] = acc
        if record:
            strat_hold[t] = hold
        for i in range(n):
            if np.isfinite(p[i]):
                prev[i] = p[i]
    return net, eq_strat, eq_before, strat_hold, flows


key_cache_on(globals(), [_kernels, _fills, _styles, _contracts, _margin, _specs])  # what these kernels compile in
