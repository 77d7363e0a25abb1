"""OkxVenue against the local exchange: an inverse account's balance in its coin, its instruments,
and funding bills (account/bills type 8) read through python-okx."""

from __future__ import annotations

import pytest

from qlib_local.perp import INVERSE, funding_flow
from qlib_local.venues.okx import OkxHttp, OkxVenue
from tests.sim.perp_data import at, inverse, make_store, ok, okx_clients, serving, stepped_bars

INV = "BTC-USD-SWAP"
KEY, SECRET, PASS = "fund-k", "fund-s", "Fund-pass1"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("venue-funding")
    make_store(root, {INV: stepped_bars({"2025-03-03T06:00Z": 40_000.0, "2025-03-03T12:00Z": 50_000.0})},
               {INV: inverse(INV)}, {INV: {"2025-03-03T08:00Z": 0.0003, "2025-03-03T16:00Z": -0.0002}})
    return root


def test_inverse_balance_specs_and_funding_bills(root):
    with serving(root, at("06:30")) as ex:
        ex.add_account("v", KEY, SECRET, PASS, balances={"BTC": 1.0})
        ok(okx_clients(ex, KEY, SECRET, PASS)["trade"].place_order(INV, "cross", "sell", "market", "50"))
        ex.clock.set(at("16:30"))
        venue = OkxVenue(OkxHttp(KEY, SECRET, PASS, ex.url, "1", pace=False, reuse=False))
        try:
            spec = venue.instruments()[INV]
            assert spec.inverse and spec.settle_ccy == "BTC" and spec.ct_val == 100.0
            bal = venue.balance("BTC")
            assert bal.ccy == "BTC" and 0.9 < bal.total_eq < 1.1  # the coin, not the USD total
            assert bal.eq_usd == pytest.approx(bal.total_eq * 50_000.0, rel=1e-6)
            bills = sorted(venue.funding(at("00:00")), key=lambda b: b.ts)
            assert [b.ts for b in bills] == [at("08:00"), at("16:00")] and {b.ccy for b in bills} == {"BTC"}
            want = [funding_flow(-50.0, 40_000.0, 0.0003, 100.0, INVERSE),
                    funding_flow(-50.0, 50_000.0, -0.0002, 100.0, INVERSE)]
            assert [b.amount for b in bills] == pytest.approx(want, rel=1e-9)
            assert len({b.bill_id for b in bills}) == 2
            assert [b.ts for b in venue.funding(at("08:00") + 1)] == [at("16:00")]
        finally:
            venue.http.close()
