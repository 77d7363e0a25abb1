"""Config validation: every bad config fails at load, naming the field and the reason."""

from __future__ import annotations

import copy

import pytest

from qlib_local.research import ConfigError, load_config


def _bad(raw: dict, store, write_cfg, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_config(write_cfg(raw), store)


def test_example_loads_and_expands_universe(hourly_store, example_raw, write_cfg):
    cfg = load_config(write_cfg(example_raw), hourly_store)
    timing, event = cfg.strategies
    assert (timing.kind, timing.rule_type, timing.offset) == ("timing", "1H", "0h")
    assert (event.kind, event.rule_type, event.offset, event.hold_period) == ("event", "4H", "1h", 6)
    assert "DOGE-USDT-SWAP" not in event.instruments and len(event.instruments) == 5
    assert cfg.fees.slippage == 0.0002 and cfg.initial_equity == 10_000


@pytest.mark.parametrize("edit, match", [
    (lambda r: r["strategies"][0].update(strategy_name="NoSuch_1_2"),
     r"strategies\[0\] \(NoSuch_1_2\)\.strategy_name: unknown strategy 'NoSuch_1_2'; known: .*SmaCross"),
    (lambda r: r["strategies"][0].update(strategy_name="SmaCross_20"),
     r"strategy_name: 'SmaCross_20': SmaCross takes parameter\(s\) \(fast, slow\), got 1"),
    (lambda r: r["strategies"][1].update(rank_factor="Nope_3"),
     r"strategies\[1\] .*\.rank_factor: unknown .*factor 'Nope_3'; known: .*QuoteVolumeMean"),
    (lambda r: r["strategies"][1].update(cross_sect_factor="Sma_5"),
     r"cross_sect_factor: unknown cross_section factor 'Sma_5'; known: BtcBull, VolumeRank"),
    (lambda r: r["strategies"][1].update(factors=["Ema_5_6"]),
     r"factors: 'Ema_5_6': Ema takes parameter\(s\) \(n\), got 2"),
    (lambda r: r["strategies"][1].update(position=0.7),
     r"position: the strategies' positions sum to 1.1, more than 1"),
    (lambda r: r["strategies"][0].update(leverage=150),
     r"strategies\[0\] .*\.leverage: 150 exceeds the maximum 100 of BTC-USDT-SWAP"),
    (lambda r: r["strategies"][1].update(offset="5h"),
     r"strategies\[1\] .*\.offset: offset 5h does not fit rule 4H"),
    (lambda r: r["strategies"][1].update(max_cap_num=3),
     r"max_cap_num: must equal hold_period \(6\), got 3"),
    (lambda r: r["strategies"][0].update(instruments=["BTC-USDT-SWAP", "ZZZ-USDT-SWAP"]),
     r"strategies\[0\] .*\.instruments: ZZZ-USDT-SWAP not in the store"),
    (lambda r: r["strategies"][1].update(universe=["NOPE-USDT-SWAP"]),
     r"universe: NOPE-USDT-SWAP not in the store"),
    (lambda r: r["strategies"][1].update(side="both"), r"side: must be 'long' or 'short'"),
    (lambda r: r["strategies"][0].update(kind="event"), r"strategies\[0\] \(SmaCross_20_60\)\.kind: SmaCross_20_60 is a timing strategy, not event"),
    (lambda r: r["strategies"][0].update(colour="red"), r"strategies\[0\]\.colour: unknown field"),
    (lambda r: r["strategies"][0].pop("leverage"), r"strategies\[0\]\.leverage: missing"),
    (lambda r: r["strategies"][0].update(rule_type="7x"), r"rule_type: unknown timeframe"),
    (lambda r: r.update(fees={"taker": -1}), r"fees.taker: must be >= 0"),
])
def test_bad_configs_fail_with_field_and_reason(hourly_store, example_raw, write_cfg, edit, match):
    raw = copy.deepcopy(example_raw)
    edit(raw)
    _bad(raw, hourly_store, write_cfg, match)


def test_duplicate_ids_and_blacklisted_timing(hourly_store, example_raw, write_cfg):
    raw = copy.deepcopy(example_raw)
    raw["strategies"][1]["position"] = 0.1
    raw["strategies"].append(copy.deepcopy(raw["strategies"][0]))
    raw["strategies"][2]["position"] = 0.1
    _bad(raw, hourly_store, write_cfg, "duplicate strategy id")
    raw["strategies"][2]["id"] = "second"
    assert [s.id for s in load_config(write_cfg(raw), hourly_store).strategies][2] == "second"
    raw2 = copy.deepcopy(example_raw)
    raw2["blacklist"] = ["BTC-USDT-SWAP", "ETH-USDT-SWAP"]
    _bad(raw2, hourly_store, write_cfg, r"instruments: every instrument is blacklisted")


def test_missing_file_and_bad_yaml(tmp_path, hourly_store):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml", hourly_store)
    bad = tmp_path / "bad.yaml"
    bad.write_text("strategies: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad, hourly_store)
