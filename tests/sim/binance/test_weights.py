"""Request weights per minute as Binance counts them: headers, the 429 answer, the next minute."""

from __future__ import annotations

import ccxt
import httpx
import pytest

from .conftest import START, at, ccxt_client, signed_request


def test_weight_headers_count_and_429_past_the_cap(bex):
    minute = [at(START) / 1000]
    bex.limiter.clock = lambda: minute[0]  # the minute holds still however slowly requests go out
    with httpx.Client(timeout=10) as c:
        used = []
        for _ in range(60):  # open orders without a symbol weigh 40: 60 of them fill 2,400
            r = signed_request(bex.url, "GET", "/fapi/v1/openOrders", f"timestamp={bex.auth_clock()}", client=c)
            assert r.status_code == 200
            used.append(int(r.headers["X-MBX-USED-WEIGHT-1M"]))
        assert used == [40 * (i + 1) for i in range(60)]
        r = c.get(f"{bex.url}/fapi/v1/time")
        assert (r.status_code, r.json()["code"]) == (429, -1003)
        assert r.headers["X-MBX-USED-WEIGHT-1M"] == "2400"
        assert c.get(f"{bex.url}/dapi/v1/time").status_code == 200  # COIN-M counts its own weight
        usdm = ccxt_client(bex, fetchCurrencies=False)
        with pytest.raises(ccxt.DDoSProtection):  # ccxt's reading of any HTTP 429
            usdm.load_markets()
        minute[0] += 60
        r = c.get(f"{bex.url}/fapi/v1/time")
        assert r.status_code == 200 and r.headers["X-MBX-USED-WEIGHT-1M"] == "1"


def test_order_counts_per_account(bex):
    clock = [at(START) / 1000]
    bex.limiter.clock = lambda: clock[0]
    bex.limiter.order_limits = (1_200, 3)  # a small 10 s order cap to reach quickly
    with httpx.Client(timeout=10) as c:
        def place() -> httpx.Response:
            return signed_request(bex.url, "POST", "/fapi/v1/order", "symbol=BTCUSDT&side=BUY&type=LIMIT"
                                  f"&quantity=0.01&price=40000&timestamp={bex.auth_clock()}", client=c)

        counts = [place().headers["X-MBX-ORDER-COUNT-10S"] for _ in range(3)]
        assert counts == ["1", "2", "3"]
        r = place()
        assert (r.status_code, r.json()["code"]) == (429, -1015)
        assert len(bex.accounts["alice"].orders) == 3
        clock[0] += 10
        assert place().status_code == 200


def test_rate_limit_off(bex):
    bex.rate_limit = False
    bex.limiter.clock = lambda: 0.0
    with httpx.Client(timeout=10) as c:
        for _ in range(70):
            r = signed_request(bex.url, "GET", "/fapi/v1/openOrders", f"timestamp={bex.auth_clock()}", client=c)
            assert r.status_code == 200


def test_a_storm_refuses_one_route_with_1003_until_lifted(bex):
    q = f"symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.01&timestamp={bex.auth_clock()}"
    bex.limiter.storm("POST", "/fapi/v1/order")
    r = signed_request(bex.url, "POST", "/fapi/v1/order", q)
    assert (r.status_code, r.json()["code"]) == (429, -1003)
    assert not bex.accounts["alice"].orders
    assert httpx.get(f"{bex.url}/fapi/v1/time").status_code == 200  # only the storm's route
    bex.limiter.storm("POST", "/fapi/v1/order", on=False)
    r = signed_request(bex.url, "POST", "/fapi/v1/order", q)
    assert r.status_code == 200 and len(bex.accounts["alice"].orders) == 1
