"""ccxt binancecoinm: an inverse round trip on BTCUSD_PERP with margin, PnL and fees in BTC."""

from __future__ import annotations

import pytest

INV = "BTC/USD:BTC"


def test_inverse_round_trip_pnl_in_coin(coinm, bex):
    coinm.set_leverage(5, INV)
    o = coinm.create_order(INV, "market", "buy", 10, params={"clientOrderId": "inv-1"})  # 10 x 100 USD
    assert (o["status"], o["filled"], o["average"]) == ("closed", 10, 50_000.0)
    assert o["cost"] == pytest.approx(0.02)  # cumBase: 1,000 USD at 50,000 is 0.02 BTC
    open_fee = 0.0005 * 1_000 / 50_000
    bal = coinm.fetch_balance()["BTC"]
    assert bal["total"] == pytest.approx(1 - open_fee)
    assert bal["used"] == pytest.approx(0.02 / 5)  # initial margin at 5x, in BTC
    bex.clock.set("2025-03-03T07:01:30Z")  # the mark steps to 62,500
    (pos,) = coinm.fetch_positions()
    upl = 10 * 100 * (1 / 50_000 - 1 / 62_500)  # 0.004 BTC
    assert (pos["symbol"], pos["side"], pos["contracts"], pos["markPrice"]) == (INV, "long", 10, 62_500.0)
    assert pos["unrealizedPnl"] == pytest.approx(upl)
    assert float(pos["info"]["notionalValue"]) == pytest.approx(1_000 / 62_500)
    assert coinm.fetch_balance()["BTC"]["total"] == pytest.approx(1 - open_fee + upl)
    c = coinm.create_order(INV, "market", "sell", 10, params={"reduceOnly": True})
    assert c["status"] == "closed" and coinm.fetch_positions() == []
    close_fee = 0.0005 * 1_000 / 62_500
    trades = coinm.fetch_my_trades(INV)
    assert [t["fee"]["currency"] for t in trades] == ["BTC", "BTC"]
    assert [t["fee"]["cost"] for t in trades] == [pytest.approx(open_fee), pytest.approx(close_fee)]
    assert float(trades[1]["info"]["realizedPnl"]) == pytest.approx(upl)
    assert coinm.fetch_balance()["BTC"]["total"] == pytest.approx(1 + upl - open_fee - close_fee)
    assert bex.accounts["alice"].balances["USDT"] == 10_000  # the USDⓈ-M wallet never moved
    income = coinm.dapiPrivateGetIncome({"symbol": "BTCUSD_PERP"})
    assert sorted(r["incomeType"] for r in income) == ["COMMISSION", "COMMISSION", "REALIZED_PNL"]
    assert all(r["asset"] == "BTC" for r in income)


def test_inverse_funding_is_paid_in_coin(coinm, bex):
    coinm.create_order(INV, "market", "sell", 10)  # short 1,000 USD
    bex.clock.set("2025-03-03T08:00:30Z")
    rows = coinm.fetch_funding_history(INV)
    assert len(rows) == 1 and rows[0]["code"] == "BTC"
    assert rows[0]["amount"] == pytest.approx(10 * 100 / 62_500 * 0.00017)  # shorts receive a positive rate


def test_coin_margined_margin_check_in_coin(coinm, bex):
    import ccxt

    with pytest.raises(ccxt.ExchangeError, match="-2019"):
        coinm.create_order(INV, "market", "buy", 6_000)  # 600,000 USD = 12 BTC at 10x needs 1.2 BTC


def test_symbols_without_a_stored_spec_follow_binance_conventions(tmp_path):
    from qlib_local.sim.binance import BinanceExchange
    from qlib_local.store import KlineStore

    from ..perp_data import stepped_bars
    from .conftest import ccxt_client

    store = KlineStore(tmp_path, create=True, durable=False)
    for inst, px in (("BTCUSD_PERP", 50_000.0), ("ETHUSD_PERP", 2_000.0), ("SOLUSDT", 100.0)):
        store.upsert("binance", inst, "1m", stepped_bars({"2025-03-01T00:00Z": px}, start="2025-03-01T00:00Z",
                                                          end="2025-03-02T00:00Z"))
    ex = BinanceExchange(tmp_path, start="2025-03-01T12:00Z")
    ex.add_account("carol", "k-c", "s-c", usdt=100, balances={"ETH": 1.0})
    with ex:
        coinm = ccxt_client(ex, "binancecoinm", key="k-c", secret="s-c")
        coinm.load_markets()
        assert {s: (m["contractSize"], m["settle"]) for s, m in coinm.markets.items()} == {
            "BTC/USD:BTC": (100, "BTC"), "ETH/USD:ETH": (10, "ETH")}
        coinm.create_order("ETH/USD:ETH", "market", "buy", 3)  # 30 USD of ETH at 2,000
        (pos,) = coinm.fetch_positions()
        assert float(pos["info"]["notionalValue"]) == pytest.approx(30 / 2_000)
        usdm = ccxt_client(ex, key="k-c", secret="s-c")
        usdm.load_markets()
        assert usdm.market("SOL/USDT:USDT")["contractSize"] == 1.0
