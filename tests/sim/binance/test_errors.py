"""Every refusal answers Binance's ``{"code", "msg"}`` with Binance's HTTP status, and ccxt reads it."""

from __future__ import annotations

import ccxt
import httpx
import pytest

from .conftest import KEY, KEY_B, SECRET, SECRET_B, START, at, ccxt_client, signed_request

BTC = "BTC/USDT:USDT"


def order(bex, params: str, key: str = KEY, secret: str = SECRET) -> httpx.Response:
    return signed_request(bex.url, "POST", "/fapi/v1/order", f"{params}&timestamp={bex.auth_clock()}", key, secret)


def test_margin_insufficient_is_2019(bex):
    bob = ccxt_client(bex, key=KEY_B, secret=SECRET_B)
    bob.load_markets()
    with pytest.raises(ccxt.ExchangeError, match="-2019"):  # local URLs: ccxt's top-level map only
        bob.create_order(BTC, "market", "buy", 0.1)  # 5,000 USDT at 10x needs 500 USDT; bob has 100
    r = order(bex, "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.1", KEY_B, SECRET_B)
    assert (r.status_code, r.json()) == (400, {"code": -2019, "msg": "Margin is insufficient."})
    assert bex.accounts["bob"].orders == {}


def test_notional_too_small_is_4164_unless_reduce_only(usdm, bex):
    with pytest.raises(ccxt.ExchangeError, match="-4164"):
        usdm.create_order("ETH/USDT:USDT", "market", "buy", 0.001)  # 3 USDT < 5
    r = order(bex, "symbol=ETHUSDT&side=BUY&type=MARKET&quantity=0.001")
    assert r.status_code == 400 and r.json()["code"] == -4164
    usdm.create_order("ETH/USDT:USDT", "market", "buy", 0.002)  # 6 USDT
    done = usdm.create_order("ETH/USDT:USDT", "market", "sell", 0.001, params={"reduceOnly": True})
    assert done["status"] == "closed"


@pytest.mark.parametrize(("params", "code"), [
    ("symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.0001", -1111),  # finer than the 0.001 step
    ("symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=0.01&price=49000.05&timeInForce=GTC", -1111),  # finer than 0.1
    ("symbol=BTCUSDT&side=BUY&type=MARKET&quantity=1e3", -1100),
    ("symbol=BTCUSDT&side=BUY&type=MARKET&quantity=nan", -1100),
    ("symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0", -4003),
    ("symbol=BTCUSDT&side=BUY&type=MARKET&quantity=100000001", -4005),  # over MARKET_LOT_SIZE maxQty
    ("symbol=BTCUSDT&side=BUY&type=MARKET", -1102),
    ("symbol=BTCUSDT&side=UP&type=MARKET&quantity=0.01", -1117),
    ("symbol=BTCUSDT&side=BUY&type=STOP&quantity=0.01", -1116),
    ("symbol=NOPE&side=BUY&type=MARKET&quantity=0.01", -1121),
    ("symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.01&newClientOrderId=bad id!", -1100),
    ("symbol=BTCUSDT&side=SELL&type=MARKET&quantity=0.01&reduceOnly=true", -2022),
    ("symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=0.01&price=51000&timeInForce=GTX", -5022),
])
def test_malformed_orders_answer_binance_codes(bex, params, code):
    r = order(bex, params)
    assert r.status_code == 400 and r.json()["code"] == code, r.text
    assert bex.accounts["alice"].orders == {}


def test_bad_signature_and_keys(bex):
    wrong = ccxt_client(bex, secret="not-the-secret")
    with pytest.raises(ccxt.AuthenticationError, match="-1022"):
        wrong.fetch_balance()
    stranger = ccxt_client(bex, key="nobody", secret="x")
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        stranger.fetch_balance()
    ts = bex.auth_clock()
    r = signed_request(bex.url, "GET", "/fapi/v3/account", f"timestamp={ts}", key="bad key!")
    assert (r.status_code, r.json()["code"]) == (401, -2014)
    r = signed_request(bex.url, "GET", "/fapi/v3/account", f"timestamp={ts}", key="nobody")
    assert (r.status_code, r.json()["code"]) == (401, -2015)
    r = signed_request(bex.url, "GET", "/fapi/v3/account", f"timestamp={ts}", secret="wrong")
    assert (r.status_code, r.json()) == (400, {"code": -1022, "msg": "Signature for this request is not valid."})
    with httpx.Client() as c:  # unsigned
        r = c.get(f"{bex.url}/fapi/v3/account", params={"timestamp": ts}, headers={"X-MBX-APIKEY": KEY})
    assert r.json()["code"] == -1102 and "signature" in r.json()["msg"]


def test_timestamp_outside_recv_window_is_1021_on_the_exchange_clock(bex):
    bex.auth_clock = bex.clock.now_ms  # judge timestamps against the simulated clock (stepped here)
    now = at(START)

    def account(ts: int, window: str = "") -> httpx.Response:
        return signed_request(bex.url, "GET", "/fapi/v3/account", f"timestamp={ts}{window}")

    assert account(now - 4_000).status_code == 200  # within the default 5,000 ms window
    assert account(now - 6_000).json()["code"] == -1021
    assert account(now - 6_000, "&recvWindow=10000").status_code == 200
    assert account(now + 999).status_code == 200 and account(now + 1_000).json()["code"] == -1021
    bex.clock.advance(11_000)  # the same request, 11 s of exchange time later
    r = account(now - 4_000, "&recvWindow=10000")
    assert (r.status_code, r.json()) == (400, {"code": -1021, "msg": "Timestamp for this request is outside of "
                                                                    "the recvWindow."})
    assert account(now, "&recvWindow=60001").json()["code"] == -1130
    unsynced = ccxt_client(bex)  # ccxt signs with its wall clock, a year past the replay
    with pytest.raises(ccxt.InvalidNonce, match="-1021"):
        unsynced.fetch_balance()


def test_a_client_synced_to_server_time_signs_in_window(binance_root):
    from qlib_local.sim.binance import BinanceExchange

    ex = BinanceExchange(binance_root, start=START, speed=1.0)  # running: server time moves with the client's
    ex.add_account("alice", KEY, SECRET, usdt=1_000)
    ex.auth_clock = ex.clock.now_ms
    with ex:
        c = ccxt_client(ex)
        c.load_time_difference()  # timeDifference = its clock minus server time (load_markets would sign first)
        assert c.fetch_balance()["USDT"]["total"] == 1_000


def test_orders_of_another_family_and_unknown_orders(usdm, coinm, bex):
    with pytest.raises(ccxt.OrderNotFound, match="-2011"):
        usdm.cancel_order("1", BTC)
    r = signed_request(bex.url, "GET", "/dapi/v1/order", f"symbol=BTCUSDT&orderId=1&timestamp={bex.auth_clock()}")
    assert r.json()["code"] == -1121
    with pytest.raises(ccxt.BadRequest, match="-4028"):
        usdm.fapiPrivatePostLeverage({"symbol": "BTCUSDT", "leverage": 126})


def test_a_lookup_fault_armed_by_a_placement(coinm, bex):
    """The Binance front end wakes an ``after`` fault once the placement was processed: the lookup
    before it answers, the one after it hangs (how a live test kills a run between send and record)."""
    bex.faults.hang("/dapi/v1/order", 3600, times=1, after="/dapi/v1/batchOrders")
    with pytest.raises(ccxt.OrderNotFound):
        coinm.fetch_order("x", "BTC/USD:BTC", params={"origClientOrderId": "armed-1"})
    coinm.dapiPrivatePostBatchOrders({"batchOrders": [{"symbol": "BTCUSD_PERP", "side": "BUY", "type": "MARKET",
                                                        "quantity": "1", "newClientOrderId": "armed-1"}]})
    coinm.timeout = 500
    with pytest.raises(ccxt.RequestTimeout):
        coinm.fetch_order(None, "BTC/USD:BTC", params={"origClientOrderId": "armed-1"})
