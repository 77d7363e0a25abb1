"""Maintenance margin and liquidation, cross margin per account.

Tiers as Binance publishes them (OKX's are equivalent): a position's maintenance margin
is ``notional * mmr_k - cum_k`` in the tier ``k`` whose notional bracket holds it, with
``cum_k`` chosen so the margin is continuous across brackets. One flat rate is the
one-tier case. Notional is in the settlement currency (USDT for linear, the coin for
inverse contracts).

An account is liquidated when its equity falls to its total maintenance margin. The
backtest and the local exchanges judge a bar at its adverse extreme (the low for a long,
the high for a short, every position at once: the conservative reading of a bar) and
close everything there, paying a liquidation fee on the closed notional.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit

from qlib_local.perp.contracts import INVERSE, unit_notional, unit_value

DEFAULT_MMR = 0.005  # flat maintenance margin rate when a spec gives no tiers
DEFAULT_LIQ_FEE = 0.005  # liquidation fee on the closed notional


@dataclass(frozen=True)
class MarginTable:
    """Maintenance tiers of one instrument as arrays: ``bounds`` (notional upper bounds,
    the last one infinite), ``rates`` and the continuity amounts ``cums``."""

    bounds: np.ndarray
    rates: np.ndarray
    cums: np.ndarray

    @classmethod
    def build(cls, tiers: Sequence[Sequence[float]] = (), flat: float = DEFAULT_MMR) -> MarginTable:
        """From ``[(max_notional, mmr), ...]`` ascending (the last bound may be ``inf``)."""
        rows = [(float(b), float(r)) for b, r in tiers] or [(math.inf, float(flat))]
        prev_b, prev_r, cum = 0.0, rows[0][1], 0.0
        bounds, rates, cums = [], [], []
        for b, r in rows:
            if not (b > prev_b and 0.0 <= r < 1.0 and math.isfinite(r)):
                raise ValueError(f"margin tiers must ascend with rates in [0, 1), got {rows}")
            cum += prev_b * (r - prev_r)
            bounds.append(b)
            rates.append(r)
            cums.append(cum)
            prev_b, prev_r = b, r
        bounds[-1] = math.inf
        return cls(np.array(bounds), np.array(rates), np.array(cums))

    def padded(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The arrays padded to ``k`` tiers (repeating the last), to stack instruments."""
        n = len(self.bounds)
        idx = np.minimum(np.arange(k), n - 1)
        return self.bounds[idx], self.rates[idx], self.cums[idx]


def stack_tables(tables: Sequence[MarginTable]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[N, K] bounds, rates and cums of many instruments, for the kernels."""
    k = max((len(t.bounds) for t in tables), default=1)
    parts = [t.padded(k) for t in tables] or [MarginTable.build().padded(1)]
    return tuple(np.vstack([p[i] for p in parts]) for i in range(3))  # type: ignore[return-value]


@njit(cache=True)
def maintenance_rate(notional: float, bounds: np.ndarray, rates: np.ndarray, cums: np.ndarray) -> tuple:
    """(rate, cum) of the tier holding ``notional``."""
    for k in range(bounds.shape[0]):
        if notional <= bounds[k]:
            return rates[k], cums[k]
    return rates[-1], cums[-1]


@njit(cache=True)
def maintenance_margin(q: float, mark: float, ct_val: float, ct_type: int, bounds: np.ndarray,
                       rates: np.ndarray, cums: np.ndarray) -> float:
    """Maintenance margin of ``q`` contracts at ``mark`` (settlement currency)."""
    if q == 0.0:
        return 0.0
    n = abs(q) * unit_notional(mark, ct_val, ct_type)
    r, c = maintenance_rate(n, bounds, rates, cums)
    return max(n * r - c, 0.0)


@njit(cache=True)
def tier_margin(notional: float, bounds: np.ndarray, rates: np.ndarray, cums: np.ndarray, i: int) -> float:
    """:func:`maintenance_margin` of a position worth ``notional``, from row ``i`` of the
    stacked [N, K] tiers (:func:`stack_tables`) read in place: slicing a row per call costs
    a backtest more than the arithmetic."""
    k_last = bounds.shape[1] - 1
    k = k_last
    for j in range(k_last):
        if notional <= bounds[i, j]:
            k = j
            break
    return max(notional * rates[i, k] - cums[i, k], 0.0)


@njit(cache=True)
def margin_ceiling(bounds: np.ndarray, rates: np.ndarray, cums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per instrument, the highest tier rate and the largest ``-cum`` (0 if none is negative):
    ``notional x rate + offset`` bounds every tier's margin from above, in floating point too
    (each operation is monotone), so an account whose equity exceeds the sum is safe
    without a tier lookup."""
    n, k_len = bounds.shape
    rate = np.zeros(n)
    offset = np.zeros(n)
    for i in range(n):
        for k in range(k_len):
            rate[i] = max(rate[i], rates[i, k])
            offset[i] = max(offset[i], -cums[i, k])
    return rate, offset


@njit(cache=True)
def liquidation_price(q: float, ref_px: float, equity: float, other_mm: float, ct_val: float, ct_type: int,
                      bounds: np.ndarray, rates: np.ndarray, cums: np.ndarray) -> float:
    """Price of one position at which the account's equity meets its maintenance margin,
    every other position held at its current value (cross margin).

    ``equity``: the account's equity with this position marked at ``ref_px``;
    ``other_mm``: the other positions' maintenance margin. NaN when no positive price
    liquidates (e.g. a long whose losses the account covers down to zero).
    """
    if q == 0.0:
        return np.nan
    aq = abs(q)
    for k in range(bounds.shape[0]):
        r, c = rates[k], cums[k]
        if ct_type == INVERSE:
            den = equity + q * ct_val / ref_px - other_mm + c
            if den == 0.0:  # a short above 1x has a negative one (and a negative numerator)
                continue
            p = ct_val * (q + aq * r) / den
        else:
            den = ct_val * (q - aq * r)
            if den == 0.0:
                continue
            p = (other_mm - c - equity + q * ct_val * ref_px) / den
        if not (p > 0.0) or not np.isfinite(p):
            continue
        n = aq * unit_notional(p, ct_val, ct_type)
        lo = bounds[k - 1] if k > 0 else 0.0
        if lo < n <= bounds[k] or (k == 0 and n <= bounds[0]):
            return p
    return np.nan


@njit(cache=True)
def bankruptcy_equity(q: np.ndarray, ref: np.ndarray, px: np.ndarray, ct: np.ndarray, ct_type: np.ndarray,
                      equity: float) -> float:
    """Equity after moving every position from ``ref`` to ``px`` prices (NaN prices: no move)."""
    out = equity
    for i in range(q.shape[0]):
        if q[i] != 0.0 and np.isfinite(px[i]) and np.isfinite(ref[i]):
            out += q[i] * (unit_value(px[i], ct[i], ct_type[i]) - unit_value(ref[i], ct[i], ct_type[i]))
    return out
