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
from qlib_local.perp.contracts import INVERSE

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


def flow_totals(res: BacktestResult) -> dict[str, dict[str, float]]:
    """Trading costs (fees and slippage), funding paid and received, liquidation losses: per
    strategy and for the account, in the settlement currency."""
    from qlib_local.research.kernels import FLOW_FEE, FLOW_FUNDING, FLOW_LIQUIDATION

    if res.flows is None:
        return {}
    f = res.flows
    fund = f[:, :, FLOW_FUNDING]
    per = {}
    for s, sid in enumerate(res.model.strategies):
        per[sid] = {"trading_costs": float(-f[:, s, FLOW_FEE].sum()),
                    "funding_paid": float(-fund[:, s][fund[:, s] < 0].sum()),
                    "funding_received": float(fund[:, s][fund[:, s] > 0].sum()),
                    "liquidation_loss": float(-f[:, s, FLOW_LIQUIDATION].sum())}
    acct_fund = fund.sum(axis=1)
    per["account"] = {"trading_costs": float(-f[:, :, FLOW_FEE].sum()),
                      "funding_paid": float(-acct_fund[acct_fund < 0].sum()),
                      "funding_received": float(acct_fund[acct_fund > 0].sum()),
                      "liquidation_loss": float(-f[:, :, FLOW_LIQUIDATION].sum())}
    return per


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
    flows = flow_totals(res)
    liq = res.liquidations
    usd = res.equity_usd
    usd_stats = {} if usd is None else {"usd": {"start_value": float(res.config.initial_equity * res.usd_price.iloc[0]),
                                                "end_value": float(usd.iloc[-1])}}
    return {
        "start": res.equity.index[0].isoformat(), "end": res.equity.index[-1].isoformat(),
        "bars": len(res.equity), "base_timeframe": res.data.base_tf,
        "settle_ccy": res.settle_ccy, "initial_equity": res.config.initial_equity, **usd_stats,
        "funding": {"mode": res.config.funding, "settlements": int((res.data.funding != 0).to_numpy().sum())
                    if res.data.funding is not None else 0, "notes": list(res.data.funding_notes)},
        "margin": bool(res.margin),
        "account": {**return_stats(res.equity["total"], freq, res.config.initial_equity), **trade_stats,
                    **flows.get("account", {})},
        "strategies": {sc.id: {**return_stats(res.equity[sc.id], freq, res.config.initial_equity * sc.position),
                               **flows.get(sc.id, {})}
                       for sc in res.config.strategies},
        "liquidations": [{"time": r.time.isoformat(), "loss": float(r.loss), "equity_before": float(r.equity_before),
                          "strategies": list(r.strategies)} for r in liq.itertuples()],
    }


def drawdown(equity: pd.Series) -> pd.Series:
    return equity / equity.cummax() - 1.0
