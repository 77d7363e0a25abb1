"""Event (selection) strategies: candidates per bar; the library filters, ranks and sizes them."""

import pandas as pd

from qlib_local.research import EventStrategy


class BtcBullAndCoinBull(EventStrategy):
    """Candidates: coins in an EMA up-trend (fast over slow) while BTC is in one too."""

    def __init__(self, fast: int, slow: int):
        self.fast, self.slow = int(fast), int(slow)

    def factors(self) -> list[str]:
        return [f"EmaBias_{self.fast}_{self.slow}", f"BtcBull_{self.fast}_{self.slow}"]

    def candidates(self, ctx) -> pd.DataFrame:
        coin_bull = ctx.frame(f"EmaBias_{self.fast}_{self.slow}") > 0
        btc_bull = ctx.frame(f"BtcBull_{self.fast}_{self.slow}").fillna(False).astype(bool)
        return coin_bull & btc_bull


class RankOnly(EventStrategy):
    """Every instrument is a candidate: selection is purely by the rank factor."""
