"""The local exchanges' order book, derived from the replayed bars (shared by both front ends).

The store holds bars, not books, so the book is a documented model that moves with the
replayed price, judged from the last CLOSED base bar at the moment (no look-ahead):

* half-spread ``h = max(tick, spread_k x (high - low))``: best bid ``last - h``, best ask
  ``last + h`` (``spread_k = 0`` means no spread: bid = ask = last, the engine's old model);
* levels every ``step = max(tick, h)`` away from the best price, each holding
  ``depth_share x the bar's volume`` contracts (``depth_share = 0`` means unlimited depth at
  the best price, the old model);
* "the bar" of the two lines above is the last closed base bar, or with ``range_ms`` the last
  closed bar of that length (UTC-aligned, aggregated from the base bars: high, low, volume):
  a bar's range grows with its length (about twice from 1H to 4H), so a backtest on 4H base
  bars quotes ``spread x`` a 4H range, and a book meant to charge what it models must too;
* a market order walks the levels from the best price: the fills are one per level, so a
  large order's average price moves away from the last price (size-dependent slippage);
* a resting limit order fills only when a later bar trades THROUGH it by ``through_ticks``
  ticks (a buy: the bar's low at or below ``px - through_ticks x tick``), at most the depth of
  one level per bar, at its own price, as a maker.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qlib_local.sim.market import MarketData

__all__ = ["BookModel", "Level"]

Level = tuple[float, float]  # (price, contracts); contracts math.inf for unlimited depth


@dataclass(frozen=True)
class BookModel:
    spread_k: float = 0.0  # half-spread as a share of the last closed bar's range (0: none)
    depth_share: float = 0.0  # contracts per level as a share of that bar's volume (0: unlimited)
    through_ticks: int = 1  # how far a bar must trade through a resting price to fill it
    range_ms: int = 0  # the bar whose range and volume set the half-spread and a level's depth (0: the base bar)

    def __post_init__(self) -> None:
        if not (isinstance(self.spread_k, int | float) and math.isfinite(self.spread_k) and 0 <= self.spread_k <= 1):
            raise ValueError(f"spread_k must be a finite number in [0, 1], got {self.spread_k!r}")
        if not (isinstance(self.depth_share, int | float) and math.isfinite(self.depth_share)
                and 0 <= self.depth_share <= 1):
            raise ValueError(f"depth_share must be a finite number in [0, 1], got {self.depth_share!r}")
        if isinstance(self.through_ticks, bool) or not isinstance(self.through_ticks, int) or not (
                0 <= self.through_ticks <= 1000):
            raise ValueError(f"through_ticks must be an integer in [0, 1000], got {self.through_ticks!r}")
        if isinstance(self.range_ms, bool) or not isinstance(self.range_ms, int) or not (
                0 <= self.range_ms <= 7 * 86_400_000):
            raise ValueError(f"range_ms must be an integer of milliseconds in [0, one week], got {self.range_ms!r}")

    # ------------------------------------------------------------ the book at a moment
    def _last_closed(self, market: MarketData, inst_id: str, now: int) -> int:
        """Index of the last base bar closed by ``now`` (-1 when none)."""
        s = market.series(inst_id)
        return int(np.searchsorted(s.ts, now - s.base_ms, "right")) - 1

    def _quoted(self, market: MarketData, inst_id: str, now: int) -> tuple[int, int]:
        """Base-bar indices ``[a, b]`` of the bar the book quotes from at ``now`` (``b < a``: none)."""
        s = market.series(inst_id)
        if self.range_ms <= s.base_ms:
            b = self._last_closed(market, inst_id, now)
            return b, b
        end = now // self.range_ms * self.range_ms  # the last close of a range_ms bar by now
        a = int(np.searchsorted(s.ts, end - self.range_ms, "left"))
        return a, int(np.searchsorted(s.ts, end - s.base_ms, "right")) - 1

    def bar_depth(self, market: MarketData, inst_id: str, i: int, j: int | None = None) -> float:
        """Contracts one level holds, from the volume of bars ``i..j`` (default ``i`` alone; inf: unlimited)."""
        j = i if j is None else j
        if self.depth_share == 0 or i < 0 or j < i:
            return math.inf
        s, spec = market.series(inst_id), market.spec(inst_id)
        # USD for inverse, coins for linear
        vol = float(s.quote_volume[i:j + 1].sum()) if spec.inverse else float(s.volume[i:j + 1].sum())
        contracts = self.depth_share * vol / spec.ct_val
        lots = math.floor(contracts / spec.lot_sz + 1e-9) * spec.lot_sz
        return max(lots, spec.lot_sz)  # a traded bar always shows at least one lot

    def half_spread(self, market: MarketData, inst_id: str, now: int) -> float:
        if self.spread_k == 0:
            return 0.0
        s, tick = market.series(inst_id), market.spec(inst_id).tick_sz
        a, b = self._quoted(market, inst_id, now)
        rng = float(s.high[a:b + 1].max() - s.low[a:b + 1].min()) if 0 <= a <= b else 0.0
        return max(tick, math.ceil(self.spread_k * rng / tick - 1e-9) * tick)

    def best(self, market: MarketData, inst_id: str, side: str, last: float, now: int) -> float:
        """The best price a taker on ``side`` meets: the ask for a buy, the bid for a sell."""
        h = self.half_spread(market, inst_id, now)
        return last + h if side == "buy" else last - h

    def walk(self, market: MarketData, inst_id: str, side: str, sz: float, last: float, now: int) -> list[Level]:
        """The (price, contracts) a market order of ``sz`` takes, best level first."""
        spec = market.spec(inst_id)
        h = self.half_spread(market, inst_id, now)
        depth = self.bar_depth(market, inst_id, *self._quoted(market, inst_id, now))
        step = max(spec.tick_sz, h)
        sign = 1.0 if side == "buy" else -1.0
        out: list[Level] = []
        left, k = sz, 0
        while left > 1e-12:
            take = min(left, depth)
            px = spec.round_price(last + sign * (h + k * step))
            if px <= 0:  # a sell walking below zero: the rest at the lowest tick
                px = spec.tick_sz
            out.append((px, take))
            left -= take
            k += 1
        return out

    def through(self, side: str, px: float, tick: float, high: np.ndarray, low: np.ndarray) -> np.ndarray:
        """Which bars trade through a resting ``px`` by ``through_ticks`` ticks."""
        edge = self.through_ticks * tick
        eps = tick * 1e-6
        return (low <= px - edge + eps) if side == "buy" else (high >= px + edge - eps)
