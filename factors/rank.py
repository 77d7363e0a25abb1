"""Rank factors: scores that order an event strategy's candidates (``ascending`` in the config).

Like cross-sectional factors they get the whole panel (rows = the union of the
instruments' bars, NaN where one has none); a score that needs only the instrument's
own history can live in ``timeseries.py`` instead, which ``rank_factor`` also accepts.
"""

import numpy as np
import pandas as pd


def QuoteVolumeMean(bars, n: int) -> pd.DataFrame:
    return bars.quote_volume.rolling(n, min_periods=n).mean()


def Reversal(bars, n: int) -> pd.DataFrame:
    """Minus the return over ``n`` bars: losers score high."""
    return 1.0 - bars.close / bars.close.shift(n)


def TrendScore(bars, n: int) -> pd.DataFrame:
    """Return over ``n`` bars per unit of volatility."""
    logc = np.log(bars.close)
    return logc.diff(n) / (logc.diff().rolling(n, min_periods=n).std() * np.sqrt(n))
