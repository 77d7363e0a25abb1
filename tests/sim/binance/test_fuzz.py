"""Whatever a signed request holds, every Binance route answers Binance's shape: never a 500,
never a traceback, never the catch-all (-1001, a net for bugs)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qlib_local.sim.binance import BinanceExchange, sign
from qlib_local.sim.binance.routes import ROUTES

from .conftest import KEY, SECRET, START

SYMBOLS = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "BTCUSD_PERP"]
FIELDS = ["symbol", "pair", "side", "type", "quantity", "price", "timeInForce", "newClientOrderId", "orderId",
          "origClientOrderId", "positionSide", "reduceOnly", "leverage", "marginType", "dualSidePosition",
          "interval", "startTime", "endTime", "limit", "incomeType", "feeBurn", "batchOrders", "asset", "amount",
          "type", "quoteOrderQty", "fromId", "newOrderRespType"]
WORDS = ["BUY", "SELL", "LIMIT", "MARKET", "STOP", "GTC", "IOC", "FOK", "GTX", "BOTH", "LONG", "SHORT", "true",
         "false", "CROSSED", "ISOLATED", "1m", "1h", "1d", "1w", "8h", "FUNDING_FEE", "COMMISSION", "BNB", "USDT",
         "MAIN_UMFUTURE", "UMFUTURE_MAIN", "MAIN_CMFUTURE", "1", "2", "RESULT", *SYMBOLS]
HOSTILE = ["nan", "inf", "-1", "0", "1e3", "1e309", "0.1", "0.001", "0.0001", "1", "50000", "9" * 30, "9" * 400,
           str(2**63), str(2**63 - 1), "", " 1", "\u0661", "\x00", "[]", "{}", "[{}]", "null"]

numbers = st.sampled_from(HOSTILE) | st.integers().map(str) | st.floats().map(repr) | st.decimals(
    allow_nan=False, allow_infinity=False, places=3).map(str)
words = st.sampled_from(WORDS) | st.text(max_size=10)
values = numbers | words
order_items = st.dictionaries(st.sampled_from(FIELDS), values | st.integers() | st.booleans() | st.none(), max_size=8)
batch = st.lists(order_items, max_size=7).map(json.dumps) | st.text(max_size=20)
params = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), values, max_size=7).flatmap(
    lambda d: st.just(d) | batch.map(lambda b: {**d, "batchOrders": b}))


@pytest.fixture(scope="module")
def fuzz_exchange(binance_root: Path) -> Iterator[BinanceExchange]:
    ex = BinanceExchange(binance_root, start=START)
    ex.add_account("alice", KEY, SECRET, usdt=10_000, balances={"BTC": 1.0}, spot={"USDT": 1_000})
    ex.rate_limit = False
    with ex:
        yield ex


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c


def encode(d: dict[str, str]) -> str:
    return "&".join(f"{quote(k, safe='', errors='surrogatepass')}={quote(v, safe='', errors='surrogatepass')}"
                    for k, v in d.items())


@pytest.mark.parametrize(("method", "path", "signed"), [(m, f"/{f}{s}", sg) for m, f, s, _, sg in ROUTES],
                         ids=lambda v: str(v))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(p=params, raw=st.binary(max_size=40), use_raw=st.booleans())
def test_every_route_answers_binance_shapes(fuzz_exchange, client, method, path, signed, p, raw, use_raw):
    text = encode(p)
    if signed:
        text = (text + "&" if text else "") + f"timestamp={fuzz_exchange.auth_clock()}"
        text += f"&signature={sign(SECRET, text)}"
    body = raw if use_raw else (text.encode() if method == "POST" else b"")
    target = path if method == "POST" and not use_raw else f"{path}?{text}"
    headers = {"X-MBX-APIKEY": KEY, "Content-Type": "application/x-www-form-urlencoded"}
    req = client.build_request(method, fuzz_exchange.url + target, headers=headers, content=body)
    req.url = req.url.copy_with(raw_path=target.encode())
    r = client.send(req)
    assert r.status_code < 500 and "Traceback" not in r.text, (r.status_code, r.text[:500])
    answer = r.json()
    if r.status_code != 200:
        assert set(answer) == {"code", "msg"} and isinstance(answer["code"], int) and answer["code"] < 0, answer
        assert isinstance(answer["msg"], str) and answer["code"] != -1001, answer
    else:
        assert isinstance(answer, dict | list), answer
        if isinstance(answer, dict) and "code" in answer:
            assert answer["code"] == 200, answer
