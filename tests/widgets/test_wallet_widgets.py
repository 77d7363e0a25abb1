"""A wallet per coin (COIN-M) in the builder: add, remove, amounts, checked as the loader does."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
import yaml
from tests_support import REPO

from qlib_local.research import load_config
from qlib_local.store import KlineStore
from qlib_local.synth import SynthConfig, write_synthetic
from qlib_local.widgets import ConfigBuilder


@pytest.fixture(scope="module")
def inverse_store(tmp_path_factory) -> KlineStore:
    """OKX linear and coin-margined swaps of BTC and ETH (BTC-USD-SWAP settles in BTC)."""
    root = tmp_path_factory.mktemp("inverse") / "data"
    store = KlineStore(root, create=True, durable=False)
    write_synthetic(store, SynthConfig(instruments=2, timeframe="1H", days=5, seed=3, inverse=True))
    return store


@pytest.fixture
def coinm(tmp_path: Path) -> Path:
    raw = {"exchange": "okx", "initial_equity": {"BTC": 1, "ETH": 20},
           "strategies": [{"strategy_name": "SmaCross_5_10", "kind": "timing", "rule_type": "1H", "offset": "0h",
                           "position": 0.5, "leverage": 1, "instruments": ["BTC-USD-SWAP", "ETH-USD-SWAP"]}]}
    p = tmp_path / "coinm.yaml"
    p.write_text(yaml.safe_dump(raw, sort_keys=False))
    return p


def coins(b: ConfigBuilder) -> list[tuple[str, float]]:
    return [(n.value, v.value) for n, v, _ in b.wallets.rows]


def esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def test_the_shipped_coinm_file_opens_with_its_wallets(tmp_path):
    p = tmp_path / "binance_coinm.yaml"
    shutil.copy(REPO / "strategies" / "binance_coinm.yaml", p)
    b = ConfigBuilder(p)
    assert b.wallets.mode.value == "coins" and b.wallets.amount.layout.display == "none"
    assert coins(b) == [("BTC", 1.0), ("ETH", 20.0), ("SOL", 400.0), ("XRP", 100000.0)]
    assert b.errors == {}
    assert b.editors[1].param_widgets == []  # RankOnly takes no parameters (its inherited *args are none)
    out = b.save(tmp_path / "again.yaml")
    assert yaml.safe_load(out.read_text())["initial_equity"] == {"BTC": 1.0, "ETH": 20.0, "SOL": 400.0, "XRP": 100000.0}


def test_wallet_edits_round_trip_through_the_loader(coinm, tmp_path, inverse_store):
    b = ConfigBuilder(coinm, store=inverse_store)
    assert b.errors == {} and coins(b) == [("BTC", 1.0), ("ETH", 20.0)]
    b.wallets.rows[1][1].value = 25.5  # ETH
    coin, amount = b.wallets.add_coin()
    coin.value, amount.value = "SOL", 300
    # the loader with the store: SOL's wallet has no instrument settling in SOL
    assert "names the wallets BTC, ETH, SOL, but the instruments settle in BTC, ETH" in b.wallets.error.value
    b.wallets.rows[2][2].click()  # SOL's remove button
    assert coins(b) == [("BTC", 1.0), ("ETH", 25.5)] and b.errors == {}
    out = tmp_path / "edited.yaml"
    b.save(out)
    assert yaml.safe_load(out.read_text())["initial_equity"] == {"BTC": 1.0, "ETH": 25.5}
    cfg = load_config(out, inverse_store)
    assert cfg.initial_wallets == (("BTC", 1.0), ("ETH", 25.5)) and math.isnan(cfg.initial_equity)
    again = ConfigBuilder(out, store=inverse_store)
    assert again.state() == b.state() and coins(again) == coins(b)


def test_switching_between_one_number_and_a_wallet_per_coin(example, tmp_path, hourly_store):
    b = ConfigBuilder(example, store=hourly_store)
    assert b.wallets.mode.value == "number" and b.wallets.coins_box.layout.display == "none"
    b.wallets.mode.value = "coins"  # a first row to name, holding the number
    assert coins(b) == [("", 10_000.0)]
    assert "a wallet row has no coin name" in b.wallets.error.value
    b.wallets.rows[0][0].value = "USDT"
    assert b.errors == {}
    out = b.save(tmp_path / "usdt.yaml")
    assert yaml.safe_load(out.read_text())["initial_equity"] == {"USDT": 10_000.0}
    assert load_config(out, hourly_store).initial_equity == 10_000.0  # one coin: a plain number
    b.wallets.mode.value = "number"
    b.initial_equity.value = 0
    assert esc("initial_equity: must be > 0, got 0") in b.wallets.error.value and b.general.value == ""
    b.initial_equity.value = 5_000
    out = b.save(tmp_path / "number.yaml")
    assert yaml.safe_load(out.read_text())["initial_equity"] == 5_000.0
    assert load_config(out, hourly_store).initial_equity == 5_000.0


@pytest.mark.parametrize(("edit", "message"), [
    (lambda r: setattr(r[1][1], "value", 0.0), "initial_equity.ETH: must be > 0, got 0"),
    (lambda r: setattr(r[0][1], "value", math.nan), "initial_equity.BTC: must be a finite number, got nan"),
    (lambda r: setattr(r[0][1], "value", 2e12), "initial_equity.BTC: must be <= 1e+12, got 2e+12"),
    (lambda r: setattr(r[1][0], "value", "eth"), "initial_equity: coin 'eth' is not a coin name"),
    (lambda r: setattr(r[1][0], "value", "BTC"), "initial_equity: coin BTC has two wallets; keep one"),
    (lambda r: setattr(r[1][0], "value", ""), "initial_equity: a wallet row has no coin name"),
    (lambda r: [x[2].click() for x in list(r)], "initial_equity: add at least one coin's wallet"),
])
def test_a_bad_wallet_is_refused_beside_it_and_nothing_saved(coinm, edit, message):
    before = coinm.read_text()
    b = ConfigBuilder(coinm)
    edit(b.wallets.rows)
    assert esc(message) in b.wallets.error.value
    assert list(b.errors) == [(-1, "initial_equity")] and b.general.value == ""  # one message, beside it
    b.save_button.click()
    assert "not saved: 1 error(s)" in b.status.value and coinm.read_text() == before
