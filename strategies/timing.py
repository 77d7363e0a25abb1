"""Timing strategies: a signal -1/0/1 per instrument and closed bar (NaN keeps the position)."""

import numpy as np
import pandas as pd

from qlib_local.research import TimingStrategy
from qlib_local.research.signals import band_breakout


class SmaCross(TimingStrategy):
    """Long while SMA(fast) > SMA(slow), short while below."""

    def __init__(self, fast: int, slow: int):
        self.fast, self.slow = int(fast), int(slow)

    def factors(self) -> list[str]:
        return [f"Sma_{self.fast}", f"Sma_{self.slow}"]

    def signal(self, ctx) -> pd.DataFrame:
        return np.sign(ctx.factor(f"Sma_{self.fast}") - ctx.factor(f"Sma_{self.slow}"))


class BollingerBreakout(TimingStrategy):
    """Long above the upper band, short below the lower one, flat when price crosses the middle."""

    def __init__(self, n: int, k: float):
        self.n, self.k = int(n), float(k)

    def factors(self) -> list[str]:
        return [f"Sma_{self.n}", f"RollingStd_{self.n}"]

    def signal(self, ctx) -> pd.DataFrame:
        mid = ctx.factor(f"Sma_{self.n}")
        width = self.k * ctx.factor(f"RollingStd_{self.n}")
        return band_breakout(ctx.bars.close, mid + width, mid - width, mid)
