"""vectorbt on top of the exact accounting: the net orders replayed for trade records.

vectorbt's Portfolio has no leverage or margin: with cash as the limit it would refuse
the model's leveraged orders. So the library keeps the exact account (margin sizing,
net fills, fee attribution per strategy) and hands vectorbt the net orders with their
fill prices and fees, simulated with ``init_cash='auto'`` (unlimited cash), whose profit
equals ours to the cent and which gives trade records (win rate, profit factor, ...).
Imported only when asked for: vectorbt's import alone takes seconds.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import vectorbt as vbt

from qlib_local.backtest.engine import BacktestResult
from qlib_local.backtest.stats import _clean, freq_of
from qlib_local.perp.contracts import INVERSE


def orders_portfolio(res: BacktestResult) -> vbt.Portfolio:
    """The account's net orders replayed by vectorbt (cash sharing, one group, unlimited cash).

    vectorbt knows only linear assets. An inverse contract is a short position of
    ``ctVal`` units in the asset priced ``1/price`` (its PnL ``q ctVal (1/entry - 1/exit)``
    is exactly that), so inverse instruments are replayed on ``1/price`` with negated
    sizes, and vectorbt's profit and fees come out in the coin. Funding and liquidation
    are not orders: vectorbt's profit is the trading part of ours.
    """
    close = res.data.close.reindex(columns=res.model.instruments)
    net = res.positions.to_numpy()
    delta = np.diff(net, axis=0, prepend=np.zeros((1, net.shape[1])))
    inverse = res.model.ct_type == INVERSE
    units = delta * res.model.ct_val * np.where(inverse, -1.0, 1.0)
    size = pd.DataFrame(np.where(np.abs(units) > 0, units, np.nan), index=close.index, columns=close.columns)
    fill = close.to_numpy() * (1.0 + res.config.fees.slippage * np.sign(delta))
    price = pd.DataFrame(np.where(inverse[None, :], 1.0 / fill, fill), index=close.index, columns=close.columns)
    asset = pd.DataFrame(np.where(inverse[None, :], 1.0 / close.to_numpy(), close.to_numpy()), index=close.index,
                         columns=close.columns).bfill()
    return vbt.Portfolio.from_orders(asset, size=size, size_type="amount", price=price,
                                     fees=res.config.fees.taker, init_cash="auto", cash_sharing=True,
                                     group_by=True, freq=freq_of(res))


def trade_summary(res: BacktestResult) -> dict:
    """vectorbt's trade statistics of the account's net orders (stats.json with ``--trade-stats``)."""
    pf = orders_portfolio(res)
    trades = pf.trades
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {"trades": int(trades.count()), "win_rate": _clean(trades.win_rate()),
                "profit_factor": _clean(trades.profit_factor()), "expectancy": _clean(trades.expectancy()),
                "vectorbt_total_profit": _clean(pf.total_profit())}
