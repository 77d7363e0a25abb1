"""Factor and strategy resolution by name, discovery of new plugin functions, vectorized values,
and per-instrument values from each instrument's own bars only."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qlib_local.research import Bars, FactorContext, FactorRegistry, PluginError, load_config, parse_name
from qlib_local.research.factors import FIELDS
from qlib_local.research.strategy import StrategyRegistry

A, B = "ADA-USDT-SWAP", "ETH-USDT-SWAP"
C, D = "SOL-USDT-SWAP", "XRP-USDT-SWAP"
HOUR = pd.Timedelta(hours=1)


@pytest.fixture
def bars(hourly_store) -> Bars:
    return Bars(hourly_store.read_panel("okx", None, "4H", fields=FIELDS))


def test_parse_name():
    assert parse_name("SmaCross_20_60") == ("SmaCross", (20, 60))
    assert parse_name("BollingerBreakout_20_2.5") == ("BollingerBreakout", (20, 2.5))
    assert parse_name("RankOnly") == ("RankOnly", ())


def test_resolve_known_and_unknown():
    reg = FactorRegistry.load()
    fn, params = reg.resolve("EmaBias_21_55")
    assert fn.__name__ == "EmaBias" and params == (21, 55)
    assert reg.kinds["BtcBull"] == "cross_section" and reg.kinds["QuoteVolumeMean"] == "rank"
    with pytest.raises(PluginError, match=r"unknown factor 'Smaa_3'; known: .*EmaBias.*Sma"):
        reg.resolve("Smaa_3")
    with pytest.raises(PluginError, match=r"unknown rank factor 'Sma_3'; known: QuoteVolumeMean, Reversal, TrendScore"):
        reg.resolve("Sma_3", "rank")
    with pytest.raises(PluginError, match=r"Sma takes parameter\(s\) \(n\), got 0"):
        reg.resolve("Sma")
    with pytest.raises(PluginError, match=r"unknown strategy 'Nope_1'; known: BollingerBreakout, BtcBullAndCoinBull"):
        StrategyRegistry.load().create("Nope_1")


def test_new_plugin_function_is_picked_up(plugin_copy, hourly_store, example_raw, write_cfg, bars):
    (plugin_copy / "factors" / "timeseries.py").open("a").write(
        "\n\ndef Range(bars, n: int):\n    return (bars.high - bars.low).rolling(n).mean()\n")
    (plugin_copy / "strategies" / "mine.py").write_text(
        "from qlib_local.research import TimingStrategy\n\n\nclass AlwaysLong(TimingStrategy):\n"
        "    def signal(self, ctx):\n        return ctx.bars.close * 0 + 1\n")
    reg = FactorRegistry.load(plugin_copy)
    out = FactorContext(bars, reg).factor("Range_3")
    expected = (bars.high - bars.low).rolling(3).mean()
    pd.testing.assert_frame_equal(out, expected)
    raw = dict(example_raw, strategies=[dict(example_raw["strategies"][0], strategy_name="AlwaysLong")])
    cfg = load_config(write_cfg(raw), hourly_store, plugins=plugin_copy)
    assert cfg.strategies[0].strategy.__class__.__name__ == "AlwaysLong"


def test_factor_values_vectorized(bars):
    ctx = FactorContext(bars, FactorRegistry.load())
    sma = ctx.factor("Sma_5")
    btc = bars.close["BTC-USDT-SWAP"]
    assert sma["BTC-USDT-SWAP"].iloc[10] == pytest.approx(btc.iloc[6:11].mean())
    assert ctx.factor("Sma_5") is sma  # computed once per panel
    bull = ctx.frame("BtcBull_21_55")
    assert bull.shape == bars.close.shape and (bull.nunique(axis=1) == 1).all()  # market-wide, broadcast
    ema = btc.ewm(span=21, adjust=False).mean() > btc.ewm(span=55, adjust=False).mean()
    assert (bull["ETH-USDT-SWAP"].iloc[60:] == ema.iloc[60:]).all()
    rank = ctx.factor("VolumeRank_6")
    assert np.nanmax(rank.to_numpy()) == 1.0


# ----------------------------------------------------------------- own bars only
def ohlcv(close: np.ndarray, start: str = "2025-01-01", gaps: list[tuple[int, int]] = ()) -> pd.DataFrame:
    """Hourly bars around ``close``; each (first, length) in ``gaps`` removes that run of bars."""
    index = pd.date_range(start, periods=len(close), freq="1h", tz="UTC", name="ts")
    open_ = np.r_[close[0], close[:-1]]
    df = pd.DataFrame({"open": open_, "high": np.maximum(open_, close) * 1.001,
                       "low": np.minimum(open_, close) * 0.999, "close": close,
                       "volume": np.linspace(100, 200, len(close)), "quote_volume": close * 150}, index=index)
    keep = np.ones(len(close), bool)
    for first, length in gaps:
        keep[first:first + length] = False
    return df[keep]


def walk(n: int, seed: int, p0: float = 1.0) -> np.ndarray:
    return p0 * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, 0.01, n)))


def panel(frames: dict[str, pd.DataFrame]) -> Bars:
    """What the store's read_panel gives: one column per instrument on the union of their bars."""
    out = {}
    for f in FIELDS:
        out[f] = pd.concat({k: v[f] for k, v in frames.items()}, axis=1, sort=True)
        out[f].columns.name = "instrument"
    return Bars(out)


def timeseries_names(reg: FactorRegistry) -> list[str]:
    """Every per-instrument (time-series and rank) factor with small parameters (3, 7, ...)."""
    names = []
    for base in reg.known("timeseries") + reg.known("rank"):
        n_params = len(inspect.signature(reg.functions[base]).parameters) - 1
        names.append("_".join([base, *map(str, (3, 7, 11)[:n_params])]))
    return names


gap_runs = st.lists(st.tuples(st.integers(0, 239), st.integers(1, 25)), max_size=6)


@settings(max_examples=60, deadline=None)
@given(a_gaps=gap_runs, b_gaps=gap_runs, b_shift=st.integers(-60, 60), b_len=st.integers(30, 300))
def test_adding_an_instrument_leaves_another_instruments_factors_and_signals_unchanged(a_gaps, b_gaps, b_shift,
                                                                                      b_len):
    reg, strategies = FactorRegistry.load(), StrategyRegistry.load()
    a = ohlcv(walk(240, 1), gaps=a_gaps)
    b = ohlcv(walk(b_len, 2, 50.0), start=str(pd.Timestamp("2025-01-01") + b_shift * HOUR), gaps=b_gaps)
    alone, both = FactorContext(panel({A: a}), reg), FactorContext(panel({A: a, B: b}), reg)
    own = both.bars.close[A].notna()
    for name in timeseries_names(reg):
        solo = alone.factor(name)[A]
        with_b = both.factor(name)[A]
        pd.testing.assert_series_equal(with_b[own], solo, check_freq=False, obj=name)
        assert with_b[~own].isna().all(), name  # no bar, no value
    for name in ("SmaCross_3_7", "BollingerBreakout_5_1.5"):
        signal = strategies.create(name).signal
        solo = alone.per_instrument(signal)[A]
        with_b = both.per_instrument(signal)[A]
        pd.testing.assert_series_equal(with_b[own], solo, check_freq=False, obj=name)


@settings(max_examples=40, deadline=None)
@given(btc_gaps=gap_runs, c_gaps=gap_runs, d_gaps=gap_runs)
def test_cross_sectional_factors_use_each_instruments_own_windows(btc_gaps, c_gaps, d_gaps):
    """BtcBull follows BTC's own bars; VolumeRank ranks each instrument's own rolling volume,
    so a third instrument's gaps change neither (only its own column joins the ranking)."""
    reg = FactorRegistry.load()
    btc = ohlcv(walk(240, 3, 60_000.0), gaps=btc_gaps)
    c = ohlcv(walk(240, 4, 2.0), gaps=c_gaps)
    d = ohlcv(walk(240, 5, 9.0), gaps=d_gaps)
    two = FactorContext(panel({"BTC-USDT-SWAP": btc, C: c}), reg)
    three = FactorContext(panel({"BTC-USDT-SWAP": btc, C: c, D: d}), reg)
    rows = two.bars.index
    bull2, bull3 = two.factor("BtcBull_3_7"), three.factor("BtcBull_3_7")
    pd.testing.assert_series_equal(bull3.reindex(rows), bull2, check_freq=False, check_names=False)
    own = btc.index
    ema_f = btc.close.ewm(span=3, adjust=False, min_periods=3).mean()
    ema_s = btc.close.ewm(span=7, adjust=False, min_periods=7).mean()
    assert (bull2.reindex(own) == ((ema_f > ema_s) & ema_s.notna())).all()  # BTC's own EMAs
    vol3 = three.factor("VolumeRank_5")
    sums = {k: f.quote_volume.rolling(5, min_periods=5).sum() for k, f in
            {"BTC-USDT-SWAP": btc, C: c, D: d}.items()}
    expected = pd.concat(sums, axis=1, sort=True).rank(axis=1, pct=True)
    pd.testing.assert_frame_equal(vol3.reindex(columns=expected.columns), expected.reindex(vol3.index),
                                  check_freq=False, check_names=False)


def test_instruments_with_the_same_bars_are_computed_together_and_booleans_stay_boolean(plugin_copy):
    (plugin_copy / "factors" / "timeseries.py").open("a").write(
        "\n\nCALLS = []\n\n\ndef Rising(bars, n: int):\n    CALLS.append(list(bars.close.columns))\n"
        "    return bars.close.diff(n) > 0\n")
    reg = FactorRegistry.load(plugin_copy)
    c = walk(100, 3)
    frames = {A: ohlcv(c, gaps=[(40, 5)]), B: ohlcv(c * 2, gaps=[(40, 5)]), "SOL-USDT-SWAP": ohlcv(c * 3)}
    ctx = FactorContext(panel(frames).select([A, B, "SOL-USDT-SWAP", "XRP-USDT-SWAP"]), reg)  # XRP: no bars
    rising = ctx.factor("Rising_3")
    calls = reg.functions["Rising"].__globals__["CALLS"]
    assert sorted(map(sorted, calls)) == [[A, B], ["SOL-USDT-SWAP"]]  # one call per set of bars
    assert not rising["XRP-USDT-SWAP"].any()
    assert rising.dtypes.eq(bool).all()
    assert not rising[A].iloc[40:45].any()  # no bar: False
    expected = frames[A].close.diff(3) > 0
    pd.testing.assert_series_equal(rising[A][expected.index], expected, check_names=False, check_freq=False)


def test_time_series_factor_must_return_a_wide_frame(plugin_copy):
    (plugin_copy / "factors" / "timeseries.py").open("a").write(
        "\n\ndef MarketMean(bars, n: int):\n    return bars.close.mean(axis=1).rolling(n).mean()\n")
    ctx = FactorContext(panel({A: ohlcv(walk(50, 4))}), FactorRegistry.load(plugin_copy))
    with pytest.raises(PluginError, match=r"time-series factor MarketMean_3 must return a wide frame .* got Series"):
        ctx.factor("MarketMean_3")
