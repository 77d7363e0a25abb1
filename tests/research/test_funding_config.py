"""The config's ``funding`` and ``margin`` keys; linear and inverse swaps never share an account,
inverse swaps of several coins do, with a wallet per coin."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from qlib_local.cli.main import main
from qlib_local.research import ConfigError, load_config
from qlib_local.store import KlineStore
from qlib_local.synth import SynthConfig, write_synthetic


@pytest.fixture(scope="module")
def mixed_root(tmp_path_factory) -> Path:
    """Linear USDT swaps and the coin-settled BTC-USD-SWAP and ETH-USD-SWAP."""
    root = tmp_path_factory.mktemp("mixed") / "data"
    write_synthetic(KlineStore(root, create=True, durable=False),
                    SynthConfig(instruments=4, timeframe="1H", days=3, seed=2, inverse=True))
    return root


def timing(instruments: list[str], position: float = 0.5, fast: int = 5) -> dict:
    return {"strategy_name": f"SmaCross_{fast}_20", "kind": "timing", "instruments": instruments, "rule_type": "1H",
            "position": position, "leverage": 1}


def test_defaults_are_funding_auto_and_margin_on(hourly_store, example_raw, write_cfg):
    cfg = load_config(write_cfg(example_raw), hourly_store)
    assert (cfg.funding, cfg.margin, cfg.mark_prices) == ("auto", True, False)
    raw = dict(example_raw, funding="off", margin=False, mark_prices=True)
    cfg = load_config(write_cfg(raw), hourly_store)
    assert (cfg.funding, cfg.margin, cfg.mark_prices) == ("off", False, True)


@pytest.mark.parametrize("key, value, match", [
    ("funding", "sometimes", r"funding: must be one of auto, on, off, got 'sometimes'"),
    ("funding", True, r"funding: must be one of auto, on, off, got True"),
    ("margin", "yes", r"margin"),
    ("margin", 1, r"margin"),
    ("mark_prices", "no", r"mark_prices"),
])
def test_bad_funding_and_margin_values_are_refused(hourly_store, example_raw, write_cfg, key, value, match):
    with pytest.raises(ConfigError, match=match):
        load_config(write_cfg({**example_raw, key: value}), hourly_store)


@pytest.mark.parametrize("strategies", [
    [timing(["BTC-USDT-SWAP", "BTC-USD-SWAP"])],  # one strategy mixing linear and inverse
    [timing(["ETH-USDT-SWAP"]), timing(["BTC-USD-SWAP"], fast=6)],  # two strategies, one account
])
def test_a_config_mixing_linear_and_inverse_is_refused_at_load(mixed_root, write_cfg, strategies):
    raw = {"exchange": "okx", "strategies": copy.deepcopy(strategies)}
    with pytest.raises(ConfigError, match="the account mixes linear and inverse swaps"):
        load_config(write_cfg(raw), KlineStore(mixed_root))


def test_inverse_swaps_of_two_coins_load_with_a_wallet_per_coin(mixed_root, write_cfg):
    store = KlineStore(mixed_root)
    two = [timing(["BTC-USD-SWAP", "ETH-USD-SWAP"])]
    with pytest.raises(ConfigError, match=r"settle in BTC, ETH, one wallet each; .*\{BTC: 1, ETH: 1\}"):
        load_config(write_cfg({"exchange": "okx", "strategies": copy.deepcopy(two)}), store)
    with pytest.raises(ConfigError, match="names the wallets BTC, SOL, but the instruments settle in BTC, ETH"):
        load_config(write_cfg({"exchange": "okx", "initial_equity": {"BTC": 1, "SOL": 5},
                               "strategies": copy.deepcopy(two)}), store)
    with pytest.raises(ConfigError, match=r"initial_equity.ETH: must be > 0"):
        load_config(write_cfg({"exchange": "okx", "initial_equity": {"BTC": 1, "ETH": 0},
                               "strategies": copy.deepcopy(two)}), store)
    cfg = load_config(write_cfg({"exchange": "okx", "initial_equity": {"ETH": 10, "BTC": 0.5},
                                 "strategies": copy.deepcopy(two)}), store)
    assert cfg.multi_coin and cfg.initial_wallets == (("BTC", 0.5), ("ETH", 10.0))
    one = load_config(write_cfg({"exchange": "okx", "initial_equity": {"BTC": 2},
                                 "strategies": [timing(["BTC-USD-SWAP"])]}), store)
    assert not one.multi_coin and one.initial_equity == 2.0  # one coin: a plain wallet


def test_one_currency_loads_and_universe_all_leaves_inverse_swaps_out(mixed_root, write_cfg):
    store = KlineStore(mixed_root)
    assert load_config(write_cfg({"exchange": "okx", "strategies": [timing(["BTC-USD-SWAP"])]}), store)
    event = {"strategy_name": "RankOnly", "kind": "event", "universe": "all", "rule_type": "1H", "position": 0.5,
             "leverage": 1, "hold_period": 2, "max_cap_num": 2, "symbol_num_limit": 2, "factors": ["AboveSma_5"],
             "rank_factor": "Momentum_3", "side": "long"}
    cfg = load_config(write_cfg({"exchange": "okx", "strategies": [event]}), store)
    assert "BTC-USD-SWAP" in store.instruments("okx")
    assert cfg.instruments and all(i.endswith("-USDT-SWAP") for i in cfg.instruments)


def test_the_backtest_cli_refuses_a_mixed_config_with_one_error_line(mixed_root, write_cfg, tmp_path, capsys):
    raw = {"exchange": "okx", "strategies": [timing(["BTC-USDT-SWAP"]), timing(["BTC-USD-SWAP"], fast=6)]}
    code = main(["backtest", str(write_cfg(raw)), "--root", str(mixed_root), "--out", str(tmp_path / "o"),
                 "--no-notebook"])
    err = capsys.readouterr().err
    assert code != 0 and len(err.strip().splitlines()) == 1
    assert err.startswith("error: instruments: the account mixes linear and inverse swaps") and "BTC (inverse" in err
    assert not (tmp_path / "o").exists()
