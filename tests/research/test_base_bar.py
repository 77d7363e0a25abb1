"""``base_bar``: the bar an account's backtest steps on and its live run counts deadline and twap
bars in. A finer bar than the strategies' own lets the fill models see the prices between two
decisions that a resting maker or a twap slice trades at; it never changes what is decided."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from qlib_local.backtest import run_backtest
from qlib_local.cli.main import main
from qlib_local.marketdata.needs import base_by_instrument
from qlib_local.research import ConfigError, load_config
from qlib_local.research.data import common_base


def four_hourly(raw: dict) -> dict:
    """The example with both strategies on 4H at offset 0: its own base bar is 4H."""
    raw = copy.deepcopy(raw)
    for s in raw["strategies"]:
        s.update(rule_type="4H", offset="0h")
    return raw


@pytest.mark.parametrize("value, name", [("1h", "1H"), ("15m", "15m"), ("4H", "4H"), ("", "")])
def test_a_base_bar_is_an_exchange_timeframe(hourly_store, example_raw, write_cfg, value, name):
    cfg = load_config(write_cfg({**four_hourly(example_raw), "base_bar": value}), hourly_store)
    assert cfg.base_bar == name and common_base(cfg) == (name or "4H")


@pytest.mark.parametrize("value, match", [
    ("3H", r"base_bar: must be an exchange timeframe \(1m, .*1D\), got '3H'"),
    (60, r"base_bar: must be an exchange timeframe .* got 60"),
    ("1x", r"base_bar: must be an exchange timeframe .* got '1x'"),
    ("12H", r"base_bar: 12H does not divide strategies\[0\] \(\w+\)'s rule 4H and offset 0h"),
])
def test_a_bad_base_bar_is_refused(hourly_store, example_raw, write_cfg, value, match):
    with pytest.raises(ConfigError, match=match):
        load_config(write_cfg({**four_hourly(example_raw), "base_bar": value}), hourly_store)


def test_cli_a_bad_base_bar_is_one_error_line(hourly_root, tmp_path, example_raw, write_cfg, capsys):
    raw = {**copy.deepcopy(example_raw), "base_bar": "2H"}  # the 1H strategy's rule is not a multiple of 2H
    code = main(["backtest", str(write_cfg(raw)), "--root", str(hourly_root), "--out", str(tmp_path / "o"),
                 "--no-notebook"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: base_bar: 2H does not divide strategies[0]")
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_a_finer_base_bar_decides_the_same_and_lets_twap_see_each_hour(hourly_store, example_raw, write_cfg):
    """Default fills: the same positions and equity at every 4H close on 1H bars as on 4H bars. A twap of
    4 slices over 4 hourly bars then pays the hours' prices, where on 4H bars every slice of a
    one-bar window is priced at the decision close."""
    raw = four_hourly(example_raw)
    coarse = run_backtest(load_config(write_cfg(raw), hourly_store), hourly_store, start="2025-01-04")
    fine = run_backtest(load_config(write_cfg({**raw, "base_bar": "1H"}, "f.yaml"), hourly_store), hourly_store,
                        start="2025-01-04")
    assert len(fine.positions) == 4 * len(coarse.positions)
    at = fine.positions.reindex(coarse.positions.index)
    np.testing.assert_allclose(at.to_numpy(), coarse.positions.to_numpy(), atol=1e-12)
    np.testing.assert_allclose(fine.equity["total"].reindex(coarse.equity.index), coarse.equity["total"], rtol=1e-9)
    assert len(coarse.orders) > 10 and len(fine.orders) == len(coarse.orders)

    slices = {"style": "twap", "twap_slices": 4}
    coarse_twap = run_backtest(load_config(write_cfg({**raw, "execution": {**slices, "twap_window_bars": 1}}, "c.yaml"),
                                           hourly_store), hourly_store, start="2025-01-04")
    np.testing.assert_allclose(coarse_twap.orders["price"], coarse.orders["price"], rtol=1e-12)  # all at the close
    fine_twap = run_backtest(load_config(write_cfg({**raw, "base_bar": "1H", "execution": {
        **slices, "twap_window_bars": 4}}, "t.yaml"), hourly_store), hourly_store, start="2025-01-04")
    close = fine_twap.data.close.reindex(columns=fine_twap.model.instruments)
    pos = {ts: k for k, ts in enumerate(fine_twap.positions.index)}
    slip = fine_twap.config.fees.slippage
    for r in fine_twap.orders.itertuples():
        t, i = pos[r.timestamp], fine_twap.model.instruments.index(r.instrument)
        hours = close.iloc[t:t + 4, i].to_numpy()  # slice k at hour t + k
        assert r.price == pytest.approx(np.mean(hours * (1 + np.sign(r.contracts) * slip)), rel=1e-12)


def test_the_base_bar_sets_the_bars_a_deadline_and_a_window_count_in(hourly_store, example_raw, write_cfg):
    raw = four_hourly(example_raw)
    load_config(write_cfg({**raw, "execution": {"style": "twap", "twap_window_bars": 1}}), hourly_store)  # one 4H bar
    with pytest.raises(ConfigError, match="keeps orders working 480 min after the close, .* 240 min later"):
        load_config(write_cfg({**raw, "execution": {"style": "twap", "twap_window_bars": 2}}), hourly_store)
    fine = {**raw, "base_bar": "1H"}
    load_config(write_cfg({**fine, "execution": {"style": "maker_first", "deadline_bars": 4}}), hourly_store)
    with pytest.raises(ConfigError, match="maker deadline .* 300 min after the close, .* 240 min later"):
        load_config(write_cfg({**fine, "execution": {"style": "maker_first", "deadline_bars": 5}}), hourly_store)


def test_the_collector_keeps_the_base_bar_of_every_instrument(hourly_store, example_raw, write_cfg):
    raw = four_hourly(example_raw)
    assert set(base_by_instrument(load_config(write_cfg(raw), hourly_store)).values()) == {"4H"}
    cfg = load_config(write_cfg({**raw, "base_bar": "15m"}), hourly_store)
    assert set(base_by_instrument(cfg)) == set(cfg.instruments)
    assert set(base_by_instrument(cfg).values()) == {"15m"}


def test_makers_on_coarse_base_bars_are_named_with_the_finer_bar_stored(hourly_store, example_raw, write_cfg, caplog):
    raw = {**four_hourly(example_raw), "execution": {"style": "twap", "twap_window_bars": 1}}
    run_backtest(load_config(write_cfg(raw), hourly_store), hourly_store, start="2025-01-04")
    notes = [r.getMessage() for r in caplog.records if r.getMessage().startswith("execution:")]
    assert notes == ["execution: twap orders rest and trade inside 4H base bars, which the backtest sees only at "
                     "their closes; a finer base_bar (the store holds 1H bars) prices them at the bars they trade in"]
    caplog.clear()
    run_backtest(load_config(write_cfg({**raw, "base_bar": "1H", "execution": {"style": "twap", "twap_window_bars": 4}},
                                       "f.yaml"), hourly_store), hourly_store, start="2025-01-04")
    run_backtest(load_config(write_cfg(four_hourly(example_raw), "m.yaml"), hourly_store), hourly_store,
                 start="2025-01-04")  # market: nothing rests
    assert not [r for r in caplog.records if r.getMessage().startswith("execution:")]
