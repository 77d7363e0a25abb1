"""Per-strategy ``execution`` blocks (inherit the account's, checked as it is) and the netting rule
that gives each net order one style (``research.styles.order_styles``)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from qlib_local.cli.main import main
from qlib_local.research import ConfigError, load_config
from qlib_local.research.execution import Execution, decision_gap_ms
from qlib_local.research.styles import order_styles


def test_the_largest_absolute_change_sets_the_style_ties_to_the_first_strategy():
    style_of = np.array([1, 2, 3], np.int64)
    change = np.array([[2.0, -1.0, 0.0, 1.5, 0.0],
                       [-3.0, 1.0, 0.0, 0.5, 0.0],
                       [1.0, 0.5, 0.0, -1.5, 1e-9]])
    # inst 0: |-3| wins (a sell against the net); 1: tie 1 vs 1 -> first; 2: nobody moved -> account (0);
    # 3: tie 1.5 vs 1.5 -> first; 4: only the third moved, however little
    assert order_styles(change, style_of).tolist() == [2, 1, 0, 1, 3]


def test_one_strategy_and_no_strategies_moving():
    assert order_styles(np.array([[0.0, 4.0]]), np.array([2], np.int64)).tolist() == [0, 2]
    assert order_styles(np.zeros((0, 3)), np.zeros(0, np.int64)).tolist() == [0, 0, 0]


def test_a_strategy_block_inherits_every_field_it_does_not_set(hourly_store, example_raw, write_cfg):
    raw = copy.deepcopy(example_raw)
    raw["execution"] = {"style": "maker_first", "spread": 0.1, "deadline_s": 1800, "reprice_s": 30}
    raw["strategies"][1]["execution"] = {"style": "market", "impact": 0.2}
    cfg = load_config(write_cfg(raw), hourly_store)
    account = Execution(style="maker_first", spread=0.1, deadline_s=1800.0, reprice_s=30.0)
    timing, event = cfg.strategies
    assert cfg.execution == account and timing.execution is None  # no block: the account's, whole
    assert cfg.strategy_execution(timing) == account
    assert event.execution == Execution(style="market", spread=0.1, impact=0.2, deadline_s=1800.0, reprice_s=30.0)
    assert cfg.styles == (account, event.execution) and cfg.style_of.tolist() == [0, 1]
    assert not cfg.default_fills


def test_replacing_the_account_block_reaches_strategies_without_their_own(hourly_store, example_raw, write_cfg):
    """A program swapping the account's block (a bench, a notebook) changes the style of every strategy
    without its own block; a strategy's own block was resolved at load and stays."""
    from dataclasses import replace

    raw = copy.deepcopy(example_raw)
    raw["strategies"][1]["execution"] = {"style": "maker_first"}
    cfg = load_config(write_cfg(raw), hourly_store)
    maker = Execution(style="maker_first", spread=0.2)
    swapped = replace(cfg, execution=Execution(spread=0.2))
    assert swapped.styles == (Execution(spread=0.2), Execution(style="maker_first"))
    assert swapped.style_of.tolist() == [0, 1] and maker not in swapped.styles


def test_blocks_equal_to_the_account_add_no_style(hourly_store, example_raw, write_cfg):
    raw = copy.deepcopy(example_raw)
    for s in raw["strategies"]:
        s["execution"] = {"style": "market"}
    cfg = load_config(write_cfg(raw), hourly_store)
    assert cfg.styles == (Execution(),) and cfg.style_of.tolist() == [0, 0] and cfg.default_fills


@pytest.mark.parametrize("bad, match", [
    ({"style": "limit"}, r"strategies\[1\] \(\w+\)\.execution\.style: must be one of market, maker_first"),
    ({"spread": 2}, r"strategies\[1\] \(\w+\)\.execution\.spread"),
    ({"deadline_bars": 0}, r"strategies\[1\] \(\w+\)\.execution\.deadline_bars"),
    ({"reprice_s": float("nan")}, r"strategies\[1\] \(\w+\)\.execution\.reprice_s"),
    ({"fallback": "wait"}, r"strategies\[1\] \(\w+\)\.execution\.fallback"),
    ({"speed": 1}, r"strategies\[1\] \(\w+\)\.execution: expected a mapping"),
    ("maker_first", r"strategies\[1\] \(\w+\)\.execution: expected a mapping"),
])
def test_a_bad_strategy_block_is_refused_naming_the_strategy(hourly_store, example_raw, write_cfg, bad, match):
    raw = copy.deepcopy(example_raw)
    raw["strategies"][1]["execution"] = bad
    with pytest.raises(ConfigError, match=match):
        load_config(write_cfg(raw), hourly_store)


def test_cli_a_bad_strategy_block_is_one_error_line(hourly_root, tmp_path, example_raw, write_cfg, capsys):
    example_raw["strategies"][0]["execution"] = {"style": "maker_first", "deadline_bars": 1.5}
    code = main(["backtest", str(write_cfg(example_raw)), "--root", str(hourly_root), "--out", str(tmp_path / "o"),
                 "--no-notebook"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: strategies[0]") and "execution.deadline_bars" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()  # nothing written before validation


def test_decision_gaps_of_offset_strategies():
    h = 3_600_000
    assert decision_gap_ms([(h, 0)]) == h
    assert decision_gap_ms([(h, 0), (4 * h, h)]) == h  # the example: 4H at 1h falls on 1H closes
    assert decision_gap_ms([(12 * h, 2 * h + h // 4), (12 * h, 0)]) == 2 * h + h // 4
    assert decision_gap_ms([(4 * h, 0), (6 * h, h)]) == h  # 0, 4, 8 / 1, 7: 7 and 8 are an hour apart


@pytest.mark.parametrize("block, ok", [
    ({"style": "twap", "twap_window_bars": 1}, True),  # four slices inside the hour
    ({"style": "twap", "twap_window_bars": 2}, False),  # still slicing at the next hourly close
    ({"style": "maker_first", "deadline_bars": 1}, True),
    ({"style": "maker_first", "deadline_bars": 2}, False),
    ({"style": "maker_first", "deadline_s": 3_600}, True),
    ({"style": "maker_first", "deadline_s": 3_601}, False),
])
def test_orders_working_past_the_next_decision_are_refused(hourly_store, example_raw, write_cfg, block, ok):
    """The 1H and 4H/1h strategies decide every hour: a run still working orders at the next close
    holds the account's lock there, and that run would be skipped as late."""
    raw = copy.deepcopy(example_raw)
    raw["strategies"][1]["execution"] = block  # the 4H strategy's own block: the account's gap counts
    if ok:
        assert load_config(write_cfg(raw), hourly_store).strategies[1].execution.style == block["style"]
    else:
        with pytest.raises(ConfigError, match=r"strategies\[1\] \(\w+\)\.execution: .* past the account's next "
                                              r"decision close 60 min later"):
            load_config(write_cfg(raw), hourly_store)


def test_a_lone_slow_strategy_may_work_its_orders_longer(hourly_store, example_raw, write_cfg):
    raw = copy.deepcopy(example_raw)
    raw["strategies"] = raw["strategies"][1:]
    raw["strategies"][0]["position"] = 1.0
    raw["execution"] = {"style": "twap", "twap_window_bars": 3}  # 4H alone: 3 of its 4 hourly base bars
    assert load_config(write_cfg(raw), hourly_store).execution.twap_window_bars == 3
    raw["execution"]["twap_window_bars"] = 5
    with pytest.raises(ConfigError, match=r"twap_window_bars keeps orders working 300 min .* 240 min later"):
        load_config(write_cfg(raw), hourly_store)
