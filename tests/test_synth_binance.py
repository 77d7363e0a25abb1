"""``data synth --exchange binanceusdm | binancecoinm``: Binance's symbols and contract conventions."""

from __future__ import annotations

import pytest

from qlib_local.cli.main import main
from qlib_local.specs import load_specs
from qlib_local.store import KlineStore
from qlib_local.synth import SynthConfig, generate, write_synthetic


def test_usdm_symbols_are_one_coin_a_contract_with_the_same_lots_in_coins(tmp_path):
    okx = generate(SynthConfig(instruments=3, days=1, seed=4))[1]
    names = write_synthetic(KlineStore(tmp_path), SynthConfig(instruments=3, days=1, seed=4), exchange="binanceusdm")
    specs = load_specs(tmp_path, "binanceusdm")
    assert names == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    for coin in ("BTC", "ETH", "SOL"):
        s, o = specs[f"{coin}USDT"], okx[f"{coin}-USDT-SWAP"]
        assert (s.ct_val, s.ct_type, s.settle_ccy) == (1.0, "linear", "USDT")
        assert s.lot_sz == pytest.approx(o.lot_sz * o.ct_val) and s.min_sz == pytest.approx(o.min_sz * o.ct_val)


def test_coinm_symbols_are_inverse_usd_contracts_settled_in_their_coin(tmp_path):
    store = KlineStore(tmp_path)
    names = write_synthetic(store, SynthConfig(instruments=3, days=1, seed=4, inverse=True), exchange="binancecoinm")
    specs = load_specs(tmp_path, "binancecoinm")
    assert names == ["BTCUSD_PERP", "ETHUSD_PERP", "SOLUSD_PERP"]  # the generator's own OKX inverse swaps left out
    assert (specs["BTCUSD_PERP"].ct_val, specs["ETHUSD_PERP"].ct_val) == (100.0, 10.0)
    for coin in ("BTC", "ETH", "SOL"):
        s = specs[f"{coin}USD_PERP"]
        assert (s.ct_type, s.settle_ccy, s.lot_sz) == ("inverse", coin, 1.0) and s.mm_tiers
    bars = store.read("binancecoinm", "BTCUSD_PERP", "1m")
    assert len(bars) == 1440 and (bars["close"] > 0).all()


def test_okx_names_are_unchanged(tmp_path):
    assert write_synthetic(KlineStore(tmp_path), SynthConfig(instruments=2, days=1))[:2] == [
        "BTC-USDT-SWAP", "ETH-USDT-SWAP"]


def test_sim_serve_refuses_a_store_folder_that_is_not_a_name(tmp_path, capsys):
    assert main(["sim", "serve", "--venue", "binance", "--root", str(tmp_path), "--exchange", "../okx"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --exchange")
