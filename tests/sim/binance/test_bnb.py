"""BNB fee top-up: buy BNB on spot, move it to the USDⓈ-M wallet, pay fees in BNB with feeBurn on."""

from __future__ import annotations

import ccxt
import pytest

from .conftest import KEY_B, SECRET_B, ccxt_client

BTC = "BTC/USDT:USDT"


def test_spot_buy_transfer_and_fees_in_bnb(usdm, bex):
    spot = ccxt_client(bex, "binance", fetchMarkets={"types": ["spot"]})
    spot.load_markets()
    bought = spot.create_order("BNB/USDT", "market", "buy", 0.5)
    assert (bought["status"], bought["filled"], bought["cost"]) == ("closed", 0.5, 300.0)
    assert bought["fee"]["currency"] == "BNB" and bought["fee"]["cost"] == pytest.approx(0.0005)
    assert bex.spot["alice"] == pytest.approx({"USDT": 700.0, "BNB": 0.4995})
    assert spot.fetch_balance()["BNB"]["free"] == pytest.approx(0.4995)

    t = usdm.transfer("BNB", 0.4995, "spot", "swap")
    assert t["id"]
    assert bex.spot["alice"]["BNB"] == pytest.approx(0.0)
    assert usdm.fetch_balance()["BNB"]["total"] == pytest.approx(0.4995)
    with pytest.raises(ccxt.ExchangeError, match="-5013"):
        usdm.transfer("BNB", 1, "spot", "swap")  # nothing left on spot

    assert usdm.fapiPrivateGetFeeBurn()["feeBurn"] is False
    assert usdm.fapiPrivatePostFeeBurn({"feeBurn": "true"}) == {"code": 200, "msg": "success"}
    assert usdm.fapiPrivateGetFeeBurn()["feeBurn"] is True
    usdm.create_order(BTC, "market", "buy", 0.1)  # 2.5 USDT of fee, 10% off, at 600 USDT a BNB
    in_bnb = 2.5 * 0.9 / 600
    bal = usdm.fetch_balance()
    assert bal["USDT"]["total"] == pytest.approx(10_000)  # no USDT fee
    assert bal["BNB"]["total"] == pytest.approx(0.4995 - in_bnb)
    (trade,) = usdm.fetch_my_trades(BTC)
    assert trade["fee"]["currency"] == "BNB" and trade["fee"]["cost"] == pytest.approx(in_bnb)
    income = usdm.fapiPrivateGetIncome({"incomeType": "COMMISSION"})
    assert [(r["asset"], float(r["income"])) for r in income] == [("BNB", pytest.approx(-in_bnb))]
    transfers = usdm.fapiPrivateGetIncome({"incomeType": "TRANSFER"})
    assert [(r["asset"], float(r["income"])) for r in transfers] == [("BNB", pytest.approx(0.4995))]

    usdm.fapiPrivatePostFeeBurn({"feeBurn": "false"})
    usdm.create_order(BTC, "market", "sell", 0.1)
    assert usdm.fetch_balance()["USDT"]["total"] == pytest.approx(10_000 - 2.5)

    back = usdm.transfer("USDT", 100, "swap", "spot")
    assert back["id"] and bex.spot["alice"]["USDT"] == pytest.approx(800.0)


def test_fee_stays_in_usdt_without_enough_bnb(usdm, bex):
    usdm.fapiPrivatePostFeeBurn({"feeBurn": "true"})
    usdm.create_order(BTC, "market", "buy", 0.1)  # feeBurn on, but no BNB in the wallet
    (trade,) = usdm.fetch_my_trades(BTC)
    assert trade["fee"]["currency"] == "USDT" and trade["fee"]["cost"] == pytest.approx(2.5)


def test_legacy_futures_transfer(usdm, bex):
    r = usdm.transfer_in("USDT", 50)  # POST /sapi/v1/futures/transfer type 1
    assert r["id"]
    assert bex.spot["alice"]["USDT"] == pytest.approx(950.0)
    assert bex.accounts["alice"].balances["USDT"] == pytest.approx(10_050.0)


def test_each_futures_wallet_takes_its_own_assets(usdm, coinm, bex):
    with pytest.raises(ccxt.ExchangeError, match="-4001"):
        usdm.transfer("BTC", 0.1, "swap", "spot")  # BTC is the COIN-M wallet's, not USDⓈ-M's
    t = coinm.transfer("BTC", 0.25, "inverse", "spot")  # CMFUTURE_MAIN
    assert t["id"] and bex.spot["alice"]["BTC"] == pytest.approx(0.25)
    assert coinm.fetch_balance()["BTC"]["total"] == pytest.approx(0.75)
    with pytest.raises(ccxt.ExchangeError, match="-5013"):
        coinm.transfer("BTC", 1, "inverse", "spot")  # more than is left


def test_spot_order_by_client_id(bex):
    spot = ccxt_client(bex, "binance", fetchMarkets={"types": ["spot"]})
    r = spot.privatePostOrder({"symbol": "BNBUSDT", "side": "BUY", "type": "MARKET", "quoteOrderQty": "30",
                               "newClientOrderId": "topup-1"})
    got = spot.privateGetOrder({"symbol": "BNBUSDT", "origClientOrderId": "topup-1"})
    assert (got["orderId"], got["status"], got["executedQty"], got["cummulativeQuoteQty"]) == (
        r["orderId"], "FILLED", "0.05", "30") and "fills" not in got
    assert spot.privateGetOrder({"symbol": "BNBUSDT", "orderId": str(r["orderId"])})["clientOrderId"] == "topup-1"
    with pytest.raises(ccxt.ExchangeError, match="-2013"):
        spot.privateGetOrder({"symbol": "BNBUSDT", "origClientOrderId": "topup-2"})
    bob = ccxt_client(bex, "binance", key=KEY_B, secret=SECRET_B, fetchMarkets={"types": ["spot"]})
    with pytest.raises(ccxt.ExchangeError, match="-2013"):  # another account's order is not seen
        bob.privateGetOrder({"symbol": "BNBUSDT", "origClientOrderId": "topup-1"})
