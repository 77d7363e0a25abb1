"""Funding bills in the SQLite ledger: once per bill id, attributed once, by the contracts held going in."""

from __future__ import annotations

import pandas as pd
import pytest

from qlib_local.ledger import Ledger
from qlib_local.live.funding import record_funding, split_bill
from qlib_local.live.types import FundingInfo
from qlib_local.timeframes import HOUR_MS, to_ms

A = "acct"
BTC, ETH = "BTC-USDT-SWAP", "ETH-USDT-SWAP"
T0 = to_ms("2025-03-03T07:00Z")  # bars hourly; 08:00 and 16:00 are funding times
F1, F2 = to_ms("2025-03-03T08:00Z"), to_ms("2025-03-03T16:00Z")


def commit(led: Ledger, bar_ts: int, rows: dict[str, dict[str, float]]) -> None:
    targets = pd.DataFrame(rows, dtype=float).T.reindex(columns=[BTC, ETH]).fillna(0.0)
    led.commit_bar(A, bar_ts, "r", [], 1_000.0, {BTC: 1.0, ETH: 1.0}, targets, {}, [], [])


@pytest.fixture
def led(tmp_path):
    led = Ledger(tmp_path / "ledger.sqlite")
    commit(led, T0, {"trend": {BTC: 3, ETH: -2}, "carry": {BTC: 1, ETH: 2}})  # ETH nets to zero
    commit(led, F1, {"trend": {BTC: -4}, "carry": {BTC: 2}})
    yield led
    led.close()


def test_split_follows_signed_contracts():
    assert split_bill(-8.0, {"a": 3, "b": 1}) == {"a": -6.0, "b": -2.0}
    assert split_bill(-8.0, {"a": 3, "b": -1}) == {"a": -12.0, "b": 4.0}  # the short receives what it would alone
    assert split_bill(5.0, {"a": 2, "b": -2}) == {} and split_bill(5.0, {}) == {}


def test_recorded_once_and_attributed_by_holdings_going_in(led):
    bills = [FundingInfo("101", BTC, -4.0, "USDT", F1), FundingInfo("102", ETH, 0.5, "USDT", F1)]
    assert record_funding(led, A, F1, bills) == 2
    # the bar at 08:00 settles on the positions held going into it: the 07:00 targets
    got = led.strategy_funding(A, F1).set_index("strategy")["amount"].to_dict()
    assert got == {"trend": -3.0, "carry": -1.0}  # ETH netted to zero: no strategy holds its bill
    assert set(led.funding(A, F1)["bill_id"]) == {"101", "102"}
    # a rerun of the bar, and a run that sees the same bills again: nothing new, nothing moved
    assert record_funding(led, A, F1, bills) == 0
    assert record_funding(led, A, F1 + HOUR_MS, bills) == 0
    assert led.strategy_funding(A)["amount"].sum() == -4.0 and len(led.funding(A)) == 2
    assert led.funding(A, F1 + HOUR_MS).empty


def test_crash_between_recording_and_attributing(led):
    bill = FundingInfo("201", BTC, 6.0, "USDT", F2)
    led.add_funding(A, [bill])  # recorded, then the run died before attributing it
    assert record_funding(led, A, F1, [bill]) == 0 and led.funding(A, F1).empty  # a later bill waits for its bar
    assert record_funding(led, A, F2, [bill]) == 0  # the next run after it attributes it, once
    got = led.strategy_funding(A, F2).set_index("strategy")["amount"].to_dict()
    assert got == {"trend": 12.0, "carry": -6.0}  # holdings going into 16:00: the 08:00 targets
    assert record_funding(led, A, F2, [bill]) == 0 and led.strategy_funding(A)["amount"].sum() == 6.0
