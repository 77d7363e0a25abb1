"""Perpetual economics in the backtest: funding, inverse contracts and liquidation, by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from qlib_local.backtest import run_backtest, summary
from qlib_local.backtest.stats import orders_portfolio
from qlib_local.research import load_config, load_market_data
from qlib_local.specs import InstrumentSpec, save_specs
from qlib_local.store import KlineStore

T0 = pd.Timestamp("2025-03-01 00:00", tz="UTC")
ALWAYS = '''
import pandas as pd
from qlib_local.research import TimingStrategy


class AlwaysLong(TimingStrategy):
    def signal(self, ctx):
        return ctx.bars.close * 0 + 1


class AlwaysShort(TimingStrategy):
    def signal(self, ctx):
        return ctx.bars.close * 0 - 1
'''


def bars(closes: list[float], lows: list[float] | None = None, highs: list[float] | None = None) -> pd.DataFrame:
    """Hourly bars opening at T0: open = previous close, the given closes, lows and highs."""
    c = np.asarray(closes, float)
    o = np.r_[c[0], c[:-1]]
    lo = np.minimum(np.asarray(lows, float) if lows is not None else np.minimum(o, c), np.minimum(o, c))
    hi = np.maximum(np.asarray(highs, float) if highs is not None else np.maximum(o, c), np.maximum(o, c))
    idx = pd.date_range(T0, periods=len(c), freq="1h", name="ts")
    return pd.DataFrame({"open": o, "high": hi, "low": lo, "close": c, "volume": 1.0, "quote_volume": c}, index=idx)


@pytest.fixture
def world(tmp_path: Path):
    """A store with one instrument and a plugin folder with always-long/short strategies."""
    plugins = tmp_path / "plugins"
    (plugins / "strategies").mkdir(parents=True)
    (plugins / "factors").mkdir()
    (plugins / "strategies" / "always.py").write_text(ALWAYS)
    store = KlineStore(tmp_path / "data", create=True, durable=False)

    def make(inst: str, frame: pd.DataFrame, spec: InstrumentSpec, strategy: str = "AlwaysLong",
             leverage: float = 1.0, equity: float = 10_000.0, taker: float = 0.0005) -> Path:
        store.upsert("okx", inst, "1H", frame)
        save_specs(store.root, "okx", {inst: spec})
        cfg = {"exchange": "okx", "initial_equity": equity, "plugins": str(plugins),
               "fees": {"taker": taker, "maker": 0.0002, "slippage": 0.0},
               "strategies": [{"strategy_name": strategy, "kind": "timing", "instruments": [inst], "rule_type": "1H",
                               "position": 1.0, "leverage": leverage}]}
        path = tmp_path / "cfg.yaml"
        path.write_text(yaml.safe_dump(cfg))
        return path

    return store, make


def test_funding_is_charged_at_each_settlement_by_hand(world):
    store, make = world
    inst = "BTC-USDT-SWAP"
    path = make(inst, bars([50_000.0] * 48), InstrumentSpec(inst, ct_val=0.01, lot_sz=1, min_sz=1), leverage=2)
    cfg = load_config(path, store)
    rates = pd.Series([0.0001, -0.0002, 0.0003, 0.0001, 0.0005],
                      index=pd.DatetimeIndex(["2025-03-01 08:00", "2025-03-01 16:00", "2025-03-02 00:00",
                                              "2025-03-02 08:00", "2025-03-02 16:00"], tz="UTC"))
    res = run_backtest(cfg, data=load_market_data(cfg, store, funding={inst: rates}))
    # entered at the first close (01:00): floor(10,000 * 2 / (50,000 * 0.01)) = 40 contracts, fee 40*500*0.0005 = 10
    assert res.positions[inst].iloc[0] == 40
    notional = 40 * 0.01 * 50_000  # 20,000 USDT at every settlement (the price never moves)
    # the first bar closes at 01:00; settlements from 08:00 to 16:00 of day two lie on the timeline
    expected = 10_000 - 10 - notional * rates.sum()
    assert res.equity["total"].iloc[-1] == pytest.approx(expected, rel=1e-12)
    paid = res.funding[res.config.strategies[0].id]
    assert paid[paid != 0].index.tolist() == rates.index.tolist()
    assert paid.sum() == pytest.approx(-notional * rates.sum())
    st = summary(res)["account"]
    assert st["funding_paid"] == pytest.approx(notional * (0.0001 + 0.0003 + 0.0001 + 0.0005))
    assert st["funding_received"] == pytest.approx(notional * 0.0002)
    # vectorbt replays the orders only: its profit is ours without the funding
    assert orders_portfolio(res).total_profit() == pytest.approx(-10.0, abs=1e-9)


def test_funding_on_a_four_hour_strategy_still_lands_on_settlements(world):
    store, make = world
    inst = "ETH-USDT-SWAP"
    path = make(inst, bars([3_000.0] * 48), InstrumentSpec(inst, ct_val=0.1, lot_sz=1, min_sz=1))
    raw = yaml.safe_load(path.read_text())
    raw["strategies"][0].update(rule_type="12H", offset="3h")  # closes at 03:00 and 15:00: no settlement
    path.write_text(yaml.safe_dump(raw))
    cfg = load_config(path, store)
    rates = pd.Series(0.001, index=pd.date_range("2025-03-01 08:00", periods=4, freq="8h", tz="UTC"))
    data = load_market_data(cfg, store, funding={inst: rates})
    assert data.base_tf == "1H"  # gcd of 12H, 3h and the 8h funding interval
    res = run_backtest(cfg, data=data)
    held = res.positions[inst].shift(1).fillna(0.0)  # what was held going into each close
    charged = res.funding.iloc[:, 0]
    assert (charged != 0).sum() == 3  # entered at 15:00 on day one: 16:00, 00:00, 08:00 (the 4th is past the data)
    for t in rates.index[rates.index <= held.index[-1]]:
        assert charged.loc[t] == pytest.approx(-held.loc[t] * 0.1 * 3_000 * 0.001)


def test_inverse_contract_pnl_and_sizing_in_coin_by_hand(world):
    store, make = world
    inst = "BTC-USD-SWAP"
    spec = InstrumentSpec(inst, ct_val=100, lot_sz=1, min_sz=1, ct_type="inverse", settle_ccy="BTC", ct_val_ccy="USD")
    path = make(inst, bars([50_000.0, 50_000.0, 52_000.0, 55_000.0]), spec, leverage=2, equity=1.0)
    res = run_backtest(load_config(path, store), store)
    # contracts = floor(equity_coin * price * leverage / ctVal) = floor(1 * 50,000 * 2 / 100)
    assert res.positions[inst].iloc[0] == 1_000
    fee = 1_000 * 100 / 50_000 * 0.0005  # taker fee on the coin notional
    gain = 1_000 * 100 * (1 / 50_000 - 1 / 55_000)
    assert res.equity["total"].iloc[-1] == pytest.approx(1.0 - fee + gain, rel=1e-12)
    assert res.settle_ccy == "BTC" and summary(res)["settle_ccy"] == "BTC"
    o = res.orders.iloc[0]
    assert o["notional"] == pytest.approx(2.0) and o["fee"] == pytest.approx(fee)
    # vectorbt on 1/price with negated sizes reproduces the coin PnL
    assert orders_portfolio(res).total_profit() == pytest.approx(gain - fee, rel=1e-9)


def test_inverse_short_is_a_usd_hedge(world):
    store, make = world
    inst = "BTC-USD-SWAP"
    spec = InstrumentSpec(inst, ct_val=100, lot_sz=1, min_sz=1, ct_type="inverse", settle_ccy="BTC", ct_val_ccy="USD")
    path = make(inst, bars([50_000.0, 50_000.0, 40_000.0, 25_000.0]), spec, "AlwaysShort", leverage=1, equity=1.0,
                taker=0.0)
    res = run_backtest(load_config(path, store), store)
    usd = res.equity["total"] * res.data.close[inst]
    assert usd.iloc[-1] == pytest.approx(50_000.0, rel=1e-9)  # 1 BTC shorted 1x holds its dollar value


def test_liquidation_at_the_bar_that_reaches_the_liquidation_price(world):
    store, make = world
    inst = "SOL-USDT-SWAP"
    spec = InstrumentSpec(inst, ct_val=1, lot_sz=1, min_sz=1, mmr=0.005, liq_fee=0.001, max_lever=20)
    closes = [100.0, 100.0, 95.0, 93.0, 91.0, 96.0, 99.0]
    lows = [100.0, 100.0, 94.0, 92.0, 90.4, 90.0, 95.0]
    path = make(inst, bars(closes, lows=lows), spec, leverage=10)
    res = run_backtest(load_config(path, store), store)
    q = 1_000  # floor(10,000 * 10 / 100)
    eq0 = 10_000 - q * 100 * 0.0005  # after the entry fee
    liq_px = (q * 100 - eq0) / (q * (1 - 0.005))  # by hand: equity = maintenance margin
    assert 90.4 < liq_px < 92.0
    liq = res.liquidations
    assert len(liq) == 1
    assert liq.iloc[0]["time"] == T0 + pd.Timedelta(hours=5)  # the bar whose low (90.4) crosses it
    at_low = eq0 + q * (90.4 - 100.0)
    after = at_low - 0.001 * q * 90.4
    assert res.equity["total"].iloc[4] == pytest.approx(after)
    before = eq0 + q * (93.0 - 100.0)  # equity at the previous close
    assert liq.iloc[0]["loss"] == pytest.approx(before - after)
    assert liq.iloc[0]["strategies"] == ["AlwaysLong"]
    assert (res.positions[inst].iloc[4:] == 0).all()  # flat, and no re-entry while the signal is unchanged
    assert res.equity["total"].iloc[-1] == pytest.approx(after)
    assert summary(res)["liquidations"][0]["loss"] == pytest.approx(before - after)
    # without the margin model the same path is ridden down and back up
    res2 = run_backtest(load_config(path, store), store, margin=False)
    assert res2.liquidations.empty and res2.positions[inst].iloc[-1] == q


def test_a_gap_past_bankruptcy_leaves_zero_not_negative_equity(world):
    store, make = world
    inst = "DOGE-USDT-SWAP"
    spec = InstrumentSpec(inst, ct_val=1, lot_sz=1, min_sz=1, mmr=0.005, liq_fee=0.001, max_lever=50)
    path = make(inst, bars([1.0, 1.0, 0.5, 0.6], lows=[1.0, 1.0, 0.5, 0.5]), spec, leverage=20)
    res = run_backtest(load_config(path, store), store)
    assert len(res.liquidations) == 1
    assert res.equity["total"].iloc[-1] == pytest.approx(0.0, abs=1e-9)
    assert res.equity["total"].min() >= -1e-9
