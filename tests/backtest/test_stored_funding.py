"""The backtest on stored funding and mark prices: ``funding: auto | on | off``, ``margin``,
funding paid and received in stats.json and on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qlib_local.backtest import run_backtest, summary
from qlib_local.cli.main import main
from qlib_local.errors import DataError
from qlib_local.research import load_config, load_market_data
from qlib_local.store import KlineStore
from qlib_local.synth import SynthConfig, write_synthetic

BTC, ETH = "BTC-USDT-SWAP", "ETH-USDT-SWAP"


@pytest.fixture(scope="module")
def perp_root(tmp_path_factory) -> Path:
    """Six hourly swaps with funding and mark prices, ETH's funding history removed."""
    root = tmp_path_factory.mktemp("funded") / "data"
    store = KlineStore(root, create=True, durable=False)
    write_synthetic(store, SynthConfig(instruments=6, timeframe="1H", days=40, seed=11, funding=True, mark=True))
    import shutil

    shutil.rmtree(root / "okx@funding" / ETH)
    return root


def btc_only(example_raw: dict, **top) -> dict:
    raw = {**example_raw, **top}
    raw["strategies"] = [dict(example_raw["strategies"][0], instruments=[BTC], position=1.0)]
    return raw


def test_auto_uses_stored_funding_and_mark_and_matches_passing_them_by_hand(perp_root, example_raw, write_cfg):
    store = KlineStore(perp_root)
    cfg = load_config(write_cfg(btc_only(example_raw)), store)
    res = run_backtest(cfg, store)
    rates = store.read_funding("okx", BTC)
    mark = store.read("okx@mark", BTC, "1H")
    by_hand = load_market_data(cfg, store, funding={BTC: rates},
                               mark=pd.DataFrame({BTC: mark["close"].set_axis(mark.index + pd.Timedelta("1h"))}))
    again = run_backtest(cfg, data=by_hand)
    pd.testing.assert_frame_equal(res.equity, again.equity)
    fund = res.funding[cfg.strategies[0].id]
    assert (fund != 0).sum() > 50 and fund.index[fund != 0].hour.isin([0, 8, 16]).all()
    off = run_backtest(load_config(write_cfg(btc_only(example_raw, funding="off")), store), store)
    assert (off.funding.to_numpy() == 0).all() and off.data.funding is None
    assert not np.isclose(res.equity["total"].iloc[-1], off.equity["total"].iloc[-1], rtol=1e-6)


def test_stats_report_funding_paid_and_received(perp_root, example_raw, write_cfg):
    store = KlineStore(perp_root)
    res = run_backtest(load_config(write_cfg(btc_only(example_raw)), store), store)
    stats = summary(res)
    acct = stats["account"]
    fund = res.funding.sum(axis=1)
    assert acct["funding_paid"] == pytest.approx(-fund[fund < 0].sum()) and acct["funding_paid"] > 0
    assert acct["funding_received"] == pytest.approx(fund[fund > 0].sum()) and acct["funding_received"] > 0
    assert stats["funding"]["mode"] == "auto" and stats["funding"]["settlements"] == 2 + 3 * 39 + 1  # 08:00 on day one .. 00:00 after the last
    assert stats["margin"] is True and stats["funding"]["notes"] == []


def test_auto_notes_instruments_without_funding_and_on_refuses_them(perp_root, example_raw, write_cfg, caplog):
    store = KlineStore(perp_root)
    cfg = load_config(write_cfg(example_raw), store)  # BTC and ETH timing, an event universe
    data = load_market_data(cfg, store)
    assert any(ETH in n and "no funding history" in n for n in data.funding_notes)
    assert (data.funding[ETH] == 0).all() and (data.funding[BTC] != 0).any()
    assert "funding: no funding history stored for" in caplog.text
    strict = load_config(write_cfg({**example_raw, "funding": "on"}), store)
    with pytest.raises(DataError, match=f"funding: on, but no funding history is stored for {ETH}"):
        load_market_data(strict, store)


def test_margin_off_never_liquidates(perp_root, example_raw, write_cfg):
    store = KlineStore(perp_root)
    raw = btc_only(example_raw, margin=False)
    raw["strategies"][0]["leverage"] = 100
    res = run_backtest(load_config(write_cfg(raw), store), store)
    assert res.margin is False and summary(res)["margin"] is False and res.liquidations.empty
    on = run_backtest(load_config(write_cfg({**raw, "margin": True}), store), store)
    assert on.margin is True and len(on.liquidations) > 0  # 100x on a volatile coin: margin on liquidates


def test_backtest_cli_prints_and_writes_funding(perp_root, example_raw, write_cfg, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["backtest", str(write_cfg(btc_only(example_raw))), "--root", str(perp_root), "--out", str(out),
                 "--no-notebook"])
    printed = capsys.readouterr().out
    assert code == 0
    stats = json.loads((out / "stats.json").read_text())
    paid, received = stats["account"]["funding_paid"], stats["account"]["funding_received"]
    assert f"funding (auto): paid {paid:.2f}, received {received:.2f} USDT; margin on" in printed
    assert np.isfinite(paid) and paid > 0


def test_the_coin_margined_example_backtests_in_btc_with_funding(tmp_path, capsys):
    """strategies/coin_margined.yaml on `data synth --inverse` data: sized, settled and reported in BTC."""
    from tests_support import REPO

    root = tmp_path / "data"
    write_synthetic(KlineStore(root, create=True, durable=False),
                    SynthConfig(instruments=2, timeframe="1H", days=30, seed=5, inverse=True, funding=True,
                                mark=True))
    out = tmp_path / "bt"
    assert main(["backtest", str(REPO / "strategies" / "coin_margined.yaml"), "--root", str(root), "--out", str(out),
                 "--no-notebook"]) == 0
    text = capsys.readouterr().out
    stats = json.loads((out / "stats.json").read_text())
    assert stats["settle_ccy"] == "BTC" and stats["initial_equity"] == 1.0 and " BTC (" in text
    assert stats["funding"]["settlements"] > 0 and stats["account"]["funding_paid"] > 0
    assert stats["usd"]["end_value"] > 0 and "usd" in pd.read_csv(out / "equity.csv").columns
