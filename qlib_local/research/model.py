"""The target-position model shared by backtests and live trading.

State in contracts, stepped at strategy bar closes::

    model = Model(cfg, specs)
    state = model.initial_state()
    state, targets = model.step(state, close_time, MarketView(prices, intents), equity_now)
    net = net_targets(targets)                 # account target per instrument
    orders = diff_orders(net, exchange_positions)

``step`` runs the numba kernel :func:`~qlib_local.research.kernels.step_strategy` for
each strategy due at ``close_time``; :func:`~qlib_local.research.kernels.simulate` runs
the same kernel over a whole history, so backtest and live agree contract for contract.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from qlib_local.perp.contracts import INVERSE
from qlib_local.perp.margin import stack_tables
from qlib_local.research import kernels as K
from qlib_local.research.config import ResearchConfig
from qlib_local.specs import InstrumentSpec, spec_for
from qlib_local.timeframes import to_ms


@dataclass
class ModelState:
    """Per strategy: contracts per instrument, last timing signal, event tranches and step count,
    and which instruments each slot selected at its last roll (``rebalance: keep`` compares with it)."""

    strategies: list[str]
    instruments: list[str]
    hold: np.ndarray  # [S, N] contracts
    last_signal: np.ndarray  # [S, N] int8
    tranches: np.ndarray  # [S, Hmax, N] contracts per slot
    tranche_value: np.ndarray  # [S, Hmax] capital each slot opened with
    steps: np.ndarray  # [S] bars stepped (event slot = steps % hold_period)
    members: np.ndarray  # [S, Hmax, N] int8: 1 = selected at the slot's last roll

    def copy(self) -> ModelState:
        return ModelState(list(self.strategies), list(self.instruments), self.hold.copy(),
                          self.last_signal.copy(), self.tranches.copy(), self.tranche_value.copy(),
                          self.steps.copy(), self.members.copy())

    def arrays(self) -> tuple:
        """The state as the kernels take it (the arrays themselves: kernels update them in place)."""
        return (self.hold, self.last_signal, self.tranches, self.tranche_value, self.steps, self.members)

    def liquidated(self) -> ModelState:
        """The state after the account was liquidated (see :func:`~qlib_local.research.kernels.liquidate_state`)."""
        new = self.copy()
        K.liquidate_state(new.arrays())
        return new

    def holdings(self) -> pd.DataFrame:
        """Contracts by strategy (rows) and instrument (columns)."""
        return pd.DataFrame(self.hold, index=pd.Index(self.strategies, name="strategy"),
                            columns=pd.Index(self.instruments, name="instrument"))

    def to_dict(self) -> dict:
        """JSON-serialisable, for a live job to persist between runs."""
        return {"strategies": self.strategies, "instruments": self.instruments, "hold": self.hold.tolist(),
                "last_signal": self.last_signal.tolist(), "tranches": self.tranches.tolist(),
                "tranche_value": self.tranche_value.tolist(), "steps": self.steps.tolist(),
                "members": self.members.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> ModelState:
        """A saved state; one saved before ``members`` existed takes them from the non-zero tranches."""
        tranches = np.asarray(d["tranches"], np.float64)
        members = np.asarray(d["members"], np.int8) if "members" in d else (tranches != 0).astype(np.int8)
        return cls(list(d["strategies"]), list(d["instruments"]), np.asarray(d["hold"], np.float64),
                   np.asarray(d["last_signal"], np.int8), tranches,
                   np.asarray(d["tranche_value"], np.float64), np.asarray(d["steps"], np.int64), members)


@dataclass(frozen=True)
class MarketView:
    """What the model sees at a close: last close per instrument and each due strategy's intent.

    Timing intents: -1/0/1 per instrument (NaN = no bar, keep). Event intents: True for the
    selected instruments. Use :func:`qlib_local.research.intents.latest_intents` to build them.
    """

    prices: pd.Series
    intents: dict[str, pd.Series]


class Model:
    """Static parameters of a config's strategies as arrays, plus the step function."""

    def __init__(self, cfg: ResearchConfig, specs: dict[str, InstrumentSpec] | None = None):
        self.cfg = cfg
        self.strategies = [s.id for s in cfg.strategies]
        self.instruments = cfg.instruments
        sp = [spec_for(specs or {}, i) for i in self.instruments]
        self.specs = sp
        self.ct_val = np.array([s.ct_val for s in sp], np.float64)
        self.ct_type = np.array([s.ct_type_code for s in sp], np.int64)
        self.lot_sz = np.array([s.lot_sz for s in sp], np.float64)
        # one wallet per settlement coin (several only in a COIN-M account of several coins)
        self.coins = [c for c, _ in cfg.initial_wallets] or [self.settle_ccy]
        self.coin_of = np.array([self.coins.index(s.settle_ccy) if cfg.multi_coin else 0 for s in sp], np.int64)
        ss = cfg.strategies
        self.kind = np.array([K.TIMING if s.kind == "timing" else K.EVENT for s in ss], np.int64)
        self.position = np.array([s.position for s in ss], np.float64)
        self.leverage = np.array([s.leverage for s in ss], np.float64)
        self.vol_ratio = np.array([s.volatility_ratio for s in ss], np.float64)
        self.n_inst = np.array([len(s.instruments) for s in ss], np.float64)
        self.hold_period = np.array([s.hold_period if s.kind == "event" else 1 for s in ss], np.int64)
        self.side = np.array([-1.0 if s.side == "short" else 1.0 for s in ss], np.float64)
        self.rebalance = np.array([K.KEEP_CONTRACTS if s.rebalance == "keep" else K.RESIZE for s in ss], np.int64)
        self.min_trade = np.array([s.min_trade for s in ss], np.float64)
        self.rule_ms = np.array([s.rule_ms for s in ss], np.int64)
        self.offset_ms = np.array([s.offset_ms for s in ss], np.int64)
        self._col = {inst: j for j, inst in enumerate(self.instruments)}

    # ------------------------------------------------------------------ kernel arguments
    @property
    def params(self) -> tuple:
        """Per-strategy parameters as the kernels take them (see :mod:`~qlib_local.research.kernels`)."""
        return (self.kind, self.position, self.leverage, self.vol_ratio, self.n_inst, self.hold_period, self.side,
                self.rebalance, self.min_trade)

    @property
    def inst(self) -> tuple:
        """Per-instrument contract facts as the kernels take them."""
        return (self.ct_val, self.ct_type, self.lot_sz)

    def margin(self) -> tuple:
        """Maintenance tiers [N, K] (bounds, rates, cums) and liquidation fees [N]."""
        bounds, rates, cums = stack_tables([s.margin_table for s in self.specs])
        return (bounds, rates, cums, np.array([s.liq_fee for s in self.specs], np.float64))

    @property
    def settle_ccy(self) -> str:
        """The currency the account's equity is in: the one it settles in, or USD for a COIN-M
        account of several coins (each coin's wallet valued at the coin's price)."""
        if self.cfg.multi_coin:
            return "USD"
        return self.specs[0].settle_ccy if self.specs else "USDT"

    @property
    def multi_coin(self) -> bool:
        return self.cfg.multi_coin

    def fx(self, price: np.ndarray) -> np.ndarray:
        """[N] settlement currency per unit of equity's currency: ones, or for a multi-coin account
        (equity in USD) 1 / each inverse swap's price (USD per coin), as the backtest kernel sizes."""
        if not self.multi_coin:
            return np.ones(len(self.instruments))
        ok = np.isfinite(price) & (price > 0)
        return np.where(ok, 1.0 / np.where(ok, price, 1.0), 1.0)

    @property
    def inverse(self) -> bool:
        return bool(len(self.ct_type)) and bool(self.ct_type[0] == INVERSE)

    # ------------------------------------------------------------------ state
    def initial_state(self) -> ModelState:
        s, n, h = len(self.strategies), len(self.instruments), int(self.hold_period.max())
        return ModelState(list(self.strategies), list(self.instruments), np.zeros((s, n)),
                          np.zeros((s, n), np.int8), np.zeros((s, h, n)), np.zeros((s, h)), np.zeros(s, np.int64),
                          np.zeros((s, h, n), np.int8))

    def due_mask(self, close_ms: np.ndarray) -> np.ndarray:
        """[S, T]: which strategies close a bar at each time (ms)."""
        return (close_ms[None, :] - self.offset_ms[:, None]) % self.rule_ms[:, None] == 0

    def due(self, close_time: pd.Timestamp | str) -> list[str]:
        """Ids of the strategies whose (rule, offset) bar closes at ``close_time``."""
        mask = self.due_mask(np.array([to_ms(close_time)], np.int64))[:, 0]
        return [sid for sid, m in zip(self.strategies, mask, strict=True) if m]

    # ------------------------------------------------------------------ encoding
    def encode(self, sid_index: int, intent: pd.Series | pd.DataFrame) -> np.ndarray:
        """Intent values -> int8 codes over the account's instruments (see kernels)."""
        frame = intent.to_frame().T if isinstance(intent, pd.Series) else intent
        vals = frame.reindex(columns=self.instruments).to_numpy(np.float64)
        if self.kind[sid_index] == K.TIMING:
            return np.where(np.isnan(vals), K.KEEP, np.sign(vals)).astype(np.int8)
        return (np.nan_to_num(vals, nan=0.0) > 0).astype(np.int8)

    def prices_array(self, prices: pd.Series) -> np.ndarray:
        return prices.reindex(self.instruments).to_numpy(np.float64)

    # ------------------------------------------------------------------ step
    def step(self, state: ModelState, close_time: pd.Timestamp | str, view: MarketView,
             equity_now: float) -> tuple[ModelState, pd.DataFrame]:
        """Step every strategy due at ``close_time``; returns the new state and contracts by strategy x instrument.

        ``equity_now`` is the account equity before trading at this close (live: from the
        exchange; backtest: marked to market), in USD for a multi-coin account (each swap is sized
        in its own coin: :meth:`fx`). Strategies not due keep their holdings.
        """
        new = state.copy()
        price = self.prices_array(view.prices)
        fx = self.fx(price)
        cap = max(float(equity_now), 0.0)
        for sid in self.due(close_time):
            s = self.strategies.index(sid)
            if sid not in view.intents:
                raise KeyError(f"strategy {sid} is due at {close_time} but the market view has no intent for it")
            code = self.encode(s, view.intents[sid])[0]
            K.step_strategy(s, self.params, self.inst, code, price, cap * self.position[s], new.arrays(), fx)
        return new, new.holdings()


def net_targets(targets: pd.DataFrame) -> pd.Series:
    """Account target per instrument: the sum over strategies (and their tranches)."""
    return targets.sum(axis=0).round(10)


def diff_orders(net: pd.Series, current: pd.Series | None = None) -> pd.Series:
    """Contracts to trade per instrument (non-zero only): only the difference is ever traded."""
    cur = (current if current is not None else pd.Series(dtype=float)).reindex(net.index.union(
        current.index if current is not None else net.index)).fillna(0.0)
    delta = (net.reindex(cur.index).fillna(0.0) - cur).round(10)
    return delta[delta != 0]
