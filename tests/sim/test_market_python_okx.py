"""Public market data through python-okx's MarketAPI and PublicAPI."""

from __future__ import annotations

import httpx
from tests_support import until

from qlib_local.timeframes import HOUR_MS, MINUTE_MS, to_ms

from .conftest import START

NOW = to_ms(START)
BTC = "BTC-USDT-SWAP"


def test_instruments_have_okx_swap_fields(okx_apis):
    r = okx_apis["public"].get_instruments("SWAP")
    assert r["code"] == "0"
    ids = [i["instId"] for i in r["data"]]
    assert ids == ["BTC-USDT-SWAP", "ETH-USDT-SWAP", "SOL-USDT-SWAP"]
    btc = r["data"][0]
    assert btc["uly"] == "BTC-USDT" and btc["instFamily"] == "BTC-USDT" and btc["settleCcy"] == "USDT"
    assert btc["ctType"] == "linear" and btc["ctValCcy"] == "BTC" and btc["state"] == "live"
    assert btc["ctVal"] == "0.01" and btc["lotSz"] == "0.1" and btc["lever"] == "100" and btc["expTime"] == ""
    assert all(isinstance(v, str) for k, v in btc.items() if k != "tradeQuoteCcyList")
    assert okx_apis["public"].get_instruments("SPOT")["data"] == []
    assert okx_apis["public"].get_instruments("SWAP", instId="NOPE-USDT-SWAP")["code"] == "51001"


def test_system_time_is_simulated_now(okx_apis, exchange):
    assert okx_apis["public"].get_system_time()["data"][0]["ts"] == str(NOW)
    exchange.clock.advance(90_000)
    assert okx_apis["public"].get_system_time()["data"][0]["ts"] == str(NOW + 90_000)


def test_candles_newest_first_and_forming_bar(okx_apis, sim_root):
    from qlib_local.store import KlineStore

    r = okx_apis["market"].get_candlesticks(BTC, bar="1m", limit="5")
    rows = r["data"]
    assert r["code"] == "0" and len(rows) == 5
    ts = [int(x[0]) for x in rows]
    assert ts == sorted(ts, reverse=True) and ts[0] == NOW // MINUTE_MS * MINUTE_MS
    assert rows[0][8] == "0" and all(x[8] == "1" for x in rows[1:])
    o, h, lo, c = rows[0][1:5]
    assert o == h == lo == c and rows[0][5] == "0"  # no 1m base bar has closed inside the forming 1m bar
    stored = KlineStore(sim_root).read("okx", BTC, "1m")
    prev = stored[stored.index.as_unit("ms").asi8 == ts[1]]
    assert float(rows[1][4]) == round(prev["close"].iloc[0])  # BTC tick is 1
    vol_base = float(rows[1][6])
    assert abs(vol_base - prev["volume"].iloc[0]) < 1e-6
    assert abs(float(rows[1][5]) - vol_base / 0.01) < 1e-4  # vol in contracts


def test_no_look_ahead_and_forming_aggregate(okx_apis, exchange):
    now = exchange.clock.advance(25 * MINUTE_MS)
    bar_open = now // HOUR_MS * HOUR_MS
    rows = okx_apis["market"].get_candlesticks(BTC, bar="1H", limit="3")["data"]
    assert int(rows[0][0]) == bar_open and rows[0][8] == "0"
    one_min = okx_apis["market"].get_candlesticks(BTC, bar="1m", limit="300")["data"]
    closed_in_hour = [r for r in one_min if int(r[0]) >= bar_open and r[8] == "1"]
    assert len(closed_in_hour) == (now - bar_open) // MINUTE_MS == 25
    assert float(rows[0][2]) == max(float(r[2]) for r in closed_in_hour)
    assert float(rows[0][4]) == float(closed_in_hour[0][4])
    for path in ("candles", "history-candles"):
        data = httpx.get(f"{exchange.url}/api/v5/market/{path}",
                         params={"instId": BTC, "bar": "1m", "before": str(now - 120_000)}).json()["data"]
        assert max(int(r[0]) for r in data) <= now  # never a bar from the future
        assert len(data) == 2
    exchange.clock.advance(HOUR_MS)
    rows2 = okx_apis["market"].get_candlesticks(BTC, bar="1H", limit="3")["data"]
    assert int(rows2[1][0]) == bar_open and rows2[1][8] == "1"


def test_paging_after_before_limit(okx_apis):
    m = okx_apis["market"]
    first = m.get_candlesticks(BTC, bar="1m", limit="500")["data"]
    assert len(first) == 300  # limit is capped at 300
    assert len(m.get_candlesticks(BTC, bar="1m")["data"]) == 100  # default
    oldest = first[-1][0]
    page = m.get_candlesticks(BTC, bar="1m", after=oldest, limit="300")["data"]
    assert int(page[0][0]) == int(oldest) - MINUTE_MS
    newer = m.get_candlesticks(BTC, bar="1m", before=page[0][0], limit="300")["data"]
    assert all(int(r[0]) > int(page[0][0]) for r in newer)


def test_candles_reach_1440_history_reaches_older(okx_apis):
    m = okx_apis["market"]
    cutoff = NOW // MINUTE_MS * MINUTE_MS - 1439 * MINUTE_MS
    old = str(cutoff - 10 * MINUTE_MS)
    assert m.get_candlesticks(BTC, bar="1m", after=str(cutoff + 1))["data"][-1][0] == str(cutoff)
    assert m.get_candlesticks(BTC, bar="1m", after=old)["data"] == []
    hist = m.get_history_candlesticks(BTC, bar="1m", after=old, limit="300")["data"]
    assert len(hist) == 300 and int(hist[0][0]) == int(old) - MINUTE_MS


def test_bar_names_and_alignment(okx_apis):
    m = okx_apis["market"]
    for bar in ("1m", "3m", "5m", "15m", "30m", "1H", "2H", "4H", "6H", "12H", "1D", "6Hutc", "12Hutc", "1Dutc"):
        assert m.get_candlesticks(BTC, bar=bar, limit="2")["code"] == "0", bar
    d_utc = m.get_candlesticks(BTC, bar="1Dutc", limit="2")["data"]
    d_utc8 = m.get_candlesticks(BTC, bar="1D", limit="2")["data"]
    six = m.get_candlesticks(BTC, bar="6H", limit="3")["data"]
    assert int(d_utc[0][0]) % (24 * HOUR_MS) == 0
    assert int(d_utc8[0][0]) % (24 * HOUR_MS) == 16 * HOUR_MS  # 00:00 UTC+8
    assert all(int(r[0]) % (6 * HOUR_MS) == 4 * HOUR_MS for r in six)
    bad = m.get_candlesticks(BTC, bar="7m")
    assert bad["code"] == "51000" and bad["data"] == []
    assert m.get_candlesticks(BTC, bar="1h")["code"] == "51000"  # OKX spells hours 1H


def test_bad_bar_http_status_and_unknown_instrument(exchange):
    r = httpx.get(f"{exchange.url}/api/v5/market/candles", params={"instId": BTC, "bar": "2m"})
    assert r.status_code == 400 and r.json() == {"code": "51000", "msg": "Parameter bar error", "data": []}
    r = httpx.get(f"{exchange.url}/api/v5/market/candles", params={"instId": "DOGE-USDT-SWAP"})
    assert r.status_code == 200 and r.json()["code"] == "51001"
    r = httpx.get(f"{exchange.url}/api/v5/market/candles")
    assert r.status_code == 400 and r.json()["code"] == "50014"


def test_tickers(okx_apis):
    t = okx_apis["market"].get_ticker(BTC)["data"][0]
    c = okx_apis["market"].get_candlesticks(BTC, bar="1m", limit="1")["data"][0]
    assert t["last"] == c[1] and t["ts"] == str(NOW)
    assert float(t["bidPx"]) < float(t["last"]) < float(t["askPx"])
    assert float(t["low24h"]) <= float(t["last"]) <= float(t["high24h"])
    all_t = okx_apis["market"].get_tickers("SWAP")["data"]
    assert [x["instId"] for x in all_t] == ["BTC-USDT-SWAP", "ETH-USDT-SWAP", "SOL-USDT-SWAP"]


def test_real_time_replay_at_speed(sim_root):
    from qlib_local.sim import LocalExchange

    with LocalExchange(sim_root, start="2025-01-02T06:00:00Z", speed=120) as ex:
        url = f"{ex.url}/api/v5/market/candles"
        first = httpx.get(url, params={"instId": BTC, "limit": "1"}).json()["data"][0]
        until(lambda: ex.clock.now_ms() >= int(first[0]) + 2 * MINUTE_MS, "two minutes on")  # ~1 s at 120x
        rows = httpx.get(url, params={"instId": BTC, "limit": "3"}).json()["data"]
        assert int(rows[0][0]) >= int(first[0]) + 2 * MINUTE_MS
        assert rows[0][8] == "0" and rows[1][8] == "1"
        assert int(rows[0][0]) <= ex.clock.now_ms()
