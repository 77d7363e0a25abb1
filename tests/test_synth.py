"""The synthetic generator: deterministic, and shaped like real perpetual-swap candles."""

from __future__ import annotations

import numpy as np
import pandas as pd

from qlib_local.synth import SynthConfig, generate, instrument_names


def test_same_seed_same_bars_other_seed_other_bars() -> None:
    a, sa = generate(SynthConfig(instruments=3, days=2, seed=11))
    b, sb = generate(SynthConfig(instruments=3, days=2, seed=11))
    c, _ = generate(SynthConfig(instruments=3, days=2, seed=12))
    for k in a:
        pd.testing.assert_frame_equal(a[k], b[k])
        assert not np.allclose(a[k]["close"].to_numpy(), c[k]["close"].to_numpy())
    assert sa == sb


def test_bars_are_valid_ohlcv_on_the_grid() -> None:
    bars, specs = generate(SynthConfig(instruments=4, timeframe="5m", days=5, seed=1))
    for name, df in bars.items():
        assert name.endswith("-USDT-SWAP") and name in specs
        assert (df["high"] >= df[["open", "close"]].max(axis=1)).all()
        assert (df["low"] <= df[["open", "close"]].min(axis=1)).all()
        assert (df["low"] > 0).all() and (df["volume"] > 0).all()
        assert (df.index.as_unit("ms").asi8 % 300_000 == 0).all()
        assert (df["open"].iloc[1:].to_numpy() == df["close"].iloc[:-1].to_numpy()).all()


def test_stylized_facts_fat_tails_clustering_common_factor() -> None:
    bars, _ = generate(SynthConfig(instruments=6, timeframe="1m", days=20, seed=2))
    rets = pd.DataFrame({k: np.log(v["close"]).diff() for k, v in bars.items()}).dropna()
    assert (rets.kurt() > 3).all()  # fat tails: normal has excess kurtosis 0
    absr = rets.abs()
    assert (absr.apply(lambda s: s.autocorr(10)) > 0.02).all()  # volatility clusters
    corr = rets.corr().to_numpy()
    assert corr[np.triu_indices(6, 1)].mean() > 0.2  # a common market factor


def test_specs_look_like_okx() -> None:
    _, specs = generate(SynthConfig(instruments=60, timeframe="1H", days=1, seed=0))
    btc = specs["BTC-USDT-SWAP"]
    assert (btc.ct_val, btc.max_lever) == (0.01, 100.0)
    assert len(set(instrument_names(300))) == 300
    for s in specs.values():
        assert s.min_sz >= s.lot_sz > 0 and s.tick_sz > 0 and s.ct_val > 0


def test_gaps_are_real_missing_bars() -> None:
    bars, _ = generate(SynthConfig(instruments=1, timeframe="1m", days=2, seed=5, gaps=3))
    df = bars["BTC-USDT-SWAP"]
    assert 0 < 2 * 1440 - len(df) <= 15


def test_prices_sit_on_the_tick_grid() -> None:
    bars, specs = generate(SynthConfig(instruments=8, timeframe="1H", days=30, seed=9))
    for name, df in bars.items():
        ticks = df[["open", "high", "low", "close"]].to_numpy() / specs[name].tick_sz
        assert np.abs(ticks - np.round(ticks)).max() < 1e-6
