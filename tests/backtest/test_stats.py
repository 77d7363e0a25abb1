"""stats.json's return statistics are vectorbt's definitions written in NumPy: held equal to
vectorbt's own ``ReturnsAccessor`` on the same curves; trade records only on request."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import vectorbt  # noqa: F401  (registers the .vbt accessor)
from hypothesis import given, settings
from hypothesis import strategies as st

from qlib_local.backtest import run_backtest, summary
from qlib_local.backtest.stats import RETURN_METRICS, return_stats, returns
from qlib_local.research import load_config

FREQ = pd.Timedelta(hours=1)


def _vectorbt(equity: pd.Series, start_value: float) -> dict[str, float]:
    acc = returns(equity, start_value).vbt.returns(freq=FREQ)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {m: float(getattr(acc, m)()) for m in RETURN_METRICS}


def _same(ours: float | None, theirs: float) -> bool:
    if ours is None:  # written as null: vectorbt gives NaN or an infinity there
        return not math.isfinite(theirs)
    return ours == pytest.approx(theirs, rel=1e-9, abs=1e-12)


# Returns of at least 1e-5 (or exactly 0). The returns are recomputed from the equity curve, so a
# return r carries a relative rounding error of ~1e-16 / r: at one ulp Calmar is a ratio of two
# rounding errors (found: -4380 vs -2920 for r = 2.2e-16), at r = 1e-9 it agrees to 1e-7 only.
STEPS = st.one_of(st.just(0.0), st.floats(-0.2, -1e-5), st.floats(1e-5, 0.2))


@settings(max_examples=60)
@given(st.lists(STEPS, min_size=1, max_size=200), st.floats(100.0, 1e6))
def test_return_metrics_equal_vectorbt(steps, start_value):
    equity = pd.Series(start_value * np.cumprod(1.0 + np.array(steps)),
                       index=pd.date_range("2025-01-01", periods=len(steps), freq="h", tz="UTC"))
    ours = return_stats(equity, FREQ, start_value)
    theirs = _vectorbt(equity, start_value)
    for m in RETURN_METRICS:
        assert _same(ours[m], theirs[m]), (m, ours[m], theirs[m])


def test_flat_and_short_curves_equal_vectorbt():
    idx = pd.date_range("2025-01-01", periods=5, freq="h", tz="UTC")
    for values in ([100.0] * 5, [100.0, 101.0, 102.0, 103.0, 104.0], [100.0]):
        equity = pd.Series(values, index=idx[: len(values)])
        ours, theirs = return_stats(equity, FREQ, 100.0), _vectorbt(equity, 100.0)
        for m in RETURN_METRICS:
            assert _same(ours[m], theirs[m]), (values, m, ours[m], theirs[m])


def test_trade_statistics_only_on_request(hourly_store, example_raw, write_cfg):
    cfg = load_config(write_cfg(example_raw), hourly_store)
    res = run_backtest(cfg, hourly_store, start="2025-03-20")
    plain = summary(res)
    assert "trades" not in plain["account"] and plain["account"]["orders"] == len(res.orders)
    full = summary(res, trade_stats=True)
    assert full["account"]["trades"] > 0 and 0.0 <= full["account"]["win_rate"] <= 1.0
    assert {k: v for k, v in full["account"].items() if k in plain["account"]} == plain["account"]
    assert plain["strategies"]["BtcBullAndCoinBull_21_55"]["warmup_bars"] > 55
