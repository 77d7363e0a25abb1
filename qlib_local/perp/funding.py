"""Funding schedule: when a perpetual settles funding.

OKX and Binance settle every 8 hours at 00:00, 08:00 and 16:00 UTC unless an
instrument says otherwise (``InstrumentSpec.funding_interval_h``); the times are
epoch-aligned multiples of the interval, so any interval dividing a day keeps
midnight as a funding time.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from qlib_local.timeframes import HOUR_MS

FUNDING_INTERVAL_MS = 8 * HOUR_MS


@njit(cache=True)
def is_funding_time(ts_ms: int, interval_ms: int) -> bool:
    """True when ``ts_ms`` is a funding settlement time of an instrument with this interval."""
    return interval_ms > 0 and ts_ms % interval_ms == 0


def funding_times(start_ms: int, end_ms: int, interval_ms: int = FUNDING_INTERVAL_MS) -> np.ndarray:
    """Funding times in ``(start_ms, end_ms]`` (ms): the settlements a position held over
    that span pays or receives."""
    if interval_ms <= 0 or end_ms <= start_ms:
        return np.empty(0, np.int64)
    first = (start_ms // interval_ms + 1) * interval_ms
    return np.arange(first, end_ms + 1, interval_ms, dtype=np.int64)
