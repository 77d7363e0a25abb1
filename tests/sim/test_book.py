"""The book model through both front ends: python-okx against the local OKX exchange, ccxt
binanceusdm against the local Binance one, on one hand-made store and a stepped clock.

Prices stand at 50,000 (flat bars: range 0, so the half-spread is one tick, 0.1) with 10 BTC
of volume a bar; with ``depth_share`` 0.1 a level holds 1 BTC (OKX: 100 contracts of 0.01 BTC;
Binance: 1 BTC). Wicks: the 06:05 bar touches 49,900.0, the 06:10 bar trades through it by a
tick (49,899.9), the 06:20 bar goes down to 49,850; the 06:30 bar touches 50,100, the 06:40
bar trades through it by a tick.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import ccxt
import pytest
from tests_support import GUARD_MS

from qlib_local.sim import LocalExchange
from qlib_local.sim.binance import BinanceExchange
from qlib_local.sim.book import BookModel
from qlib_local.specs import InstrumentSpec, save_specs
from qlib_local.store import KlineStore

from .binance.conftest import local_urls
from .perp_data import stepped_bars

FIRST, END, START = "2025-03-03T00:00Z", "2025-03-03T12:00Z", "2025-03-03T06:00:30Z"
WICKS = {"2025-03-03T06:05Z": (50_000.0, 49_900.0), "2025-03-03T06:10Z": (50_000.0, 49_899.9),
         "2025-03-03T06:20Z": (50_000.0, 49_850.0), "2025-03-03T06:30Z": (50_100.0, 50_000.0),
         "2025-03-03T06:40Z": (50_100.1, 50_000.0)}
BOOK = BookModel(spread_k=0.5, depth_share=0.1, through_ticks=1)
MAKER, TAKER = 0.0002, 0.0005
OKX_ID, BN_SYM, BN = "BTC-USDT-SWAP", "BTCUSDT", "BTC/USDT:USDT"
KEY, SECRET, PASS = "book-key", "book-secret", "Book-pass1"


@pytest.fixture(scope="module")
def book_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bookdata")
    store = KlineStore(root, create=True, durable=False)
    bars = stepped_bars({FIRST: 50_000.0}, WICKS, start=FIRST, end=END)
    bars["volume"], bars["quote_volume"] = 10.0, 10.0 * bars["close"]
    store.upsert("okx", OKX_ID, "1m", bars)
    store.upsert("binance", BN_SYM, "1m", bars)
    save_specs(root, "okx", {OKX_ID: InstrumentSpec(OKX_ID, ct_val=0.01, lot_sz=1.0, min_sz=1.0, tick_sz=0.1,
                                                    max_lever=100.0, ct_val_ccy="BTC")})
    save_specs(root, "binance", {BN_SYM: InstrumentSpec(BN_SYM, ct_val=1.0, lot_sz=0.001, min_sz=0.001, tick_sz=0.1,
                                                        max_lever=125.0, ct_val_ccy="BTC")})
    return root


@pytest.fixture
def okx_ex(book_root: Path) -> Iterator[LocalExchange]:
    ex = LocalExchange(book_root, start=START, book=BOOK)
    ex.add_account("alice", KEY, SECRET, PASS, usdt=100_000)
    with ex:
        yield ex


@pytest.fixture
def trade(okx_ex: LocalExchange):
    import okx.Trade

    return okx.Trade.TradeAPI(KEY, SECRET, PASS, flag="1", domain=okx_ex.url, debug=False)


@pytest.fixture
def bn_ex(book_root: Path) -> Iterator[BinanceExchange]:
    ex = BinanceExchange(book_root, start=START)
    ex.engine.book = BOOK  # the same engine, the same book
    ex.add_account("alice", KEY, SECRET, usdt=100_000)
    with ex:
        yield ex


@pytest.fixture
def usdm(bn_ex: BinanceExchange):
    c = ccxt.binanceusdm({"apiKey": KEY, "secret": SECRET, "timeout": GUARD_MS, "enableRateLimit": False})
    local_urls(c, bn_ex.url)
    c.load_markets()
    return c


def placed(r: dict) -> str:
    assert r["code"] == "0", r
    return r["data"][0]["ordId"]


# ------------------------------------------------------------------ OKX (python-okx)
def test_resting_buy_fills_only_through_by_a_tick_partially_by_depth_with_maker_fee(trade, okx_ex):
    oid = placed(trade.place_order(OKX_ID, "cross", "buy", "limit", "150", px="49900", clOrdId="rest1"))
    assert [o["clOrdId"] for o in trade.get_order_list(instId=OKX_ID)["data"]] == ["rest1"]
    okx_ex.clock.set("2025-03-03T06:06:00Z")  # the 06:05 bar touched 49,900.0: no fill
    o = trade.get_order(OKX_ID, ordId=oid)["data"][0]
    assert (o["state"], o["accFillSz"]) == ("live", "0")
    okx_ex.clock.set("2025-03-03T06:11:00Z")  # 06:10 trades through by a tick: one level, 100 contracts
    o = trade.get_order(OKX_ID, ordId=oid)["data"][0]
    assert (o["state"], o["accFillSz"], o["avgPx"]) == ("partially_filled", "100", "49900")
    assert [x["clOrdId"] for x in trade.get_order_list(instId=OKX_ID)["data"]] == ["rest1"]  # still open
    okx_ex.clock.set("2025-03-03T06:21:00Z")  # 06:20 fills the remaining 50
    o = trade.get_order(OKX_ID, ordId=oid)["data"][0]
    assert (o["state"], o["accFillSz"]) == ("filled", "150")
    fills = trade.get_fills(instType="SWAP", instId=OKX_ID)["data"]
    assert sorted(float(f["fillSz"]) for f in fills) == [50.0, 100.0]
    assert {f["execType"] for f in fills} == {"M"}
    for f in fills:  # maker fee on the fill's notional: sz x 0.01 BTC x 49,900 x 0.0002
        assert float(f["fee"]) == pytest.approx(-float(f["fillSz"]) * 0.01 * 49_900 * MAKER)
    assert float(o["fee"]) == pytest.approx(-150 * 0.01 * 49_900 * MAKER)
    assert trade.get_order_list(instId=OKX_ID)["data"] == []


def test_resting_sell_fills_through_the_high(trade, okx_ex):
    oid = placed(trade.place_order(OKX_ID, "cross", "sell", "limit", "10", px="50100"))
    okx_ex.clock.set("2025-03-03T06:31:00Z")  # 06:30 touches 50,100
    assert trade.get_order(OKX_ID, ordId=oid)["data"][0]["state"] == "live"
    okx_ex.clock.set("2025-03-03T06:41:00Z")  # 06:40 trades through by a tick
    o = trade.get_order(OKX_ID, ordId=oid)["data"][0]
    assert (o["state"], o["accFillSz"], o["avgPx"]) == ("filled", "10", "50100")


def test_market_order_walks_the_book(trade, okx_ex):
    # At 06:00:30 the last closed bar is flat: half-spread one tick; levels 50,000.1, .2, .3 of 100 each.
    placed(trade.place_order(OKX_ID, "cross", "buy", "market", "250", clOrdId="walk"))
    o = trade.get_order(OKX_ID, clOrdId="walk")["data"][0]
    assert o["state"] == "filled"
    assert float(o["avgPx"]) == pytest.approx((100 * 50_000.1 + 100 * 50_000.2 + 50 * 50_000.3) / 250)
    fills = trade.get_fills(instType="SWAP", instId=OKX_ID)["data"]
    assert sorted((float(f["fillPx"]), float(f["fillSz"])) for f in fills) == [
        (50_000.1, 100.0), (50_000.2, 100.0), (50_000.3, 50.0)]
    assert {f["execType"] for f in fills} == {"T"}
    assert float(o["fee"]) == pytest.approx(-sum(p * s for p, s in [(50_000.1, 100), (50_000.2, 100),
                                                                   (50_000.3, 50)]) * 0.01 * TAKER)


def test_small_market_order_pays_the_half_spread(trade, okx_ex):
    placed(trade.place_order(OKX_ID, "cross", "sell", "market", "5", clOrdId="small"))
    assert trade.get_order(OKX_ID, clOrdId="small")["data"][0]["avgPx"] == "49999.9"


def test_post_only_that_would_take_is_canceled_and_one_inside_the_spread_rests(trade, okx_ex):
    oid = placed(trade.place_order(OKX_ID, "cross", "buy", "post_only", "1", px="50000.1"))  # meets the ask
    o = trade.get_order(OKX_ID, ordId=oid)["data"][0]
    assert (o["state"], o["accFillSz"], o["cancelSource"]) == ("canceled", "0", "31")
    assert trade.get_fills(instType="SWAP", instId=OKX_ID)["data"] == []
    rest = placed(trade.place_order(OKX_ID, "cross", "buy", "post_only", "1", px="50000"))  # at last, below ask
    assert trade.get_order(OKX_ID, ordId=rest)["data"][0]["state"] == "live"
    assert [x["ordId"] for x in trade.get_order_list(instId=OKX_ID)["data"]] == [rest]
    c = trade.cancel_order(OKX_ID, ordId=rest)
    assert c["code"] == "0" and c["data"][0]["sCode"] == "0"
    assert trade.get_order(OKX_ID, ordId=rest)["data"][0]["state"] == "canceled"
    assert trade.get_order_list(instId=OKX_ID)["data"] == []
    assert trade.cancel_order(OKX_ID, ordId=rest)["data"][0]["sCode"] == "51400"


def test_default_book_keeps_the_old_market_fill(book_root):
    """No spread, unlimited depth: a market order fills whole at last +- slippage, as before."""
    import okx.Trade

    with LocalExchange(book_root, start=START) as ex:
        ex.add_account("bob", KEY, SECRET, PASS, usdt=100_000)
        t = okx.Trade.TradeAPI(KEY, SECRET, PASS, flag="1", domain=ex.url, debug=False)
        placed(t.place_order(OKX_ID, "cross", "buy", "market", "250", clOrdId="old"))
        o = t.get_order(OKX_ID, clOrdId="old")["data"][0]
        assert (o["avgPx"], o["accFillSz"]) == ("50000", "250")
        assert len(t.get_fills(instType="SWAP", instId=OKX_ID)["data"]) == 1


# ------------------------------------------------------------------ Binance (ccxt binanceusdm)
def test_binance_resting_buy_partial_then_filled_with_maker_fee(usdm, bn_ex):
    o = usdm.create_order(BN, "limit", "buy", 1.5, 49_900, params={"clientOrderId": "bn-rest"})
    assert o["status"] == "open"
    assert [x["id"] for x in usdm.fetch_open_orders(BN)] == [o["id"]]
    bn_ex.clock.set("2025-03-03T06:06:00Z")
    assert usdm.fetch_order(o["id"], BN)["filled"] == 0.0
    bn_ex.clock.set("2025-03-03T06:11:00Z")
    part = usdm.fetch_order(o["id"], BN)
    assert (part["status"], part["filled"], part["info"]["status"]) == ("open", 1.0, "PARTIALLY_FILLED")
    assert [x["id"] for x in usdm.fetch_open_orders(BN)] == [o["id"]]
    bn_ex.clock.set("2025-03-03T06:21:00Z")
    done = usdm.fetch_order(o["id"], BN)
    assert (done["status"], done["filled"], done["average"]) == ("closed", 1.5, 49_900.0)
    trades = usdm.fetch_my_trades(BN)
    assert sorted(t["amount"] for t in trades) == [0.5, 1.0]
    assert {t["takerOrMaker"] for t in trades} == {"maker"}
    for t in trades:
        assert t["fee"]["cost"] == pytest.approx(t["amount"] * 49_900 * MAKER)
    assert usdm.fetch_open_orders(BN) == []


def test_binance_gtx_that_would_take_is_rejected_and_cancel_works(usdm, bn_ex):
    with pytest.raises(ccxt.InvalidOrder, match="-5022"):
        usdm.create_order(BN, "limit", "buy", 0.01, 50_000.1, params={"timeInForce": "GTX"})
    o = usdm.create_order(BN, "limit", "buy", 0.01, 50_000.0, params={"timeInForce": "GTX"})  # inside the spread
    assert o["status"] == "open" and o["info"]["timeInForce"] == "GTX"
    assert [x["id"] for x in usdm.fetch_open_orders(BN)] == [o["id"]]
    assert usdm.cancel_order(o["id"], BN)["status"] == "canceled"
    assert usdm.fetch_open_orders(BN) == []


def test_binance_market_order_walks_the_same_book(usdm, bn_ex):
    o = usdm.create_order(BN, "market", "buy", 2.5)
    done = usdm.fetch_order(o["id"], BN)
    assert done["average"] == pytest.approx((50_000.1 + 50_000.2 + 0.5 * 50_000.3) / 2.5)


def test_book_model_refuses_bad_parameters():
    for kw in ({"spread_k": float("nan")}, {"spread_k": -0.1}, {"depth_share": 2.0}, {"through_ticks": -1},
               {"through_ticks": 1.5}, {"depth_share": float("inf")}):
        with pytest.raises(ValueError):
            BookModel(**kw)


def test_a_longer_quoting_bar_aggregates_the_base_bars(book_root):
    """``range_ms``: the book quotes from the last closed bar of that length, built from the base bars.
    At 07:00:30 the last 1m bar (06:59) is flat: one tick of half-spread, one bar's 10 BTC a level; the
    last 1H bar (06:00-07:00) spans 49,850-50,100.1 and traded 600 BTC."""
    from qlib_local.timeframes import to_ms

    market = LocalExchange(book_root, start=START, book=BOOK).engine.market
    now = to_ms("2025-03-03T07:00:30Z")
    assert BOOK.half_spread(market, OKX_ID, now) == pytest.approx(0.1)
    assert BOOK.bar_depth(market, OKX_ID, BOOK._last_closed(market, OKX_ID, now)) == pytest.approx(100.0)
    hourly = BookModel(spread_k=0.5, depth_share=0.1, range_ms=3_600_000)
    assert hourly.half_spread(market, OKX_ID, now) == pytest.approx(125.1)  # ceil(0.5 x 250.1 / tick) ticks
    assert hourly.bar_depth(market, OKX_ID, *hourly._quoted(market, OKX_ID, now)) == pytest.approx(6_000.0)
    walk = hourly.walk(market, OKX_ID, "buy", 7_000.0, 50_000.0, now)
    assert walk[0] == (pytest.approx(50_125.1), pytest.approx(6_000.0)) and walk[1][1] == pytest.approx(1_000.0)
    for bad in (-1, 1.5, True, 8 * 86_400_000):
        with pytest.raises(ValueError, match="range_ms"):
            BookModel(range_ms=bad)
