"""A local OKX exchange per test, over a small synthetic store made once per session."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from tests_support import GUARD_MS

from qlib_local.sim import LocalExchange, sign
from qlib_local.store import KlineStore
from qlib_local.synth import SynthConfig, write_synthetic

START = "2025-01-02T12:00:30Z"  # 36 h of 1m history behind, 36 h of future bars ahead
KEY, SECRET, PASS = "key-a", "secret-a", "Pass-a1"


@pytest.fixture(scope="session")
def sim_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three OKX swaps (BTC, ETH, SOL), three days of 1m bars from 2025-01-01."""
    root = tmp_path_factory.mktemp("simdata")
    store = KlineStore(root, create=True, durable=False)
    write_synthetic(store, SynthConfig(instruments=3, timeframe="1m", days=3, seed=7))
    return root


@pytest.fixture
def exchange(sim_root: Path) -> Iterator[LocalExchange]:
    ex = LocalExchange(sim_root, start=START)
    ex.add_account("alice", KEY, SECRET, PASS, usdt=10_000)
    with ex:
        yield ex


@pytest.fixture
def okx_apis(exchange: LocalExchange):
    """python-okx clients for alice, demo flag '1', pointed at the local exchange."""
    import okx.Account
    import okx.MarketData
    import okx.PublicData
    import okx.Trade

    kw = dict(flag="1", domain=exchange.url, debug=False)
    return {
        "trade": okx.Trade.TradeAPI(KEY, SECRET, PASS, **kw),
        "account": okx.Account.AccountAPI(KEY, SECRET, PASS, **kw),
        "market": okx.MarketData.MarketAPI(**kw),
        "public": okx.PublicData.PublicAPI(**kw),
    }


@pytest.fixture
def ccxt_okx(exchange: LocalExchange):
    import ccxt

    ex = ccxt.okx({"apiKey": KEY, "secret": SECRET, "password": PASS,
                   "options": {"fetchMarkets": {"types": ["swap"]}}, "timeout": GUARD_MS})
    ex.urls["api"]["rest"] = exchange.url
    return ex


def stamp(delta_s: float = 0.0) -> str:
    t = datetime.now(UTC) + timedelta(seconds=delta_s)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def signed(method: str, target: str, body: str | bytes = "", key: str = KEY, secret: str = SECRET,
           passphrase: str = PASS, ts: str | None = None, demo: str | None = "1") -> dict[str, str]:
    ts = ts or stamp()
    h = {"OK-ACCESS-KEY": key, "OK-ACCESS-SIGN": sign(secret, ts, method, target, body),
         "OK-ACCESS-TIMESTAMP": ts, "OK-ACCESS-PASSPHRASE": passphrase, "Content-Type": "application/json"}
    if demo is not None:
        h["x-simulated-trading"] = demo
    return h


def raw_get(url: str, target: str, headers: dict[str, str]) -> httpx.Response:
    """Send the target byte-for-byte as signed (httpx would otherwise normalise it)."""
    return raw_request(url, "GET", target, headers)


def raw_request(url: str, method: str, target: str, headers: dict[str, str], body: bytes = b"",
                client: httpx.Client | None = None) -> httpx.Response:
    """One request whose target and body go out byte-for-byte as given (on ``client`` if one is passed)."""
    if client is None:
        with httpx.Client(base_url=url, timeout=10) as c:
            return raw_request(url, method, target, headers, body, c)
    req = client.build_request(method, url + target, headers=headers, content=body)
    req.url = req.url.copy_with(raw_path=target.encode())
    return client.send(req)
