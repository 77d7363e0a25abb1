"""Statistics of a backtest: returns, drawdowns, costs and funding (stats.json).

The return statistics are vectorbt's definitions (``ReturnsAccessor``: total, annualized
on a 365-day year, volatility with ddof 1, max drawdown, Sharpe, Sortino, Calmar) written
in NumPy, because importing vectorbt alone takes 4-6 s and these are a few lines; the tests
hold them equal to vectorbt's on the same curves. Trade records (win rate, profit factor,
expectancy) need vectorbt's trade matching: :mod:`qlib_local.backtest.trades`, on request.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # the report notebook imports this module without the engine (numba)
    from qlib_local.backtest.engine import BacktestResult

RETURN_METRICS = ("total", "annualized", "annualized_volatility", "max_drawdown",
                  "sharpe_ratio", "sortino_ratio", "calmar_ratio")
YEAR = pd.Timedelta(days=365)  # vectorbt's year_freq


def freq_of(res: BacktestResult) -> pd.Timedelta:
    return pd.Timedelta(res.data.base_tf.replace("H", "h").replace("D", "d"))


def returns(equity: pd.Series, start_value: float | None = None) -> pd.Series:
    """Bar returns of an equity curve; the first bar against ``start_value`` (default: itself)."""
    prev = equity.shift(1)
    prev.iloc[0] = equity.iloc[0] if start_value is None else start_value
    return equity / prev - 1.0


def orders_portfolio(res: BacktestResult):
    """The account's net orders replayed by vectorbt (see :func:`qlib_local.backtest.trades.orders_portfolio`)."""
    from qlib_local.backtest.trades import orders_portfolio as replay

    return replay(res)


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


def return_metrics(r: np.ndarray, ann_factor: float) -> dict[str, float]:
    """vectorbt's return metrics of bar returns ``r`` (its numba code, in NumPy)."""
    n = len(r)
    growth = np.nanprod(r + 1.0)
    cum = np.cumprod(np.where(np.isnan(r), 1.0, r + 1.0))
    mdd = float(np.min(cum / np.maximum.accumulate(cum) - 1.0)) if n else np.nan
    annualized = growth ** (ann_factor / n) - 1.0 if n else np.nan
    cnt = n - np.count_nonzero(np.isnan(r))
    std = np.sqrt(np.nanvar(r) * cnt / (cnt - 1)) if cnt > 1 else np.nan
    mean = np.nanmean(r) if cnt else np.nan
    downside = np.sqrt(np.nanmean(np.minimum(r, 0.0) ** 2)) * np.sqrt(ann_factor) if cnt else np.nan
    short = n < 2
    return {
        "total": growth - 1.0,
        "annualized": annualized,
        "annualized_volatility": np.nan if short else std * ann_factor ** 0.5,
        "max_drawdown": mdd,
        "sharpe_ratio": np.nan if short else np.inf if std == 0.0 else mean / std * np.sqrt(ann_factor),
        "sortino_ratio": np.nan if short else np.inf if downside == 0.0 else mean * ann_factor / downside,
        "calmar_ratio": np.nan if mdd == 0.0 else annualized / abs(mdd),
    }


def return_stats(equity: pd.Series, freq: pd.Timedelta, start_value: float) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a flat or empty curve: NaN/inf, written as null
        metrics = return_metrics(returns(equity, start_value).to_numpy(np.float64), YEAR / freq)
    out = {m: _clean(metrics[m]) for m in RETURN_METRICS}
    out["start_value"], out["end_value"] = float(start_value), float(equity.iloc[-1])
    return out


def order_stats(res: BacktestResult) -> dict:
    """Net orders sent and the fees they paid (settlement currency; USD for a multi-coin account)."""
    orders = res.orders
    return {"orders": len(orders), "fees_paid": _clean(orders["fee_usd" if "fee_usd" in orders else "fee"].sum())}


def summary(res: BacktestResult, trade_stats: bool = False) -> dict:
    """stats.json: account and per-strategy return statistics, orders, costs, funding, liquidations,
    and each strategy's warm-up; vectorbt's trade statistics too with ``trade_stats``."""
    from qlib_local.research.intents import warmup_bars

    freq = freq_of(res)
    trades = {}
    if trade_stats:
        from qlib_local.backtest.trades import trade_summary

        trades = trade_summary(res)
    flows = flow_totals(res)
    liq = res.liquidations
    usd = res.equity_usd
    start = res.initial_value
    usd_start = start if res.model.multi_coin else (start * res.usd_price.iloc[0] if usd is not None else None)
    usd_stats = {} if usd is None else {"usd": {"start_value": float(usd_start), "end_value": float(usd.iloc[-1])}}
    if res.model.multi_coin:
        usd_stats["wallets"] = dict(res.config.initial_wallets)
    return {
        "start": res.equity.index[0].isoformat(), "end": res.equity.index[-1].isoformat(),
        "bars": len(res.equity), "base_timeframe": res.data.base_tf,
        "settle_ccy": res.settle_ccy, "initial_equity": start, **usd_stats,
        "funding": {"mode": res.config.funding, "settlements": int((res.data.funding != 0).to_numpy().sum())
                    if res.data.funding is not None else 0, "notes": list(res.data.funding_notes)},
        "margin": bool(res.margin),
        "account": {**return_stats(res.equity["total"], freq, start), **order_stats(res),
                    **trades, **flows.get("account", {})},
        "strategies": {sc.id: {**return_stats(res.equity[sc.id], freq, start * sc.position),
                               "warmup_bars": warmup_bars(sc, res.config.factors), **flows.get(sc.id, {})}
                       for sc in res.config.strategies},
        "liquidations": [{"time": r.time.isoformat(), "loss": float(r.loss), "equity_before": float(r.equity_before),
                          "strategies": list(r.strategies)} for r in liq.itertuples()],
    }


def drawdown(equity: pd.Series) -> pd.Series:
    return equity / equity.cummax() - 1.0
