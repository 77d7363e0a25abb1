"""Small array kernels strategies reuse for stateful signals (vectorized over instruments)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit


@njit(cache=True)
def _band_breakout(close: np.ndarray, upper: np.ndarray, lower: np.ndarray, mid: np.ndarray) -> np.ndarray:
    t_len, n = close.shape
    out = np.full((t_len, n), np.nan)
    for j in range(n):
        pos = 0.0
        for t in range(t_len):
            c, u, lo, m = close[t, j], upper[t, j], lower[t, j], mid[t, j]
            if np.isnan(c) or np.isnan(u) or np.isnan(lo) or np.isnan(m):
                continue  # no bar or warming up: keep the position, emit nothing
            if c > u:
                pos = 1.0
            elif c < lo:
                pos = -1.0
            elif (pos > 0 and c < m) or (pos < 0 and c > m):
                pos = 0.0
            out[t, j] = pos
    return out


def band_breakout(close: pd.DataFrame, upper: pd.DataFrame, lower: pd.DataFrame, mid: pd.DataFrame) -> pd.DataFrame:
    """Long above ``upper``, short below ``lower``, flat once the close crosses back over ``mid``."""
    arrs = [f.reindex_like(close).to_numpy(np.float64) for f in (close, upper, lower, mid)]
    return pd.DataFrame(_band_breakout(*arrs), index=close.index, columns=close.columns)
