"""The synthetic generator: deterministic, and shaped like real perpetual-swap candles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

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


# ------------------------------------------------------------------ funding, mark prices, inverse swaps
from qlib_local.store import KlineStore  # noqa: E402
from qlib_local.synth import generate_perp, write_synthetic  # noqa: E402

PERP = SynthConfig(instruments=4, timeframe="1H", days=120, seed=3)


def test_funding_is_mostly_the_interest_rate_with_spikes_tied_to_the_price_runs() -> None:
    bars, specs = generate(PERP)
    funding, _ = generate_perp(PERP, bars, specs)
    again, _ = generate_perp(PERP, *generate(PERP))
    other, _ = generate_perp(SynthConfig(**{**PERP.__dict__, "seed": 4}), *generate(SynthConfig(**{**PERP.__dict__, "seed": 4})))
    for inst, r in funding.items():
        pd.testing.assert_series_equal(r, again[inst])  # same seed, same rates
        assert not r.equals(other[inst])
        hours = r.index.hour
        assert set(hours) == {0, 8, 16} and (r.index.minute == 0).all() and len(r) == 120 * 3
        assert (r == 0.0001).mean() > 0.6  # the interest rate whenever the premium is small
        assert 0.00003 < r.mean() < 0.0003 and r.abs().max() <= 0.0075
        assert (r > 0.001).any() and (r < -0.001).any()  # spikes of both signs
        close = bars[inst]["close"]
        at = close.reindex(r.index - pd.Timedelta("1h")).to_numpy()  # the bar closing at the settlement
        before = close.reindex(r.index - pd.Timedelta("9h")).to_numpy()
        run = np.log(at / before)
        ok = np.isfinite(run)
        assert np.corrcoef(run[ok], r.to_numpy()[ok])[0, 1] > 0.4  # a run up makes longs pay
        ups, downs = run > np.nanquantile(run, 0.97), run < np.nanquantile(run, 0.03)
        assert r.to_numpy()[ups].mean() > 0.0005 and r.to_numpy()[downs].mean() < -0.0002


def test_mark_prices_stay_close_to_the_last_price_on_the_tick_grid() -> None:
    bars, specs = generate(PERP)
    _, mark = generate_perp(PERP, bars, specs)
    for inst, m in mark.items():
        last = bars[inst]
        assert m.index.equals(last.index) and (m["volume"] == 0).all()
        gap = m["close"] / last["close"] - 1
        assert 0 < gap.abs().mean() < 0.0005 and gap.abs().max() < 0.003
        assert (m["high"] >= m[["open", "close"]].max(axis=1)).all()
        assert (m["low"] <= m[["open", "close"]].min(axis=1)).all()
        ticks = m[["open", "high", "low", "close"]].to_numpy() / specs[inst].tick_sz
        assert np.abs(ticks - np.round(ticks)).max() < 1e-6


def test_inverse_swaps_only_when_asked_with_coin_settled_specs() -> None:
    plain, _ = generate(SynthConfig(instruments=2, timeframe="1H", days=5, seed=1))
    assert all(k.endswith("-USDT-SWAP") for k in plain)
    bars, specs = generate(SynthConfig(instruments=2, timeframe="1H", days=5, seed=1, inverse=True))
    btc = specs["BTC-USD-SWAP"]
    assert (btc.ct_type, btc.ct_val, btc.settle_ccy, btc.ct_val_ccy) == ("inverse", 100.0, "BTC", "USD")
    assert specs["ETH-USD-SWAP"].ct_val == 10.0 and specs["ETH-USD-SWAP"].settle_ccy == "ETH"
    ratio = bars["BTC-USD-SWAP"]["close"] / bars["BTC-USDT-SWAP"]["close"]
    assert (ratio - 1).abs().max() < 0.005  # the same coin, its own small basis
    assert bars["BTC-USD-SWAP"]["open"].iloc[1:].to_numpy() == pytest.approx(bars["BTC-USD-SWAP"]["close"].iloc[:-1].to_numpy())


def test_maintenance_tiers_are_cheaper_for_btc_and_eth_than_for_alts() -> None:
    _, specs = generate(SynthConfig(instruments=50, timeframe="1H", days=1, seed=0))
    btc, sol, wif = specs["BTC-USDT-SWAP"], specs["SOL-USDT-SWAP"], specs["WIF-USDT-SWAP"]
    assert btc.mm_tiers[0][1] < sol.mm_tiers[0][1] < wif.mm_tiers[0][1]
    assert btc.mm_tiers[0][0] > sol.mm_tiers[0][0] > wif.mm_tiers[0][0]  # the cheap first tier reaches further
    for s in specs.values():
        rates = [r for _, r in s.mm_tiers]
        assert rates == sorted(rates) and rates[0] <= 0.5 / s.max_lever  # at most half the initial margin
        table = s.margin_table
        assert np.all(np.diff(table.bounds) > 0)


def test_write_synthetic_stores_funding_and_mark_only_when_asked(tmp_path) -> None:
    plain = KlineStore(tmp_path / "a", create=True, durable=False)
    write_synthetic(plain, SynthConfig(instruments=2, timeframe="1H", days=3, seed=2))
    assert plain.read_funding("okx", "BTC-USDT-SWAP").empty and plain.instruments("okx@mark") == []
    full = KlineStore(tmp_path / "b", create=True, durable=False)
    cfg = SynthConfig(instruments=2, timeframe="1H", days=3, seed=2, funding=True, mark=True)
    write_synthetic(full, cfg)
    bars, specs = generate(cfg)
    funding, mark = generate_perp(cfg, bars, specs)
    pd.testing.assert_series_equal(full.read_funding("okx", "ETH-USDT-SWAP"), funding["ETH-USDT-SWAP"],
                                   check_names=False, check_index_type=False, check_freq=False)
    got = full.read("okx@mark", "ETH-USDT-SWAP", "1H")
    assert np.allclose(got["close"], mark["ETH-USDT-SWAP"]["close"]) and len(got) == 72
