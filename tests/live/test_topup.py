"""The fee top-up: the decision, and the real ccxt adapter against the local Binance exchange on
127.0.0.1 buying BNB on spot, moving it to the USDⓈ-M wallet and paying fees in it; reruns and
crashes between the buy and the transfer never buy twice.

The exchange's clock stands still (speed 0) at START; the fee estimate reads the exchange's
time (``server_time_ms``) and fills the account really made there.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sim.binance.conftest import KEY, KEY_B, SECRET, SECRET_B, START, binance_root  # noqa: F401 (fixture)
from tests_support import GUARD_S

from qlib_local.ledger import Ledger
from qlib_local.live.accounts import AccountConfig, AccountSecrets, Secret
from qlib_local.live.errors import VenueError
from qlib_local.live.retry import RetryPolicy
from qlib_local.live.topup import daily_fee, run_topup, topup_id, topup_quote, topups
from qlib_local.live.topup_config import TopupConfig
from qlib_local.live.types import OrderRequest
from qlib_local.sim.binance import BinanceExchange
from qlib_local.timeframes import DAY_MS
from qlib_local.venues.binance.adapter import BinanceVenue
from qlib_local.venues.binance.caps import USDM_CAPS
from qlib_local.venues.registry import open_venue

QUICK = RetryPolicy(attempts=3, base_s=0.01, cap_s=0.05, budget_s=GUARD_S)
BAR = 1_741_000_000_000
CFG = TopupConfig(enabled=True, days=7, min_usdt=10, max_usdt=200)  # ETH 60,000 traded: 30 USDT of fees a week
BNB_PX, SPOT_FEE = 600.0, 0.001


@pytest.fixture
def bex(binance_root: Path) -> Iterator[BinanceExchange]:  # noqa: F811
    ex = BinanceExchange(binance_root, start=START)
    ex.add_account("alice", KEY, SECRET, usdt=10_000, spot={"USDT": 1_000})
    ex.add_account("bob", KEY_B, SECRET_B, usdt=10_000, spot={"USDT": 20})
    with ex:
        yield ex


def venue_of(ex: BinanceExchange, name: str = "alice", key: str = KEY, secret: str = SECRET) -> BinanceVenue:
    acct = AccountConfig(name=name, exchange="binanceusdm", mode="paper", strategies=Path("s.yaml"), url=ex.url)
    v = open_venue(acct, AccountSecrets(Secret(key), Secret(secret), None), timeout_s=GUARD_S, retry=QUICK,
                   reuse=False)
    assert isinstance(v, BinanceVenue) and v.caps.fee_topup
    return v


def trade(v: BinanceVenue, ledger: Ledger, account: str, side: str, sz: float, n: int) -> None:
    """A real market order on ETHUSDT; its fills go into the ledger as the execution engine records them."""
    (ack,) = v.place_batch([OrderRequest(f"t{account}{n}", "ETHUSDT", side, sz)], "net_mode")
    assert ack.ok, ack
    ledger.add_fills(account, [f.as_row() for f in v.fills(0, ["ETHUSDT"])])


@pytest.fixture
def traded(bex: BinanceExchange, tmp_path: Path) -> tuple[BinanceVenue, Ledger]:
    """alice bought and sold 10 ETH at 3,000 (60,000 USDT traded, 30 USDT of fees)."""
    v, ledger = venue_of(bex), Ledger(tmp_path / "alice.sqlite")
    v.set_leverage("ETHUSDT", 10, "cross")
    trade(v, ledger, "alice", "buy", 10, 1)
    trade(v, ledger, "alice", "sell", 10, 2)
    assert len(ledger.fills("alice")) == 2
    return v, ledger


def now(v: BinanceVenue) -> int:
    return v.server_time_ms()


# ---------------------------------------------------------------------- the decision
@given(held=st.floats(0, 10), price=st.floats(0.01, 10_000), per_day=st.floats(0, 1_000),
       days=st.floats(0.1, 30), lo=st.floats(5, 500), extra=st.floats(0, 500))
def test_quote_is_zero_or_the_shortfall_within_bounds(held, price, per_day, days, lo, extra):
    cfg = TopupConfig(True, days, lo, lo + extra)
    q = topup_quote(held, price, per_day, cfg)
    short = days * per_day - held * price
    if short <= 0:
        assert q == 0
    else:
        assert round(lo, 2) - 0.01 <= q <= round(lo + extra, 2) + 0.01  # never above max_usdt per run
        assert q >= min(short, lo + extra) - 0.01  # enough to cover the shortfall when max allows


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0])
def test_quote_spends_nothing_on_a_bad_number(bad):
    for args in ((bad, 600, 10), (0, bad, 10), (0, 600, bad), (0, 0.0, 10)):
        assert topup_quote(*args, CFG) == 0


def test_daily_fee_is_recent_notional_times_the_rate(traded):
    v, ledger = traded
    fills, t = ledger.fills("alice"), now(v)
    assert daily_fee(fills, t, 0.0005) == pytest.approx(60_000 * 0.0005 / 7)
    assert daily_fee(fills, t + 8 * DAY_MS, 0.0005) == 0  # older than the lookback
    assert daily_fee(fills, t, 0.0005, {"ETHUSDT": 0.1}) == pytest.approx(6_000 * 0.0005 / 7)


def test_client_id_is_fixed_by_account_and_bar():
    a = topup_id("alice", BAR, USDM_CAPS.id_rule)
    assert a == topup_id("alice", BAR, USDM_CAPS.id_rule) and USDM_CAPS.id_rule.allows(a)
    assert a != topup_id("alice", BAR + 1, USDM_CAPS.id_rule) and a != topup_id("bob", BAR, USDM_CAPS.id_rule)


# ---------------------------------------------------------------------- against the local exchange
def test_top_up_buys_moves_and_fees_are_then_paid_in_bnb(bex, traded):
    v, ledger = traded
    usdt_before = v.balance("USDT").total_eq
    assert not v.fee_burn()
    out = run_topup(v, ledger, "alice", BAR, CFG, now(v))
    # 7 days of 30/7 USDT a day = 30 USDT: 0.05 BNB at 600, 0.1% spot fee in BNB
    assert out.spent == pytest.approx(30.0) and out.moved == pytest.approx(0.05 * (1 - SPOT_FEE))
    assert bex.spot["alice"] == pytest.approx({"USDT": 970.0, "BNB": 0.0})
    assert v.futures_free("BNB") == pytest.approx(0.04995)
    assert v.balance("USDT").total_eq == pytest.approx(usdt_before)  # the USDT wallet is not touched
    assert v.fee_burn()
    (row,) = topups(ledger, "alice").itertuples()
    assert (row.state, row.bar_ts, row.qty, row.cost, row.moved) == ("done", BAR, 0.05, 30.0, pytest.approx(0.04995))
    assert row.cl_ord_id == topup_id("alice", BAR, USDM_CAPS.id_rule) and row.tran_id
    assert any("bought 0.05 BNB for 30.00 USDT" in line for line in out.lines)

    trade(v, ledger, "alice", "buy", 1, 3)  # 3,000 USDT: 1.5 USDT of fee, 10% off in BNB at 600
    assert v.balance("USDT").total_eq == pytest.approx(usdt_before)
    assert v.futures_free("BNB") == pytest.approx(0.04995 - 1.5 * 0.9 / BNB_PX)


def test_rerun_of_the_same_bar_buys_nothing(bex, traded):
    v, ledger = traded
    run_topup(v, ledger, "alice", BAR, CFG, now(v))
    again = run_topup(v, ledger, "alice", BAR, CFG, now(v))
    assert again.spent == 0 and again.moved == 0 and "topped up already" in again.lines[-1]
    assert bex.spot["alice"]["USDT"] == pytest.approx(970.0) and len(topups(ledger, "alice")) == 1


def test_enough_bnb_buys_nothing(bex, traded):
    v, ledger = traded
    assert run_topup(v, ledger, "alice", BAR, CFG, now(v)).spent == pytest.approx(30.0)
    v.set_fee_burn(False)
    out = run_topup(v, ledger, "alice", BAR + 1, TopupConfig(True, 1, 10, 200), now(v))  # 1 day: 4.29 < 29.97
    assert out.spent == 0 and "covers" in out.lines[0]
    assert v.fee_burn() and "turned on paying fees in BNB" in out.lines[-1]  # BNB held: fees paid with it
    assert bex.spot["alice"]["USDT"] == pytest.approx(970.0) and len(topups(ledger, "alice")) == 1


def test_crash_after_the_buy_before_the_transfer_moves_without_buying_again(bex, traded):
    v, ledger = traded
    bex.faults.add("fail", "/sapi/v1/asset/transfer", 503, times=1)  # the run dies at the transfer
    with pytest.raises(VenueError):
        run_topup(v, ledger, "alice", BAR, CFG, now(v))
    assert topups(ledger, "alice")["state"].tolist() == ["bought"]
    assert bex.spot["alice"] == pytest.approx({"USDT": 970.0, "BNB": 0.04995})

    out = run_topup(v, ledger, "alice", BAR + 3_600_000, CFG, now(v))  # the next run
    assert out.spent == 0 and out.moved == pytest.approx(0.04995)
    assert bex.spot["alice"] == pytest.approx({"USDT": 970.0, "BNB": 0.0})
    assert v.futures_free("BNB") == pytest.approx(0.04995) and v.fee_burn()
    assert topups(ledger, "alice")["state"].tolist() == ["done"]


def test_buy_answer_lost_is_looked_up_not_sent_again(bex, traded):
    v, ledger = traded
    bex.faults.add("drop", "/api/v3/order", times=1)  # bought, but the answer never arrives
    out = run_topup(v, ledger, "alice", BAR, CFG, now(v))
    assert out.spent == 0 and "outcome unknown" in out.alerts[0]
    assert topups(ledger, "alice")["state"].tolist() == ["buying"]
    assert bex.spot["alice"]["USDT"] == pytest.approx(970.0)

    out = run_topup(v, ledger, "alice", BAR, CFG, now(v))
    assert any("found the earlier buy of 0.05 BNB" in line for line in out.lines)
    assert bex.spot["alice"] == pytest.approx({"USDT": 970.0, "BNB": 0.0})
    assert v.futures_free("BNB") == pytest.approx(0.04995)
    assert topups(ledger, "alice")["state"].tolist() == ["done"]


def test_a_transfer_heard_of_late_is_not_sent_twice(bex, traded):
    v, ledger = traded
    bex.faults.add("drop", "/sapi/v1/asset/transfer", times=1)  # moved, but the answer is lost
    with pytest.raises(VenueError):
        run_topup(v, ledger, "alice", BAR, CFG, now(v))
    assert v.futures_free("BNB") == pytest.approx(0.04995)
    out = run_topup(v, ledger, "alice", BAR, CFG, now(v))
    assert out.moved == 0 and "moved earlier" in out.lines[0]
    assert v.futures_free("BNB") == pytest.approx(0.04995) and bex.spot["alice"]["USDT"] == pytest.approx(970.0)


def test_a_buy_that_never_reached_the_exchange_is_closed(bex, traded):
    v, ledger = traded
    bex.faults.add("fail", "/api/v3/order", 503, times=1)  # refused before processing: nothing bought
    out = run_topup(v, ledger, "alice", BAR, CFG, now(v))
    assert "outcome unknown" in out.alerts[0] and bex.spot["alice"]["USDT"] == pytest.approx(1_000.0)
    out = run_topup(v, ledger, "alice", BAR, CFG, now(v))
    assert "never reached the exchange" in out.lines[0]
    assert topups(ledger, "alice")["state"].tolist() == ["not_placed"]
    assert bex.spot["alice"]["USDT"] == pytest.approx(1_000.0)


def test_not_enough_spot_usdt_alerts_and_buys_nothing(bex, tmp_path):
    v, ledger = venue_of(bex, "bob", KEY_B, SECRET_B), Ledger(tmp_path / "bob.sqlite")
    v.set_leverage("ETHUSDT", 10, "cross")
    trade(v, ledger, "bob", "buy", 10, 1)
    trade(v, ledger, "bob", "sell", 10, 2)
    out = run_topup(v, ledger, "bob", BAR, CFG, now(v))
    assert out.spent == 0 and "needs 30.00 USDT on spot, which holds 20.00" in out.alerts[0]
    assert bex.spot["bob"] == {"USDT": 20.0} and topups(ledger, "bob").empty and not v.fee_burn()


def test_never_more_than_max_usdt(bex, traded):
    v, ledger = traded
    out = run_topup(v, ledger, "alice", BAR, TopupConfig(True, 30, 10, 12), now(v))  # wants ~128 USDT
    assert out.spent == pytest.approx(12.0) and bex.spot["alice"]["USDT"] == pytest.approx(988.0)
