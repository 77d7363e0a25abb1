"""A local Binance exchange per test over a hand-made store whose prices a test can compute.

Instruments (store exchange ``binance``): BTCUSDT, ETHUSDT, BNBUSDT (USDⓈ-M, 1 coin a
contract) and BTCUSD_PERP (COIN-M, 100 USD a contract, settles in BTC). Prices are flat
between steps; funding rates every 8 hours.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from tests_support import GUARD_MS

from qlib_local.sim.binance import BinanceExchange, sign
from qlib_local.specs import InstrumentSpec, save_specs
from qlib_local.store import KlineStore
from qlib_local.timeframes import HOUR_MS, to_ms

from ..perp_data import stepped_bars

FIRST, END = "2025-03-01T00:00Z", "2025-03-04T06:00Z"
START = "2025-03-03T06:00:30Z"  # 54 h of 1m bars behind (3,240), 24 h ahead
STEP = "2025-03-03T07:00Z"  # BTC steps at 07:00: BTCUSDT 50,000 -> 52,000; BTCUSD_PERP 50,000 -> 62,500
KEY, SECRET = "binance-key-a", "binance-secret-a"
KEY_B, SECRET_B = "binance-key-b", "binance-secret-b"
FUNDING_TIMES = pd.date_range("2025-03-01", "2025-03-04", freq="8h", tz="UTC")


def funding_rate(i: int) -> float:
    """The stored rate of the i-th funding time: distinct, so a test can tell them apart."""
    return round(0.0001 + 0.00001 * i, 8)


SPECS = {
    "BTCUSDT": InstrumentSpec("BTCUSDT", ct_val=1.0, lot_sz=0.001, min_sz=0.001, tick_sz=0.1, max_lever=125.0,
                              ct_val_ccy="BTC"),
    "ETHUSDT": InstrumentSpec("ETHUSDT", ct_val=1.0, lot_sz=0.001, min_sz=0.001, tick_sz=0.01, max_lever=100.0,
                              ct_val_ccy="ETH"),
    "BNBUSDT": InstrumentSpec("BNBUSDT", ct_val=1.0, lot_sz=0.01, min_sz=0.01, tick_sz=0.01, max_lever=75.0,
                              ct_val_ccy="BNB"),
    "BTCUSD_PERP": InstrumentSpec("BTCUSD_PERP", ct_val=100.0, lot_sz=1.0, min_sz=1.0, tick_sz=0.1, max_lever=125.0,
                                  ct_val_ccy="USD", settle_ccy="BTC", ct_type="inverse"),
}
LEVELS = {
    "BTCUSDT": {FIRST: 50_000.0, STEP: 52_000.0},
    "ETHUSDT": {FIRST: 3_000.0},
    "BNBUSDT": {FIRST: 600.0},
    "BTCUSD_PERP": {FIRST: 50_000.0, STEP: 62_500.0},
}


@pytest.fixture(scope="session")
def binance_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("binancedata")
    store = KlineStore(root, create=True, durable=False)
    for inst, levels in LEVELS.items():
        store.upsert("binance", inst, "1m", stepped_bars(levels, start=FIRST, end=END))
    save_specs(root, "binance", SPECS)
    rates = pd.Series([funding_rate(i) for i in range(len(FUNDING_TIMES))], index=FUNDING_TIMES.rename("ts"))
    for inst in ("BTCUSDT", "BTCUSD_PERP"):
        store.upsert_funding("binance", inst, rates)
    return root


@pytest.fixture
def bex(binance_root: Path) -> Iterator[BinanceExchange]:
    """The exchange at START, clock stepped by the test, rate limits on, two accounts."""
    ex = BinanceExchange(binance_root, start=START)
    ex.add_account("alice", KEY, SECRET, usdt=10_000, balances={"BTC": 1.0}, spot={"USDT": 1_000})
    ex.add_account("bob", KEY_B, SECRET_B, usdt=100)
    with ex:
        yield ex


def local_urls(client, url: str) -> None:
    """Point every REST base URL of a ccxt Binance client at the local exchange, keeping paths."""
    for k, v in list(client.urls["api"].items()):
        if isinstance(v, str) and "://" in v:
            client.urls["api"][k] = url + "/" + v.split("://", 1)[1].split("/", 1)[1]


def ccxt_client(ex: BinanceExchange, kind: str = "binanceusdm", key: str = KEY, secret: str = SECRET, **options):
    """A real ccxt client (``binanceusdm``, ``binancecoinm`` or ``binance``) signing with real keys."""
    import ccxt

    c = getattr(ccxt, kind)({"apiKey": key, "secret": secret, "timeout": GUARD_MS, "enableRateLimit": False,
                             "options": options})
    local_urls(c, ex.url)
    return c


@pytest.fixture
def usdm(bex: BinanceExchange):
    c = ccxt_client(bex)
    c.load_markets()
    return c


@pytest.fixture
def coinm(bex: BinanceExchange):
    c = ccxt_client(bex, "binancecoinm")
    c.load_markets()
    return c


def signed_request(url: str, method: str, path: str, params: str, key: str = KEY, secret: str = SECRET,
                   client: httpx.Client | None = None, in_body: bool | None = None) -> httpx.Response:
    """One request signed as Binance wants it: ``params`` then ``&signature=``; POST in the body."""
    payload = f"{params}&signature={sign(secret, params)}" if params else f"signature={sign(secret, '')}"
    body = method == "POST" if in_body is None else in_body
    headers = {"X-MBX-APIKEY": key, "Content-Type": "application/x-www-form-urlencoded"}
    target = path if body else f"{path}?{payload}"
    if client is None:
        with httpx.Client(timeout=10) as c:
            return signed_request(url, method, path, params, key, secret, c, in_body)
    req = client.build_request(method, url + target, headers=headers, content=payload.encode() if body else b"")
    req.url = req.url.copy_with(raw_path=target.encode())
    return client.send(req)


def hours(n: float) -> int:
    return int(n * HOUR_MS)


def at(iso: str) -> int:
    return to_ms(iso)
