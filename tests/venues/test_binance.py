"""The Binance adapter (ccxt binanceusdm / binancecoinm) against recorded Binance answers on 127.0.0.1.

No local Binance exchange exists yet, so these drive the real ccxt client through the registry
over real HTTP to a server that answers with Binance's documented JSON shapes and error bodies
(``binance_shapes``): the requests ccxt signs and sends, our parsing, the mapping of Binance's
codes and statuses onto domain kinds, transport failures, and the execution engine's rule for a
venue whose client ids are unique among open orders only. What needs a matching engine (fills
that follow from orders, positions that follow from fills) waits for the local exchange.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import socket
from collections.abc import Iterator
from pathlib import Path

import ccxt
import pytest
from tests_support import GUARD_S

from qlib_local.ledger import Ledger
from qlib_local.live.accounts import AccountConfig, AccountSecrets, Secret
from qlib_local.live.clordid import cl_ord_id
from qlib_local.live.errors import Ambiguous, AuthError, ClockSkew, RateLimited, RetriesExhausted, Unavailable
from qlib_local.live.exec_types import ExecPolicy
from qlib_local.live.execution import Executor
from qlib_local.live.retry import RetryPolicy
from qlib_local.live.types import Kind, OrderRequest
from qlib_local.venues.binance.adapter import BinanceVenue, client, local_urls
from qlib_local.venues.binance.caps import COINM_CAPS, USDM_CAPS
from qlib_local.venues.registry import open_venue

from . import binance_shapes as shapes
from .recorded import DROP, Recorded

KEY, SECRET = "bk-test-1", "bs-test-secret-1"
QUICK = RetryPolicy(attempts=4, base_s=0.01, cap_s=0.05, budget_s=GUARD_S)  # attempts end retries, never time
BAR = 1_736_467_200_000
F = "/fapi/v1"


@pytest.fixture
def rec() -> Iterator[Recorded]:
    r = Recorded()
    yield r
    r.close()


def account(url: str, exchange: str = "binanceusdm", mode: str = "paper") -> AccountConfig:
    return AccountConfig(name="b", exchange=exchange, mode=mode, strategies=Path("s.yaml"), url=url)


def venue(rec: Recorded, exchange: str = "binanceusdm", timeout: float = GUARD_S, url: str | None = None) -> BinanceVenue:
    v = open_venue(account(url or rec.url, exchange), AccountSecrets(Secret(KEY), Secret(SECRET), None),
                   timeout_s=timeout, retry=QUICK, reuse=False)
    assert isinstance(v, BinanceVenue)
    return v


def our_id(inst: str = "BTCUSDT", leg: str = "open", pos_side: str = "net", attempt: int = 1) -> str:
    return cl_ord_id("alice", BAR, inst, pos_side, leg, attempt, USDM_CAPS.id_rule)


def signed_ok(req: dict) -> bool:
    """The request carries our key and an HMAC-SHA256 of everything before ``&signature=`` (never the secret)."""
    text = req["body"] if req["method"] in ("POST", "PUT") else req["query"]
    payload, _, sig = text.rpartition("&signature=")
    want = hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return req["headers"].get("X-MBX-APIKEY") == KEY and sig == want and SECRET not in text


# ---------------------------------------------------------------------- endpoints and modes
def test_paper_demo_and_live_urls():
    """Paper: every ccxt URL on the local exchange, paths kept; demo: Binance demo trading; live: the real hosts."""
    paper = client(ccxt.binanceusdm, KEY, SECRET, "paper", "http://127.0.0.1:9", 5, USDM_CAPS)
    urls = [u for u in paper.urls["api"].values() if isinstance(u, str)]
    assert urls and all(u.startswith("http://127.0.0.1:9/") for u in urls)
    assert paper.urls["api"]["fapiPrivate"] == "http://127.0.0.1:9/fapi/v1"
    assert paper.urls["api"]["dapiPrivateV2"] == "http://127.0.0.1:9/dapi/v2"
    demo = client(ccxt.binanceusdm, KEY, SECRET, "demo", "", 5, USDM_CAPS)
    assert demo.urls["api"]["fapiPrivate"] == "https://demo-fapi.binance.com/fapi/v1"
    live = client(ccxt.binancecoinm, KEY, SECRET, "live", "", 5, COINM_CAPS)
    assert live.urls["api"]["dapiPrivate"] == "https://dapi.binance.com/dapi/v1"
    assert local_urls({"a": ["x", 1], "b": "https://fapi.binance.com/fapi/v1"}, "http://h:1/") == {
        "a": ["x", 1], "b": "http://h:1/fapi/v1"}


def test_the_registry_opens_usdm_and_coinm_with_their_data(rec):
    usdm, coinm = venue(rec), venue(rec, "binancecoinm")
    assert usdm.caps is USDM_CAPS and coinm.caps is COINM_CAPS
    assert (usdm.family["batch_orders"].path, coinm.family["batch_orders"].path) == (f"{F}/batchOrders",
                                                                                     "/dapi/v1/batchOrders")
    assert usdm.caps.max_batch == 5 and not usdm.caps.ids_unique_after_final and not usdm.caps.needs_passphrase
    assert rec.requests == []  # opening sends nothing


# ---------------------------------------------------------------------- placing: the request and the answers
def test_batch_request_net_mode_is_signed_with_our_ids_and_reduce_only_on_closes(rec):
    close, opn = our_id(leg="close"), our_id("ETHUSDT")
    rec.answer("POST", f"{F}/batchOrders", (200, [shapes.order(close, side="SELL", status="NEW", executed="0"),
                                                  shapes.order(opn, "ETHUSDT", status="NEW", executed="0",
                                                               order_id=7)]))
    orders = [OrderRequest(close, "BTCUSDT", "sell", 0.003, reduce_only=True, leg="close"),
              OrderRequest(opn, "ETHUSDT", "buy", 1.25)]
    acks = venue(rec).place_batch(orders, "net_mode")
    assert [(a.cl_ord_id, a.kind, a.ord_id) for a in acks] == [(close, Kind.ACCEPTED, "283194212"),
                                                                (opn, Kind.ACCEPTED, "7")]
    [req] = rec.sent("POST", f"{F}/batchOrders")
    assert signed_ok(req) and "timestamp" in req["params"]
    items = json.loads(req["params"]["batchOrders"])
    assert items == [{"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.003",
                      "newClientOrderId": close, "reduceOnly": "true"},
                     {"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quantity": "1.25",
                      "newClientOrderId": opn}]


def test_batch_request_hedge_mode_sends_position_sides_never_reduce_only(rec):
    rec.answer("POST", f"{F}/batchOrders", (200, [shapes.order(our_id(), status="NEW")]))
    cl = our_id(leg="close", pos_side="long")
    venue(rec).place_batch([OrderRequest(cl, "BTCUSDT", "sell", 2.0, pos_side="long", leg="close")], "long_short_mode")
    [item] = json.loads(rec.sent("POST", f"{F}/batchOrders")[0]["params"]["batchOrders"])
    assert item["positionSide"] == "LONG" and "reduceOnly" not in item and item["newClientOrderId"] == cl


@pytest.mark.parametrize("code, msg, kind", [
    (-2019, "Margin is insufficient.", Kind.INSUFFICIENT_MARGIN),
    (-4116, "ClientOrderId is duplicated.", Kind.DUPLICATE_CLIENT_ID),
    (-1003, "Too many requests; current limit is 2400 request weight per 1 MINUTE.", Kind.RETRY_LATER),
    (-1015, "Too many new orders.", Kind.RETRY_LATER),
    (-4164, "Order's notional must be no smaller than 100 (unless you choose reduce only).", Kind.BELOW_MIN_SIZE),
    (-1111, "Precision is over the maximum defined for this asset.", Kind.BAD_PRECISION),
    (-2022, "ReduceOnly Order is rejected.", Kind.REDUCE_ONLY_REJECTED),
    (-1021, "Timestamp for this request is outside of the recvWindow.", Kind.CLOCK_SKEW),
    (-1007, "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
     Kind.UNKNOWN_OUTCOME),
    (-4061, "Order's position side does not match user's setting.", Kind.REJECTED_OTHER),
])
def test_each_order_in_a_batch_gets_its_own_kind_and_keeps_the_venue_code(rec, code, msg, kind):
    ok, bad = our_id("ETHUSDT"), our_id()
    rec.answer("POST", f"{F}/batchOrders", (200, [shapes.order(ok, "ETHUSDT", status="NEW"), shapes.error(code, msg)]))
    acks = venue(rec).place_batch([OrderRequest(ok, "ETHUSDT", "buy", 1.0), OrderRequest(bad, "BTCUSDT", "buy", 9.0)],
                                  "net_mode")
    assert acks[0].kind == Kind.ACCEPTED and (acks[1].kind, acks[1].code, acks[1].msg) == (kind, str(code), msg)
    assert acks[1].text == f"{kind} ({code} {msg})"


def test_a_batch_of_one_refused_answers_for_that_order(rec):
    """ccxt's own handler raises on a one-entry error list; ours leaves per-order answers to the order."""
    rec.answer("POST", f"{F}/batchOrders", (200, [shapes.error(-2019, "Margin is insufficient.")]))
    [ack] = venue(rec).place_batch([OrderRequest(our_id(), "BTCUSDT", "buy", 400.0)], "net_mode")
    assert ack.kind == Kind.INSUFFICIENT_MARGIN and ack.code == "-2019"


def test_too_large_a_batch_or_a_limit_order_is_refused_before_sending(rec):
    v = venue(rec)
    with pytest.raises(ValueError, match="1..5 orders"):
        v.place_batch([OrderRequest(our_id(attempt=n), "BTCUSDT", "buy", 1.0) for n in range(1, 7)], "net_mode")
    with pytest.raises(ValueError, match="not supported"):
        v.place_batch([OrderRequest(our_id(), "BTCUSDT", "buy", 1.0, ord_type="limit", px=90_000.0)], "net_mode")
    with pytest.raises(ValueError, match="needs a price"):
        v.place_batch([OrderRequest(our_id(), "BTCUSDT", "buy", 1.0, ord_type="post_only")], "net_mode")
    assert rec.requests == []


def test_a_post_only_child_is_a_gtx_limit_and_one_that_would_take_is_its_own_kind(rec):
    kid = our_id() + "00m"
    rec.answer("POST", f"{F}/batchOrders", (200, [shapes.error(-5022, "Due to the order could not be executed as "
                                                                      "maker, the Post Only order will be rejected.")]))
    [ack] = venue(rec).place_batch([OrderRequest(kid, "BTCUSDT", "sell", 0.003, reduce_only=True, leg="close",
                                                 ord_type="post_only", px=94012.3, parent=our_id())], "net_mode")
    assert ack.kind == Kind.WOULD_TAKE and ack.code == "-5022"
    [req] = rec.sent("POST", f"{F}/batchOrders")
    assert json.loads(req["params"]["batchOrders"]) == [
        {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTX", "price": "94012.3",
         "quantity": "0.003", "newClientOrderId": kid, "reduceOnly": "true"}]


# ---------------------------------------------------------------------- whole-request errors and transport
def test_rate_limits_are_retried_then_succeed(rec):
    rec.answer("GET", "/fapi/v2/account", (429, shapes.error(-1003, "Too many requests.")),
               (418, shapes.error(-1003, "Way too many requests; IP banned until 1736467260000.")),
               (200, shapes.usdm_account()))
    b = venue(rec).balance()
    assert (b.total_eq, b.avail_eq, b.upl) == (10012.5, 9400.25, 12.5)
    assert len(rec.sent("GET", "/fapi/v2/account")) == 3 and all(signed_ok(r) for r in rec.requests)


def test_a_rate_limit_forever_exhausts_retries_with_the_cause(rec):
    rec.answer("GET", "/fapi/v2/positionRisk", (429, shapes.error(-1003, "Too many requests.")))
    with pytest.raises(RetriesExhausted) as e:
        venue(rec).positions()
    assert isinstance(e.value.last, RateLimited) and "-1003" in str(e.value) and e.value.attempts == QUICK.attempts


@pytest.mark.parametrize("status, body, cls", [
    (400, shapes.error(-1022, "Signature for this request is not valid."), AuthError),
    (401, shapes.error(-2015, "Invalid API-key, IP, or permissions for action."), AuthError),
    (401, shapes.error(-2014, "API-key format invalid."), AuthError),
])
def test_auth_errors_are_not_retried(rec, status, body, cls):
    rec.answer("GET", "/fapi/v2/account", (status, body))
    v = venue(rec)
    with pytest.raises(cls, match=str(body["code"])) as e:
        v.balance()
    assert e.value.kind == Kind.AUTH and v.requests == 1  # QUICK would have allowed 4 attempts


def test_clock_skew_is_retried_and_5xx_is_an_unknown_outcome(rec):
    rec.answer("GET", f"{F}/time", (400, shapes.error(-1021, "Timestamp for this request is outside of the recvWindow.")),
               (200, {"serverTime": 1736467200123}))
    v = venue(rec)
    assert v.server_time_ms() == 1736467200123
    rec.answer("POST", f"{F}/batchOrders", (503, "<html>Service Unavailable</html>"))
    with pytest.raises(Ambiguous) as e:  # Binance: a 5xx's execution status is UNKNOWN
        v.place_batch([OrderRequest(our_id(), "BTCUSDT", "buy", 1.0)], "net_mode")
    assert e.value.status == 503 and e.value.kind == Kind.UNKNOWN_OUTCOME
    assert len(rec.sent("POST", f"{F}/batchOrders")) == 1  # placing is never retried by the adapter
    assert ClockSkew("x").retryable and not ClockSkew("x").ambiguous


def test_timeouts_and_drops_are_ambiguous_a_refused_connection_is_not(rec):
    rec.answer("POST", f"{F}/batchOrders", ("hang", 3.0))
    order = [OrderRequest(our_id(), "BTCUSDT", "buy", 1.0)]
    with pytest.raises(Ambiguous, match="no answer in time"):
        venue(rec, timeout=0.3).place_batch(order, "net_mode")
    rec.answer("POST", f"{F}/batchOrders", DROP)
    with pytest.raises(Ambiguous, match="connection failed"):
        venue(rec).place_batch(order, "net_mode")
    with socket.socket() as s:  # a port nobody listens on: the request never left
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(Unavailable, match="cannot connect"):
        venue(rec, url=closed).place_batch(order, "net_mode")


# ---------------------------------------------------------------------- orders, fills, funding
def test_order_lookup_by_client_id_and_unknown_orders(rec):
    cl = our_id()
    rec.answer("GET", f"{F}/order", (200, shapes.order(cl, executed="0.002", status="PARTIALLY_FILLED")))
    v = venue(rec)
    st = v.order("BTCUSDT", cl)
    assert (st.cl_ord_id, st.ord_id, st.inst_id, st.side, st.pos_side) == (cl, "283194212", "BTCUSDT", "buy", "net")
    assert (st.sz, st.acc_fill_sz, st.avg_px, st.state, st.final) == (0.003, 0.002, 94012.3, "partially_filled", False)
    assert rec.sent("GET", f"{F}/order")[0]["params"]["origClientOrderId"] == cl
    rec.answer("GET", f"{F}/order", (400, shapes.error(-2013, "Order does not exist.")))
    assert v.order("BTCUSDT", "nosuchorder") is None
    for status, state in (("EXPIRED", "canceled"), ("CANCELED", "canceled"), ("NEW", "live"), ("FILLED", "filled")):
        rec.answer("GET", f"{F}/order", (200, shapes.order(cl, status=status, executed="0")))
        st = v.order("BTCUSDT", cl)
        assert st.state == state and st.avg_px is None  # nothing filled: no average price


def test_cancel_by_client_id_and_an_order_already_final(rec):
    v = venue(rec)
    rec.answer("DELETE", f"{F}/order", (200, shapes.order(our_id(), status="CANCELED", executed="0")))
    assert v.cancel("BTCUSDT", our_id()) is True
    rec.answer("DELETE", f"{F}/order", (400, shapes.error(-2011, "Unknown order sent.")))
    assert v.cancel("BTCUSDT", our_id()) is False
    assert [r["params"]["origClientOrderId"] for r in rec.sent("DELETE", f"{F}/order")] == [our_id()] * 2


def test_pending_orders_of_every_symbol(rec):
    rec.answer("GET", f"{F}/openOrders", (200, [shapes.order(our_id(), status="NEW", executed="0"),
                                                 shapes.order("web_manual1", "ETHUSDT", side="SELL", status="NEW",
                                                              executed="0", position_side="SHORT")]))
    got = venue(rec).pending_orders()
    assert [(o.cl_ord_id, o.inst_id, o.side, o.pos_side, o.state) for o in got] == [
        (our_id(), "BTCUSDT", "buy", "net", "live"), ("web_manual1", "ETHUSDT", "sell", "short", "live")]
    assert "symbol" not in rec.sent("GET", f"{F}/openOrders")[0]["params"]


def test_fills_name_their_client_ids_per_symbol_and_page_by_trade_id(rec):
    """userTrades carries no client id: the symbol's orders name them; trade ids are per symbol on Binance."""
    cl = our_id()
    rec.answer("GET", f"{F}/allOrders", (200, [shapes.order(cl, order_id=11), shapes.order("manual", order_id=12)]))
    page1 = [shapes.trade(1000 + i, 11 if i % 2 else 12, time=1736467201000 + i) for i in range(1000)]
    rec.answer("GET", f"{F}/userTrades", (200, page1), (200, [shapes.trade(5000, 11, commission="-0.01")]))
    fills = venue(rec).fills(1736467200000, {"BTCUSDT"})
    assert len(fills) == 1001 and len({f.trade_id for f in fills}) == 1001
    ours = [f for f in fills if f.cl_ord_id == cl]
    assert len(ours) == 501 and {f.cl_ord_id for f in fills} == {cl, "manual"}
    f = next(f for f in fills if f.trade_id == "BTCUSDT:1001")
    assert (f.ord_id, f.fill_px, f.fill_sz, f.fee, f.side, f.pos_side) == ("11", 94012.3, 0.003, -0.14101845, "buy",
                                                                           "net")
    assert next(f for f in fills if f.trade_id == "BTCUSDT:5000").fee == 0.01  # a rebate is received
    first, second = rec.sent("GET", f"{F}/userTrades")
    assert first["params"]["startTime"] == "1736467200000" and first["params"]["symbol"] == "BTCUSDT"
    assert second["params"]["fromId"] == "2000" and "startTime" not in second["params"]
    assert venue(rec).fills(0, set()) == []  # no instrument, no request


def test_funding_payments(rec):
    rec.answer("GET", f"{F}/income", (200, [
        {"symbol": "BTCUSDT", "incomeType": "FUNDING_FEE", "income": "-0.37500000", "asset": "USDT",
         "info": "FUNDING_FEE", "time": 1736467200000, "tranId": 9689322392, "tradeId": ""},
        {"symbol": "ETHUSDT", "incomeType": "FUNDING_FEE", "income": "0.12000000", "asset": "USDT",
         "info": "FUNDING_FEE", "time": 1736496000000, "tranId": 9689322393, "tradeId": ""}]))
    got = venue(rec).funding(1736400000000, {"BTCUSDT"})
    assert [(f.bill_id, f.inst_id, f.amount, f.ccy, f.ts) for f in got] == [
        ("9689322392", "BTCUSDT", -0.375, "USDT", 1736467200000)]
    assert rec.sent("GET", f"{F}/income")[0]["params"]["incomeType"] == "FUNDING_FEE"


# ---------------------------------------------------------------------- account
def test_positions_one_way_signed_hedge_per_side(rec):
    rec.answer("GET", "/fapi/v2/positionRisk", (200, [
        shapes.position("BTCUSDT", "-0.250"), shapes.position("ETHUSDT", "0.000"),
        shapes.position("SOLUSDT", "12", "LONG", leverage="3"), shapes.position("SOLUSDT", "-4", "SHORT")]))
    got = [(p.inst_id, p.pos_side, p.contracts, p.lever) for p in venue(rec).positions()]
    assert got == [("BTCUSDT", "net", -0.25, 5.0), ("SOLUSDT", "long", 12.0, 3.0), ("SOLUSDT", "short", 4.0, 5.0)]


def test_coinm_balances_are_per_coin(rec):
    rec.answer("GET", "/dapi/v1/account", (200, shapes.coinm_account()))
    v = venue(rec, "binancecoinm")
    b = v.balance("BTC")
    assert (b.total_eq, b.avail_eq, b.upl) == (0.5012, 0.45, 0.0012)
    with pytest.raises(ValueError, match="per coin"):
        v.balance()
    with pytest.raises(Exception, match="no SOL balance"):
        v.balance("SOL")


def test_position_mode_and_settings_already_set_are_success(rec):
    v = venue(rec)
    rec.answer("GET", f"{F}/positionSide/dual", (200, {"dualSidePosition": True}))
    assert v.position_mode() == "long_short_mode"
    rec.answer("POST", f"{F}/positionSide/dual", (400, shapes.error(-4059, "No need to change position side.")))
    v.set_position_mode("long_short_mode")
    assert rec.sent("POST", f"{F}/positionSide/dual")[0]["params"]["dualSidePosition"] == "true"
    rec.answer("POST", f"{F}/marginType", (400, shapes.error(-4046, "No need to change margin type.")))
    rec.answer("POST", f"{F}/leverage", (200, {"leverage": 7, "maxNotionalValue": "1000000", "symbol": "BTCUSDT"}))
    v.set_leverage("BTCUSDT", 7.0, "isolated")
    margin = rec.sent("POST", f"{F}/marginType")[0]["params"]
    assert (margin["symbol"], margin["marginType"]) == ("BTCUSDT", "ISOLATED")
    assert rec.sent("POST", f"{F}/leverage")[0]["params"]["leverage"] == "7"
    rec.answer("POST", f"{F}/marginType", (400, shapes.error(-4048, "Margin type cannot be changed if there exists "
                                                                    "position.")))
    with pytest.raises(Exception, match="-4048") as e:
        v.set_leverage("BTCUSDT", 7.0, "cross")
    assert e.value.kind == Kind.REJECTED_OTHER
    n = len(rec.requests)
    with pytest.raises(ValueError, match="whole number"):
        v.set_leverage("BTCUSDT", 2.5, "cross")
    assert len(rec.requests) == n


# ---------------------------------------------------------------------- specs and prices
def test_usdm_specs_from_exchange_info_brackets_and_funding_intervals(rec):
    rec.answer("GET", f"{F}/exchangeInfo", (200, shapes.usdm_exchange_info()))
    rec.answer("GET", f"{F}/leverageBracket", (200, shapes.usdm_brackets()))
    rec.answer("GET", f"{F}/fundingInfo", (200, [{"symbol": "ETHUSDT", "adjustedFundingRateCap": "0.02",
                                                   "adjustedFundingRateFloor": "-0.02", "fundingIntervalHours": 4}]))
    specs = venue(rec).instruments()
    assert set(specs) == {"BTCUSDT", "ETHUSDT"}  # no delivery contract, nothing not trading
    btc, eth = specs["BTCUSDT"], specs["ETHUSDT"]
    assert (btc.ct_val, btc.lot_sz, btc.min_sz, btc.tick_sz, btc.max_lever) == (1.0, 0.001, 0.001, 0.1, 125.0)
    assert (btc.ct_type, btc.settle_ccy, btc.ct_val_ccy, btc.list_time_ms) == ("linear", "USDT", "BTC", 1569398400000)
    assert btc.mm_tiers == ((50000.0, 0.004), (math.inf, 0.005)) and btc.funding_interval_h == 8.0
    assert (eth.max_lever, eth.tick_sz, eth.funding_interval_h) == (75.0, 0.01, 4.0)
    assert btc.min_notional == 100.0 == eth.min_notional  # exchangeInfo's MIN_NOTIONAL filter


def test_coinm_specs_are_inverse_usd_contracts_settled_in_the_coin(rec):
    rec.answer("GET", "/dapi/v1/exchangeInfo", (200, shapes.coinm_exchange_info()))
    rec.answer("GET", "/dapi/v2/leverageBracket", (200, shapes.coinm_brackets()))
    rec.answer("GET", "/dapi/v1/fundingInfo", (200, []))
    specs = venue(rec, "binancecoinm").instruments()
    assert set(specs) == {"BTCUSD_PERP", "ETHUSD_PERP"}
    btc, eth = specs["BTCUSD_PERP"], specs["ETHUSD_PERP"]
    assert (btc.ct_val, btc.ct_type, btc.settle_ccy, btc.ct_val_ccy, btc.inverse) == (100.0, "inverse", "BTC", "USD", True)
    assert (eth.ct_val, eth.settle_ccy, eth.lot_sz, eth.min_sz) == (10.0, "ETH", 1.0, 1.0)
    assert btc.mm_tiers == ((5.0, 0.004), (math.inf, 0.005)) and btc.max_lever == 125.0
    assert btc.min_notional == 0.0  # COIN-M has no notional minimum


def test_a_spec_that_does_not_check_out_is_left_out(rec):
    info = shapes.usdm_exchange_info()
    info["symbols"][0]["filters"][0]["tickSize"] = "NaN"  # BTC's tick unreadable
    rec.answer("GET", f"{F}/exchangeInfo", (200, info))
    rec.answer("GET", f"{F}/leverageBracket", (200, shapes.usdm_brackets()[1:]))  # ... and ETH's brackets only
    rec.answer("GET", f"{F}/fundingInfo", (200, []))
    assert set(venue(rec).instruments()) == {"ETHUSDT"}  # not traded rather than sized on a wrong number


def test_last_and_mark_prices_drop_what_is_not_a_price(rec):
    rec.answer("GET", f"{F}/ticker/price", (200, [{"symbol": "BTCUSDT", "price": "94012.30", "time": 1},
                                                   {"symbol": "ETHUSDT", "price": "0", "time": 1},
                                                   {"symbol": "SOLUSDT", "price": "NaN", "time": 1},
                                                   {"price": "1.0"}]))
    rec.answer("GET", f"{F}/premiumIndex", (200, [{"symbol": "BTCUSDT", "markPrice": "94010.00000000",
                                                    "indexPrice": "94011", "lastFundingRate": "0.0001"},
                                                   {"symbol": "ETHUSDT", "markPrice": "inf"}]))
    v = venue(rec)
    assert v.last_prices() == {"BTCUSDT": 94012.3} and v.mark_prices() == {"BTCUSDT": 94010.0}


def test_quotes_keep_only_two_sided_uncrossed_books(rec):
    rec.answer("GET", f"{F}/ticker/bookTicker", (200, [
        {"symbol": "BTCUSDT", "bidPrice": "94012.20", "bidQty": "3", "askPrice": "94012.30", "askQty": "1"},
        {"symbol": "ETHUSDT", "bidPrice": "3300", "askPrice": "3299"},  # crossed
        {"symbol": "SOLUSDT", "bidPrice": "0", "askPrice": "150"},  # one-sided
        {"symbol": "XRPUSDT", "bidPrice": "NaN", "askPrice": "2.1"}]))
    assert venue(rec).quotes() == {"BTCUSDT": (94012.2, 94012.3)}


# ---------------------------------------------------------------------- the engine on a venue whose ids are unique among open orders
FAST = ExecPolicy(retry=RetryPolicy(attempts=20, base_s=0.01, cap_s=0.05, budget_s=GUARD_S), poll_timeout_s=GUARD_S,
                  poll_interval_s=0.01)


def test_an_id_already_filled_is_adopted_not_placed_again(rec, tmp_path):
    """Binance would accept a filled order's client id again (a second order): the engine looks every new id up
    first, finds this one filled with the same order, adopts it and sends nothing."""
    cl = our_id()
    rec.answer("GET", f"{F}/order", (200, shapes.order(cl, qty="0.003")))
    rec.answer("GET", f"{F}/allOrders", (200, [shapes.order(cl)]))
    rec.answer("GET", f"{F}/userTrades", (200, [shapes.trade(1, 283194212)]))
    ledger = Ledger(tmp_path / "l.sqlite")
    rep = Executor(venue(rec), ledger, "alice", "r1", "net_mode", FAST).execute(
        BAR, [OrderRequest(cl, "BTCUSDT", "buy", 0.003)], BAR - 60_000)
    assert rep.ok and rep.earlier == [cl] and rec.sent("POST", f"{F}/batchOrders") == []
    assert ledger.order(cl).state == "filled" and ledger.order(cl).msg == "adopted: placed before this run"
    assert rep.new_fills == 0 and len(ledger.fills("alice")) == 1  # recorded, not counted as this run's


def test_an_unknown_id_is_looked_up_then_placed_once(rec, tmp_path):
    cl = our_id()
    rec.answer("GET", f"{F}/order", (400, shapes.error(-2013, "Order does not exist.")), (200, shapes.order(cl)))
    rec.answer("POST", f"{F}/batchOrders", (200, [shapes.order(cl, status="NEW", executed="0")]))
    rec.answer("GET", f"{F}/allOrders", (200, [shapes.order(cl)]))
    rec.answer("GET", f"{F}/userTrades", (200, [shapes.trade(1, 283194212)]))
    ledger = Ledger(tmp_path / "l.sqlite")
    rep = Executor(venue(rec), ledger, "alice", "r1", "net_mode", FAST).execute(
        BAR, [OrderRequest(cl, "BTCUSDT", "buy", 0.003)], BAR - 60_000)
    assert rep.ok and rep.earlier == [] and rep.new_fills == 1
    calls = [(r["method"], r["path"]) for r in rec.requests]
    assert calls[:2] == [("GET", f"{F}/order"), ("POST", f"{F}/batchOrders")]  # looked up before sending
    assert calls.count(("POST", f"{F}/batchOrders")) == 1
    row = ledger.order(cl)
    assert (row.state, row.code, row.acc_fill_sz) == ("filled", "accepted", 0.003)
    assert ledger.fills("alice")["trade_id"].tolist() == ["BTCUSDT:1"]


def test_an_id_that_cannot_be_looked_up_is_never_sent(rec, tmp_path):
    cl = our_id()
    rec.answer("GET", f"{F}/order", (503, "<html>busy</html>"))
    ledger = Ledger(tmp_path / "l.sqlite")
    policy = ExecPolicy(retry=RetryPolicy(attempts=3, base_s=0.01, cap_s=0.02, budget_s=GUARD_S), poll_timeout_s=0)
    v = venue(rec)
    v.retry = RetryPolicy(attempts=1)
    rep = Executor(v, ledger, "alice", "r1", "net_mode", policy).execute(
        BAR, [OrderRequest(cl, "BTCUSDT", "buy", 0.003)], BAR - 60_000)
    assert not rep.ok and rep.unknown == [cl] and rec.sent("POST", f"{F}/batchOrders") == []
    assert "gave up placing 1 order(s) after 3 attempt(s)" in rep.errors[0] and ledger.order(cl).state == "unknown"
