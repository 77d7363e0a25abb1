"""``rebalance`` and ``min_trade`` in the builder: the account's, and each strategy's inherit-or-own."""

from __future__ import annotations

import math

import pytest
import yaml

from qlib_local.errors import QlibError
from qlib_local.research import load_config
from qlib_local.research.config import ConfigError
from qlib_local.widgets import ConfigBuilder, load_state
from qlib_local.widgets.state import StateError


def esc(text: str) -> str:
    """As the error label shows it (HTML)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def own(b: ConfigBuilder, i: int, mode: str | None = None, min_trade: float | None = None):
    """Strategy ``i`` sets its own values (those given)."""
    ed = b.editors[i].rebalance
    ed.choice.value = "own"
    if mode is not None:
        ed.mode.value = mode
    if min_trade is not None:
        ed.min_trade.value = min_trade
    return ed


def written(b: ConfigBuilder) -> list[dict]:
    """Each strategy's ``rebalance``/``min_trade`` as Save would write them."""
    return [{k: v for k, v in e.items() if k in ("rebalance", "min_trade")} for e in b.state().to_raw()["strategies"]]


def test_account_and_own_values_round_trip_through_the_loader(example, tmp_path, hourly_store):
    out = tmp_path / "rebalanced.yaml"
    b = ConfigBuilder(example, out=out)
    assert [e.rebalance.choice.value for e in b.editors] == ["inherit"] * 2
    assert b.account_rebalance.read() == (None, None)
    b.account_rebalance.mode.value = "keep"
    b.account_rebalance.min_trade.value = 0.02
    own(b, 1, mode="resize", min_trade=0.1)
    assert b.errors == {}
    b.save_button.click()
    assert "saved 2 strategies" in b.status.value
    raw = yaml.safe_load(out.read_text())
    assert raw["rebalance"] == "keep" and raw["min_trade"] == 0.02
    assert "rebalance" not in raw["strategies"][0] and "min_trade" not in raw["strategies"][0]  # inherits
    assert raw["strategies"][1]["rebalance"] == "resize" and raw["strategies"][1]["min_trade"] == 0.1
    cfg = load_config(out, hourly_store)
    assert [(s.rebalance, s.min_trade) for s in cfg.strategies] == [("keep", 0.02), ("resize", 0.1)]
    again = ConfigBuilder(out)
    assert again.state() == b.state() and again.errors == {}
    assert [e.rebalance.choice.value for e in again.editors] == ["inherit", "own"]
    assert again.account_rebalance.mode.value == "keep" and again.editors[1].rebalance.min_trade.value == 0.1


def test_only_values_that_differ_from_the_inherited_are_written(example, tmp_path, hourly_store):
    b = ConfigBuilder(example)  # no account values: each kind's default, min_trade 0
    ed = own(b, 1)
    assert ed.mode.value == "resize" and ed.min_trade.value == 0  # the event kind's default, shown
    assert written(b) == [{}, {}]  # own, but nothing differs: nothing written
    ed.mode.value = "keep"
    assert written(b) == [{}, {"rebalance": "keep"}]
    own(b, 0, mode="keep", min_trade=0.05)  # timing: keep is its default
    assert written(b) == [{"min_trade": 0.05}, {"rebalance": "keep"}]
    b.account_rebalance.min_trade.value = 0.05  # now the account's: strategy 0's is inherited again,
    assert written(b) == [{}, {"rebalance": "keep"}]  # and 1's 0 (the account's old value) followed
    assert b.editors[1].rebalance.min_trade.value == 0.05
    b.editors[1].rebalance.min_trade.value = 0  # set back: differs from the account's now, so written
    assert written(b) == [{}, {"rebalance": "keep", "min_trade": 0.0}]
    assert b.errors == {}
    cfg = load_config(b.save(tmp_path / "out.yaml"), hourly_store)
    assert [(s.rebalance, s.min_trade) for s in cfg.strategies] == [("keep", 0.05), ("keep", 0.0)]
    b.account_rebalance.min_trade.value = 0  # off: not written at all
    assert "min_trade" not in b.state().to_raw() and b.account_rebalance.read() == (None, None)


def test_a_strategy_that_inherits_follows_the_account_an_own_value_stays(example, tmp_path, hourly_store):
    b = ConfigBuilder(example)
    inheriting, owning = b.editors[0].rebalance, own(b, 1, min_trade=0.1)
    assert "account's: keep, min trade 0" in inheriting.inherited.value  # timing's default
    b.account_rebalance.mode.value = "resize"
    b.account_rebalance.min_trade.value = 0.03
    assert "account's: resize, min trade 0.03" in inheriting.inherited.value
    assert owning.mode.value == "resize" and owning.min_trade.value == 0.1  # mode was inherited: follows
    assert written(b) == [{}, {"min_trade": 0.1}]
    cfg = load_config(b.save(tmp_path / "out.yaml"), hourly_store)
    assert [(s.rebalance, s.min_trade) for s in cfg.strategies] == [("resize", 0.03), ("resize", 0.1)]
    b.account_rebalance.mode.value = "keep"
    cfg = load_config(b.save(tmp_path / "out.yaml"), hourly_store)
    assert [(s.rebalance, s.min_trade) for s in cfg.strategies] == [("keep", 0.03), ("keep", 0.1)]
    owning.choice.value = "inherit"
    assert written(b) == [{}, {}]


def test_an_own_mode_equal_to_the_kinds_default_follows_a_kind_change(example):
    b = ConfigBuilder(example)
    ed = own(b, 0, min_trade=0.2)
    assert ed.mode.value == "keep"  # the timing default
    b.editors[0].kind.value = "event"
    assert ed.mode.value == "resize" and ed.min_trade.value == 0.2  # inherited: the event default now
    assert written(b)[0] == {"min_trade": 0.2}


def test_a_bad_account_value_on_the_way_is_flagged_once_and_inherited_values_still_follow(example):
    b = ConfigBuilder(example)
    ed = own(b, 1, mode="keep")
    b.account_rebalance.min_trade.value = math.nan
    assert list(b.errors) == [(-1, "rebalance")]  # the account's, not again on the strategies that inherit it
    b.account_rebalance.min_trade.value = 0.02
    assert b.errors == {} and ed.min_trade.value == 0.02 and written(b) == [{}, {"rebalance": "keep"}]


@pytest.mark.parametrize(("where", "value"), [(-1, 1.5), (-1, -0.01), (-1, math.nan), (0, 2.0), (1, -1.0),
                                              (1, math.inf)])
def test_a_bad_min_trade_is_refused_with_the_loaders_message_and_nothing_saved(example, tmp_path, hourly_store,
                                                                              where, value):
    before = example.read_text()
    b = ConfigBuilder(example)
    if where < 0:
        b.account_rebalance.min_trade.value = value
        label = b.account_rebalance.error
    else:
        own(b, where, min_trade=value)
        label = b.editors[where].labels["rebalance"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(b.state().to_raw()))
    with pytest.raises(ConfigError) as loader:
        load_config(bad, hourly_store)
    assert "min_trade" in str(loader.value) and esc(str(loader.value)) in label.value
    assert list(b.errors) == [(where, "rebalance")]  # one message, beside its input
    assert "min_trade" not in b.general.value
    b.save_button.click()
    assert "not saved: 1 error(s)" in b.status.value and example.read_text() == before
    with pytest.raises(QlibError, match="not saved"):
        b.save()


def test_values_no_widget_can_hold_are_refused_at_load(example, tmp_path, hourly_store):
    raw = yaml.safe_load(example.read_text())
    p = tmp_path / "odd.yaml"
    for where, key, value, message in [
        (None, "rebalance", "hold", "rebalance: must be one of keep, resize, got 'hold'"),
        (0, "rebalance", "sometimes", "SmaCross_20_60.rebalance: must be one of keep, resize, got 'sometimes'"),
        (None, "min_trade", "small", "min_trade: expected a number, got 'small'"),
        (1, "min_trade", None, "BtcBullAndCoinBull_21_55.min_trade: expected a number, got None"),
    ]:
        odd = yaml.safe_load(yaml.safe_dump(raw))
        (odd if where is None else odd["strategies"][where])[key] = value
        p.write_text(yaml.safe_dump(odd))
        with pytest.raises(StateError) as refused:
            ConfigBuilder(p)
        assert str(refused.value) == message
        with pytest.raises(ConfigError, match=key):  # the loader refuses it too
            load_config(p, hourly_store)


def test_a_loaded_out_of_range_value_is_shown_flagged_and_a_null_mode_kept(example, tmp_path, hourly_store):
    raw = yaml.safe_load(example.read_text())
    raw["rebalance"], raw["min_trade"] = "keep", 0.01
    raw["strategies"][0]["min_trade"] = 1.5
    raw["strategies"][1]["rebalance"] = None  # the loader: the event default, not the account's keep
    p = tmp_path / "loaded.yaml"
    p.write_text(yaml.safe_dump(raw))
    before = load_config(_fixed(raw, tmp_path), hourly_store)
    b = ConfigBuilder(p)
    ed = b.editors[0].rebalance
    assert ed.choice.value == "own" and ed.min_trade.value == 1.5
    assert esc("strategies[0] (SmaCross_20_60).min_trade: must be <= 1, got 1.5") in b.editors[0].labels["rebalance"].value
    assert list(b.errors) == [(0, "rebalance")]
    ed.min_trade.value = 0.5
    assert b.errors == {}
    assert b.editors[1].rebalance.choice.value == "own" and b.editors[1].rebalance.mode.value == "resize"
    cfg = load_config(b.save(tmp_path / "fixed.yaml"), hourly_store)
    assert [(s.rebalance, s.min_trade) for s in cfg.strategies] == [("keep", 0.5), ("resize", 0.01)]
    assert [s.rebalance for s in cfg.strategies] == [s.rebalance for s in before.strategies]
    assert load_state(tmp_path / "fixed.yaml").strategies[1].rebalance == "resize"  # written, as it differs


def _fixed(raw: dict, tmp_path):
    """The loaded file with strategy 0's min_trade in range: what the loader made of the rest."""
    ok = yaml.safe_load(yaml.safe_dump(raw))
    ok["strategies"][0]["min_trade"] = 0.5
    p = tmp_path / "ok.yaml"
    p.write_text(yaml.safe_dump(ok))
    return p


def test_an_added_strategy_inherits_the_accounts_current_values(example):
    b = ConfigBuilder(example)
    b.account_rebalance.mode.value = "keep"
    b.account_rebalance.min_trade.value = 0.04
    ed = b.add("event").rebalance
    assert ed.choice.value == "inherit" and "account's: keep, min trade 0.04" in ed.inherited.value
    ed.choice.value = "own"
    assert (ed.mode.value, ed.min_trade.value) == ("keep", 0.04) and written(b)[2] == {}
