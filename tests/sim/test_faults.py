"""Injected faults, as a live engine meets them: latency, 5xx, hangs, lost responses, late bars."""

from __future__ import annotations

import time

import ccxt
import httpx
import pytest
from tests_support import GUARD_S

from qlib_local.timeframes import MINUTE_MS

CANDLES = "/api/v5/market/candles"
BTC = "BTC-USDT-SWAP"


def test_latency(exchange):
    exchange.faults.latency(CANDLES, 0.3)
    t0 = time.monotonic()
    assert httpx.get(exchange.url + CANDLES, params={"instId": BTC}).json()["code"] == "0"
    assert time.monotonic() - t0 >= 0.3  # held at least that long (a lower bound: no slack involved)
    exchange.faults.latency(CANDLES, 3600)
    # other endpoints are not delayed: an hour's latency on candles would outlast this guard
    assert httpx.get(exchange.url + "/api/v5/public/time", timeout=GUARD_S).json()["code"] == "0"


def test_http_5xx_a_number_of_times(exchange, ccxt_okx):
    exchange.faults.fail("/api/v5/account/*", status=503, times=2)
    r = httpx.get(exchange.url + "/api/v5/account/balance")
    assert r.status_code == 503
    with pytest.raises(ccxt.ExchangeNotAvailable):
        ccxt_okx.fetch_balance()
    assert ccxt_okx.fetch_balance()["USDT"]["total"] == 10_000  # the fault was used up


def test_hang_longer_than_client_timeout(exchange, okx_apis):
    exchange.faults.hang("/api/v5/trade/order", seconds=3600, times=1)  # held far past the client's 0.5 s
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(exchange.url + "/api/v5/trade/order", content=b"{}", timeout=0.5)
    assert exchange.accounts["alice"].orders == {}  # a hung request never took effect


def test_dropped_response_after_order_accepted(exchange, okx_apis):
    exchange.faults.drop_response("/api/v5/trade/order", times=1)
    t = okx_apis["trade"]
    with pytest.raises(httpx.HTTPError):
        t.place_order(BTC, "cross", "buy", "market", "1", clOrdId="lost1")
    # the order exists: the engine finds it by clOrdId, and a retry with the same id is refused
    assert t.get_order(BTC, clOrdId="lost1")["data"][0]["state"] == "filled"
    assert t.place_order(BTC, "cross", "buy", "market", "1", clOrdId="lost1")["data"][0]["sCode"] == "51016"


def test_late_bar(exchange, okx_apis):
    m = okx_apis["market"]
    exchange.clock.set(exchange.clock.now_ms() // MINUTE_MS * MINUTE_MS + MINUTE_MS)  # a bar just closed
    now = exchange.clock.now_ms()
    just_closed = now - MINUTE_MS
    assert m.get_candlesticks(BTC, bar="1m", limit="2")["data"][1][0] == str(just_closed)
    exchange.faults.late_bar(20)
    rows = m.get_candlesticks(BTC, bar="1m", limit="2")["data"]
    assert int(rows[0][0]) == just_closed - MINUTE_MS and rows[0][8] == "1"  # the new bar is not out yet
    exchange.clock.advance(20_000)
    rows = m.get_candlesticks(BTC, bar="1m", limit="2")["data"]
    assert rows[1][0] == str(just_closed) and rows[1][8] == "1" and rows[0][8] == "0"


def test_a_fault_after_another_path_sleeps_until_that_path_was_processed(exchange):
    hang = exchange.faults.hang(CANDLES, 3600, times=1, after="/api/v5/public/time")
    assert httpx.get(exchange.url + CANDLES, params={"instId": BTC}, timeout=GUARD_S).json()["code"] == "0"  # dormant
    assert hang.times == 1
    assert httpx.get(exchange.url + "/api/v5/public/time").json()["code"] == "0"  # processed: the fault wakes
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(exchange.url + CANDLES, params={"instId": BTC}, timeout=0.5)
    assert hang.times == 0 and exchange.faults.faults == []
    with pytest.raises(ValueError, match="after"):
        exchange.faults.hang(CANDLES, 1, after="")
