"""The live job's side: wait on the collector's markers, or catch up itself."""

from __future__ import annotations

import pandas as pd

from qlib_local.marketdata import behind, catch_up, sync, wait_complete
from tests.marketdata.conftest import BTC, ETH


class FakeTime:
    def __init__(self) -> None:
        self.t = 0.0

    def clock(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def test_wait_complete_returns_what_is_still_behind(exchange, source, dest):
    sync(source, dest, [(BTC, "1m")], since="2025-01-02T11:00Z")
    close = pd.Timestamp("2025-01-02T12:00Z")
    ft = FakeTime()
    assert wait_complete(dest, "okx", [BTC], "1m", close, timeout_s=5, clock=ft.clock, sleep=ft.sleep) == []
    assert ft.t == 0
    late = wait_complete(dest, "okx", [BTC, ETH], "1m", close, timeout_s=5, clock=ft.clock, sleep=ft.sleep)
    assert late == [ETH] and ft.t == 5
    catch_up(source, dest, [ETH], "1m")  # the job fetches what the collector has not
    assert behind(dest, "okx", [BTC, ETH], "1m", close) == []
    exchange.clock.advance(60_000)
    assert behind(dest, "okx", [BTC, ETH], "1m", close + pd.Timedelta(minutes=1)) == [BTC, ETH]
