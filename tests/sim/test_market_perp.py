"""The local exchange's market data for perpetuals: stored settlements and mark prices, visible
only once they happened (what the settlement side and the public endpoints read)."""

from __future__ import annotations

import pandas as pd
import pytest

from qlib_local.sim.market import MarketData
from qlib_local.store import KlineStore
from qlib_local.synth import SynthConfig, write_synthetic

BTC = "BTC-USDT-SWAP"
INV = "BTC-USD-SWAP"


def ms(ts: str) -> int:
    return pd.Timestamp(ts).value // 1_000_000


@pytest.fixture(scope="module")
def market(tmp_path_factory) -> MarketData:
    root = tmp_path_factory.mktemp("perpmarket")
    store = KlineStore(root, create=True, durable=False)
    write_synthetic(store, SynthConfig(instruments=2, timeframe="1H", days=3, seed=5, funding=True, mark=True,
                                       inverse=True))
    return MarketData(KlineStore(root))


def test_settlements_are_visible_from_their_funding_time_on(market):
    rates = market.store.read_funding("okx", BTC)
    t = ms("2025-01-02T08:00Z")
    assert market.funding_rate(BTC, t) == pytest.approx(rates.loc["2025-01-02 08:00"])
    assert market.funding_rate(BTC, t + 1) is None  # not a settlement time
    assert market.last_funding(BTC, t - 1) == (ms("2025-01-02T00:00Z"), pytest.approx(rates.loc["2025-01-02 00:00"]))
    assert market.last_funding(BTC, t)[0] == t
    assert market.next_funding_time(BTC, t) == ms("2025-01-02T16:00Z")
    assert [x for x, _ in market.funding_history(BTC, t, limit=2)] == [t, ms("2025-01-02T00:00Z")]


def test_mark_price_is_the_last_closed_mark_candle_else_the_last_price(market):
    marks = market.store.read("okx@mark", BTC, "1H")
    now = ms("2025-01-02T10:30Z")
    assert market.mark_price(BTC, now) == pytest.approx(marks.loc["2025-01-02 09:00", "close"])  # closed at 10:00
    assert market.mark_price(BTC, now) != market.price(BTC, now)
    assert market.mark_price(BTC, ms("2025-01-10T00:00Z")) == market.price(BTC, ms("2025-01-10T00:00Z"))  # stale


def test_inverse_swaps_are_listed_as_okx_lists_them(market):
    row = market.instrument(INV)
    assert (row["ctType"], row["settleCcy"], row["ctValCcy"], row["ctVal"]) == ("inverse", "BTC", "USD", "100")
    assert market.instrument(BTC)["ctType"] == "linear" and market.instrument(BTC)["ctValCcy"] == "BTC"
