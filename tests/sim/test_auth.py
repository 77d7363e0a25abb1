"""Signature checks over the raw request target and body, answered with OKX codes."""

from __future__ import annotations

import json

import httpx
import pytest

from .conftest import raw_get, signed, stamp


def test_python_okx_and_ccxt_styles_both_verify(exchange):
    url = exchange.url
    body_default = json.dumps({"instId": "BTC-USDT-SWAP", "lever": "5", "mgnMode": "cross"})
    body_compact = json.dumps({"instId": "BTC-USDT-SWAP", "lever": "6", "mgnMode": "cross"}, separators=(",", ":"))
    for body in (body_default, body_compact):
        r = httpx.post(f"{url}/api/v5/account/set-leverage", content=body,
                       headers=signed("POST", "/api/v5/account/set-leverage", body))
        assert r.status_code == 200 and r.json()["code"] == "0", r.text
    # the same query sent unencoded (python-okx) and URL-encoded (ccxt): each verifies as sent
    for target in ("/api/v5/account/positions?instId=BTC-USDT-SWAP,ETH-USDT-SWAP",
                   "/api/v5/account/positions?instId=BTC-USDT-SWAP%2CETH-USDT-SWAP"):
        r = raw_get(url, target, signed("GET", target))
        assert r.status_code == 200 and r.json()["code"] == "0", r.text
    # signing the decoded form but sending the encoded one is a different request
    target = "/api/v5/account/positions?instId=BTC-USDT-SWAP%2CETH-USDT-SWAP"
    h = signed("GET", "/api/v5/account/positions?instId=BTC-USDT-SWAP,ETH-USDT-SWAP")
    assert raw_get(url, target, h).json()["code"] == "50113"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"secret": "nope"}, "50113"),
        ({"key": "unknown"}, "50111"),
        ({"passphrase": "wrong"}, "50105"),
        ({"ts": stamp(-45)}, "50102"),
        ({"ts": "2025-13-01 nonsense"}, "50112"),
        ({"key": ""}, "50103"),
        ({"passphrase": ""}, "50104"),
    ],
)
def test_bad_credentials_answer_401(exchange, change, code):
    r = httpx.get(f"{exchange.url}/api/v5/account/balance", headers=signed("GET", "/api/v5/account/balance", **change))
    assert r.status_code == 401 and r.json()["code"] == code and r.json()["data"] == []


def test_tampered_body_is_rejected(exchange):
    body = json.dumps({"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "market", "sz": "1"})
    h = signed("POST", "/api/v5/trade/order", body)
    r = httpx.post(f"{exchange.url}/api/v5/trade/order", content=body.replace('"1"', '"2"'), headers=h)
    assert r.status_code == 401 and r.json()["code"] == "50113"
    assert exchange.accounts["alice"].orders == {}


def test_simulated_trading_header_is_honoured(exchange):
    exchange.add_account("demo", "key-d", "sec-d", "pp-d", simulated=True)
    exchange.add_account("live", "key-l", "sec-l", "pp-l", simulated=False)
    t = "/api/v5/account/config"

    def get(key: str, secret: str, pp: str, demo: str | None) -> str:
        return httpx.get(exchange.url + t, headers=signed("GET", t, key=key, secret=secret, passphrase=pp,
                                                          demo=demo)).json()["code"]

    assert get("key-d", "sec-d", "pp-d", "1") == "0"
    assert get("key-d", "sec-d", "pp-d", None) == "50101"
    assert get("key-l", "sec-l", "pp-l", None) == "0"
    assert get("key-l", "sec-l", "pp-l", "1") == "50101"


def test_public_endpoints_need_no_signature(exchange):
    r = httpx.get(f"{exchange.url}/api/v5/public/instruments", params={"instType": "SWAP"})
    assert r.json()["code"] == "0"
    r = httpx.get(f"{exchange.url}/api/v5/account/balance")
    assert r.status_code == 401 and r.json()["code"] == "50103"
