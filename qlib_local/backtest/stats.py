"""vectorbt on top of the exact accounting: return statistics, trade records and plots.

vectorbt's Portfolio has no leverage or margin: with cash as the limit it would refuse
the model's leveraged orders. So the library keeps the exact account (margin sizing,
net fills, fee attribution per strategy) and hands vectorbt (a) the equity curves as
returns for statistics and drawdowns, and (b) the net orders with their fill prices and
fees, simulated with ``init_cash='auto'`` (unlimited cash), whose profit equals ours
to the cent and which gives trade records (win rate, profit factor, ...).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import vectorbt as vbt

from qlib_local.backtest.engine import BacktestResult

RETURN_METRICS = ("total", "annualized", "annualized_volatility", "max_drawdown",
                  "sharpe_ratio", "sortino_ratio", "calmar_ratio")


def freq_of(res: BacktestResult) -> pd.Timedelta:
    return pd.Timedelta(res.data.base_tf.replace("H", "h").replace("D", "d"))


def returns(equity: pd.Series, start_value: float | None = None) -> pd.Series:
    """Bar returns of an equity curve; the first bar against ``start_value`` (default: itself)."""
    prev = equity.shift(1)
    prev.iloc[0] = equity.iloc[0] if start_value is None else start_value
    return equity / prev - 1.0


def orders_portfolio(res: BacktestResult) -> vbt.Portfolio:
    """The account's net orders replayed by vectorbt (cash sharing, one group, unlimited cash)."""
    close = res.data.close.reindex(columns=res.model.instruments)
    net = res.positions.to_numpy()
    units = np.diff(net, axis=0, prepend=np.zeros((1, net.shape[1]))) * res.model.ct_val
    size = pd.DataFrame(np.where(np.abs(units) > 0, units, np.nan), index=close.index, columns=close.columns)
    price = close * (1.0 + res.config.fees.slippage * np.sign(size.fillna(0.0)))
    return vbt.Portfolio.from_orders(close.bfill(), size=size, size_type="amount", price=price,
                                     fees=res.config.fees.taker, init_cash="auto", cash_sharing=True,
                                     group_by=True, freq=freq_of(res))


def _clean(v):
    if isinstance(v, pd.Timedelta):
        return str(v)
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    if isinstance(v, (np.floating, float)):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


def return_stats(equity: pd.Series, freq: pd.Timedelta, start_value: float) -> dict:
    acc = returns(equity, start_value).vbt.returns(freq=freq)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = {m: _clean(getattr(acc, m)()) for m in RETURN_METRICS}
    out["start_value"], out["end_value"] = float(start_value), float(equity.iloc[-1])
    return out


def summary(res: BacktestResult) -> dict:
    """stats.json: account and per-strategy return statistics plus vectorbt trade statistics."""
    freq = freq_of(res)
    pf = orders_portfolio(res)
    trades = pf.trades
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trade_stats = {
            "orders": int(pf.orders.count()), "trades": int(trades.count()), "win_rate": _clean(trades.win_rate()),
            "profit_factor": _clean(trades.profit_factor()), "expectancy": _clean(trades.expectancy()),
            "fees_paid": _clean(pf.orders.fees.sum()), "vectorbt_total_profit": _clean(pf.total_profit()),
        }
    return {
        "start": res.equity.index[0].isoformat(), "end": res.equity.index[-1].isoformat(),
        "bars": len(res.equity), "base_timeframe": res.data.base_tf,
        "initial_equity": res.config.initial_equity,
        "account": {**return_stats(res.equity["total"], freq, res.config.initial_equity), **trade_stats},
        "strategies": {sc.id: return_stats(res.equity[sc.id], freq, res.config.initial_equity * sc.position)
                       for sc in res.config.strategies},
    }


def drawdown(equity: pd.Series) -> pd.Series:
    return equity / equity.cummax() - 1.0
