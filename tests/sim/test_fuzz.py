"""Whatever a signed request holds, every route answers OKX's envelope: never a 500, never a traceback.

Hypothesis posts arbitrary query strings and bodies (raw bytes, any JSON, objects and
order-shaped objects whose fields hold hostile numbers, batches of any length) to every
route, each request correctly signed so it reaches the endpoint. The catch-all (50026)
must not fire either: it is a net for bugs, and any input that reaches it is one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qlib_local.sim import LocalExchange
from qlib_local.sim.endpoints import ENDPOINTS

from .conftest import KEY, PASS, SECRET, START, raw_request, signed

INSTS = ["BTC-USDT-SWAP", "ETH-USDT-SWAP", "SOL-USDT-SWAP"]
FIELDS = ["instId", "instType", "instFamily", "uly", "bar", "after", "before", "limit", "sz", "px", "lever",
          "mgnMode", "tdMode", "side", "ordType", "clOrdId", "ordId", "posSide", "posMode", "reduceOnly", "tag",
          "posId", "state"]
WORDS = ["SWAP", "SPOT", "cross", "isolated", "buy", "sell", "market", "limit", "post_only", "ioc", "fok",
         "optimal_limit_ioc", "net", "long", "short", "net_mode", "long_short_mode", "true", "false", "1m", "1H",
         "4H", "1D", "1Dutc", "1W", "1M", "live", *INSTS]
HOSTILE = ["nan", "NaN", "inf", "-inf", "Infinity", "1e309", "-1e309", "1e-400", "-1", "0", "-0", "1_000",
           "\u0661\u0662", "\uff11", " 1", "1 ", "0x10", "1e3", "9" * 30, "9" * 5000, "0.1", "1", "2", "75",
           "101", "100000000", "100000001", "0.0000001", str(2**63 - 1), str(2**63), "", "\x00", "\ud800"]

numbers = st.sampled_from(HOSTILE) | st.integers().map(str) | st.floats().map(repr) | st.decimals(
    allow_nan=False, allow_infinity=False, places=3).map(str)
words = st.sampled_from(WORDS) | st.text(max_size=12)
query_values = numbers | words
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | numbers
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
field_values = numbers | words | json_values
orders = st.fixed_dictionaries(
    {"instId": st.sampled_from(INSTS) | words, "tdMode": st.sampled_from(["cross", "isolated"]) | words,
     "side": st.sampled_from(["buy", "sell"]) | words,
     "ordType": st.sampled_from(["market", "limit", "ioc", "post_only"]) | words, "sz": numbers | json_scalars},
    optional={"px": numbers | json_scalars, "clOrdId": st.from_regex(r"[A-Za-z0-9]{1,32}", fullmatch=True) | words,
              "reduceOnly": st.sampled_from(["true", "false", True, False]) | words,
              "posSide": st.sampled_from(["net", "long", "short"]) | words, "tag": words},
)
objects = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), field_values, max_size=6)


def dumps(v: object) -> bytes:
    return json.dumps(v).encode()  # NaN and Infinity come out as the tokens Python writes


bodies = st.one_of(
    st.just(b""),
    st.binary(max_size=64),
    json_values.map(dumps),
    objects.map(dumps),
    orders.map(dumps),
    st.lists(orders, max_size=24).map(dumps),
    st.sampled_from([b"[" * 50_000, b'{"a":' * 5_000, b'{"sz": 1e400}', b'{"lever": NaN}', b"\xff\xfe\xfd",
                     b'{"instId": "\xed\xa0\x80"}', b"[" + b"1," * 30_000 + b"1]"]),
)
queries = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), query_values, max_size=5)


@pytest.fixture(scope="module")
def fuzz_exchange(sim_root: Path) -> Iterator[LocalExchange]:
    """One exchange for every example: state left by earlier examples (orders, positions) is more to hit."""
    ex = LocalExchange(sim_root, start=START)
    ex.add_account("alice", KEY, SECRET, PASS, usdt=10_000)
    ex.rate_limit = False  # every example reaches its endpoint
    with ex:
        yield ex


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    """One connection for every example (a client per request would cost more than the request)."""
    with httpx.Client(timeout=10) as c:
        yield c


@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p, *_ in ENDPOINTS], ids=lambda v: v)
@settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(query=queries, body=bodies)
def test_every_route_answers_an_okx_envelope(fuzz_exchange, client, method, path, query, body):
    qs = urlencode(query, errors="surrogatepass")  # percent-encodes whatever keys and values hold
    target = path + (f"?{qs}" if qs else "")
    r = raw_request(fuzz_exchange.url, method, target, signed(method, target, body), body, client)
    assert r.status_code != 500 and "Traceback" not in r.text, (r.status_code, r.text[:500])
    answer = r.json()
    assert set(answer) >= {"code", "msg", "data"} and isinstance(answer["data"], list), answer
    assert isinstance(answer["code"], str) and isinstance(answer["msg"], str), answer
    assert answer["code"] != "50026", "the catch-all fired: an unexpected exception (see the log)"
    assert r.status_code == 200 or answer["code"] != "0", answer
