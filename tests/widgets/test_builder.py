"""The strategy builder's logic, driven through its widgets as a user would."""

from __future__ import annotations

import pytest
import yaml
from tests_support import REPO

from qlib_local.errors import QlibError
from qlib_local.research import load_config
from qlib_local.widgets import ConfigBuilder, load_state


def label(b: ConfigBuilder, i: int, field: str) -> str:
    return b.editors[i].labels[field].value


def test_loads_the_example_without_errors(example):
    b = ConfigBuilder(example)
    assert b.errors == {}
    assert [e.base.value for e in b.editors] == ["SmaCross", "BtcBullAndCoinBull"]
    assert [p.value for p in b.editors[0].param_widgets] == ["20", "60"]
    assert [p.description for p in b.editors[0].param_widgets] == ["fast", "slow"]
    assert b.editors[1].kind.value == "event" and b.editors[1].timing_box.layout.display == "none"
    assert "capital shares: 1 of 1" in b.shares.value


def test_errors_appear_inline_as_values_change_and_clear_when_fixed(example):
    b = ConfigBuilder(example)
    b.editors[1].offset.value = "5h"  # 4H bars: offset must be under 4h
    assert "does not fit rule 4H" in label(b, 1, "offset")
    b.editors[1].offset.value = "2h"
    assert label(b, 1, "offset") == ""
    b.editors[0].position.value = 0.7  # 0.7 + 0.6
    assert "sum to 1.3, more than 1" in label(b, 0, "position") and "more than 1" in label(b, 1, "position")
    assert "more than 1" in b.general.value and "⚠" in b.accordion.titles[0]
    b.editors[0].position.value = 0.4
    assert label(b, 0, "position") == "" and b.general.value == ""
    b.editors[1].rank_factor.value = "NoSuchFactor_3"
    assert "unknown" in label(b, 1, "rank_factor") and "NoSuchFactor_3" in label(b, 1, "rank_factor")
    b.editors[1].factors.value = ["Momentum_12", "Bogus_1"]
    assert "Bogus_1" in label(b, 1, "factors")
    b.editors[1].rank_factor.value = "QuoteVolumeMean_6"
    b.editors[1].factors.value = ["Momentum_12"]
    b.editors[0].param_widgets[1].value = ""  # SmaCross_20_ : the slow period is missing
    assert "params" in {k[1] for k in b.errors}
    b.editors[0].param_widgets[1].value = "50"
    b.editors[0].rule_type.value = "7x"
    assert "unknown timeframe" in label(b, 0, "rule_type")
    b.editors[0].rule_type.value = "2H"
    assert b.errors == {}


def test_save_is_refused_while_errors_remain(example):
    before = example.read_text()
    b = ConfigBuilder(example)
    b.editors[0].leverage.value = 0
    b.save_button.click()
    assert "not saved: 1 error(s)" in b.status.value
    assert example.read_text() == before
    with pytest.raises(QlibError, match="not saved"):
        b.save()


def test_save_writes_the_yaml_and_loading_restores_the_same_form(example, tmp_path):
    out = tmp_path / "edited.yaml"
    b = ConfigBuilder(example, out=out)
    b.editors[0].leverage.value = 3.5
    b.editors[0].param_widgets[0].value = "10"
    b.editors[1].hold_period.value = 4
    b.editors[1].blacklist.value = ["DOGE-USDT-SWAP", "SOL-USDT-SWAP"]
    b.editors[1].rule_type.value = "12H"
    b.editors[1].offset.value = "2h15m"
    b.blacklist.value = ["XRP-USDT-SWAP"]
    b.save_button.click()
    assert f"saved 2 strategies to {out}" in b.status.value
    raw = yaml.safe_load(out.read_text())
    s0, s1 = raw["strategies"]
    assert s0["strategy_name"] == "SmaCross_10_60" and s0["leverage"] == 3.5
    assert s1["hold_period"] == 4 and s1["max_cap_num"] == 4 and s1["offset"] == "2h15m"
    assert raw["fees"] == {"taker": 0.0005, "maker": 0.0002, "slippage": 0.0002}  # carried through
    assert raw["blacklist"] == ["XRP-USDT-SWAP"]
    again = ConfigBuilder(out)
    assert again.state() == b.state()
    assert again.editors[1].blacklist.value == ["DOGE-USDT-SWAP", "SOL-USDT-SWAP"]
    assert again.editors[0].leverage.value == 3.5 and again.errors == {}


def test_saved_file_is_the_same_config_to_the_research_layer(example, tmp_path, hourly_store):
    out = tmp_path / "same.yaml"
    ConfigBuilder(example, out=out).save()
    a, b = load_config(example, hourly_store), load_config(out, hourly_store)
    assert a.strategies == b.strategies and a.fees == b.fees and a.initial_equity == b.initial_equity


def test_add_remove_and_switch_kind(example):
    b = ConfigBuilder(example)
    b.editors[0].position.value = 0.2
    ed = b.add("event")
    assert len(b.accordion.children) == 3 and b.accordion.selected_index == 2
    assert ed.position.value == pytest.approx(0.2)  # what is left of the account
    assert "rank factor" in label(b, 2, "rank_factor")
    assert "fast, slow of BtcBullAndCoinBull are empty" in label(b, 2, "params")
    ed.param_widgets[0].value, ed.param_widgets[1].value = "10", "30"
    ed.rank_factor.value = "Reversal_24"
    ed.id.value = "reversal"
    assert b.errors == {}
    assert b.state().strategies[2].strategy_name == "BtcBullAndCoinBull_10_30"
    ed.kind.value = "timing"
    assert list(ed.base.options) == ["BollingerBreakout", "SmaCross"]
    assert [p.description for p in ed.param_widgets] == ["n", "k"]
    assert ed.event_box.layout.display == "none" and ed.timing_box.layout.display is None
    assert "instrument" in label(b, 2, "instruments")
    b.accordion.selected_index = 2
    b.remove.click()
    assert len(b.editors) == 2 and b.errors == {}


def test_preview_backtests_the_form(example, hourly_store):
    b = ConfigBuilder(example, store=hourly_store, preview_start="2025-01-05")
    res = b.preview()
    assert list(res.equity.columns) == ["total", "SmaCross_20_60", "BtcBullAndCoinBull_21_55"]
    assert res.equity.index[0] >= __import__("pandas").Timestamp("2025-01-05", tz="UTC")
    assert b.status.value.startswith("preview: 2025-01-05")
    b.editors[0].leverage.value = 4  # the preview follows the form, not the file
    lev = b.preview().config.strategies[0].leverage
    assert lev == 4


def test_preview_needs_a_store_and_a_valid_form(example, hourly_store):
    with pytest.raises(QlibError, match="no store"):
        ConfigBuilder(example).preview()
    b = ConfigBuilder(example, store=hourly_store)
    b.editors[1].universe_all.value = False
    b.editors[1].universe.value = ["NOPE-USDT-SWAP"]
    assert "not in the store" in b.general.value
    b.preview_button.click()
    assert "no preview" in b.status.value


def test_loaded_unknown_strategy_is_shown_not_dropped(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump({"strategies": [{"strategy_name": "Gone_3", "kind": "timing", "rule_type": "1H",
                                                 "position": 0.5, "leverage": 1, "instruments": ["BTC-USDT-SWAP"]}]}))
    b = ConfigBuilder(p)
    assert b.editors[0].base.value == "Gone" and "unknown timing strategy 'Gone'" in label(b, 0, "strategy")
    assert load_state(p).strategies[0].params == ["3"]


def test_number_fields_use_the_loaders_ranges(example):
    """The builder flags beside the input what load_config would refuse (one range definition)."""
    b = ConfigBuilder(example)
    b.editors[0].leverage.value = 200
    assert "leverage: must be &lt;= 125, got 200" in label(b, 0, "leverage")
    b.editors[0].volatility_ratio.value = 11
    assert "volatility_ratio: must be &lt;= 10, got 11" in label(b, 0, "volatility_ratio")
    b.editors[0].leverage.value = 2
    b.editors[0].volatility_ratio.value = 1
    b.editors[1].hold_period.value = 10_001
    assert "hold_period: must be &lt;= 10000" in label(b, 1, "hold_period")
    b.editors[1].hold_period.value = 6
    assert b.errors == {}


def test_a_wallet_per_coin_is_carried_through():
    state = load_state(REPO / "strategies" / "binance_coinm.yaml")
    raw = state.to_raw()
    assert raw["initial_equity"] == {"BTC": 1.0, "ETH": 20.0, "SOL": 400.0, "XRP": 100000.0}
    assert [s["strategy_name"] for s in raw["strategies"]] == ["BtcBullAndCoinBull_21_55", "RankOnly"]
