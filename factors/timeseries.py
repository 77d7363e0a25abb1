"""Time-series factors: each instrument's value from its own bars only.

``Name(bars, *params)`` gets wide frames (``bars.close`` etc., one column per
instrument) and returns a wide frame of the same shape. The library calls it once per
group of instruments with identical bars, on the rows where they have one, so a row
here is always a bar of every column (another instrument's gaps never enter a window)
and the function may be called several times per panel. Add a function here and
``Name_p1_p2`` works in configs at once. Values depend on the history start for
recursive factors (EMA); rolling ones need only ``n`` bars.
"""

import numpy as np
import pandas as pd


def Sma(bars, n: int) -> pd.DataFrame:
    return bars.close.rolling(n, min_periods=n).mean()


def Ema(bars, n: int) -> pd.DataFrame:
    return bars.close.ewm(span=n, adjust=False, min_periods=n).mean()


def EmaBias(bars, fast: int, slow: int) -> pd.DataFrame:
    """Fast EMA over slow EMA minus one: positive in an up-trend."""
    return Ema(bars, fast) / Ema(bars, slow) - 1.0


def Momentum(bars, n: int) -> pd.DataFrame:
    return bars.close / bars.close.shift(n) - 1.0


def Volatility(bars, n: int) -> pd.DataFrame:
    """Standard deviation of log returns over ``n`` bars."""
    return np.log(bars.close).diff().rolling(n, min_periods=n).std()


def RollingStd(bars, n: int) -> pd.DataFrame:
    """Population standard deviation of the close (Bollinger band width)."""
    return bars.close.rolling(n, min_periods=n).std(ddof=0)


def AboveSma(bars, n: int) -> pd.DataFrame:
    """Filter: 1.0 where the close is above its SMA, else 0.0 (NaN while warming up)."""
    sma = Sma(bars, n)
    return (bars.close > sma).astype(float).where(sma.notna())
