"""vectorbt's return metrics as one numba loop, for the batch kernel.

The same definitions as :func:`qlib_local.backtest.stats.return_metrics` (vectorbt's
``ReturnsAccessor``: total, annualized on a 365-day year, volatility with ddof 1, max drawdown,
Sharpe, Sortino, Calmar); the tests hold both equal to vectorbt's own. Importing
``vectorbt.returns.nb`` would load all of vectorbt (plotly included), 8-11 s of a sweep command
whose work takes 3, so the kernel keeps its own copy of these few lines.
"""

from __future__ import annotations

import numpy as np
from numba import njit

N_METRICS = 7  # total, annualized, annualized_volatility, max_drawdown, sharpe, sortino, calmar


@njit(cache=True, nogil=True)
def return_metrics_nb(r: np.ndarray, ann_factor: float, out: np.ndarray) -> None:
    """Write the seven metrics of bar returns ``r`` (NaN skipped) into ``out``."""
    n = r.shape[0]
    growth, cum, peak, mdd = 1.0, 1.0, 1.0, 0.0
    cnt, total, down2 = 0, 0.0, 0.0
    for i in range(n):
        x = r[i]
        cum *= 1.0 if np.isnan(x) else 1.0 + x  # a missing return holds the curve (as vectorbt's)
        peak = cum if (i == 0 or cum > peak) else peak
        dd = cum / peak - 1.0
        mdd = dd if dd < mdd else mdd
        if np.isnan(x):
            continue
        growth *= 1.0 + x
        cnt += 1
        total += x
        down2 += min(x, 0.0) ** 2
    if n == 0:
        mdd = np.nan
    annualized = growth ** (ann_factor / n) - 1.0 if n > 0 else np.nan
    mean = total / cnt if cnt > 0 else np.nan
    var = 0.0
    for i in range(n):
        if not np.isnan(r[i]):
            var += (r[i] - mean) ** 2
    std = np.sqrt(var / (cnt - 1)) if cnt > 1 else np.nan
    downside = np.sqrt(down2 / cnt) * np.sqrt(ann_factor) if cnt > 0 else np.nan
    short = n < 2
    out[0] = growth - 1.0
    out[1] = annualized
    out[2] = np.nan if short else std * ann_factor ** 0.5
    out[3] = mdd
    out[4] = np.nan if short else (np.inf if std == 0.0 else mean / std * np.sqrt(ann_factor))
    out[5] = np.nan if short else (np.inf if downside == 0.0 else mean * ann_factor / downside)
    out[6] = np.nan if mdd == 0.0 else annualized / abs(mdd)
