"""Inverse (coin-margined) swaps on the local exchange: trading, PnL, funding and margin in BTC.

BTC-USD-SWAP: one contract is 100 USD, everything settles in BTC. The prices are flat between
steps, so every number below is computed by hand with the formulas of docs/perpetuals.md.
"""

from __future__ import annotations

import signal
import subprocess
import sys

import ccxt
import pytest
from tests_support import GUARD_S

from .perp_data import at, ccxt_client, inverse, linear, make_store, ok, okx_clients, serving, stepped_bars
from .test_cli import REPO, free_port

INV, LIN = "BTC-USD-SWAP", "BTC-USDT-SWAP"
INV_SYM = "BTC/USD:BTC"
KEY, SECRET, PASS = "inv-k", "inv-s", "Inv-pass1"
TAKER, CT = 0.0005, 100.0
LEVELS = {"2025-03-03T06:00Z": 50_000.0, "2025-03-03T07:00Z": 40_000.0, "2025-03-03T07:30Z": 52_000.0,
          "2025-03-03T09:00Z": 45_000.0, "2025-03-03T10:00Z": 55_000.0}
RATE = 0.0001  # at 08:00; the linear swap has no stored rates


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("inverse")
    bars = stepped_bars(LEVELS)
    make_store(root, {INV: bars, LIN: bars}, {INV: inverse(INV), LIN: linear(LIN, 0.01, 0.1)},
               {INV: {"2025-03-03T08:00Z": RATE}})
    return root


def coin(n: float, px: float) -> float:
    """BTC notional of ``n`` inverse contracts at ``px``."""
    return n * CT / px


def test_inverse_trades_marks_and_settles_in_btc(root):
    with serving(root, at("06:30")) as ex:
        ex.add_account("inv", KEY, SECRET, PASS, usdt=1_000, balances={"BTC": 1.0})
        c = okx_clients(ex, KEY, SECRET, PASS)
        cx = ccxt_client(ex, KEY, SECRET, PASS)
        [spec] = ok(c["public"].get_instruments("SWAP", instId=INV))
        assert (spec["ctType"], spec["ctValCcy"], spec["settleCcy"], spec["ctVal"]) == ("inverse", "USD", "BTC", "100")
        market = cx.load_markets()[INV_SYM]
        assert market["inverse"] and market["settle"] == "BTC" and market["contractSize"] == CT

        ok(c["trade"].place_order(INV, "cross", "buy", "market", "100"))  # at 50,000
        ok(c["trade"].place_order(LIN, "cross", "buy", "market", "1"))  # USDT margin, apart from BTC
        [fill] = ok(c["trade"].get_fills(instId=INV))
        fee1, fee2 = coin(100, 50_000) * TAKER, coin(100, 40_000) * TAKER
        assert fill["feeCcy"] == "BTC" and float(fill["fee"]) == pytest.approx(-fee1, rel=1e-12)
        ex.clock.set(at("07:10"))
        cx.create_order(INV_SYM, "market", "buy", 100)  # at 40,000
        avg = 200 / (100 / 50_000 + 100 / 40_000)  # inverse contracts average harmonically

        ex.clock.set(at("08:30"))
        funding = -coin(200, 52_000) * RATE
        cash = 1.0 - fee1 - fee2 + funding
        upl = 200 * CT * (1 / avg - 1 / 52_000)
        eq = cash + upl
        [p] = ok(c["account"].get_positions(instId=INV))
        assert p["ccy"] == "BTC" and float(p["avgPx"]) == pytest.approx(avg, rel=1e-12) and p["markPx"] == "52000.0"
        assert float(p["upl"]) == pytest.approx(upl, rel=1e-9)
        assert float(p["notionalUsd"]) == pytest.approx(200 * CT, rel=1e-12)
        assert float(p["imr"]) == pytest.approx(coin(200, 52_000) / 10, rel=1e-9)
        assert float(p["mmr"]) == pytest.approx(coin(200, 52_000) * 0.005, rel=1e-9)
        assert float(p["fundingFee"]) == pytest.approx(funding, rel=1e-9)
        liq = CT * (200 + 200 * 0.005) / (cash + 200 * CT / avg)  # docs/perpetuals.md, inverse, one flat tier
        assert abs(float(p["liqPx"]) - liq) <= 0.05 + 1e-6
        assert float(p["mgnRatio"]) == pytest.approx(eq / (coin(200, 52_000) * 0.005), rel=1e-9)
        bal = ok(c["account"].get_account_balance())[0]
        details = {d["ccy"]: d for d in bal["details"]}
        assert set(details) == {"USDT", "BTC"}
        usdt_eq = 1_000 - 0.01 * 50_000 * TAKER + 0.01 * (52_000 - 50_000)
        assert float(details["BTC"]["cashBal"]) == pytest.approx(cash, rel=1e-9)
        assert float(details["BTC"]["eq"]) == pytest.approx(eq, rel=1e-9)
        assert float(details["BTC"]["eqUsd"]) == pytest.approx(eq * 52_000, rel=1e-9)
        assert float(details["USDT"]["eq"]) == pytest.approx(usdt_eq, rel=1e-9)
        assert float(bal["totalEq"]) == pytest.approx(usdt_eq + eq * 52_000, rel=1e-9)  # in USD
        assert cx.fetch_balance()["BTC"]["total"] == pytest.approx(eq, rel=1e-9)
        [pos] = cx.fetch_positions([INV_SYM])
        assert (pos["side"], pos["contracts"]) == ("long", 200)
        assert pos["notional"] == pytest.approx(coin(200, 52_000), rel=1e-9)
        [h] = cx.fetch_funding_history(INV_SYM)
        assert h["code"] == "BTC" and h["amount"] == pytest.approx(funding, rel=1e-9)

        ex.clock.set(at("09:30"))
        ok(c["trade"].place_order(INV, "cross", "sell", "market", "100"))  # at 45,000
        [f3] = ok(c["trade"].get_fills(instId=INV, limit="1"))
        assert float(f3["fillPnl"]) == pytest.approx(100 * CT * (1 / avg - 1 / 45_000), rel=1e-9)
        ex.clock.set(at("10:30"))
        cx.create_order(INV_SYM, "market", "sell", 100, params={"reduceOnly": True})  # at 55,000
        assert ok(c["account"].get_positions(instId=INV)) == []
        # average cost or not, the realized total is ctVal x q x (1/entry - 1/exit) of the two lots
        pnl = CT * 100 * (1 / 50_000 - 1 / 45_000) + CT * 100 * (1 / 40_000 - 1 / 55_000)
        fees = fee1 + fee2 + coin(100, 45_000) * TAKER + coin(100, 55_000) * TAKER
        details = {d["ccy"]: d for d in ok(c["account"].get_account_balance(ccy="BTC"))[0]["details"]}
        assert set(details) == {"BTC"}
        assert float(details["BTC"]["cashBal"]) == pytest.approx(1.0 + pnl - fees + funding, rel=1e-9)
        bills = ok(c["account"].get_account_bills(ccy="BTC"))
        assert [b["type"] for b in bills] == ["2", "2", "8", "2", "2"] and {b["ccy"] for b in bills} == {"BTC"}
        assert sum(float(b["balChg"]) for b in bills) == pytest.approx(pnl - fees + funding, rel=1e-9)
        assert float(bills[0]["bal"]) == pytest.approx(1.0 + pnl - fees + funding, rel=1e-9)
        assert [b["instId"] for b in ok(c["account"].get_account_bills(ccy="USDT"))] == [LIN]

        with pytest.raises(ccxt.InsufficientFunds):  # 6,000 contracts at 10x need ~1.09 BTC; USDT does not count
            cx.create_order(INV_SYM, "market", "buy", 6_000)


def test_serve_funds_coin_balances_from_the_command_line(root):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "qlib_local", "sim", "serve", "--root", str(root), "--port", str(port),
         "--start", "2025-03-03T06:30:00Z", "--speed", "0", "--account", f"cli:{KEY}:{SECRET}:{PASS}:BTC=2.5",
         "--account", "both:k2:s2:p2:500,BTC=0.1"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert f"http://127.0.0.1:{port}" in proc.stdout.readline()
        import okx.Account

        def details(key: str, secret: str, passphrase: str) -> dict[str, str]:
            api = okx.Account.AccountAPI(key, secret, passphrase, flag="1", domain=f"http://127.0.0.1:{port}",
                                         debug=False)
            return {d["ccy"]: d["cashBal"] for d in ok(api.get_account_balance())[0]["details"]}

        assert details(KEY, SECRET, PASS) == {"USDT": "0", "BTC": "2.5"}
        assert details("k2", "s2", "p2") == {"USDT": "500", "BTC": "0.1"}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=GUARD_S) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
