"""Factor and strategy resolution by name, discovery of new plugin functions, vectorized values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qlib_local.research import Bars, FactorContext, FactorRegistry, PluginError, load_config, parse_name
from qlib_local.research.factors import FIELDS
from qlib_local.research.strategy import StrategyRegistry


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
