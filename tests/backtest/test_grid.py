"""Sweep grids: any config field as an axis, both grid forms, every combination validated and kept."""

from __future__ import annotations

from dataclasses import replace

import pytest

from qlib_local.backtest.grid import GridError, plan_sweep
from qlib_local.specs import load_specs, save_specs
from qlib_local.store import KlineStore
from qlib_local.synth import SynthConfig, write_synthetic


def test_path_form_and_per_strategy_form_give_the_same_combinations(hourly_store, example_raw):
    paths = {"strategies[0].strategy_name.fast": [5, 10], "strategies[SmaCross_20_60].rule_type": ["1H", "4H"],
             "strategies[1].rank_factor.0": [6, 24], "fees.taker": [0.0, 0.001]}
    friendly = {"SmaCross_20_60": {"strategy_name": {"fast": [5, 10]}, "rule_type": ["1H", "4H"]},
                "strategies[1]": {"rank_factor": {"n": [6, 24]}}, "fees.taker": [0.0, 0.001]}
    a, b = plan_sweep(example_raw, paths, hourly_store), plan_sweep(example_raw, friendly, hourly_store)
    assert len(a) == len(b) == 16 and not a.errors and not b.errors
    assert a.labels == b.labels == ["fast", "rule_type", "n", "fees.taker"]
    assert [c.strategies for c in a.configs] == [c.strategies for c in b.configs]
    first, last = a.configs[0], a.configs[-1]
    assert first.strategies[0].strategy_name == "SmaCross_5_60" and first.strategies[0].rule_type == "1H"
    assert first.strategies[1].rank_factor == "QuoteVolumeMean_6" and first.fees.taker == 0.0
    assert last.strategies[0].strategy_name == "SmaCross_10_60" and last.strategies[0].rule_type == "4H"
    assert last.strategies[1].rank_factor == "QuoteVolumeMean_24" and last.fees.taker == 0.001
    assert a.combinations.loc[15].tolist() == [10, "4H", 24, 0.001]


def test_every_field_of_both_kinds_is_an_axis(hourly_store, example_raw):
    grid = {"SmaCross_20_60": {"offset": ["0h"], "leverage": [3], "volatility_ratio": [0.5], "position": [0.3],
                               "instruments": [["BTC-USDT-SWAP"]]},
            "BtcBullAndCoinBull_21_55": {"hold_period": [3], "symbol_num_limit": [2], "ascending": [True],
                                         "side": ["short"], "cross_sect_factor": {"fast": [13]},
                                         "rank_factor": ["Reversal_12"], "blacklist": [[]]},
            "initial_equity": [5000], "fees.slippage": [0.001]}
    plan = plan_sweep(example_raw, grid, hourly_store)
    assert not plan.errors, plan.errors
    cfg = plan.configs[0]
    t, e = cfg.strategies
    assert (t.leverage, t.volatility_ratio, t.position, t.instruments) == (3, 0.5, 0.3, ("BTC-USDT-SWAP",))
    assert (e.hold_period, e.max_cap_num, e.symbol_num_limit, e.ascending, e.side) == (3, 3, 2, True, "short")
    assert e.cross_sect_factor == "BtcBull_13_55" and e.rank_factor == "Reversal_12"
    assert "DOGE-USDT-SWAP" in e.instruments  # the strategy blacklist was swept to empty
    assert cfg.initial_equity == 5000 and cfg.fees.slippage == 0.001 and cfg.fees.taker == 0.0005


def test_jointly_bad_combinations_are_reported_with_their_reason_not_dropped(hourly_store, example_raw):
    grid = {"strategies[0].rule_type": ["1H", "4H"], "strategies[0].offset": ["0h", "2h"],
            "strategies[1].hold_period": [6, 3]}
    plan = plan_sweep(example_raw, grid, hourly_store)
    assert len(plan) == 8 and len(plan.configs) == 8
    assert [plan.values[k] for k in plan.valid] == [("1H", "0h", 6), ("1H", "0h", 3), ("4H", "0h", 6),
                                                     ("4H", "0h", 3), ("4H", "2h", 6), ("4H", "2h", 3)]
    assert set(plan.errors) == {2, 3}  # 1H with offset 2h: each value is fine elsewhere
    assert all("offset" in m and "does not fit" in m for m in plan.errors.values())


@pytest.mark.parametrize(("axis", "values", "message"), [
    ("strategies[1].leverage", [1, 500], "grid strategies[BtcBullAndCoinBull_21_55].leverage: value 500 is invalid "
                                         "in every combination; combination 2: strategies[1] (BtcBullAndCoinBull_21_55)"
                                         ".leverage: 500 exceeds the maximum"),
    ("strategies[1].hold_period", [6, 2.5], "hold_period: value 2.5 is invalid in every combination"),
    ("strategies[0].rule_type", ["1H", "7X"], "rule_type: value '7X' is invalid in every combination"),
    ("strategies[0].position", [0.4, float("nan")], "position: value nan is invalid in every combination"),
    ("fees.taker", [0.001, -1], "fees.taker: value -1 is invalid in every combination"),
])
def test_a_value_invalid_everywhere_refuses_the_grid(hourly_store, example_raw, axis, values, message):
    with pytest.raises(GridError) as err:
        plan_sweep(example_raw, {axis: values, "strategies[0].offset": ["0h", "1h"]}, hourly_store)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(("grid", "message"), [
    ({"strategies[0].colour": [1]}, "colour is not a field of a timing strategy"),
    ({"strategies[0].hold_period": [3]}, "hold_period is not a field of a timing strategy"),
    ({"strategies[7].leverage": [1]}, "the config has 2 strategies"),
    ({"strategies[Nope_1].leverage": [1]}, "no strategy 'Nope_1'"),
    ({"strategies[0].leverage": []}, "non-empty list"),
    ({"strategies[0].leverage": 2}, "non-empty list"),
    ({"strategies[0].strategy_name.speed": [5]}, "SmaCross_20_60 has parameter(s) (fast, slow)"),
    ({"strategies[0].strategy_name.fast": ["a_b"]}, "finite number or a plain word"),
    ({"strategies[0].strategy_name.fast": [float("nan")]}, "finite number or a plain word"),
    ({"strategies[0].strategy_name.fast": [True]}, "finite number or a plain word"),
    ({"strategies[0].leverage.x": [1]}, "only strategy_name, rank_factor, cross_sect_factor have parameters"),
    ({"strategies[0].strategy_name": ["SmaCross_5_20"], "strategies[0].strategy_name.fast": [5]}, "overlaps"),
    ({"fees.rebate": [0.1]}, "not a sweepable field"),
    ({}, "non-empty mapping"),
])
def test_a_grid_that_cannot_be_expanded_is_one_error(hourly_store, example_raw, grid, message):
    with pytest.raises(GridError) as err:
        plan_sweep(example_raw, grid, hourly_store)
    assert message in str(err.value)


def test_too_many_combinations_are_refused_before_expansion(hourly_store, example_raw):
    grid = {"strategies[0].strategy_name.fast": list(range(1, 101)), "strategies[0].strategy_name.slow":
            list(range(101, 201)), "strategies[0].leverage": list(range(1, 11))}
    with pytest.raises(GridError, match="100,000 combinations, more than the limit 50,000"):
        plan_sweep(example_raw, grid, hourly_store, max_combinations=50_000)


def test_strategies_option_keeps_only_the_named_ones(hourly_store, example_raw):
    plan = plan_sweep(example_raw, {"strategies[0].leverage": [1, 2]}, hourly_store, strategies=["SmaCross_20_60"])
    assert [len(c.strategies) for c in plan.configs] == [1, 1]
    assert plan.configs[0].strategies[0].position == 0.4  # position unchanged: the rest stays in cash


def test_each_combination_is_checked_against_its_own_exchange_specs(tmp_path):
    """A plan reads each exchange's specs once, but per exchange: a swept ``exchange`` whose
    instruments allow less leverage refuses exactly the combinations above its maximum."""
    store = KlineStore(tmp_path / "data", create=True, durable=False)
    for exchange in ("okx", "binance"):
        write_synthetic(store, SynthConfig(instruments=2, timeframe="1H", days=3, seed=4), exchange=exchange)
    capped = {i: replace(s, max_lever=10.0) for i, s in load_specs(store.root, "binance").items()}
    save_specs(store.root, "binance", capped)
    raw = {"strategies": [{"strategy_name": "SmaCross_5_20", "kind": "timing", "rule_type": "1H", "position": 1.0,
                           "leverage": 1, "instruments": store.instruments("okx")}]}
    plan = plan_sweep(raw, {"exchange": ["okx", "binance"], "strategies[0].leverage": [5, 20]}, store)
    assert plan.values == [("okx", 5), ("okx", 20), ("binance", 5), ("binance", 20)]
    assert list(plan.errors) == [3] and "leverage: 20 exceeds the maximum 10" in plan.errors[3]
    assert [plan.configs[k].exchange for k in plan.valid] == ["okx", "okx", "binance"]
