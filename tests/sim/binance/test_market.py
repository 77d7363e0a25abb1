"""ccxt binanceusdm / binancecoinm read the local exchange's markets, bars and funding rates."""

from __future__ import annotations

import ccxt

from qlib_local.timeframes import MINUTE_MS

from .conftest import FIRST, FUNDING_TIMES, START, at, funding_rate, signed_request


def test_load_markets_parses_linear_and_inverse_perpetuals(usdm, coinm, bex):
    btc = usdm.market("BTC/USDT:USDT")
    assert (btc["id"], btc["linear"], btc["swap"], btc["settle"], btc["contractSize"]) == (
        "BTCUSDT", True, True, "USDT", 1.0)
    assert btc["precision"]["amount"] == 0.001 and btc["precision"]["price"] == 0.1
    assert btc["limits"]["cost"]["min"] == 5.0 and btc["limits"]["amount"]["min"] == 0.001
    assert set(usdm.markets) == {"BTC/USDT:USDT", "ETH/USDT:USDT", "BNB/USDT:USDT"}
    inv = coinm.market("BTC/USD:BTC")
    assert (inv["id"], inv["inverse"], inv["settle"], inv["contractSize"]) == ("BTCUSD_PERP", True, "BTC", 100)
    assert set(coinm.markets) == {"BTC/USD:BTC"}
    assert usdm.fetch_time() == at(START) == coinm.fetch_time()


def test_fetch_ohlcv_pages_through_history_without_gaps_or_look_ahead(usdm, bex):
    since, rows = at(FIRST), []
    pages = 0
    while True:
        page = usdm.fetch_ohlcv("BTC/USDT:USDT", "1m", since=since, limit=1000)
        pages += 1
        if not page:
            break
        rows += page
        since = page[-1][0] + MINUTE_MS
    ts = [r[0] for r in rows]
    assert ts == list(range(at(FIRST), at(START) - 30_000 + 1, MINUTE_MS))  # every bar, the forming one last
    assert pages == 5  # 3,241 bars in pages of 1,000, then an empty page
    assert rows[0][1:5] == [50_000.0] * 4 and rows[-1][5] == 0.0  # the forming bar has no closed volume yet


def test_klines_serve_1500_a_page_and_refuse_more(bex):
    import httpx

    with httpx.Client(timeout=10) as c:
        r = c.get(f"{bex.url}/fapi/v1/klines", params={"symbol": "BTCUSDT", "interval": "1m", "limit": 1500,
                                                     "startTime": at(FIRST)})
        assert r.status_code == 200 and len(r.json()) == 1500
        assert r.json()[0][0] == at(FIRST) and r.json()[-1][6] == at(FIRST) + 1500 * MINUTE_MS - 1
        assert r.headers["X-MBX-USED-WEIGHT-1M"] == "10"  # limit > 1000 weighs 10
        r = c.get(f"{bex.url}/fapi/v1/klines", params={"symbol": "BTCUSDT", "interval": "1m", "limit": 1501})
        assert (r.status_code, r.json()["code"]) == (400, -1130)
        r = c.get(f"{bex.url}/fapi/v1/klines", params={"symbol": "BTCUSDT", "interval": "8x"})
        assert r.json()["code"] == -1120
        r = c.get(f"{bex.url}/fapi/v1/klines", params={"symbol": "BTCUSD_PERP", "interval": "1m"})
        assert r.json()["code"] == -1121  # a COIN-M symbol is not a USDⓈ-M one


def test_hourly_and_mark_price_bars(usdm, bex):
    bex.clock.set("2025-03-03T09:00:30Z")
    hourly = usdm.fetch_ohlcv("BTC/USDT:USDT", "1h", since=at("2025-03-03T06:00Z"), limit=3)
    assert [(r[0], r[1], r[4]) for r in hourly] == [
        (at("2025-03-03T06:00Z"), 50_000.0, 50_000.0), (at("2025-03-03T07:00Z"), 50_000.0, 52_000.0),
        (at("2025-03-03T08:00Z"), 52_000.0, 52_000.0)]
    mark = usdm.fetch_ohlcv("BTC/USDT:USDT", "1h", since=at("2025-03-03T07:00Z"), limit=2, params={"price": "mark"})
    assert [r[4] for r in mark] == [52_000.0, 52_000.0] and all(r[5] == 0 for r in mark)


def test_inverse_bars_read_base_volume(coinm, bex):
    rows = coinm.fetch_ohlcv("BTC/USD:BTC", "1m", since=at("2025-03-03T05:00Z"), limit=3)
    assert [r[0] for r in rows] == [at("2025-03-03T05:00Z") + i * MINUTE_MS for i in range(3)]
    assert all(r[5] == 1.0 for r in rows)  # the store's base volume, which ccxt reads at index 7


def test_funding_rate_history_stops_at_now(usdm, coinm, bex):
    settled = [t for t in FUNDING_TIMES if t.value // 10**6 <= at(START)]
    hist = usdm.fetch_funding_rate_history("BTC/USDT:USDT", since=at(FIRST), limit=100)
    assert [(h["timestamp"], h["fundingRate"]) for h in hist] == [
        (t.value // 10**6, funding_rate(i)) for i, t in enumerate(settled)]
    assert len(hist) == 7
    assert len(coinm.fetch_funding_rate_history("BTC/USD:BTC", since=at(FIRST))) == 7
    now = usdm.fetch_funding_rate("BTC/USDT:USDT")
    assert now["markPrice"] == 50_000.0 and now["fundingRate"] == funding_rate(6)
    assert now["fundingTimestamp"] == at("2025-03-03T08:00Z")
    bex.clock.set("2025-03-03T08:00:01Z")
    assert len(usdm.fetch_funding_rate_history("BTC/USDT:USDT", since=at(FIRST))) == 8


def test_public_market_calls_need_no_key(bex):
    anon = ccxt.binanceusdm({"enableRateLimit": False})
    from .conftest import local_urls

    local_urls(anon, bex.url)
    anon.load_markets()
    assert anon.fetch_ohlcv("ETH/USDT:USDT", "1m", limit=2)[-1][1] == 3_000.0
    r = signed_request(bex.url, "GET", "/fapi/v1/time", "")
    assert r.json() == {"serverTime": at(START)}


def test_last_prices_one_or_all_fapi_object_dapi_list(usdm, coinm, bex):
    assert usdm.fapiPublicGetTickerPrice({"symbol": "BTCUSDT"}) == {"symbol": "BTCUSDT", "price": "50000.0",
                                                                      "time": at(START)}
    rows = usdm.fapiPublicGetTickerPrice()
    assert {r["symbol"]: r["price"] for r in rows} == {"BTCUSDT": "50000.0", "ETHUSDT": "3000.00",
                                                        "BNBUSDT": "600.00"}
    assert coinm.dapiPublicGetTickerPrice({"symbol": "BTCUSD_PERP"}) == [
        {"symbol": "BTCUSD_PERP", "ps": "BTCUSD", "price": "50000.0", "time": at(START)}]
    bex.clock.set("2025-03-03T07:01:00Z")  # the step: last prices follow the clock
    assert usdm.fapiPublicGetTickerPrice({"symbol": "BTCUSDT"})["price"] == "52000.0"
    assert usdm.fetch_last_prices(["BTC/USDT:USDT"])["BTC/USDT:USDT"]["price"] == 52_000.0


def test_funding_info_lists_only_adjusted_intervals(usdm, coinm, bex):
    from dataclasses import replace

    assert usdm.fapiPublicGetFundingInfo() == [] and coinm.dapiPublicGetFundingInfo() == []  # all at 8 h
    bex.market.specs["ETHUSDT"] = replace(bex.market.specs["ETHUSDT"], funding_interval_h=4.0)
    assert usdm.fapiPublicGetFundingInfo() == [{"symbol": "ETHUSDT", "adjustedFundingRateCap": "0.03000000",
                                                "adjustedFundingRateFloor": "-0.03000000",
                                                "fundingIntervalHours": 4, "disclaimer": False}]
