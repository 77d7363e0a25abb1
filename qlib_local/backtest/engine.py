"""Backtest a config: factors once, the model kernel over the base timeline, exact accounting.

The accounting (linear and inverse swaps, funding, maintenance margin and liquidation,
fees on net fills) happens in :func:`qlib_local.research.kernels.simulate`; vectorbt then
gets the resulting returns and orders for statistics and plots (see
:mod:`qlib_local.backtest.stats`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from qlib_local.errors import DataError
from qlib_local.perp.contracts import INVERSE
from qlib_local.research.config import ResearchConfig
from qlib_local.research.data import MarketData, align_intents, load_market_data
from qlib_local.research.fills import fill_cost
from qlib_local.research.intents import compute_intents
from qlib_local.research.kernels import FLOW_FUNDING, FLOW_LIQUIDATION, simulate
from qlib_local.research.kernels_wallets import simulate_wallets
from qlib_local.research.model import Model, ModelState
from qlib_local.research.styles import order_styles


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
    flows: np.ndarray | None = None  # [T, S, 3] fee, funding, liquidation per strategy (settlement currency)
    margin: bool = True  # whether maintenance margin and liquidation were modelled
    coin_usd: pd.DataFrame | None = None  # multi-coin accounts: USD per coin at each close (what values the wallets)

    @property
    def initial_value(self) -> float:
        """The account's starting equity in its currency (a multi-coin account: its wallets in USD
        at the first close)."""
        if self.coin_usd is None:
            return float(self.config.initial_equity)
        return float(sum(w * self.coin_usd[c].iloc[0] for c, w in self.config.initial_wallets))

    @property
    def orders(self) -> pd.DataFrame:
        return orders_frame(self)

    @property
    def settle_ccy(self) -> str:
        return self.model.settle_ccy

    @property
    def usd_price(self) -> pd.Series | None:
        """USD per unit of the settlement coin at each close, for an inverse (coin-settled)
        account: an inverse swap's price is USD per coin. None for a USDT account."""
        if not self.model.inverse or self.model.multi_coin:  # a multi-coin account's equity is in USD already
            return None
        inst = self.model.instruments[0]
        return self.data.close[inst].reindex(self.positions.index).ffill().bfill().rename("usd_per_" + self.settle_ccy)

    @property
    def equity_usd(self) -> pd.Series | None:
        """The account's total equity valued in USD (inverse accounts; None for USDT ones)."""
        if self.model.multi_coin:
            return self.equity["total"].rename("usd")
        px = self.usd_price
        return None if px is None else (self.equity["total"] * px).rename("usd")

    def strategy_frame(self, sid: str) -> pd.DataFrame:
        """Contracts of one strategy per instrument over time."""
        if self.strategy_positions is None:
            raise ValueError("run_backtest(record_positions=True) keeps per-strategy positions")
        s = self.model.strategies.index(sid)
        return pd.DataFrame(self.strategy_positions[:, s, :], index=self.positions.index, columns=self.positions.columns)

    def cash_flows(self, kind: int) -> pd.DataFrame:
        """Per-strategy fees (``FLOW_FEE``), funding or liquidation losses at each close."""
        if self.flows is None:
            raise ValueError("run_backtest(record_positions=True) keeps per-bar cash flows")
        return pd.DataFrame(self.flows[:, :, kind], index=self.positions.index, columns=self.model.strategies)

    @property
    def funding(self) -> pd.DataFrame:
        """Funding received (+) or paid (-) per strategy at each close."""
        return self.cash_flows(FLOW_FUNDING)

    @property
    def liquidations(self) -> pd.DataFrame:
        """One row per liquidation: when, the account's loss, and the strategies hit."""
        if self.flows is None:
            return pd.DataFrame(columns=["time", "loss", "strategies"])
        liq = self.flows[:, :, FLOW_LIQUIDATION]
        rows = []
        for t in np.nonzero((liq != 0).any(axis=1))[0]:
            hit = [sid for s, sid in enumerate(self.model.strategies) if liq[t, s] != 0]
            before = float(self.equity["total"].iloc[t - 1]) if t > 0 else self.initial_value
            rows.append({"time": self.positions.index[t], "loss": -float(liq[t].sum()),
                         "equity_before": before, "strategies": hit})
        return pd.DataFrame(rows, columns=["time", "loss", "equity_before", "strategies"])


def run_backtest(cfg: ResearchConfig, store=None, start=None, end=None, data: MarketData | None = None,
                 record_positions: bool = True, margin: bool | None = None) -> BacktestResult:
    """Run every strategy of ``cfg`` in one account; pass ``data`` to reuse loaded panels.

    ``margin``: judge maintenance margin each bar and liquidate (see :mod:`qlib_local.perp.margin`);
    default: the config's ``margin``.
    """
    margin = cfg.margin if margin is None else margin
    if data is None:
        data = load_market_data(cfg, store, start, end)
    model = Model(cfg, data.specs)
    intents = compute_intents(cfg, data.bars)
    due, codes = align_intents(model, intents, data.index)
    state = model.initial_state()
    fees = cfg.fees
    market = data.arrays(model.instruments)
    args = (market, model.inst, model.margin(), model.params, due, codes, cfg.initial_equity,
            fees.taker, fees.slippage, state.arrays(), record_positions, margin)
    coin_usd = coin_prices(model, market[0], data.index) if model.multi_coin else None
    if coin_usd is not None:
        wallets = (model.coin_of, np.ascontiguousarray(coin_usd.to_numpy(np.float64)),
                   np.array([w for _, w in cfg.initial_wallets], np.float64))
        execution = None if cfg.default_fills else execution_arrays(cfg, data, model)
        net, eq_s, eq_before, strat_hold, flows = simulate_wallets(*args[:6], wallets, *args[7:], execution)
    elif cfg.default_fills:  # the original kernel path, bit for bit
        net, eq_s, eq_before, strat_hold, flows = simulate(*args)
    else:
        net, eq_s, eq_before, strat_hold, flows = simulate(*args, execution_arrays(cfg, data, model))
    idx = data.index
    equity = pd.DataFrame(eq_s, index=idx, columns=model.strategies)
    if coin_usd is None:
        idle: float | pd.Series = cfg.initial_equity * (1.0 - model.position.sum())
    else:  # the wallets' unallocated share, at the coins' prices
        share = 1.0 - model.position.sum()
        idle = sum(w * share * coin_usd[c] for c, w in cfg.initial_wallets)
    total = equity.sum(axis=1) + idle
    if float(np.max(idle)) > 1e-9:
        equity["unallocated"] = idle
    equity.insert(0, "total", total)
    positions = pd.DataFrame(net, index=idx, columns=pd.Index(model.instruments, name="instrument"))
    return BacktestResult(cfg, data, model, equity, pd.Series(eq_before, index=idx, name="equity_before"),
                          positions, strat_hold if record_positions else None, intents, state,
                          flows if record_positions else None, margin, coin_usd)


def coin_prices(model: Model, close: np.ndarray, index: pd.DatetimeIndex) -> pd.DataFrame:
    """USD per coin at each close [T, C] for a multi-coin account: the close of the coin's first
    inverse swap (USD per coin), carried over gaps and back to the start."""
    cols = {c: close[:, int(np.flatnonzero(model.coin_of == k)[0])] for k, c in enumerate(model.coins)}
    frame = pd.DataFrame(cols, index=index).ffill().bfill()
    if not np.isfinite(frame.to_numpy()).all():
        raise DataError(f"no price of {', '.join(frame.columns[~np.isfinite(frame.to_numpy()).all(axis=0)])} "
                        f"in the range to value its wallet")
    return frame


def execution_arrays(cfg: ResearchConfig, data: MarketData, model: Model) -> tuple:
    """The kernel's ``execution``: (one fill tuple per style of ``cfg.styles``, each strategy's style
    index [S]). A fill tuple: style, spread, impact, maker fee, deadline, tick [N], liquidity [T, N]
    (contracts traded per base bar: base volume / ctVal, inverse quote volume / ctVal), twap [4]
    (slices, window bars, min notional, slice style; see :mod:`qlib_local.research.fills`)."""
    insts = model.instruments
    tick = np.array([s.tick_sz for s in model.specs], np.float64)

    def arr(frame: pd.DataFrame | None) -> np.ndarray:
        if frame is None:
            return np.full((len(data.index), len(insts)), np.nan)
        return frame.reindex(index=data.index, columns=insts).to_numpy(np.float64)

    liquidity = np.ascontiguousarray(np.where(model.ct_type == INVERSE, arr(data.quote_volume), arr(data.volume))
                                     / model.ct_val)
    per_style = tuple((ex.code, float(ex.spread), float(ex.impact), float(cfg.fees.maker), int(ex.deadline_bars), tick,
                       liquidity, np.array([ex.twap_slices, ex.twap_window_bars, ex.twap_min_notional, ex.slice_code],
                                           np.float64)) for ex in cfg.styles)
    return per_style, cfg.style_of


def order_style_index(res: BacktestResult, t_idx: np.ndarray, i_idx: np.ndarray) -> np.ndarray:
    """The style (index into ``cfg.styles``) of each net order at (t, i), by the kernel's own rule
    (:func:`~qlib_local.research.styles.order_styles` on the strategies' change of contracts; a
    liquidation at t empties them before the step)."""
    styles = res.config.styles
    if len(styles) == 1:
        return np.zeros(len(t_idx), np.int64)
    if res.strategy_positions is None or res.flows is None:
        raise ValueError("orders of a config with per-strategy styles need run_backtest(record_positions=True)")
    hold = res.strategy_positions
    out = np.empty(len(t_idx), np.int64)
    for k, (t, i) in enumerate(zip(t_idx, i_idx, strict=True)):
        liquidated = t == 0 or bool((res.flows[t, :, FLOW_LIQUIDATION] != 0).any())
        before = np.zeros(hold.shape[1]) if liquidated else hold[t - 1, :, i]
        out[k] = order_styles((hold[t, :, i] - before)[:, None], res.config.style_of)[0]
    return out


def fill_prices(close: np.ndarray, delta: np.ndarray, slippage: float) -> np.ndarray:
    return close * (1.0 + slippage * np.sign(delta))


def notional(contracts: np.ndarray, price: np.ndarray, ct_val: np.ndarray, ct_type: np.ndarray) -> np.ndarray:
    """Settlement-currency notional (vectorized :func:`qlib_local.perp.unit_notional`)."""
    unit = np.where(ct_type == INVERSE, ct_val / price, ct_val * price)
    return np.abs(contracts) * unit


def orders_frame(res: BacktestResult) -> pd.DataFrame:
    """Net orders the account sends: one row per instrument and close where the target changed,
    with the style it is filled in (``research.styles``: its largest contributor's).

    Notional and fee are in the settlement currency (USDT, or the coin for inverse contracts); a
    multi-coin account's orders also carry their coin (``ccy``) and the fee in USD (``fee_usd``)."""
    net = res.positions.to_numpy()
    delta = np.diff(net, axis=0, prepend=np.zeros((1, net.shape[1])))
    t_idx, i_idx = np.nonzero(np.abs(delta) > 1e-12)
    close = res.data.close.reindex(columns=res.model.instruments).to_numpy()[t_idx, i_idx]
    d = delta[t_idx, i_idx]
    fees = res.config.fees
    fill = fill_prices(close, d, fees.slippage)
    rate = np.full(len(d), fees.taker)
    style = order_style_index(res, t_idx, i_idx)
    if not res.config.default_fills:  # the kernel's own fill model, order by order, in its style
        per_style, _ = execution_arrays(res.config, res.data, res.model)
        c, h, lo, _, _ = res.data.arrays(res.model.instruments)
        for k, (t, i) in enumerate(zip(t_idx, i_idx, strict=True)):
            held = float(net[t - 1, i]) if t > 0 else 0.0  # a twap flip's crossing slice depends on it
            _, fill[k], rate[k] = fill_cost(per_style[style[k]], int(t), int(i), float(d[k]), c, h, lo,
                                            res.model.ct_val[i], res.model.ct_type[i], fees.taker, fees.slippage, held)
    value = notional(d, fill, res.model.ct_val[i_idx], res.model.ct_type[i_idx])
    extra = {}
    if res.coin_usd is not None:  # several coins: each order's in its own, and the fee in USD at the close
        coin = np.asarray(res.model.coins)[res.model.coin_of[i_idx]]
        usd = res.coin_usd.to_numpy()[t_idx, res.model.coin_of[i_idx]]
        extra = {"ccy": coin, "fee_usd": value * rate * usd}
    return pd.DataFrame({
        "timestamp": res.positions.index[t_idx],
        "instrument": np.asarray(res.model.instruments)[i_idx],
        "side": np.where(d > 0, "buy", "sell"),
        "contracts": np.round(d, 10),
        "price": fill,
        "notional": value,
        "fee": value * rate,
        "position_after": net[t_idx, i_idx],
        "style": np.asarray([e.style for e in res.config.styles])[style],
        **extra,
    })
