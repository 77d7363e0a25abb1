"""Lookahead and warm-up checks: planted factors that read later bars are caught, at their first
bar and with the size of the difference; every shipped factor passes; warm-ups are measured."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest

from qlib_local.research import Bars, FactorRegistry, load_config
from qlib_local.research.factors import FIELDS
from qlib_local.research.intents import warmup_bars
from qlib_local.research.lookahead import check, check_factors, sample_rows
from qlib_local.store import KlineStore
from qlib_local.synth import SynthConfig, write_synthetic

PLANTED = """

def PeekAhead(bars, n: int):
    '''Planted lookahead: the return of the NEXT n bars.'''
    return bars.close.shift(-n) / bars.close - 1.0


def Centered(bars, n: int):
    '''Planted lookahead: a centred moving average reads n // 2 later bars.'''
    return bars.close.rolling(n, center=True).mean() / bars.close - 1.0
"""


@pytest.fixture(scope="module")
def small_root(tmp_path_factory):
    """Four swaps (BTC among them), 30 days of 1H bars: enough for the rolling windows."""
    root = tmp_path_factory.mktemp("lookahead") / "data"
    write_synthetic(KlineStore(root, create=True, durable=False),
                    SynthConfig(instruments=4, timeframe="1H", days=30, seed=5))
    return root


@pytest.fixture
def planted(plugin_copy):
    with (plugin_copy / "factors" / "timeseries.py").open("a") as f:
        f.write(PLANTED)
    return plugin_copy


def _event(factors, rank, rule="1H"):
    return {"exchange": "okx", "initial_equity": 10000, "strategies": [{
        "strategy_name": "BtcBullAndCoinBull_5_10", "kind": "event", "universe": "all", "rule_type": rule,
        "offset": "0h", "position": 1.0, "leverage": 1, "hold_period": 2, "max_cap_num": 2, "symbol_num_limit": 2,
        "factors": factors, "rank_factor": rank, "ascending": False, "side": "long"}]}


def test_sample_rows_cover_the_history_and_the_last_bar():
    rows = sample_rows(1000, 10, seed=3)
    assert rows[-1] == 999 and len(rows) == 11
    assert [r // 100 for r in rows[:-1]] == list(range(10))  # one per stratum
    assert sample_rows(1000, 10, seed=3) == rows and sample_rows(1000, 10, seed=4) != rows


def test_planted_lookahead_factors_are_caught(small_root, planted, write_cfg):
    store = KlineStore(small_root)
    cfg = load_config(write_cfg(_event(["PeekAhead_1"], "Centered_5")), store, plugins=planted)
    report = check(cfg, store, samples=8, seed=1)
    assert not report.ok
    found = report.findings.set_index("name")
    assert {"PeekAhead_1", "Centered_5"} <= set(found.index)
    assert (found.loc[["PeekAhead_1", "Centered_5"], "kind"] == "factor").all()
    panel = Bars(store.read_panel("okx", None, "1H", fields=FIELDS))
    # the first bar: PeekAhead is defined from the first bar on, so the very first bar already peeks
    first = found.loc["PeekAhead_1", "first_bar"]
    assert first == panel.index[0]
    # the difference reported is the real one: the full-history value at that bar
    inst = found.loc["PeekAhead_1", "instrument"]
    expected = panel.close[inst].shift(-1).iloc[0] / panel.close[inst].iloc[0] - 1.0
    assert found.loc["PeekAhead_1", "full"] == pytest.approx(expected)
    assert np.isnan(found.loc["PeekAhead_1", "truncated"])  # cut at that bar, the next bar does not exist
    assert found.loc["PeekAhead_1", "max_abs_diff"] >= abs(expected) > 0  # a vanished value counts its size
    # a centred window of 5 needs 2 later bars: its first value (row 2) is the first that peeks
    assert found.loc["Centered_5", "first_bar"] == panel.index[2]
    assert "LOOKAHEAD" in report.text() and report.to_dict()["ok"] is False


def test_planted_factor_caught_through_a_plain_factor_check(small_root, planted):
    store = KlineStore(small_root)
    bars = Bars(store.read_panel("okx", None, "1H", fields=FIELDS))
    reg = FactorRegistry.load(planted)
    report = check_factors(bars, reg, ["Sma_5", "PeekAhead_2", "Centered_7"], samples=6)
    assert set(report.findings["name"]) == {"PeekAhead_2", "Centered_7"}
    centered = report.findings.set_index("name").loc["Centered_7"]
    assert centered["first_bar"] == bars.index[3] and centered["max_abs_diff"] > 0


def _every_factor(reg: FactorRegistry) -> list[str]:
    """Each shipped factor with small parameters (fast < slow where there are two)."""
    names = []
    for name in reg.known():
        params = list(inspect.signature(reg.functions[name]).parameters)[1:]
        names.append("_".join([name, *[str(5 * (i + 1)) for i in range(len(params))]]))
    return names


def test_every_shipped_factor_passes(small_root):
    store = KlineStore(small_root)
    bars = Bars(store.read_panel("okx", None, "1H", fields=FIELDS))
    reg = FactorRegistry.load()
    names = _every_factor(reg)
    assert len(names) >= 10 and "Ema_5" in names and "BtcBull_5_10" in names
    report = check_factors(bars, reg, names, samples=10, seed=2)
    assert report.findings.empty, report.text()
    settle = report.warmup.set_index("name")["data_settle"]
    assert settle["Sma_5"] == 5 and settle["RollingStd_5"] == 5  # a rolling window of n needs n bars
    assert settle["Ema_5"] > 5  # recursive: depends on where the history starts for longer than its span


def test_example_config_passes_and_warmups_hold(hourly_store):
    cfg = load_config("strategies/example.yaml", hourly_store)
    report = check(cfg, hourly_store, samples=6)
    assert report.findings.empty, report.text()
    assert report.ok, report.text()
    strat = report.warmup[report.warmup["name"] == "(strategy)"].set_index("strategy")
    assert strat.loc["SmaCross_20_60", "warmup"] == 60  # its SMA60 window
    event = cfg.strategy("BtcBullAndCoinBull_21_55")
    ema = report.warmup[(report.warmup["strategy"] == event.id) & (report.warmup["name"] == "EmaBias_21_55")]
    # the recursive EMA factor is reported with the bars it needs, and the strategy waits for them
    assert int(ema["probe_settle"].iloc[0]) > 55
    assert strat.loc[event.id, "warmup"] == warmup_bars(event, cfg.factors) >= int(ema["probe_settle"].iloc[0])


def test_backtest_trades_only_after_the_warmup(hourly_store):
    from qlib_local.backtest import run_backtest

    cfg = load_config("strategies/example.yaml", hourly_store)
    res = run_backtest(cfg, hourly_store)
    event = cfg.strategy("BtcBullAndCoinBull_21_55")
    need = warmup_bars(event, cfg.factors)
    first_trade = res.strategy_frame(event.id).abs().sum(axis=1).pipe(lambda s: s[s > 0].index[0])
    bars4h = hourly_store.read_panel("okx", None, "4H", offset="1h", fields=("close",))["close"]
    bars_before = (bars4h.index + pd.Timedelta(hours=4) <= first_trade).sum()
    assert bars_before >= need  # no position before the EMAs have settled


def test_factor_that_never_settles_is_reported(small_root, plugin_copy, write_cfg):
    """An expanding mean never forgets the first bar: no warm-up covers it, and check says so."""
    with (plugin_copy / "factors" / "timeseries.py").open("a") as f:
        f.write("\n\ndef Expanding(bars, n: int):\n    return bars.close.expanding(n).mean() / bars.close - 1.0\n")
    store = KlineStore(small_root)
    cfg = load_config(write_cfg(_event([], "Expanding_3")), store, plugins=plugin_copy)
    report = check(cfg, store, samples=4)
    assert report.findings.empty  # it reads no later bars...
    rows = report.warmup.set_index("name")
    assert rows.loc["Expanding_3", "status"] == "never" and not report.ok  # ...but never settles
    assert "WARM-UP: BtcBullAndCoinBull_5_10 Expanding_3 never settles" in report.text()
