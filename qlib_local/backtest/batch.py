"""The sweep's batch kernel: many independent accounts through the shared ``simulate``.

Each combination of a sweep is its own account, run by the very kernel a backtest uses
(:func:`qlib_local.research.kernels.simulate`), so a combination's equity equals
``run_backtest`` of its config on the same data. Combinations are independent, so the
parallel kernel spreads them over threads with numba's ``prange`` (``NUMBA_NUM_THREADS``
caps the threads) and gives results bit-identical to the serial one.

Signals are not stored per combination: a chunk holds each DISTINCT intent once
(``codes [U, T, N]``) and due mask once (``due [D, T]``), and each combination points
at its rows (``code_ix``, ``due_ix`` [A, S]); leverage, hold_period or fee axes add no
signal arrays. Statistics are computed in the kernel with vectorbt's own numba
functions (the ones ``summary`` uses), so no equity curve needs to outlive its account.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numba
import numpy as np
from numba import njit, prange

from qlib_local import specs as _specs
from qlib_local.backtest import metrics_nb as _metrics
from qlib_local.backtest.metrics_nb import return_metrics_nb
from qlib_local.perp import contracts as _contracts
from qlib_local.perp import margin as _margin
from qlib_local.research import fills as _fills
from qlib_local.research import kernels as _kernels
from qlib_local.research.fills import key_cache_on
from qlib_local.research.kernels import FLOW_FEE, FLOW_FUNDING, FLOW_LIQUIDATION, simulate

# One row per combination; return statistics as in stats.json, costs in the settlement currency.
STATS = ("total_return", "annualized_return", "annualized_volatility", "max_drawdown", "sharpe_ratio",
         "sortino_ratio", "calmar_ratio", "end_value", "orders", "trading_costs", "funding", "liquidation_loss")


@dataclass(frozen=True)
class SharedInputs:
    """What every chunk of one data group reads: market arrays [T, N], contract facts, margin tiers."""

    market: tuple  # close, high, low, mark, funding
    inst: tuple
    margin: tuple
    ann_factor: float  # bars per year, as vectorbt annualizes
    margin_on: bool

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (*self.market, *self.inst, *self.margin))


@dataclass(frozen=True)
class Chunk:
    """Combinations run together: parameters per combination and strategy, distinct signals once."""

    ids: np.ndarray  # [A] combination ids
    params: tuple  # kind, position, leverage, vol_ratio, n_inst, hold_period, side, rebalance, min_trade: each [A, S]
    due: np.ndarray  # [D, T] bool, distinct due masks
    due_ix: np.ndarray  # [A, S] rows of ``due``
    codes: np.ndarray  # [U, T, N] int8, distinct intents
    code_ix: np.ndarray  # [A, S] rows of ``codes``
    equity0: np.ndarray  # [A] initial equity
    fee: np.ndarray  # [A] taker fee
    slippage: np.ndarray  # [A]

    @property
    def h_max(self) -> int:
        return int(self.params[5].max())

    @property
    def nbytes(self) -> int:
        return self.codes.nbytes + self.due.nbytes


@njit(cache=True)
def bar_returns(equity, start):
    """``equity / previous - 1``, the first bar against ``start``: exactly what
    :func:`qlib_local.backtest.stats.returns` gives ``summary`` (a dead account's 0/0 is NaN)."""
    out = np.empty(equity.shape[0])
    prev = start
    for t in range(equity.shape[0]):
        x = equity[t]
        if prev == 0.0:
            out[t] = np.nan if x == 0.0 else (np.inf if x > 0.0 else -np.inf)
        else:
            out[t] = x / prev - 1.0
        prev = x
    return out


@njit(cache=True)
def run_account(a, market, inst, margin, params, due_u, due_ix, codes_u, code_ix, equity0, fee, slippage, h_max,
                margin_on, ann_factor, stats, curves):
    """Combination ``a``: its account through ``simulate``, statistics into ``stats[a]``
    (and its total equity into ``curves[a]`` when ``curves`` has rows)."""
    kind, position, leverage, vol_ratio, n_inst, hold_period, side, rebalance, min_trade = params
    n_s = code_ix.shape[1]
    t_len, n = codes_u.shape[1], codes_u.shape[2]
    due = np.empty((n_s, t_len), np.bool_)
    codes = np.empty((n_s, t_len, n), np.int8)
    for s in range(n_s):
        due[s] = due_u[due_ix[a, s]]
        codes[s] = codes_u[code_ix[a, s]]
    own = (kind[a], position[a], leverage[a], vol_ratio[a], n_inst[a], hold_period[a], side[a], rebalance[a],
           min_trade[a])
    state = (np.zeros((n_s, n)), np.zeros((n_s, n), np.int8), np.zeros((n_s, h_max, n)), np.zeros((n_s, h_max)),
             np.zeros(n_s, np.int64), np.zeros((n_s, h_max, n), np.int8))
    net, eq_s, _, _, flows = simulate(market, inst, margin, own, due, codes, equity0[a], fee[a], slippage[a], state,
                                      False, margin_on)
    idle = equity0[a] * (1.0 - position[a].sum())
    total = np.empty(t_len)
    for t in range(t_len):
        acc = 0.0
        for s in range(n_s):
            acc += eq_s[t, s]
        total[t] = acc + idle
    if curves.shape[0] > 0:
        curves[a] = total
    r = bar_returns(total, equity0[a])
    return_metrics_nb(r, ann_factor, stats[a, :7])
    stats[a, 7] = total[t_len - 1] if t_len else equity0[a]
    orders = 0
    for i in range(n):
        before = 0.0
        for t in range(t_len):
            if net[t, i] != before:
                orders += 1
            before = net[t, i]
    stats[a, 8] = orders
    stats[a, 9] = 0.0 - flows[0, :, FLOW_FEE].sum()  # 0.0 - x: no -0.0 in tables
    stats[a, 10] = flows[0, :, FLOW_FUNDING].sum()
    stats[a, 11] = 0.0 - flows[0, :, FLOW_LIQUIDATION].sum()


@njit(cache=True)
def simulate_batch(market, inst, margin, params, due_u, due_ix, codes_u, code_ix, equity0, fee, slippage, h_max,
                   margin_on, ann_factor, stats, curves):
    """Every combination of a chunk, one after another."""
    for a in range(code_ix.shape[0]):
        run_account(a, market, inst, margin, params, due_u, due_ix, codes_u, code_ix, equity0, fee, slippage, h_max,
                    margin_on, ann_factor, stats, curves)


@njit(cache=True, parallel=True)
def simulate_batch_parallel(market, inst, margin, params, due_u, due_ix, codes_u, code_ix, equity0, fee, slippage,
                            h_max, margin_on, ann_factor, stats, curves):
    """The same, combinations spread over numba's threads (each writes only its own rows)."""
    for a in prange(code_ix.shape[0]):
        run_account(a, market, inst, margin, params, due_u, due_ix, codes_u, code_ix, equity0, fee, slippage, h_max,
                    margin_on, ann_factor, stats, curves)


@contextmanager
def numba_threads(threads: int | None):
    """Run with ``threads`` numba threads (None: as configured, e.g. by ``NUMBA_NUM_THREADS``)."""
    if threads is None:
        yield
        return
    before = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(before)


def run_chunk(shared: SharedInputs, chunk: Chunk, parallel: bool = True, curves: bool = False,
              threads: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Statistics [A, len(STATS)] of a chunk's combinations (and their equity curves [A, T] if asked)."""
    n_a = len(chunk.ids)
    t_len = chunk.codes.shape[1]
    stats = np.empty((n_a, len(STATS)))
    eq = np.empty((n_a if curves else 0, t_len))
    args = (shared.market, shared.inst, shared.margin, chunk.params, chunk.due, chunk.due_ix, chunk.codes,
            chunk.code_ix, chunk.equity0, chunk.fee, chunk.slippage, chunk.h_max, shared.margin_on,
            shared.ann_factor, stats, eq)
    if parallel:
        with numba_threads(threads):
            simulate_batch_parallel(*args)
    else:
        simulate_batch(*args)
    return stats, (eq if curves else None)


# what these kernels compile in from other modules: a change there must not reuse a stale cache
key_cache_on(globals(), [_kernels, _fills, _contracts, _margin, _specs, _metrics])
