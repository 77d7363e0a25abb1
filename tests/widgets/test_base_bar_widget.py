"""``base_bar`` in the builder: a dropdown of auto (named by what it resolves to) and the exchange
timeframes, checked by the loader beside it, and the bar the resting checks count bars in."""

from __future__ import annotations

from dataclasses import replace

import pytest
import yaml

from qlib_local.research import load_config
from qlib_local.research.config import ConfigError
from qlib_local.research.execution import Execution
from qlib_local.timeframes import EXCHANGE_TIMEFRAMES
from qlib_local.widgets import ConfigBuilder, load_state
from qlib_local.widgets.state import StateError


def esc(text: str) -> str:
    """As the error label shows it (HTML)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def auto_label(b: ConfigBuilder) -> str:
    return next(label for label, value in b.base_bar.options if value == "")


def four_hourly(example, tmp_path):
    """The example with both strategies on 4H bars at offset 0: auto is 4H."""
    raw = yaml.safe_load(example.read_text())
    for s in raw["strategies"]:
        s.update(rule_type="4H", offset="0h")
    p = tmp_path / "four.yaml"
    p.write_text(yaml.safe_dump(raw, sort_keys=False))
    return p


def test_auto_writes_nothing_a_chosen_bar_round_trips(example, tmp_path, hourly_store):
    out = tmp_path / "out.yaml"
    b = ConfigBuilder(example, out=out)
    assert b.base_bar.value == "" and b.state().base_bar == "" and "base_bar" not in b.state().extra
    assert [v for _, v in b.base_bar.options] == ["", *EXCHANGE_TIMEFRAMES]
    b.save()
    raw = yaml.safe_load(out.read_text())
    assert "base_bar" not in raw and raw["fees"] == yaml.safe_load(example.read_text())["fees"]  # extras carried
    assert replace(load_config(out, hourly_store), path=example) == load_config(example, hourly_store)
    b.base_bar.value = "15m"
    assert b.errors == {}
    b.save_button.click()
    assert "saved 2 strategies" in b.status.value
    assert yaml.safe_load(out.read_text())["base_bar"] == "15m"
    assert load_config(out, hourly_store).base_bar == "15m"
    again = ConfigBuilder(out)
    assert again.base_bar.value == "15m" and again.state() == b.state() and again.errors == {}
    again.base_bar.value = ""  # back to auto: the field is gone, the rest unchanged
    again.save()
    assert yaml.safe_load(out.read_text()) == raw


def test_a_loaded_base_bar_reads_as_the_loader_does_or_is_refused(example, tmp_path, hourly_store):
    raw = yaml.safe_load(example.read_text())
    raw["base_bar"] = "1h"
    p = tmp_path / "lower.yaml"
    p.write_text(yaml.safe_dump(raw))
    state = load_state(p)
    assert state.base_bar == "1H" == load_config(p, hourly_store).base_bar
    assert "base_bar" not in state.extra and ConfigBuilder(p).base_bar.value == "1H"
    for bad in ("7m", "2D", 60):
        raw["base_bar"] = bad
        p.write_text(yaml.safe_dump(raw))
        with pytest.raises(StateError, match="base_bar: must be an exchange timeframe"):
            load_state(p)


def test_auto_names_what_it_resolves_to_as_the_rules_change(example):
    b = ConfigBuilder(example)
    assert auto_label(b) == "auto (1H)"  # 1H and 4H+1h
    b.editors[0].rule_type.value = "4H"
    assert auto_label(b) == "auto (1H)"  # the 1h offset still needs 1H bars
    b.editors[1].offset.value = "0h"
    assert auto_label(b) == "auto (4H)" and b.base_bar.value == ""  # relabelled, still auto
    b.editors[1].rule_type.value = "6H"
    assert auto_label(b) == "auto (2H)"  # no exchange timeframe coarser than gcd(4H, 6H)
    b.base_bar.value = "30m"
    b.editors[1].offset.value = "45m"
    assert auto_label(b) == "auto (15m)" and b.base_bar.value == "30m"  # a chosen bar stays chosen
    b.editors[1].offset.value = "nonsense"
    assert auto_label(b) == "auto"  # nothing to resolve while an offset does not parse


def test_a_bar_that_does_not_divide_is_refused_beside_it_with_the_loaders_message(example, tmp_path, hourly_store):
    before = example.read_text()
    b = ConfigBuilder(example)
    b.base_bar.value = "4H"  # strategy 0 is 1H
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(b.state().to_raw()))
    with pytest.raises(ConfigError) as loader:
        load_config(bad, hourly_store)
    assert str(loader.value).startswith("base_bar: 4H does not divide strategies[0] (SmaCross_20_60)'s rule 1H")
    assert list(b.errors) == [(-1, "base_bar")] and esc(str(loader.value)) in b.base_bar_error.value
    assert b.general.value == ""  # beside the dropdown, not in the summary
    b.save_button.click()
    assert "not saved: 1 error(s)" in b.status.value and example.read_text() == before
    b.base_bar.value = "1H"
    assert b.errors == {} and b.base_bar_error.value == ""


def test_a_finer_base_bar_shortens_a_twap_window_of_bars(example, tmp_path, hourly_store):
    cfg4 = four_hourly(example, tmp_path)
    before = cfg4.read_text()
    b = ConfigBuilder(cfg4)
    assert auto_label(b) == "auto (4H)"
    b.account_execution.style.value = "twap"
    b.account_execution.fields.inputs["twap_window_bars"].value = 4  # 4 x 4H: 960 min, decisions 240 min apart
    assert set(b.errors) == {(0, "execution"), (1, "execution")}
    label = b.editors[0].labels["execution"].value
    assert "twap_window_bars keeps orders working 960 min after the close" in label and "240 min later" in label
    b.save_button.click()
    assert "not saved" in b.status.value and cfg4.read_text() == before
    b.base_bar.value = "6H"  # does not divide 4H: the loader's refusal, not a window counted in a bar it refuses
    assert list(b.errors) == [(-1, "base_bar")] and "base_bar: 6H does not divide" in b.base_bar_error.value
    b.base_bar.value = "1H"  # 4 x 1H: done by the next decision close
    assert b.errors == {} and b.editors[0].labels["execution"].value == ""
    out = b.save(tmp_path / "fine.yaml")
    raw = yaml.safe_load(out.read_text())
    assert raw["base_bar"] == "1H" and raw["execution"]["twap_window_bars"] == 4
    cfg = load_config(out, hourly_store)
    assert cfg.base_bar == "1H" and cfg.execution == Execution(style="twap", twap_window_bars=4)
    b.base_bar.value = ""  # back to auto: refused again
    assert set(b.errors) == {(0, "execution"), (1, "execution")}
