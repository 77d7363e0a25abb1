"""Liquidation on the local exchange, judged as the backtest judges it.

Each closed base bar is read at its adverse extreme (longs at the low, shorts at the high);
an account whose equity in a currency is at or below its maintenance margin there loses every
position of that currency at those prices, pays the liquidation fee, and never goes below zero.
"""

from __future__ import annotations

import numpy as np
import pytest

from qlib_local.perp import pnl
from qlib_local.research.kernels import margin_call

from .perp_data import at, inverse, linear, make_store, ok, okx_clients, serving, stepped_bars

BTC, ETH, INV = "BTC-USDT-SWAP", "ETH-USDT-SWAP", "BTC-USD-SWAP"
TIERS = ((5_000.0, 0.004), (50_000.0, 0.01), (None, 0.02))  # notional bounds (USDT), maintenance rates
LIQ_FEE = 0.005
BTC_LEVELS = {"2025-03-03T06:00Z": 50_000.0, "2025-03-03T09:00Z": 47_000.0, "2025-03-03T10:00Z": 46_000.0,
              "2025-03-03T11:00Z": 45_200.0, "2025-03-03T12:01Z": 45_000.0}
BTC_WICKS = {"2025-03-03T11:30Z": (45_200.0, 44_800.0),  # close to the liquidation price, not through it
             "2025-03-03T12:00Z": (45_200.0, 44_700.0),  # through it
             "2025-03-03T13:59Z": (56_800.0, 45_000.0),  # close to the short's, not through it
             "2025-03-03T14:00Z": (57_000.0, 45_000.0)}  # through it
ETH_LEVELS = {"2025-03-03T06:00Z": 3_000.0, "2025-03-03T13:00Z": 2_100.0}
ETH_WICKS = {"2025-03-03T13:00Z": (3_000.0, 2_000.0)}  # a crash bar: a gap far past the liquidation price


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("liquidation")
    btc = stepped_bars(BTC_LEVELS, BTC_WICKS)
    make_store(root, {BTC: btc, INV: btc, ETH: stepped_bars(ETH_LEVELS, ETH_WICKS)},
               {BTC: linear(BTC, 0.01, 0.1, mm_tiers=TIERS, liq_fee=LIQ_FEE), ETH: linear(ETH, 0.1, 0.01),
                INV: inverse(INV)})
    return root


def backtest_liquidation_bar(root, q: float, avg: float, cash: float, start: int) -> int:
    """Open time of the first bar after ``start`` that the backtest's rule (research.kernels.margin_call)
    liquidates a long of ``q`` BTC contracts at: the expected answer, computed the backtest's way."""
    from qlib_local.specs import load_specs
    from qlib_local.store import KlineStore

    bars = KlineStore(root).read("okx", BTC, "1m")
    spec = load_specs(root, "okx")[BTC]
    t = spec.margin_table
    margin = (t.bounds[None, :], t.rates[None, :], t.cums[None, :], np.array([spec.liq_fee]))
    ts = bars.index.as_unit("ms").asi8
    for i in range(int(np.searchsorted(ts, start, "right")), len(ts)):
        prev = float(bars.close.iloc[i - 1])
        equity = cash + pnl(q, avg, prev, spec.ct_val, 0)
        eq, mm, _ = margin_call(np.array([q]), np.array([prev]), bars.high.to_numpy()[i:i + 1],
                                bars.low.to_numpy()[i:i + 1], np.array([spec.ct_val]), np.array([0]), margin, equity)
        if eq <= mm:
            return int(ts[i])
    raise AssertionError("the backtest never liquidates")


def test_liquidation_at_the_bar_that_crosses_the_liquidation_price(root):
    with serving(root, at("06:30")) as ex:
        ex.add_account("lin", "k1", "s1", "Pass-1", usdt=1_000)
        ex.add_account("gap", "k2", "s2", "Pass-2", usdt=200)
        ex.add_account("inv", "k3", "s3", "Pass-3", usdt=0, balances={"BTC": 0.1})
        lin, gap, inv = (okx_clients(ex, *k) for k in (("k1", "s1", "Pass-1"), ("k2", "s2", "Pass-2"),
                                                       ("k3", "s3", "Pass-3")))
        ok(lin["trade"].place_order(BTC, "cross", "buy", "market", "18"))  # 9,000 USDT at 50,000: 9x
        ok(lin["trade"].place_order(BTC, "cross", "buy", "limit", "1", px="30000", clOrdId="rest"))
        ok(gap["trade"].place_order(ETH, "cross", "buy", "market", "6"))  # 1,800 USDT at 3,000: 9x
        ok(inv["account"].set_position_mode("long_short_mode"))
        ok(inv["trade"].place_order(INV, "cross", "sell", "market", "400", posSide="short"))  # 0.8 BTC: 8x

        cash = 1_000 - 18 * 0.01 * 50_000 * 0.0005
        cum = 5_000 * (0.01 - 0.004)  # keeps the tiered margin continuous
        liq = (0.18 * 50_000 - cash - cum) / (0.18 * (1 - 0.01))  # docs/perpetuals.md, linear, tier 2
        [p] = ok(lin["account"].get_positions(instId=BTC))
        assert abs(float(p["liqPx"]) - liq) <= 0.05 + 1e-9 and 44_700 < liq < 44_800
        assert float(p["mmr"]) == pytest.approx(9_000 * 0.01 - cum, rel=1e-12)
        inv_cash = 0.1 - 400 * 100 / 50_000 * 0.0005
        inv_liq = 100 * (-400 + 400 * 0.005) / (inv_cash - 400 * 100 / 50_000)  # inverse, one flat tier
        [ps] = ok(inv["account"].get_positions(instId=INV))
        assert ps["posSide"] == "short" and abs(float(ps["liqPx"]) - inv_liq) <= 0.05 + 1e-9
        assert 56_800 < inv_liq < 57_000

        expected = backtest_liquidation_bar(root, 18.0, 50_000.0, cash, at("06:30"))
        assert expected == at("12:00")
        ex.clock.set(at("11:31"))  # the 11:30 bar (low 44,800) has closed: still held
        ex.clock.set(at("12:00:59"))  # the 12:00 bar is still forming
        assert [q["pos"] for q in ok(lin["account"].get_positions())] == ["18"]
        ex.clock.set(at("12:01"))  # it closed: its low (44,700) is through the liquidation price
        assert ok(lin["account"].get_positions()) == []
        [fill] = ok(lin["trade"].get_fills(instId=BTC, limit="1"))
        loss, penalty = 0.18 * (44_700 - 50_000), 0.18 * 44_700 * LIQ_FEE
        assert (fill["execType"], fill["subType"], fill["side"], fill["fillPx"]) == ("T", "107", "sell", "44700.0")
        assert float(fill["fillPnl"]) == pytest.approx(loss, rel=1e-12)
        assert float(fill["fee"]) == pytest.approx(-penalty, rel=1e-12) and fill["ts"] == str(at("12:01"))
        order = ok(lin["trade"].get_order(BTC, ordId=fill["ordId"]))[0]
        assert order["category"] == "full_liquidation" and order["state"] == "filled"
        assert ok(lin["trade"].get_order(BTC, clOrdId="rest"))[0]["state"] == "canceled"
        [bill] = ok(lin["account"].get_account_bills(type="5"))
        assert (bill["subType"], bill["ccy"], bill["instId"]) == ("107", "USDT", BTC)
        assert float(bill["balChg"]) == pytest.approx(loss - penalty, rel=1e-12)
        d = ok(lin["account"].get_account_balance())[0]["details"][0]
        assert float(d["cashBal"]) == pytest.approx(cash + loss - penalty, rel=1e-9) and float(d["eq"]) >= 0
        assert ok(gap["account"].get_positions()) != []  # another account, another market: untouched

        ex.clock.set(at("13:01"))  # ETH crashed through 2,000 in the 13:00 bar
        assert ok(gap["account"].get_positions()) == []
        gap_cash = 200 - 6 * 0.1 * 3_000 * 0.0005
        shortfall = -(gap_cash + 0.6 * (2_000 - 3_000) - 0.6 * 2_000 * 0.005)
        bills = ok(gap["account"].get_account_bills(type="5"))
        assert [b["subType"] for b in bills] == ["110", "107"]  # the insurance fund covers the deficit
        assert float(bills[0]["balChg"]) == pytest.approx(shortfall, rel=1e-9) and float(bills[0]["bal"]) == 0
        [d] = ok(gap["account"].get_account_balance())[0]["details"]
        assert float(d["eq"]) == 0 and float(d["cashBal"]) == 0

        ex.clock.set(at("14:00"))  # the 13:59 bar's high (56,800) is not through the short's price
        assert [q["pos"] for q in ok(inv["account"].get_positions())] == ["400"]
        ex.clock.set(at("14:01"))
        assert ok(inv["account"].get_positions()) == []
        bills = ok(inv["account"].get_account_bills(type="5"))
        assert bills[-1]["subType"] == "105" and bills[-1]["ccy"] == "BTC" and float(bills[-1]["px"]) == 57_000
        inv_loss = pnl(-400.0, 50_000.0, 57_000.0, 100.0, 1)
        assert float(bills[-1]["pnl"]) == pytest.approx(inv_loss, rel=1e-9)
        assert float(ok(inv["account"].get_account_balance(ccy="BTC"))[0]["details"][0]["eq"]) >= 0


def test_no_liquidation_while_margin_holds(root):
    """The same path at 5x: the 44,700 low is far from the liquidation price; nothing happens."""
    with serving(root, at("06:30")) as ex:
        ex.add_account("safe", "k1", "s1", "Pass-1", usdt=2_000)
        c = okx_clients(ex, "k1", "s1", "Pass-1")
        ok(c["trade"].place_order(BTC, "cross", "buy", "market", "18"))
        [p] = ok(c["account"].get_positions(instId=BTC))
        assert float(p["liqPx"]) < 40_000
        ex.clock.set(at("15:00"))
        assert [q["pos"] for q in ok(c["account"].get_positions())] == ["18"]
        assert ok(c["account"].get_account_bills(type="5")) == []
