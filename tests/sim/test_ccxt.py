"""ccxt's okx exchange class against the local exchange, unmodified except for its URL."""

from __future__ import annotations

import ccxt
import pytest

from qlib_local.timeframes import MINUTE_MS, to_ms

from .conftest import START

NOW = to_ms(START)
BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"


def test_load_markets(ccxt_okx):
    markets = ccxt_okx.load_markets()
    assert set(markets) == {"BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"}
    m = markets[BTC]
    assert m["swap"] and m["linear"] and m["contractSize"] == 0.01 and m["settle"] == "USDT"
    assert m["precision"]["amount"] == 0.1 and m["limits"]["amount"]["min"] == 0.1


def test_fetch_ohlcv_pages_through_history(ccxt_okx):
    since = NOW // MINUTE_MS * MINUTE_MS - 30 * 60 * MINUTE_MS  # 1,800 bars back: needs history-candles and several pages
    bars: list[list[float]] = []
    cursor = since
    while cursor < NOW:
        page = ccxt_okx.fetch_ohlcv(BTC, "1m", since=cursor, limit=300)
        if not page:
            break
        bars += page
        cursor = page[-1][0] + MINUTE_MS
    ts = [b[0] for b in bars]
    assert len(bars) > 1500 and ts == sorted(set(ts))
    assert ts[0] == since and ts[-1] == NOW // MINUTE_MS * MINUTE_MS
    assert all(b - a == MINUTE_MS for a, b in zip(ts, ts[1:], strict=False))
    hours = ccxt_okx.fetch_ohlcv(BTC, "1h", limit=5)
    assert len(hours) == 5 and hours[-1][0] <= NOW


def test_balance_orders_positions(ccxt_okx, exchange):
    bal = ccxt_okx.fetch_balance()
    assert bal["USDT"]["total"] == 10_000 and bal["USDT"]["free"] == 10_000
    mkt = ccxt_okx.create_order(BTC, "market", "buy", 0.5)
    got = ccxt_okx.fetch_order(mkt["id"], BTC)
    assert got["status"] == "closed" and got["filled"] == 0.5 and got["clientOrderId"]
    last = ccxt_okx.fetch_ticker(BTC)["last"]
    assert got["average"] == last
    lim = ccxt_okx.create_order(ETH, "limit", "buy", 1, 1000.0)  # far below: rests
    assert ccxt_okx.fetch_order(lim["id"], ETH)["status"] == "open"
    assert [o["id"] for o in ccxt_okx.fetch_open_orders(ETH)] == [lim["id"]]
    positions = ccxt_okx.fetch_positions()
    assert [(p["symbol"], p["contracts"], p["side"]) for p in positions] == [(BTC, 0.5, "long")]
    assert positions[0]["entryPrice"] == last
    ccxt_okx.cancel_order(lim["id"], ETH)
    assert ccxt_okx.fetch_order(lim["id"], ETH)["status"] == "canceled"
    with pytest.raises(ccxt.OrderNotFound):
        ccxt_okx.cancel_order(lim["id"], ETH)
    with pytest.raises(ccxt.OrderNotFound):
        ccxt_okx.fetch_order("123", ETH)
    used = ccxt_okx.fetch_balance()["USDT"]
    fee = 0.5 * 0.01 * last * 0.0005
    assert used["total"] == pytest.approx(10_000 - fee, abs=1e-6)
    assert used["used"] == pytest.approx(0.5 * 0.01 * last / 10, rel=1e-9)


def test_set_leverage_and_errors(ccxt_okx):
    r = ccxt_okx.set_leverage(20, ETH, {"marginMode": "cross"})
    assert r["data"][0]["lever"] == "20"
    with pytest.raises(ccxt.ExchangeError, match="59102"):
        ccxt_okx.set_leverage(101, ETH, {"marginMode": "cross"})  # ETH max is 100
    with pytest.raises(ccxt.InsufficientFunds):
        ccxt_okx.create_order(BTC, "market", "buy", 500)  # ~300k notional at 10x on 10k USDT
    with pytest.raises(ccxt.InvalidOrder, match="51121"):
        ccxt_okx.create_order(BTC, "market", "buy", 0.15, params={"sz": "0.15"})
    with pytest.raises(ccxt.InvalidOrder, match="51016"):
        for _ in range(2):
            ccxt_okx.create_order(BTC, "market", "buy", 0.1, params={"clOrdId": "dup1"})


def test_bad_credentials(exchange):
    bad = ccxt.okx({"apiKey": "key-a", "secret": "wrong", "password": "Pass-a1",
                    "options": {"fetchMarkets": {"types": ["swap"]}}})
    bad.urls["api"]["rest"] = exchange.url
    with pytest.raises(ccxt.AuthenticationError, match="50113"):
        bad.fetch_balance()
