"""Funding settlement on the local exchange: at the funding times, once, in time order with fills.

Hand-made bars (flat prices, so the mark at a funding time is known), hand-made rates, and
python-okx and ccxt reading the balance, the position and the bills.
"""

from __future__ import annotations

import threading

import pytest
from tests_support import until

from .perp_data import at, ccxt_client, linear, make_store, ok, okx_clients, serving, stepped_bars

BTC, ETH = "BTC-USDT-SWAP", "ETH-USDT-SWAP"
KEY, SECRET, PASS = "fund-k", "fund-s", "Fund-p1"
NEXT_DAY = "2025-03-04"
TAKER = 0.0005
# BTC: 50,000, then 52,000 from 07:30 (the 08:00 mark), 51,000 from 12:00 (the 16:00 mark), 50,500 from 20:00
BTC_LEVELS = {"2025-03-03T06:00Z": 50_000.0, "2025-03-03T07:30Z": 52_000.0, "2025-03-03T12:00Z": 51_000.0,
              "2025-03-03T20:00Z": 50_500.0}
BTC_RATES = {"2025-03-03T00:00Z": 0.0005, "2025-03-03T08:00Z": 0.0001, "2025-03-03T16:00Z": -0.0003}  # none at 00:00 next day
ETH_RATES = {"2025-03-03T08:00Z": 0.0002, "2025-03-03T16:00Z": 0.0002}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("funding")
    make_store(
        root,
        {BTC: stepped_bars(BTC_LEVELS, wicks={"2025-03-03T07:58Z": (52_000.0, 51_500.0)}),
         ETH: stepped_bars({"2025-03-03T06:00Z": 3_000.0}, wicks={"2025-03-03T08:10Z": (3_000.0, 2_950.0)})},
        {BTC: linear(BTC, 0.01, 0.1), ETH: linear(ETH, 0.1, 0.01)},
        {BTC: BTC_RATES, ETH: ETH_RATES},
    )
    return root


def funding_bills(api) -> list[dict]:
    return ok(api.get_account_bills(type="8"))


def test_linear_position_across_two_funding_times(root):
    with serving(root, at("07:00:30")) as ex:
        ex.add_account("f", KEY, SECRET, PASS, usdt=10_000)
        c = okx_clients(ex, KEY, SECRET, PASS)
        ok(c["trade"].place_order(BTC, "cross", "buy", "market", "10"))  # at 50,000
        fee = 10 * 0.01 * 50_000 * TAKER
        ex.clock.set(at("07:59:59.999"))
        assert funding_bills(c["account"]) == []  # the 00:00 rate came before the position
        ex.clock.set(at("08:00"))
        f1 = -10 * 0.01 * 52_000 * 0.0001  # longs pay a positive rate: rate x notional at the mark
        [b1] = funding_bills(c["account"])
        assert (b1["type"], b1["subType"], b1["ccy"], b1["instId"], b1["ts"]) == ("8", "173", "USDT", BTC, str(at("08:00")))
        assert float(b1["balChg"]) == pytest.approx(f1, rel=1e-12) and float(b1["px"]) == 52_000
        assert float(b1["bal"]) == pytest.approx(10_000 - fee + f1, rel=1e-12)
        ex.clock.set(at("16:00"))
        f2 = -10 * 0.01 * 51_000 * -0.0003  # a negative rate: longs receive
        ex.clock.set(at("01:00", NEXT_DAY))  # no rate stored for 00:00: nothing settles then
        bills = funding_bills(c["account"])
        assert [(b["subType"], b["ts"]) for b in bills] == [("174", str(at("16:00"))), ("173", str(at("08:00")))]
        assert float(bills[0]["balChg"]) == pytest.approx(f2, rel=1e-12)
        assert ok(c["account"].get_account_bills_archive(type="8")) == bills
        [p] = ok(c["account"].get_positions(instId=BTC))
        assert float(p["fundingFee"]) == pytest.approx(f1 + f2, rel=1e-12)
        assert float(p["fee"]) == pytest.approx(-fee, rel=1e-12)
        assert float(p["realizedPnl"]) == pytest.approx(f1 + f2 - fee, rel=1e-12)
        d = ok(c["account"].get_account_balance())[0]["details"][0]
        assert d["ccy"] == "USDT" and float(d["cashBal"]) == pytest.approx(10_000 - fee + f1 + f2, rel=1e-12)
        assert float(d["eq"]) == pytest.approx(10_000 - fee + f1 + f2 + 10 * 0.01 * 500, rel=1e-12)
        cx = ccxt_client(ex, KEY, SECRET, PASS)
        hist = cx.fetch_funding_history("BTC/USDT:USDT")
        assert [(h["timestamp"], h["code"]) for h in hist] == [(at("08:00"), "USDT"), (at("16:00"), "USDT")]
        assert [h["amount"] for h in hist] == pytest.approx([f1, f2], rel=1e-9)
        ledger = cx.fetch_ledger("USDT", params={"type": "swap"})  # ccxt asks for SPOT bills by default
        assert sorted((e["type"], round(e["amount"], 6)) for e in ledger) == sorted(
            [("trade", round(-fee, 6)), ("fee", round(f1, 6)), ("fee", round(f2, 6))])
        assert cx.fetch_funding_history("ETH/USDT:USDT") == []  # no ETH position, no ETH funding


def test_exactly_once_across_clock_jumps(root):
    with serving(root, at("07:00")) as ex:
        ex.add_account("f", KEY, SECRET, PASS, usdt=10_000)
        c = okx_clients(ex, KEY, SECRET, PASS)
        ok(c["trade"].place_order(BTC, "cross", "buy", "market", "10"))
        ok(c["trade"].place_order(ETH, "cross", "sell", "market", "20"))  # short: receives a positive rate
        for t in ("07:59:59", "08:00", "08:00", "08:00:00.001", "08:00:30", "08:03"):
            ex.clock.set(at(t))  # also the same time twice
            ex.engine.sync(ex.clock.now_ms())
            funding_bills(c["account"])
        ex.clock.set(at("00:30", NEXT_DAY))  # one jump over 16:00 and 00:00
        ex.clock.advance(0)
        bills = funding_bills(c["account"])
        got = sorted((b["instId"], int(b["ts"]), round(float(b["balChg"]), 9)) for b in bills)
        assert got == sorted([
            (BTC, at("08:00"), round(-10 * 0.01 * 52_000 * 0.0001, 9)),
            (BTC, at("16:00"), round(10 * 0.01 * 51_000 * 0.0003, 9)),
            (ETH, at("08:00"), round(20 * 0.1 * 3_000 * 0.0002, 9)),
            (ETH, at("16:00"), round(20 * 0.1 * 3_000 * 0.0002, 9)),
        ])
        acct = ex.accounts["f"]
        assert acct.funded_to == {BTC: at("00:00", NEXT_DAY), ETH: at("00:00", NEXT_DAY)}
        assert len({b.bill_id for b in acct.bills}) == len(acct.bills)  # unique bill ids


def test_settlement_comes_before_a_fill_at_the_same_time(root):
    with serving(root, at("07:00:30")) as ex:
        ex.add_account("f", KEY, SECRET, PASS, usdt=10_000)
        c = okx_clients(ex, KEY, SECRET, PASS)
        ok(c["trade"].place_order(BTC, "cross", "buy", "market", "10"))
        ex.clock.set(at("08:00"))
        ok(c["trade"].place_order(BTC, "cross", "sell", "market", "10"))  # closes at 08:00:00: after settling
        ok(c["trade"].place_order(ETH, "cross", "buy", "market", "5"))  # opens at 08:00:00: no 08:00 funding
        ex.clock.set(at("16:00"))
        bills = ok(c["account"].get_account_bills())
        kinds = [(b["type"], b["instId"], b["ts"]) for b in reversed(bills)]  # oldest first
        assert kinds == [
            ("2", BTC, str(at("07:00:30"))), ("8", BTC, str(at("08:00"))), ("2", BTC, str(at("08:00"))),
            ("2", ETH, str(at("08:00"))), ("8", ETH, str(at("16:00"))),
        ]
        assert float(bills[-2]["balChg"]) == pytest.approx(-10 * 0.01 * 52_000 * 0.0001, rel=1e-12)  # the full position
        assert float(bills[0]["balChg"]) == pytest.approx(-5 * 0.1 * 3_000 * 0.0002, rel=1e-12)
        assert [int(b["billId"]) for b in bills] == sorted((int(b["billId"]) for b in bills), reverse=True)


def test_resting_fills_and_funding_in_time_order_within_one_jump(root):
    with serving(root, at("07:50")) as ex:
        ex.add_account("f", KEY, SECRET, PASS, usdt=10_000)
        c = okx_clients(ex, KEY, SECRET, PASS)
        ok(c["trade"].place_order(BTC, "cross", "buy", "limit", "4", px="51600"))  # the 07:58 bar reaches it
        ok(c["trade"].place_order(ETH, "cross", "buy", "limit", "2", px="2960"))  # the 08:10 bar reaches it
        ex.clock.set(at("08:30"))  # one move over both fills and the 08:00 funding
        bills = list(reversed(ok(c["account"].get_account_bills())))
        assert [(b["type"], b["instId"], int(b["ts"])) for b in bills] == [
            ("2", BTC, at("07:58")), ("8", BTC, at("08:00")), ("2", ETH, at("08:10")),
        ]
        assert float(bills[1]["balChg"]) == pytest.approx(-4 * 0.01 * 52_000 * 0.0001, rel=1e-12)
        assert [b["execType"] for b in bills if b["type"] == "2"] == ["M", "M"]
        fee = 4 * 0.01 * 51_600 * 0.0002 + 2 * 0.1 * 2_960 * 0.0002
        assert float(bills[-1]["bal"]) == pytest.approx(10_000 - fee - 4 * 0.01 * 52_000 * 0.0001, rel=1e-12)


def test_the_replay_clock_settles_a_funding_time_once(root):
    with serving(root, at("07:59:30")) as ex:
        ex.add_account("f", KEY, SECRET, PASS, usdt=10_000)
        c = okx_clients(ex, KEY, SECRET, PASS)
        ok(c["trade"].place_order(BTC, "cross", "buy", "market", "10"))  # while the clock stands still
        done, errors = threading.Event(), []

        def poll() -> None:  # concurrent readers: each request brings the exchange to its own now
            api = okx_clients(ex, KEY, SECRET, PASS)["account"]
            while not done.is_set():
                for r in (api.get_account_balance(), api.get_positions(), api.get_account_bills()):
                    if r["code"] != "0":
                        errors.append(r)

        readers = [threading.Thread(target=poll) for _ in range(3)]
        for t in readers:
            t.start()
        try:
            ex.clock.set_speed(60)  # a simulated minute a wall second
            until(lambda: ex.clock.now_ms() > at("08:00:30"), "the replay past 08:00")
            until(lambda: len(funding_bills(c["account"])) == 1, "the 08:00 settlement")
        finally:
            done.set()
            for t in readers:
                t.join()
        ex.clock.set_speed(0)
        assert errors == []
        ok(c["trade"].place_order(BTC, "cross", "sell", "market", "10"))
        bills = ok(c["account"].get_account_bills())
        assert [b["type"] for b in bills] == ["2", "8", "2"] and bills[1]["ts"] == str(at("08:00"))
        assert float(bills[1]["balChg"]) == pytest.approx(-10 * 0.01 * 52_000 * 0.0001, rel=1e-12)
        assert at("08:00:30") < int(bills[0]["ts"]) < at("16:00")


def test_synthetic_rate_where_the_store_has_none(root):
    """``funding_rate`` settles at every funding time without a stored rate; stored rates win."""
    with serving(root, at("07:00:30"), funding_rate=0.001) as ex:
        ex.add_account("syn", KEY, SECRET, PASS, usdt=10_000)
        c = okx_clients(ex, KEY, SECRET, PASS)
        ok(c["trade"].place_order(BTC, "cross", "sell", "market", "10"))
        ex.clock.set(at("00:00", NEXT_DAY))  # stored 08:00 and 16:00 rates, the synthetic one at 00:00
        bills = funding_bills(c["account"])
        assert [b["ts"] for b in bills] == [str(at("00:00", NEXT_DAY)), str(at("16:00")), str(at("08:00"))]
        want = [10 * 0.01 * 50_500 * 0.001, 10 * 0.01 * 51_000 * -0.0003, 10 * 0.01 * 52_000 * 0.0001]
        assert [float(b["balChg"]) for b in bills] == pytest.approx(want, rel=1e-12)
    with pytest.raises(ValueError, match="funding rate"):
        serving(root, at("07:00"), funding_rate=float("inf")).__enter__()
