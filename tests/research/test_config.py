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


# ---------------------------------------------------------------------- every number finite and in range
def _set(raw: dict, path: str, value) -> dict:
    """``path`` like ``fees.taker`` or ``strategies.1.hold_period``."""
    *head, last = path.split(".")
    node = raw
    for k in head:
        node = node[int(k)] if k.isdigit() else node.setdefault(k, {})
    node[last] = value
    return raw


NUMBERS = ["fees.taker", "fees.maker", "fees.slippage", "initial_equity", "strategies.0.position",
           "strategies.0.leverage", "strategies.0.volatility_ratio", "strategies.1.position", "strategies.1.leverage",
           "strategies.1.hold_period", "strategies.1.max_cap_num", "strategies.1.symbol_num_limit"]


@pytest.mark.parametrize("path", NUMBERS)
@pytest.mark.parametrize("literal", [".nan", ".inf", "-.inf", "1e999"])
def test_every_number_must_be_finite(hourly_store, example_raw, write_cfg, path, literal):
    raw = _set(copy.deepcopy(example_raw), path, "TOKEN")
    p = write_cfg(raw)
    p.write_text(p.read_text().replace("TOKEN", literal))
    field = path.rsplit(".", 1)[-1]
    kind = "an integer" if field in ("hold_period", "max_cap_num", "symbol_num_limit") else "a finite number"
    with pytest.raises(ConfigError, match=rf"{field}: (must be|expected) {kind}, got -?(nan|inf)"):
        load_config(p, hourly_store)


@pytest.mark.parametrize("path, value, match", [
    ("initial_equity", 0, r"initial_equity: must be > 0"), ("initial_equity", 2e12, r"must be <= 1e\+12"),
    ("fees.maker", 0.2, r"fees.maker: must be <= 0.1"), ("strategies.0.position", 0, r"position: must be > 0"),
    ("strategies.0.position", 1.5, r"position: must be <= 1, got 1.5"),
    ("strategies.0.volatility_ratio", 0, r"volatility_ratio: must be > 0"),
    ("strategies.0.volatility_ratio", 11, r"volatility_ratio: must be <= 10"),
    ("strategies.0.leverage", -2, r"leverage: must be > 0, got -2"),
    ("strategies.1.hold_period", 2.5, r"hold_period: expected an integer, got 2.5"),
    ("strategies.1.hold_period", 10_001, r"hold_period: must be <= 10000"),
    ("strategies.1.symbol_num_limit", 1.5, r"symbol_num_limit: expected an integer, got 1.5"),
    ("strategies.1.symbol_num_limit", 0, r"symbol_num_limit: must be >= 1"),
    ("strategies.1.ascending", "no", r"ascending: must be true or false, got 'no'"),
    ("strategies.0.position", "0.4", r"position: expected a number, got '0.4'"),
    ("strategies.0.leverage", True, r"leverage: expected a number, got True"),
    ("exchange", "../x", r"exchange: '../x' is not a valid name"),
])
def test_numbers_out_of_range_and_wrong_types_are_refused(hourly_store, example_raw, write_cfg, path, value, match):
    _bad(_set(copy.deepcopy(example_raw), path, value), hourly_store, write_cfg, match)


def test_yes_no_are_not_booleans_and_exponents_are_numbers(hourly_store, example_raw, write_cfg):
    p = write_cfg(_set(copy.deepcopy(example_raw), "strategies.1.ascending", "TOKEN"))
    text = p.read_text()
    for word in ("no", "yes", "off"):
        p.write_text(text.replace("TOKEN", word))
        with pytest.raises(ConfigError, match=rf"ascending: must be true or false, got '{word}'"):
            load_config(p, hourly_store)
    p.write_text(text.replace("TOKEN", "true").replace("taker: 0.0005", "taker: 5e-4"))
    cfg = load_config(p, hourly_store)
    assert cfg.strategies[1].ascending is True and cfg.fees.taker == 0.0005


def test_leverage_is_capped_at_125_without_a_store(example_raw):
    from qlib_local.research import parse_config

    raw = {"strategies": [_set(copy.deepcopy(example_raw["strategies"][0]), "leverage", 126)]}
    with pytest.raises(ConfigError, match=r"leverage: must be <= 125, got 126"):
        parse_config(raw)
    raw["strategies"][0]["leverage"] = 125
    assert parse_config(raw).strategies[0].leverage == 125


def test_backtest_cli_refuses_a_nan_position_in_one_line(hourly_root, tmp_path, example_raw, write_cfg):
    """`position: .nan` used to give a NaN backtest that exited 0."""
    import subprocess
    import sys

    cfg = write_cfg(_set(copy.deepcopy(example_raw), "strategies.0.position", float("nan")))
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "qlib_local", "backtest", str(cfg), "--root", str(hourly_root),
                        "--out", str(out), "--no-notebook"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.splitlines() == [r.stderr.strip()] and r.stderr.startswith("error: strategies[0]")
    assert "position: must be a finite number, got nan" in r.stderr and not out.exists()
