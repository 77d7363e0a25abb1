"""Sweep combinations grouped by data timeline: each group's panels are read once.

Combinations with the same exchange, account instruments and plugins share a group. A
group's base timeline is the coarsest exchange timeframe dividing EVERY combination's
rules and offsets (a 1H and a 4H/1h variant both walk 1H bars), so all of them run on one
set of arrays, and each distinct (instruments, rule, offset) panel is read from the store
once. A combination's results equal ``run_backtest`` of its config on ``group.market(cfg)``.

A window (walk-forward) cuts a group without lookahead: its timeline is the closes in the
window, and each panel keeps only the bars CLOSED by the window's last close, so nothing
after the window exists for factors, signals or the account; the history before the
window stays, to warm factors up.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterator, MutableMapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from qlib_local.research import kernels as K
from qlib_local.research.config import ResearchConfig, StrategyConfig
from qlib_local.research.data import MarketData, load_market_data
from qlib_local.research.factors import Bars
from qlib_local.research.model import Model
from qlib_local.timeframes import parse_timeframe

PanelKey = tuple[tuple[str, ...], str, str]


def group_key(cfg: ResearchConfig) -> tuple:
    return (cfg.exchange, tuple(cfg.instruments), str(cfg.plugins))


def panel_key(sc: StrategyConfig) -> PanelKey:
    return (tuple(sc.instruments), sc.rule_type, sc.offset)


def intent_key(sc: StrategyConfig) -> tuple:
    """Everything a strategy's intents depend on (sizing fields such as leverage are not)."""
    if sc.kind == "timing":
        return (panel_key(sc), "timing", sc.strategy_name)
    return (panel_key(sc), "event", sc.strategy_name, sc.factors, sc.cross_sect_factor, sc.rank_factor,
            sc.ascending, sc.symbol_num_limit)


@dataclass
class DataGroup:
    """Combinations sharing one timeline: their ids, the market arrays and each panel once."""

    ids: list[int]
    data: MarketData  # base timeline (close times); ``bars`` unused, see ``panels``
    panels: dict[PanelKey, Bars]

    @property
    def index(self) -> pd.DatetimeIndex:
        return self.data.index

    def market(self, cfg: ResearchConfig) -> MarketData:
        """The group's data as ``run_backtest`` takes it for one combination's config."""
        d = self.data
        return MarketData(d.base_tf, d.close, {sc.id: self.panels[panel_key(sc)] for sc in cfg.strategies}, d.specs,
                          high=d.high, low=d.low, mark=d.mark, funding=d.funding)

    def window(self, first: pd.Timestamp, last: pd.Timestamp) -> DataGroup:
        """The closes in [first, last]; panels cut to the bars closed by ``last``."""
        idx = self.data.index
        rows = slice(idx.searchsorted(first, "left"), idx.searchsorted(last, "right"))

        def cut(frame: pd.DataFrame | None) -> pd.DataFrame | None:
            return None if frame is None else frame.iloc[rows]

        d = self.data
        data = MarketData(d.base_tf, cut(d.close), {}, d.specs, high=cut(d.high), low=cut(d.low), mark=cut(d.mark),
                          funding=cut(d.funding))
        panels = {}
        for key, bars in self.panels.items():
            opened_by = last - pd.Timedelta(milliseconds=parse_timeframe(key[1]))
            n = bars.index.searchsorted(opened_by, "right")
            panels[key] = bars if n == len(bars.index) else bars.upto(n)
        return DataGroup(self.ids, data, panels)


def load_groups(configs: dict[int, ResearchConfig], store, start=None, end=None, funding=None,
                mark=None) -> list[DataGroup]:
    """Read each group's panels once (one union config per group; see the module docstring)."""
    by_key: dict[tuple, list[int]] = {}
    for k, cfg in configs.items():
        by_key.setdefault(group_key(cfg), []).append(k)
    groups = []
    for ids in by_key.values():
        first = configs[ids[0]]
        distinct: dict[PanelKey, StrategyConfig] = {}
        for k in ids:
            for sc in configs[k].strategies:
                distinct.setdefault(panel_key(sc), replace(sc, id=f"panel{len(distinct)}"))
        union = replace(first, strategies=tuple(distinct.values()))
        data = load_market_data(union, store, start, end, funding=funding, mark=mark)
        panels = {key: data.bars[sc.id] for key, sc in distinct.items()}
        groups.append(DataGroup(ids, replace(data, bars={}), panels))
    return groups


def encode_intent(model: Model, s: int, frame: pd.DataFrame, index: pd.DatetimeIndex) -> np.ndarray:
    """One strategy's intents as int8 codes [T, N] on the base timeline (as ``align_intents`` does
    for a whole config: KEEP / not selected where the strategy has no closed bar)."""
    codes = np.full((len(index), len(model.instruments)), K.KEEP if model.kind[s] == K.TIMING else 0, np.int8)
    rows = index.get_indexer(frame.index)
    ok = rows >= 0
    if ok.any():
        codes[rows[ok]] = model.encode(s, frame[ok])
    return codes


def _nbytes(value) -> int:
    if isinstance(value, pd.DataFrame):
        return int(value.memory_usage(index=False, deep=False).sum())
    return int(getattr(value, "nbytes", 0))


class FactorCache(MutableMapping):
    """A factor cache (for :class:`~qlib_local.research.factors.FactorContext`) holding at most
    ``max_bytes``: least recently used factors go first, the newest always stays."""

    def __init__(self, max_bytes: int):
        self.max_bytes = int(max_bytes)
        self.bytes = 0
        self._items: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()

    def __getitem__(self, key: Hashable):
        value, _ = self._items[key]
        self._items.move_to_end(key)
        return value

    def __setitem__(self, key: Hashable, value) -> None:
        if key in self._items:
            del self[key]
        size = _nbytes(value)
        self._items[key] = (value, size)
        self.bytes += size
        while self.bytes > self.max_bytes and len(self._items) > 1:
            old = next(iter(self._items))
            del self[old]

    def __delitem__(self, key: Hashable) -> None:
        _, size = self._items.pop(key)
        self.bytes -= size

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
