"""A COIN-M account of several coins in the backtest: one wallet per coin (BTC for BTCUSD_PERP,
ETH for ETHUSD_PERP), PnL in each coin, equity and sizing in USD at the coins' prices, and a
liquidation that takes only the wallet that ran out."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pandas as pd
import pytest

from qlib_local.backtest import run_backtest
from qlib_local.backtest.grid import GridError, plan_sweep
from qlib_local.cli.main import main
from qlib_local.research import load_config
from qlib_local.store import KlineStore
from qlib_local.synth import SynthConfig, write_synthetic

VENUE = "binancecoinm"
BTC, ETH = "BTCUSD_PERP", "ETHUSD_PERP"
WALLETS = {"BTC": 1.0, "ETH": 20.0}


@pytest.fixture(scope="module")
def coinm_store(tmp_path_factory) -> KlineStore:
    root = tmp_path_factory.mktemp("coinm_bt") / "data"
    write_synthetic(KlineStore(root, create=True, durable=False),
                    SynthConfig(instruments=2, timeframe="1H", days=20, seed=3), exchange=VENUE)
    return KlineStore(root)


def raw_config(wallets: dict, margin: bool = False) -> dict:
    return {"exchange": VENUE, "initial_equity": dict(wallets), "fees": {"taker": 0.0, "maker": 0.0, "slippage": 0.0},
            "funding": "off", "margin": margin, "strategies": [
                {"strategy_name": "SmaCross_5_20", "kind": "timing", "instruments": [BTC, ETH], "rule_type": "1H",
                 "position": 0.8, "leverage": 1}]}


def test_pnl_stays_in_each_coin_and_equity_is_the_wallets_in_usd(coinm_store, write_cfg):
    cfg = load_config(write_cfg(raw_config(WALLETS)), coinm_store)
    res = run_backtest(cfg, coinm_store)
    assert res.settle_ccy == "USD" and list(res.coin_usd.columns) == ["BTC", "ETH"]
    close = res.data.close[[BTC, ETH]].ffill()
    pos = res.positions[[BTC, ETH]]
    assert (pos[BTC] != 0).any() and (pos[ETH] != 0).any()
    ct = {BTC: 100.0, ETH: 10.0}
    # each wallet by hand: inverse PnL of the contracts held over each bar, in the coin
    usd = 0.0
    for inst, coin in ((BTC, "BTC"), (ETH, "ETH")):
        inv = 1.0 / close[inst]
        pnl = (pos[inst].shift(1).fillna(0.0) * ct[inst] * (inv.shift(1) - inv)).fillna(0.0).cumsum()
        usd = usd + (WALLETS[coin] + pnl) * close[inst].bfill()
    assert np.allclose(res.equity["total"], usd, rtol=1e-12)
    assert res.initial_value == pytest.approx(1.0 * close[BTC].bfill().iloc[0] + 20.0 * close[ETH].bfill().iloc[0])
    # sizing in USD: a swap's contracts are the strategy's USD share over the contract's USD size
    for inst in (BTC, ETH):
        t = int(np.flatnonzero(pos[inst].to_numpy() != 0)[0])
        want = math.floor(res.equity_before.iloc[t] * 0.8 * 1 / 2 / ct[inst])
        assert abs(pos[inst].iloc[t]) == want > 0


def test_a_wallet_that_runs_out_is_liquidated_alone(coinm_store, write_cfg):
    """ETH's wallet holds a few dollars; the strategy sizes ETH from the account's USD equity,
    so the ETH wallet's maintenance margin exceeds it at once: ETH is liquidated, BTC kept."""
    cfg = load_config(write_cfg(raw_config({"BTC": 1.0, "ETH": 0.001}, margin=True)), coinm_store)
    res = run_backtest(cfg, coinm_store)
    liq = res.liquidations
    assert len(liq) >= 1
    t = res.positions.index.get_loc(liq["time"].iloc[0])
    assert res.positions[ETH].iloc[t - 1] != 0 and res.positions[ETH].iloc[t] == 0
    assert res.positions[BTC].iloc[t] == res.positions[BTC].iloc[t - 1] != 0  # the BTC wallet is untouched
    assert liq["loss"].iloc[0] > 0


def test_backtest_cli_writes_usd_equity_and_the_wallets(coinm_store, write_cfg, tmp_path, capsys):
    out = tmp_path / "out"
    raw = raw_config(WALLETS)
    raw["fees"]["taker"] = 0.0005
    rc = main(["backtest", str(write_cfg(raw)), "--root", str(coinm_store.root), "--out", str(out), "--no-notebook"])
    text = capsys.readouterr()
    assert rc == 0, text.err
    stats = json.loads((out / "stats.json").read_text())
    assert stats["settle_ccy"] == "USD" and stats["wallets"] == WALLETS
    equity = pd.read_csv(out / "equity.csv", index_col=0)
    assert stats["usd"]["end_value"] == pytest.approx(equity["total"].iloc[-1])
    orders = pd.read_csv(out / "orders.csv")
    assert set(orders["ccy"]) == {"BTC", "ETH"} and (orders["ccy"] == orders["instrument"].str[:3]).all()
    # fees: each order's in its coin, in USD at the coin's close; the same as the kernel's trading costs in USD
    assert stats["account"]["fees_paid"] == pytest.approx(orders["fee_usd"].sum(), rel=1e-12)
    assert stats["account"]["trading_costs"] > 0
    assert stats["account"]["fees_paid"] == pytest.approx(stats["account"]["trading_costs"], rel=1e-9)
    assert " USD (engine" in text.out


def test_without_a_wallet_per_coin_the_config_is_refused(coinm_store, write_cfg):
    raw = copy.deepcopy(raw_config(WALLETS))
    raw["initial_equity"] = 1.0
    with pytest.raises(Exception, match="one wallet each"):
        load_config(write_cfg(raw), coinm_store)


def test_sweeps_refuse_a_multi_coin_account(coinm_store):
    with pytest.raises(GridError, match="a COIN-M account of several coins runs in run_backtest"):
        plan_sweep(raw_config(WALLETS), {"fees.taker": [0.0005, 0.001]}, coinm_store)
