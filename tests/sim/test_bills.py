"""account/bills and bills-archive: newest first, paged by billId, filtered as OKX filters them."""

from __future__ import annotations

import pytest

from qlib_local.timeframes import DAY_MS, MINUTE_MS

from .perp_data import at, ccxt_client, linear, make_store, ok, okx_clients, serving, stepped_bars

BTC, ETH = "BTC-USDT-SWAP", "ETH-USDT-SWAP"
KEY, SECRET, PASS = "bill-k", "bill-s", "Bill-pass1"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("bills")
    end = "2025-03-13T00:00Z"  # ten days: long enough to leave the 7-day window
    make_store(root, {BTC: stepped_bars({"2025-03-03T06:00Z": 50_000.0}, end=end),
                      ETH: stepped_bars({"2025-03-03T06:00Z": 3_000.0}, end=end)},
               {BTC: linear(BTC, 0.01, 0.1), ETH: linear(ETH, 0.1, 0.01)},
               {BTC: {"2025-03-03T08:00Z": 0.0001, "2025-03-03T16:00Z": 0.0001}})
    return root


def test_paging_filters_and_windows(root):
    with serving(root, at("06:30")) as ex:
        ex.add_account("b", KEY, SECRET, PASS, usdt=10_000)
        c = okx_clients(ex, KEY, SECRET, PASS)
        t, a = c["trade"], c["account"]
        for _ in range(3):
            ok(t.place_order(BTC, "cross", "buy", "market", "1"))
            ok(t.place_order(ETH, "cross", "buy", "market", "1"))
            ex.clock.advance(MINUTE_MS)
        ex.clock.set(at("16:30"))  # two BTC funding bills
        every = ok(a.get_account_bills())
        assert len(every) == 8
        ids = [int(b["billId"]) for b in every]
        assert ids == sorted(ids, reverse=True) and [b["type"] for b in every[:2]] == ["8", "8"]
        pages, after = [], ""
        while page := ok(a.get_account_bills(limit="3", after=after)):
            pages.append([b["billId"] for b in page])
            after = page[-1]["billId"]
        assert [len(p) for p in pages] == [3, 3, 2] and sum(pages, []) == [b["billId"] for b in every]
        newer = ok(a.get_account_bills(before=every[3]["billId"]))
        assert [b["billId"] for b in newer] == [b["billId"] for b in every[:3]]
        assert {b["instId"] for b in ok(a.get_account_bills(type="2", ccy="USDT"))} == {BTC, ETH}
        assert len(ok(a.get_account_bills(type="2", subType="1"))) == 6  # net-mode buys
        assert ok(a.get_account_bills(subType="174")) == []  # longs paid: expenses only
        assert len(ok(a.get_account_bills(subType="173"))) == 2
        assert ok(a.get_account_bills(ccy="BTC")) == [] and ok(a.get_account_bills(ctType="inverse")) == []
        assert ok(a.get_account_bills(instType="SPOT")) == []
        assert len(ok(a.get_account_bills(begin=str(at("08:00")), end=str(at("16:00"))))) == 2
        assert a.get_account_bills(limit="0")["code"] == "51000"
        ledger = ccxt_client(ex, KEY, SECRET, PASS).fetch_ledger("USDT", limit=4, params={"type": "swap"})
        assert len(ledger) == 4 and {e["id"] for e in ledger} == {b["billId"] for b in every[:4]}

        ex.clock.set(at("16:31") + 7 * DAY_MS)  # older than seven days: only in the archive
        assert ok(a.get_account_bills()) == []
        assert [b["billId"] for b in ok(a.get_account_bills_archive())] == [b["billId"] for b in every]
