"""Execution blocks in the builder: the account's, and each strategy's inherit-or-override."""

from __future__ import annotations

import math

import pytest
import yaml

from qlib_local.errors import QlibError
from qlib_local.research import load_config
from qlib_local.research.config import ConfigError
from qlib_local.research.execution import Execution
from qlib_local.widgets import ConfigBuilder, load_state
from qlib_local.widgets.state import StateError


def esc(text: str) -> str:
    """As the error label shows it (HTML)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fields(b: ConfigBuilder, i: int):
    """Strategy ``i``'s execution inputs (-1: the account's)."""
    return (b.account_execution if i < 0 else b.editors[i].execution).fields.inputs


def shown(b: ConfigBuilder, i: int) -> set[str]:
    return {k for k, x in fields(b, i).items() if x.layout.display != "none"}


def test_inheritance_writes_only_overrides_and_round_trips(example, tmp_path, hourly_store):
    out = tmp_path / "styled.yaml"
    b = ConfigBuilder(example, out=out)
    assert b.state().execution is None and [e.execution.choice.value for e in b.editors] == ["inherit"] * 2
    b.account_execution.style.value = "maker_first"
    fields(b, -1)["spread"].value = 0.05
    fields(b, -1)["reprice_s"].value = 60
    ed = b.editors[1].execution
    ed.choice.value = "twap"
    assert fields(b, 1)["spread"].value == 0.05  # the account's value, shown
    fields(b, 1)["twap_slices"].value = 6
    fields(b, 1)["twap_min_notional"].value = 500
    assert b.errors == {}
    b.save_button.click()
    assert "saved 2 strategies" in b.status.value
    raw = yaml.safe_load(out.read_text())
    assert raw["execution"] == {"style": "maker_first", "spread": 0.05, "reprice_s": 60.0}
    assert "execution" not in raw["strategies"][0]  # inherits: nothing written
    assert raw["strategies"][1]["execution"] == {"style": "twap", "twap_slices": 6, "twap_min_notional": 500.0}
    cfg = load_config(out, hourly_store)
    account = Execution(style="maker_first", spread=0.05, reprice_s=60.0)
    assert cfg.execution == account and cfg.strategies[0].execution is None
    assert cfg.strategy_execution(cfg.strategies[0]) == account
    assert cfg.strategies[1].execution == Execution(style="twap", spread=0.05, reprice_s=60.0, twap_slices=6,
                                                    twap_min_notional=500.0)
    again = ConfigBuilder(out)
    assert again.state() == b.state() and again.errors == {}
    assert [e.execution.choice.value for e in again.editors] == ["inherit", "twap"]
    assert fields(again, 1)["twap_slices"].value == 6 and fields(again, -1)["reprice_s"].value == 60


def test_inherited_fields_follow_the_account_overridden_ones_stay(example):
    b = ConfigBuilder(example)
    b.editors[0].execution.choice.value = "maker_first"
    fields(b, 0)["deadline_s"].value = 30
    assert b.state().strategies[0].execution == {"style": "maker_first", "deadline_s": 30.0}
    fields(b, -1)["spread"].value = 0.1
    fields(b, -1)["deadline_s"].value = 20
    assert fields(b, 0)["spread"].value == 0.1  # was inherited: follows
    assert fields(b, 0)["deadline_s"].value == 30  # was its own: stays
    assert b.state().strategies[0].execution == {"style": "maker_first", "deadline_s": 30.0}
    fields(b, 0)["deadline_s"].value = 20  # now equal to the account's: inherited again, not written
    assert b.state().strategies[0].execution == {"style": "maker_first"}
    b.editors[0].execution.choice.value = "inherit"
    assert b.state().strategies[0].execution is None and b.errors == {}


def test_only_the_fields_of_the_chosen_style_show(example):
    b = ConfigBuilder(example)
    ed = b.editors[0].execution
    assert shown(b, 0) == set() and "account's: market" in ed.inherited.value
    ed.choice.value = "market"
    assert shown(b, 0) == {"spread", "impact"}
    ed.choice.value = "maker_first"
    assert shown(b, 0) == {"spread", "impact", "reprice_s", "deadline_bars", "deadline_s", "fallback"}
    ed.choice.value = "twap"
    twap = {"spread", "impact", "twap_slices", "twap_window_bars", "twap_min_notional", "twap_slice_style"}
    assert shown(b, 0) == twap
    fields(b, 0)["twap_slice_style"].value = "maker_first"  # maker slices: their fields matter too
    assert shown(b, 0) == twap | {"reprice_s", "deadline_bars", "deadline_s", "fallback"}
    fields(b, 0)["fallback"].value = "leave"
    assert b.state().strategies[0].execution == {"style": "twap", "fallback": "leave",
                                                 "twap_slice_style": "maker_first"}
    assert len(shown(b, -1)) == 10  # the account's: every field (strategies of any style inherit them)


@pytest.mark.parametrize(("where", "key", "value", "message"), [
    (-1, "spread", 2.0, "execution.spread: must be <= 1, got 2"),
    (-1, "reprice_s", 0.0, "execution.reprice_s: must be > 0, got 0"),
    (0, "impact", math.nan, "strategies[0].execution.impact: must be a finite number, got nan"),
    (1, "twap_slices", 1, "strategies[1].execution.twap_slices: must be >= 2, got 1"),
    (1, "twap_window_bars", 2.5, "strategies[1].execution.twap_window_bars: expected an integer, got 2.5"),
    (0, "twap_min_notional", -1, "strategies[0].execution.twap_min_notional: must be >= 0, got -1"),
])
def test_a_bad_value_is_refused_with_the_loaders_message_and_nothing_saved(example, where, key, value, message):
    before = example.read_text()
    b = ConfigBuilder(example)
    if where >= 0:
        b.editors[where].execution.choice.value = "twap"
    fields(b, where)[key].value = value
    label = b.account_execution.error if where < 0 else b.editors[where].labels["execution"]
    assert esc(message) in label.value
    assert list(b.errors) == [(where, "execution")]  # one message, beside its block
    b.save_button.click()
    assert "not saved: 1 error(s)" in b.status.value and example.read_text() == before
    with pytest.raises(QlibError, match="not saved"):
        b.save()


def test_resting_past_the_next_decision_is_refused_as_the_loader_does(example, tmp_path, hourly_store):
    before = example.read_text()
    b = ConfigBuilder(example)
    b.editors[0].execution.choice.value = "maker_first"
    fields(b, 0)["deadline_bars"].value = 2  # 1H bars: the next decision is 60 min later
    label = b.editors[0].labels["execution"].value
    state = b.state()
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(state.to_raw()))
    with pytest.raises(ConfigError) as loader:
        load_config(bad, hourly_store)
    assert esc(str(loader.value)) in label and "shorten it" in label
    b.save_button.click()
    assert "not saved" in b.status.value and example.read_text() == before
    fields(b, 0)["deadline_bars"].value = 1
    b.editors[0].execution.choice.value = "inherit"
    b.account_execution.style.value = "twap"  # the account's window, inherited by both strategies
    fields(b, -1)["twap_window_bars"].value = 3
    assert {k for k in b.errors} == {(0, "execution"), (1, "execution")}
    assert "twap_window_bars keeps orders working 180 min" in b.editors[1].labels["execution"].value
    fields(b, -1)["twap_window_bars"].value = 1
    assert b.errors == {}


def test_a_block_no_widget_can_hold_is_refused_at_load(tmp_path, example):
    raw = yaml.safe_load(example.read_text())
    raw["strategies"][0]["execution"] = {"style": "iceberg"}
    p = tmp_path / "odd.yaml"
    p.write_text(yaml.safe_dump(raw))
    with pytest.raises(StateError, match="execution.style: must be one of market, maker_first, twap"):
        ConfigBuilder(p)
    raw["strategies"][0]["execution"] = {"spread": "wide"}
    p.write_text(yaml.safe_dump(raw))
    with pytest.raises(StateError, match="execution.spread: expected a number, got 'wide'"):
        load_state(p)


def test_a_loaded_out_of_range_block_is_shown_flagged_and_unfixed_fields_carried(example, tmp_path, hourly_store):
    raw = yaml.safe_load(example.read_text())
    raw["execution"] = {"style": "maker_first", "spread": 1.5}
    raw["strategies"][1]["execution"] = {"deadline_bars": 1, "fallback": "leave"}  # style inherited
    raw["strategies"][1]["rebalance"] = "keep"
    raw["strategies"][1]["min_trade"] = 0.05
    p = tmp_path / "loaded.yaml"
    p.write_text(yaml.safe_dump(raw))
    b = ConfigBuilder(p)
    assert fields(b, -1)["spread"].value == 1.5 and "execution.spread: must be &lt;= 1" in b.account_execution.error.value
    fields(b, -1)["spread"].value = 0.5
    assert b.errors == {}
    assert b.editors[1].execution.choice.value == "maker_first" and fields(b, 1)["fallback"].value == "leave"
    out = b.save(tmp_path / "fixed.yaml")
    s1 = yaml.safe_load(out.read_text())["strategies"][1]
    assert s1["execution"] == {"style": "maker_first", "fallback": "leave"}  # deadline_bars 1 is the account's
    assert s1["rebalance"] == "keep" and s1["min_trade"] == 0.05  # carried through
    cfg = load_config(out, hourly_store)
    assert cfg.strategies[1].execution == Execution(style="maker_first", spread=0.5, fallback="leave")
    assert cfg.strategies[1].rebalance == "keep" and cfg.strategies[1].min_trade == 0.05
