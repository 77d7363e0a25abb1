"""Backtest a config: factors once, the model kernel over the base timeline, exact accounting.

The accounting (linear USDT swaps, leverage via margin, fees on net fills) happens in
:func:`qlib_local.research.kernels.simulate`; vectorbt then gets the resulting returns
and orders for statistics and plots (see :mod:`qlib_local.backtest.stats`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from qlib_local.research.config import ResearchConfig
from qlib_local.research.data import MarketData, align_intents, load_market_data
from qlib_local.research.intents import compute_intents
from qlib_local.research.kernels import simulate
from qlib_local.research.model import Model, ModelState


@dataclass
class BacktestResult:
    config: ResearchConfig
    data: MarketData
    model: Model
    equity: pd.DataFrame  # total, one column per strategy (and 'unallocated' if positions sum < 1)
    equity_before: pd.Series  # account equity at each close before trading (what the model sized from)
    positions: pd.DataFrame  # net contracts per instrument after each close
    strategy_positions: np.ndarray | None  # [T, S, N] contracts, when recorded
    intents: dict[str, pd.DataFrame]
    final_state: ModelState

    @property
    def orders(self) -> pd.DataFrame:
        return orders_frame(self)

    def strategy_frame(self, sid: str) -> pd.DataFrame:
        """Contracts of one strategy per instrument over time."""
        if self.strategy_positions is None:
            raise ValueError("run_backtest(record_positions=True) keeps per-strategy positions")
        s = self.model.strategies.index(sid)
        return pd.DataFrame(self.strategy_positions[:, s, :], index=self.positions.index, columns=self.positions.columns)


def run_backtest(cfg: ResearchConfig, store=None, start=None, end=None, data: MarketData | None = None,
                 record_positions: bool = True) -> BacktestResult:
    """Run every strategy of ``cfg`` in one account; pass ``data`` to reuse loaded panels."""
    if data is None:
        data = load_market_data(cfg, store, start, end)
    model = Model(cfg, data.specs)
    intents = compute_intents(cfg, data.bars)
    due, codes = align_intents(model, intents, data.index)
    state = model.initial_state()
    close = data.close.reindex(columns=model.instruments).to_numpy(np.float64)
    fees = cfg.fees
    net, eq_s, eq_before, strat_hold = simulate(
        close, model.ct_val, model.lot_sz, due, codes, model.kind, model.position, model.leverage,
        model.vol_ratio, model.n_inst, model.hold_period, model.side, cfg.initial_equity, fees.taker,
        fees.slippage, state.hold, state.last_signal, state.tranches, state.tranche_value, state.steps,
        record_positions,
    )
    idx = data.index
    equity = pd.DataFrame(eq_s, index=idx, columns=model.strategies)
    idle = cfg.initial_equity * (1.0 - model.position.sum())
    total = equity.sum(axis=1) + idle
    if idle > 1e-9:
        equity["unallocated"] = idle
    equity.insert(0, "total", total)
    positions = pd.DataFrame(net, index=idx, columns=pd.Index(model.instruments, name="instrument"))
    return BacktestResult(cfg, data, model, equity, pd.Series(eq_before, index=idx, name="equity_before"),
                          positions, strat_hold if record_positions else None, intents, state)


def orders_frame(res: BacktestResult) -> pd.DataFrame:
    """Net orders the account sends: one row per instrument and close where the target changed."""
    net = res.positions.to_numpy()
    delta = np.diff(net, axis=0, prepend=np.zeros((1, net.shape[1])))
    t_idx, i_idx = np.nonzero(np.abs(delta) > 1e-12)
    close = res.data.close.reindex(columns=res.model.instruments).to_numpy()[t_idx, i_idx]
    d = delta[t_idx, i_idx]
    ct = res.model.ct_val[i_idx]
    fees = res.config.fees
    fill = close * (1.0 + fees.slippage * np.sign(d))
    return pd.DataFrame({
        "timestamp": res.positions.index[t_idx],
        "instrument": np.asarray(res.model.instruments)[i_idx],
        "side": np.where(d > 0, "buy", "sell"),
        "contracts": np.round(d, 10),
        "price": fill,
        "notional": np.abs(d) * ct * fill,
        "fee": np.abs(d) * ct * fill * fees.taker,
        "position_after": net[t_idx, i_idx],
    })
