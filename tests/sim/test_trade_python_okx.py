"""Orders, positions and balances through python-okx's TradeAPI and AccountAPI."""

from __future__ import annotations

import pytest

from qlib_local.timeframes import MINUTE_MS

BTC, ETH, SOL = "BTC-USDT-SWAP", "ETH-USDT-SWAP", "SOL-USDT-SWAP"


def last(okx_apis, inst: str) -> float:
    return float(okx_apis["market"].get_ticker(inst)["data"][0]["last"])


def test_market_order_position_and_equity(okx_apis, exchange):
    t, a = okx_apis["trade"], okx_apis["account"]
    px = last(okx_apis, BTC)
    r = t.place_order(BTC, "cross", "buy", "market", "2", clOrdId="m1")
    assert r["code"] == "0" and r["data"][0]["sCode"] == "0" and r["data"][0]["clOrdId"] == "m1"
    assert "inTime" in r and "outTime" in r
    o = t.get_order(BTC, clOrdId="m1")["data"][0]
    assert o["state"] == "filled" and o["accFillSz"] == "2" and float(o["avgPx"]) == px
    fee = 2 * 0.01 * px * 0.0005
    assert float(o["fee"]) == pytest.approx(-fee) and o["feeCcy"] == "USDT"
    pos = a.get_positions(instType="SWAP")["data"]
    assert len(pos) == 1 and pos[0]["posSide"] == "net" and pos[0]["pos"] == "2"
    exchange.clock.advance(30 * MINUTE_MS)  # the market moves; equity follows
    mark = last(okx_apis, BTC)
    p = a.get_positions(instId=BTC)["data"][0]
    upl = (mark - px) * 2 * 0.01
    assert float(p["markPx"]) == mark and float(p["upl"]) == pytest.approx(upl, abs=1e-6)
    bal = a.get_account_balance()["data"][0]
    assert float(bal["totalEq"]) == pytest.approx(10_000 - fee + upl, abs=1e-6)
    assert float(bal["details"][0]["cashBal"]) == pytest.approx(10_000 - fee, abs=1e-6)
    fills = t.get_fills(instId=BTC)["data"]
    assert len(fills) == 1 and fills[0]["execType"] == "T" and fills[0]["ordId"] == o["ordId"]
    # sell 3 in net mode: closes 2 (realizing PnL) and opens 1 short
    assert t.place_order(BTC, "cross", "sell", "market", "3")["code"] == "0"
    p = a.get_positions(instId=BTC)["data"][0]
    assert p["pos"] == "-1" and float(p["avgPx"]) == mark


def test_limit_order_rests_then_fills_when_price_crosses(okx_apis, exchange):
    t = okx_apis["trade"]
    px = last(okx_apis, SOL)
    target = round(px * 0.995, 2)
    r = t.place_order(SOL, "cross", "buy", "limit", "1", px=str(target), clOrdId="lim1")
    assert r["code"] == "0"
    assert t.get_order(SOL, clOrdId="lim1")["data"][0]["state"] == "live"
    assert [o["clOrdId"] for o in t.get_order_list(instId=SOL)["data"]] == ["lim1"]
    bal = okx_apis["account"].get_account_balance()["data"][0]["details"][0]
    ct_val = float(okx_apis["public"].get_instruments("SWAP", instId=SOL)["data"][0]["ctVal"])
    assert float(bal["ordFrozen"]) == pytest.approx(ct_val * target / 10)  # 1 contract at 10x
    for _ in range(36 * 60):  # step until a later bar trades through the limit price
        exchange.clock.advance(MINUTE_MS)
        if exchange.accounts["alice"].orders[r["data"][0]["ordId"]].state == "filled":
            break
    o = t.get_order(SOL, clOrdId="lim1")["data"][0]
    assert o["state"] == "filled" and float(o["avgPx"]) == target
    assert int(o["fillTime"]) >= int(o["cTime"])
    assert t.get_fills(ordId=o["ordId"])["data"][0]["execType"] == "M"
    assert t.get_order_list(instId=SOL)["data"] == []
    c = t.cancel_order(SOL, clOrdId="lim1")
    assert c["code"] == "1" and c["data"][0]["sCode"] == "51400"


def test_order_rejections(okx_apis):
    t = okx_apis["trade"]
    r = t.place_order("NOPE-USDT-SWAP", "cross", "buy", "market", "1")
    assert r["code"] == "1" and r["data"][0]["sCode"] == "51001"
    r = t.place_order(BTC, "cross", "buy", "market", "0.05")
    assert r["data"][0]["sCode"] == "51020"
    r = t.place_order(BTC, "cross", "buy", "market", "0.25")
    assert r["data"][0]["sCode"] == "51121"
    r = t.place_order(BTC, "cross", "buy", "market", "200")  # 2 BTC ~ 117k: 11.7k margin at 10x > 10k
    assert r["code"] == "1" and r["data"][0]["sCode"] == "51008"
    assert t.place_order(BTC, "cross", "buy", "market", "0.1", clOrdId="once")["code"] == "0"
    r = t.place_order(BTC, "cross", "buy", "market", "0.1", clOrdId="once")
    assert r["data"][0]["sCode"] == "51016"
    r = t.place_order(BTC, "cross", "buy", "limit", "0.1", clOrdId="bad-id!", px="1")
    assert r["code"] == "51000"
    r = t.place_order(BTC, "cross", "sell", "market", "1", reduceOnly="true", clOrdId="ro1")
    assert r["data"][0]["sCode"] == "0"  # reduce-only larger than the position closes just the position
    assert t.get_order(BTC, clOrdId="ro1")["data"][0]["accFillSz"] == "0.1"
    assert okx_apis["account"].get_positions()["data"] == []
    r = t.place_order(ETH, "cross", "sell", "market", "1", reduceOnly="true")
    assert r["data"][0]["sCode"] == "51169"  # nothing to reduce
    g = t.get_order(BTC, ordId="42")
    assert g["code"] == "51603" and g["data"] == []
    c = t.cancel_order(BTC, ordId="42")
    assert c["code"] == "1" and c["data"][0]["sCode"] == "51400"


def test_batch_orders(okx_apis):
    t = okx_apis["trade"]
    ok = {"instId": ETH, "tdMode": "cross", "side": "buy", "ordType": "market", "sz": "1"}
    bad = {**ok, "sz": "0.15"}  # ETH lot size is 0.1
    r = t.place_multiple_orders([ok, {**ok, "clOrdId": "b2"}])
    assert r["code"] == "0" and [d["sCode"] for d in r["data"]] == ["0", "0"]
    r = t.place_multiple_orders([{**ok, "clOrdId": "b3"}, bad])
    assert r["code"] == "2" and [d["sCode"] for d in r["data"]] == ["0", "51121"]
    r = t.place_multiple_orders([bad, {**ok, "clOrdId": "b2"}])
    assert r["code"] == "1" and r["msg"] == "All operations failed"
    assert [d["sCode"] for d in r["data"]] == ["51121", "51016"]
    r = t.place_multiple_orders([ok] * 21)
    assert r["code"] == "51000"


def test_leverage_and_position_modes(okx_apis):
    a, t = okx_apis["account"], okx_apis["trade"]
    assert a.get_account_config()["data"][0]["posMode"] == "net_mode"
    r = a.set_leverage("50", "cross", instId=SOL)
    assert r["code"] == "0" and r["data"][0]["lever"] == "50"
    assert a.set_leverage("76", "cross", instId=SOL)["code"] == "59102"  # SOL max 75
    assert a.set_position_mode("long_short_mode")["code"] == "0"
    r = t.place_order(SOL, "cross", "buy", "market", "1")  # posSide required in long/short mode
    assert r["code"] == "51000"
    assert t.place_order(SOL, "cross", "buy", "market", "2", posSide="long")["code"] == "0"
    assert t.place_order(SOL, "cross", "sell", "market", "1", posSide="short")["code"] == "0"
    sides = {p["posSide"]: p["pos"] for p in a.get_positions()["data"]}
    assert sides == {"long": "2", "short": "1"}
    r = a.set_position_mode("net_mode")
    assert r["code"] == "59000"
    assert t.place_order(SOL, "cross", "sell", "market", "2", posSide="long")["code"] == "0"
    assert t.place_order(SOL, "cross", "buy", "market", "1", posSide="short")["code"] == "0"
    assert a.get_positions()["data"] == []
    assert a.set_position_mode("net_mode")["code"] == "0"


def test_accounts_are_separate(exchange, okx_apis):
    import okx.Account
    import okx.Trade

    exchange.add_account("bob", "key-b", "secret-b", "Pass-b1", usdt=500)
    bt = okx.Trade.TradeAPI("key-b", "secret-b", "Pass-b1", flag="1", domain=exchange.url, debug=False)
    ba = okx.Account.AccountAPI("key-b", "secret-b", "Pass-b1", flag="1", domain=exchange.url, debug=False)
    assert float(ba.get_account_balance()["data"][0]["totalEq"]) == 500
    assert bt.place_order(ETH, "cross", "buy", "market", "1", clOrdId="same")["code"] == "0"
    # the same clOrdId on another account is fine; positions do not leak between accounts
    assert okx_apis["trade"].place_order(ETH, "cross", "buy", "market", "1", clOrdId="same")["code"] == "0"
    assert ba.get_positions()["data"][0]["pos"] == "1"
    assert okx_apis["account"].get_positions()["data"][0]["pos"] == "1"
    assert exchange.accounts["bob"].cash < 500
