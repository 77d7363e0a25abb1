"""The OKX adapter over HTTP to the local exchange: error mapping, retries, pacing, specs."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from tests_support import GUARD_S, HeldTime

from qlib_local.live.errors import (
    Ambiguous,
    ApiError,
    AuthError,
    ClockSkew,
    RateLimited,
    RetriesExhausted,
    Unavailable,
)
from qlib_local.live.types import Kind
from qlib_local.sim import LocalExchange
from qlib_local.store import KlineStore
from qlib_local.synth import SynthConfig, write_synthetic
from qlib_local.venues.okx import OkxHttp, OkxVenue, RetryPolicy
from qlib_local.venues.okx.adapter import ack_from_item, funding_from_row
from qlib_local.venues.okx.http import map_envelope

KEY, SECRET, PASS = "vk-1", "vs-secret-1", "Vp-1"
QUICK = RetryPolicy(attempts=4, base_s=0.01, cap_s=0.05, budget_s=GUARD_S)  # attempts end retries, never time


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    r = tmp_path_factory.mktemp("venue")
    write_synthetic(KlineStore(r, create=True, durable=False), SynthConfig(instruments=2, timeframe="1H", days=5, seed=2))
    return r


@pytest.fixture
def exchange(root) -> Iterator[LocalExchange]:
    ex = LocalExchange(root, start="2025-01-03T00:00Z")
    ex.add_account("v", KEY, SECRET, PASS)
    with ex:
        yield ex


def venue(ex, secret=SECRET, pace=True, timeout=GUARD_S) -> OkxVenue:
    return OkxVenue(OkxHttp(KEY, secret, PASS, ex.url, "1", timeout_s=timeout, retry=QUICK, pace=pace, reuse=False))


def test_specs_and_account(exchange):
    v = venue(exchange)
    specs = v.instruments()
    assert set(specs) == {"BTC-USDT-SWAP", "ETH-USDT-SWAP"}
    btc = specs["BTC-USDT-SWAP"]
    assert (btc.ct_val, btc.lot_sz, btc.min_sz, btc.max_lever) == (0.01, 0.1, 0.1, 100.0)
    assert v.position_mode() == "net_mode" and v.balance().total_eq == 10_000
    v.set_leverage("BTC-USDT-SWAP", 7, "cross")
    assert exchange.accounts["v"].leverage["BTC-USDT-SWAP"] == 7
    assert v.order("BTC-USDT-SWAP", "nosuchorder1") is None


def test_5xx_is_retried_then_succeeds(exchange):
    exchange.faults.fail("/api/v5/account/balance", 503, times=2)
    assert venue(exchange).balance().total_eq == 10_000


def test_5xx_forever_exhausts_retries_with_the_cause(exchange):
    exchange.faults.fail("/api/v5/account/balance", 502)
    with pytest.raises(RetriesExhausted) as e:
        venue(exchange).balance()
    assert isinstance(e.value.last, Unavailable) and "50001" in str(e.value)


def test_timeouts_and_drops_are_ambiguous(exchange):
    v = venue(exchange, timeout=0.3)
    exchange.faults.hang("/api/v5/account/positions", 3600, times=1)  # held far past the client's 0.3 s
    with pytest.raises(Ambiguous, match="no answer in time"):
        v.http.once("GET", "/api/v5/account/positions", v.http.account.get_positions, "positions")
    exchange.faults.drop_response("/api/v5/account/config", times=1)
    with pytest.raises(Ambiguous, match="connection failed"):
        v.http.once("GET", "/api/v5/account/config", v.http.account.get_account_config, "config")


def test_bad_signature_is_an_auth_error_without_retry(exchange):
    v = venue(exchange, secret="wrong-secret")
    with pytest.raises(AuthError, match="50113"):
        v.balance()
    assert v.http.requests == 1  # QUICK would have allowed 4 attempts


def test_pacing_avoids_50011_and_unpaced_draws_it(exchange):
    exchange.limiter.clock = HeldTime()  # the 12 requests land in one window however slowly they are sent
    v = venue(exchange, pace=False)
    with pytest.raises(RateLimited):
        for _ in range(12):  # balance: 10 per 2 s per user
            v.http.once("GET", "/api/v5/account/balance", v.http.account.get_account_balance, "balance")
    assert v.http.requests == 11
    # paced, against the exchange's real windows: the client counts each request from its answer,
    # which never precedes the exchange's count of it, so the 11th never arrives early
    exchange.limiter.clock = time.monotonic
    exchange.limiter.reset()
    paced = venue(exchange, pace=True)
    t0 = time.monotonic()
    for _ in range(12):
        paced.http.once("GET", "/api/v5/account/balance", paced.http.account.get_account_balance, "balance")
    assert time.monotonic() - t0 > 1.5  # waited for the window instead


def test_pacing_counts_a_request_from_its_answer(exchange):
    """The exchange counts a request when it arrives, here 0.3 s after it was sent: pacing by send times
    would send the 11th request 2.05 s after the first was sent, while the exchange still counts 10."""
    exchange.faults.latency("/api/v5/account/balance", 0.3, times=1)
    paced = venue(exchange, pace=True)
    for _ in range(11):  # balance: 10 per 2 s per user; `once` raises RateLimited on a 50011
        paced.http.once("GET", "/api/v5/account/balance", paced.http.account.get_account_balance, "balance")
    assert paced.http.requests == 11


# ---------------------------------------------------------------------- OKX codes as domain kinds
@pytest.mark.parametrize("code, kind, cls", [
    ("50011", Kind.RETRY_LATER, RateLimited), ("50001", Kind.RETRY_LATER, Unavailable),
    ("50013", Kind.RETRY_LATER, Unavailable), ("50004", Kind.UNKNOWN_OUTCOME, Ambiguous),
    ("50102", Kind.CLOCK_SKEW, ClockSkew), ("50113", Kind.AUTH, AuthError), ("50105", Kind.AUTH, AuthError),
    ("51603", Kind.UNKNOWN_ORDER, ApiError), ("59000", Kind.REJECTED_OTHER, ApiError),
    ("51999", Kind.REJECTED_OTHER, ApiError),
])
def test_envelope_codes_map_to_domain_kinds(code, kind, cls):
    with pytest.raises(cls) as e:
        map_envelope({"code": code, "msg": "m", "data": []}, "x")
    assert e.value.kind == kind and e.value.code == code and f"OKX {code} m" in str(e.value)


@pytest.mark.parametrize("s_code, kind", [("0", Kind.ACCEPTED), ("51016", Kind.DUPLICATE_CLIENT_ID),
                                          ("51008", Kind.INSUFFICIENT_MARGIN), ("51020", Kind.BELOW_MIN_SIZE),
                                          ("51121", Kind.BAD_PRECISION), ("51169", Kind.REDUCE_ONLY_REJECTED),
                                          ("50011", Kind.RETRY_LATER), ("51202", Kind.REJECTED_OTHER)])
def test_batch_items_map_to_domain_kinds_and_keep_the_code(s_code, kind):
    env = {"code": "1", "msg": "", "data": []}
    ack = ack_from_item("q1", {"clOrdId": "q1", "ordId": "9" if s_code == "0" else "", "sCode": s_code,
                               "sMsg": "text"}, env)
    assert (ack.kind, ack.code, ack.msg) == (kind, s_code, "text") and ack.ok == (kind == Kind.ACCEPTED)
    missing = ack_from_item("q2", None, {"code": "50011", "msg": "Too Many Requests"})  # no item: the envelope speaks
    assert (missing.kind, missing.code) == (Kind.RETRY_LATER, "50011")


def test_funding_bill_rows():
    row = {"billId": "623950854533513219", "instId": "BTC-USDT-SWAP", "balChg": "-0.0375", "ccy": "USDT",
           "type": "8", "subType": "174", "ts": "1736467200000", "pnl": "-0.0375"}
    f = funding_from_row(row)
    assert (f.bill_id, f.inst_id, f.amount, f.ccy, f.ts) == ("623950854533513219", "BTC-USDT-SWAP", -0.0375, "USDT",
                                                             1736467200000)
