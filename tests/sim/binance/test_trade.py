"""ccxt binanceusdm trades on the local exchange: leverage, orders by client id, fills, positions, income."""

from __future__ import annotations

import ccxt
import pytest

from .conftest import KEY, at, signed_request

BTC = "BTC/USDT:USDT"


def test_leverage_order_with_client_id_fills_and_is_found_by_it(usdm, bex):
    assert usdm.set_leverage(20, BTC)["leverage"] == 20
    assert bex.accounts["alice"].leverage["BTCUSDT"] == 20
    o = usdm.create_order(BTC, "market", "buy", 0.1, params={"clientOrderId": "mine-1"})
    assert (o["status"], o["filled"], o["average"], o["clientOrderId"]) == ("closed", 0.1, 50_000.0, "mine-1")
    assert o["cost"] == 5_000.0
    found = usdm.fetch_order(None, BTC, params={"clientOrderId": "mine-1"})
    assert (found["id"], found["status"], found["amount"]) == (o["id"], "closed", 0.1)
    assert usdm.fetch_order(o["id"], BTC)["clientOrderId"] == "mine-1"
    (t,) = usdm.fetch_my_trades(BTC)
    assert (t["order"], t["side"], t["price"], t["amount"]) == (o["id"], "buy", 50_000.0, 0.1)
    assert t["fee"]["currency"] == "USDT" and t["fee"]["cost"] == pytest.approx(2.5)  # 5,000 x 0.05% taker
    assert usdm.fetch_balance()["USDT"]["total"] == pytest.approx(10_000 - 2.5)


def test_duplicate_client_order_id_is_refused_with_4116_while_its_order_is_open(usdm, bex):
    rest = usdm.create_order(BTC, "limit", "buy", 0.01, 49_000, params={"clientOrderId": "dup-1"})
    with pytest.raises(ccxt.ExchangeError, match="-4116"):
        usdm.create_order(BTC, "market", "buy", 0.01, params={"clientOrderId": "dup-1"})
    assert len(bex.accounts["alice"].orders) == 1
    r = signed_request(bex.url, "POST", "/fapi/v1/order", f"symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.01"
                       f"&newClientOrderId=dup-1&timestamp={bex.auth_clock()}")
    assert (r.status_code, r.json()) == (400, {"code": -4116, "msg": "ClientOrderId is duplicated."})
    usdm.cancel_order(rest["id"], BTC)  # final: Binance documents the id unique among OPEN orders only
    again = usdm.create_order(BTC, "market", "buy", 0.01, params={"clientOrderId": "dup-1"})
    assert again["status"] == "closed" and again["id"] != rest["id"]
    assert usdm.fetch_order(None, BTC, params={"clientOrderId": "dup-1"})["id"] == again["id"]  # the latest
    assert usdm.fetch_order(rest["id"], BTC)["status"] == "canceled"


def test_resting_limit_is_listed_canceled_once_then_unknown(usdm, bex):
    o = usdm.create_order(BTC, "limit", "buy", 0.01, 49_000, params={"clientOrderId": "rest-1"})
    assert o["status"] == "open" and o["price"] == 49_000.0
    assert [x["id"] for x in usdm.fetch_open_orders(BTC)] == [o["id"]]
    c = usdm.cancel_order(o["id"], BTC)
    assert c["status"] == "canceled" and usdm.fetch_open_orders(BTC) == []
    with pytest.raises(ccxt.OrderNotFound, match="-2011"):
        usdm.cancel_order(o["id"], BTC)
    with pytest.raises(ccxt.OrderNotFound, match="-2013"):
        usdm.fetch_order("123456", BTC)
    with pytest.raises(ccxt.OrderNotFound, match="-2013"):
        usdm.fetch_order(None, BTC, params={"clientOrderId": "never-sent"})
    assert [x["status"] for x in usdm.fetch_orders(BTC)] == ["canceled"]


def test_resting_limit_fills_when_a_bar_reaches_it(usdm, bex):
    o = usdm.create_order(BTC, "limit", "sell", 0.01, 51_000)
    assert o["status"] == "open"
    bex.clock.set("2025-03-03T07:01:00Z")  # the 07:00 bar steps to 52,000 through 51,000
    done = usdm.fetch_order(o["id"], BTC)
    assert (done["status"], done["filled"], done["average"]) == ("closed", 0.01, 51_000.0)
    (t,) = usdm.fetch_my_trades(BTC)
    assert t["takerOrMaker"] == "maker"


def test_positions_mark_to_market(usdm, bex):
    usdm.create_order(BTC, "market", "buy", 0.1)
    usdm.create_order("ETH/USDT:USDT", "market", "sell", 1.0)
    bex.clock.set("2025-03-03T07:01:30Z")
    pos = {p["symbol"]: p for p in usdm.fetch_positions()}
    btc, eth = pos[BTC], pos["ETH/USDT:USDT"]
    assert (btc["side"], btc["contracts"], btc["entryPrice"], btc["markPrice"]) == ("long", 0.1, 50_000.0, 52_000.0)
    assert btc["unrealizedPnl"] == pytest.approx(200.0) and btc["notional"] == pytest.approx(5_200.0)
    assert (eth["side"], eth["contracts"], eth["unrealizedPnl"]) == ("short", 1.0, 0.0)
    usdm.create_order(BTC, "market", "sell", 0.1, params={"reduceOnly": True})
    assert [p["symbol"] for p in usdm.fetch_positions()] == ["ETH/USDT:USDT"]
    trades = usdm.fetch_my_trades(BTC)
    assert float(trades[-1]["info"]["realizedPnl"]) == pytest.approx(200.0)


def test_funding_settles_once_and_shows_in_income(usdm, bex):
    usdm.create_order(BTC, "market", "buy", 0.1)
    for t in ("2025-03-03T07:59:59Z", "2025-03-03T08:00:00Z", "2025-03-03T08:00:01Z", "2025-03-03T09:00Z"):
        bex.clock.set(t)
        usdm.fetch_balance()  # each request syncs the engine: the 08:00 settlement must still happen once
    rows = usdm.fetch_funding_history(BTC, since=at("2025-03-03T00:00Z"))
    assert [(r["timestamp"], r["amount"]) for r in rows] == [
        (at("2025-03-03T08:00Z"), pytest.approx(-0.1 * 52_000 * 0.00017))]  # the 08:00 rate, at the 52,000 mark
    income = usdm.fapiPrivateGetIncome({"symbol": "BTCUSDT"})
    assert sorted(r["incomeType"] for r in income) == ["COMMISSION", "FUNDING_FEE"]
    assert usdm.fetch_balance()["USDT"]["total"] == pytest.approx(10_000 - 2.5 - 0.884 + 200)
    bex.clock.set("2025-03-03T16:00:00Z")
    rows = usdm.fetch_funding_history(BTC, since=at("2025-03-03T00:00Z"))
    assert [r["timestamp"] for r in rows] == [at("2025-03-03T08:00Z"), at("2025-03-03T16:00Z")]


def test_batch_orders_answer_each_order(usdm, bex):
    orders = usdm.create_orders([
        {"symbol": BTC, "type": "limit", "side": "buy", "amount": 0.01, "price": 40_000,
         "params": {"clientOrderId": "b-1"}},
        {"symbol": BTC, "type": "market", "side": "buy", "amount": 0.01, "params": {"clientOrderId": "b-1"}},
        {"symbol": BTC, "type": "market", "side": "buy", "amount": 0.01},
    ])
    by_status = {o["status"]: o for o in orders}  # ccxt sorts the parsed orders by time
    assert sorted(by_status) == ["closed", "open", "rejected"]
    assert by_status["rejected"]["info"]["code"] == -4116 and by_status["open"]["clientOrderId"] == "b-1"
    assert len(bex.accounts["alice"].orders) == 2


def test_hedge_mode_orders_carry_their_position_side(usdm, bex):
    usdm.set_position_mode(True)
    assert usdm.fapiPrivateGetPositionSideDual()["dualSidePosition"] is True
    usdm.create_order(BTC, "market", "buy", 0.01, params={"positionSide": "LONG"})
    usdm.create_order(BTC, "market", "sell", 0.02, params={"positionSide": "SHORT"})
    sides = sorted((p["side"], p["contracts"]) for p in usdm.fetch_positions())
    assert sides == [("long", 0.01), ("short", 0.02)]
    with pytest.raises(ccxt.ExchangeError, match="-4068"):
        usdm.set_position_mode(False)
    r = signed_request(bex.url, "POST", "/fapi/v1/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.01"
                       f"&timestamp={bex.auth_clock()}", key=KEY)
    assert r.json()["code"] == -4061  # BOTH in hedge mode


def test_ledger_reads_every_income_kind(usdm, bex):
    usdm.create_order(BTC, "market", "buy", 0.1)
    bex.clock.set("2025-03-03T08:00:30Z")
    usdm.create_order(BTC, "market", "sell", 0.1)
    usdm.transfer_in("USDT", 10)
    kinds = sorted((e["type"], e["currency"]) for e in usdm.fetch_ledger("USDT", since=at("2025-03-03T00:00Z")))
    # two commissions, the 08:00 funding (ccxt: "fee"), the realized PnL, the transfer
    assert kinds == [("commission", "USDT"), ("commission", "USDT"), ("fee", "USDT"), ("trade", "USDT"),
                     ("transfer", "USDT")]
    pnl = [e for e in usdm.fetch_ledger("USDT", since=at("2025-03-03T00:00Z")) if e["type"] == "trade"]
    assert pnl[0]["amount"] == pytest.approx(200.0)
