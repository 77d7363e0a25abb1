"""OKX rate limits: 50011 with HTTP 429, keyed per IP, per user and per user + instrument.

The limiter's clock is held still (``held``), so every request of a test falls into one
window however slowly a busy machine sends them, and the window slides only when stepped.
"""

from __future__ import annotations

import ccxt
import httpx
import pytest
from tests_support import HeldTime


@pytest.fixture
def held(exchange) -> HeldTime:
    exchange.limiter.clock = t = HeldTime()
    return t


def test_candles_limit_per_ip(exchange, held):
    with httpx.Client(base_url=exchange.url) as c:
        codes = [c.get("/api/v5/market/candles", params={"instId": "BTC-USDT-SWAP", "limit": "1"})
                 for _ in range(45)]
    statuses = [r.status_code for r in codes]
    assert statuses[:40] == [200] * 40 and statuses[40:] == [429] * 5
    assert codes[-1].json() == {"code": "50011", "msg": "Too Many Requests", "data": []}
    exchange.rate_limit = False
    with httpx.Client(base_url=exchange.url) as c:
        assert all(c.get("/api/v5/market/candles", params={"instId": "BTC-USDT-SWAP"}).status_code == 200
                   for _ in range(50))


def test_window_slides(exchange, held):
    with httpx.Client(base_url=exchange.url) as c:
        for _ in range(10):
            assert c.get("/api/v5/public/time").status_code == 200
        assert c.get("/api/v5/public/time").json()["code"] == "50011"
        held.advance(1.5)
        assert c.get("/api/v5/public/time").json()["code"] == "50011"  # still inside the 2 s window
        held.advance(0.5)  # exactly 2 s on
        assert c.get("/api/v5/public/time").json()["code"] == "0"


def test_place_order_limit_per_user_and_instrument(okx_apis, exchange, held):
    t = okx_apis["trade"]
    codes = [t.place_order("SOL-USDT-SWAP", "cross", "buy", "limit", "1", px="1")["code"] for _ in range(61)]
    assert codes[:60] == ["0"] * 60 and codes[60] == "50011"
    # another instrument has its own bucket; another user has their own too
    assert t.place_order("ETH-USDT-SWAP", "cross", "buy", "limit", "1", px="1")["code"] == "0"
    import okx.Trade

    exchange.add_account("bob", "key-b", "secret-b", "Pass-b1")
    bob = okx.Trade.TradeAPI("key-b", "secret-b", "Pass-b1", flag="1", domain=exchange.url, debug=False)
    assert bob.place_order("SOL-USDT-SWAP", "cross", "buy", "limit", "1", px="1")["code"] == "0"


def test_account_limit_maps_to_ccxt_rate_limit(ccxt_okx, held):
    ccxt_okx.enableRateLimit = False
    with pytest.raises(ccxt.RateLimitExceeded):
        for _ in range(11):
            ccxt_okx.fetch_positions()  # 10 per 2 s per user
