"""The account's strategies at one bar close, through the research model the backtest uses.

``Book.step`` reads each due strategy's bars (closed bars only: ``end`` = the close),
takes the last row of exactly the backtest's intent computation, and calls
``Model.step`` with the exchange's equity. Instruments whose data is stale get no bar
(timing: keep, event: not selected) and no price.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from qlib_local.research import MarketView, Model, ModelState, latest_intents, load_config, net_targets
from qlib_local.research.data import common_base, load_strategy_bars
from qlib_local.specs import InstrumentSpec, load_specs
from qlib_local.store import KlineStore
from qlib_local.timeframes import DAY_MS, EXCHANGE_TIMEFRAMES, from_ms, to_ms


@dataclass
class StepResult:
    close: pd.Timestamp
    due: list[str]
    prices: pd.Series
    intents: dict[str, pd.Series]
    state: ModelState
    targets: pd.DataFrame  # contracts, strategy x instrument
    net: pd.Series  # contracts per instrument

    def tranche_rows(self) -> list[tuple[str, int, str, float, float]]:
        """(strategy, slot, instrument, contracts, slot value) of every non-empty event tranche."""
        st = self.state
        rows = []
        for s, sid in enumerate(st.strategies):
            for k in range(st.tranches.shape[1]):
                for j, inst in enumerate(st.instruments):
                    v = float(st.tranches[s, k, j])
                    if v != 0:
                        rows.append((sid, k, inst, v, float(st.tranche_value[s, k])))
        return rows


class Book:
    """One account's strategies config, its model and the store it reads."""

    def __init__(self, config_path: str | Path, store: KlineStore, specs: dict[str, InstrumentSpec] | None = None,
                 history_bars: int | None = None):
        self.store = store
        self.cfg = load_config(config_path, store)
        stored = load_specs(store.root, self.cfg.exchange)
        self.specs = {**stored, **(specs or {})}
        self.model = Model(self.cfg, self.specs)
        self.history_bars = history_bars
        self.base_tf = common_base(self.cfg)

    @property
    def instruments(self) -> list[str]:
        return self.model.instruments

    def due(self, close: pd.Timestamp | str | int) -> list[str]:
        return self.model.due(from_ms(to_ms(close)))

    def initial_state(self) -> ModelState:
        return self.model.initial_state()

    def history_start(self, close_ms: int) -> pd.Timestamp | None:
        if self.history_bars is None:
            return None
        longest = max(s.rule_ms for s in self.cfg.strategies)
        return from_ms(close_ms - self.history_bars * longest)

    def prices(self, close_ms: int, stale: set[str]) -> pd.Series:
        """Last close per instrument at ``close_ms`` (as the backtest: forward-filled base closes)."""
        base_ms = EXCHANGE_TIMEFRAMES[self.base_tf]
        start = from_ms(close_ms - max(DAY_MS, 500 * base_ms))
        panel = self.store.read_panel(self.cfg.exchange, self.instruments, self.base_tf, start, from_ms(close_ms),
                                      fields=("close",))["close"].reindex(columns=self.instruments)
        last = panel.ffill().iloc[-1] if len(panel) else pd.Series(np.nan, index=self.instruments)
        last = last.astype(float)
        last[list(stale & set(self.instruments))] = np.nan
        return last

    def step(self, state: ModelState, close_ms: int, equity: float, stale: set[str] | None = None) -> StepResult:
        """The due strategies at ``close_ms`` from ``equity`` (in USD for a multi-coin account)."""
        stale = stale or set()
        close = from_ms(close_ms)
        due = self.due(close)
        prices = self.prices(close_ms, stale)
        intents: dict[str, pd.Series] = {}
        if due:
            bars = load_strategy_bars(self.cfg, self.store, self.history_start(close_ms), close)
            intents = latest_intents(self.cfg, bars, close, due)
            for sid, row in intents.items():
                masked = [i for i in row.index if i in stale]
                if masked:
                    row = row.copy()
                    row[masked] = np.nan if self.cfg.strategy(sid).kind == "timing" else False
                    intents[sid] = row
        new, targets = self.model.step(state, close, MarketView(prices, intents), equity)
        return StepResult(close, due, prices, intents, new, targets, net_targets(targets))


def attribute_equity(prev_equity: dict[str, float], prev_hold: pd.DataFrame, new_hold: pd.DataFrame,
                     prev_prices: pd.Series, prices: pd.Series, ct_val: pd.Series, fees_paid: pd.Series,
                     inverse: pd.Series | None = None, funding: pd.Series | None = None) -> dict[str, float]:
    """Per-strategy equity, as the backtest attributes it: each strategy's PnL on its own contracts
    (``q * (v(price) - v(prev))``, ``v`` linear or inverse as :mod:`qlib_local.perp` defines it),
    fees per instrument shared in proportion to each strategy's change of position, and the
    funding already attributed to each strategy (settlement currency throughout)."""
    ct = ct_val.reindex(prices.index).fillna(0.0)
    inv = (inverse.reindex(prices.index).fillna(False) if inverse is not None
           else pd.Series(False, index=prices.index)).astype(bool)
    value = pd.Series(np.where(inv, -ct / prices.where(prices > 0), ct * prices), index=prices.index)
    prev_value = pd.Series(np.where(inv, -ct / prev_prices.reindex(prices.index).where(lambda p: p > 0),
                                    ct * prev_prices.reindex(prices.index)), index=prices.index)
    move = (value - prev_value).fillna(0.0)
    out = {}
    change = (new_hold - prev_hold.reindex_like(new_hold).fillna(0.0)).abs()
    gross = change.sum(axis=0)
    share = change.div(gross.where(gross > 0), axis=1).fillna(0.0)
    received = funding if funding is not None else pd.Series(dtype=float)
    for sid in new_hold.index:
        pnl = float((prev_hold.loc[sid].reindex(move.index).fillna(0.0) * move).sum()) if sid in prev_hold.index else 0.0
        fee = float((share.loc[sid] * fees_paid.reindex(share.columns).fillna(0.0)).sum())
        out[sid] = prev_equity.get(sid, 0.0) + pnl - fee + float(received.get(sid, 0.0))
    return out
