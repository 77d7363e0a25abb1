"""Results never change silently: the collector extends the series the store keeps for an
instrument instead of starting a coarser one, and live jobs wait on that series' marker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from tests_support import REPO

from qlib_local.cli.main import main
from qlib_local.marketdata import Collector, Source, behind, wait_complete
from qlib_local.sim import LocalExchange
from qlib_local.store import KlineStore
from qlib_local.synth import SynthConfig, write_synthetic
from tests.marketdata.conftest import BTC, ETH, FAST_RETRY, SOL, START, served

EXAMPLE = REPO / "strategies" / "example.yaml"  # 1H timing on BTC, ETH; 4H offset 1h on every swap
VIEWS = [("1H", "0h"), ("4H", "1h"), ("12H", "2h15m")]
T = pd.Timestamp


@pytest.fixture
def tour(tmp_path: Path) -> Iterator[tuple[KlineStore, LocalExchange]]:
    """The README's paper tour: `data synth` 1m bars, the local exchange replaying that same store."""
    root = tmp_path / "data"
    write_synthetic(KlineStore(root, create=True, durable=False), SynthConfig(instruments=3, timeframe="1m",
                                                                             days=3, seed=7))
    with LocalExchange(root, start=START) as ex:
        yield KlineStore(root), ex


def views(store: KlineStore) -> dict:
    return {(i, r, o): store.read("okx", i, r, offset=o) for i in (BTC, ETH, SOL) for r, o in VIEWS}


def test_collecting_after_data_synth_changes_no_bar(tour, capsys) -> None:
    store, ex = tour
    before = views(store)
    assert len(before[BTC, "1H", "0h"]) == 72  # three days of hours, past the exchange's now
    rc = main(["data", "update", "--config", str(EXAMPLE), "--base-url", ex.url, "--root", str(store.root)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    after = views(store)
    for key, df in before.items():
        pd.testing.assert_frame_equal(after[key], df, obj=str(key))
    # the 1m series is extended (here: already past the replayed now), no 1H series is started
    assert f"okx/{BTC}/1m: +0 bars, complete up to 2025-01-02 12:00:00+00:00" in out
    assert all(store.timeframes("okx", i) == ["1m"] for i in (BTC, ETH, SOL))
    # a live job waiting for the 1H close at 12:00 reads the marker of the series kept
    assert behind(store, "okx", [BTC, ETH, SOL], "1H", "2025-01-02T12:00Z") == []
    assert behind(store, "okx", [BTC], "1H", "2025-01-02T13:00Z") == [BTC]


def test_the_collector_extends_a_finer_stored_series(exchange, source: Source, dest: KlineStore) -> None:
    dest.upsert("okx", BTC, "1m", served(exchange, BTC, "2025-01-02T09:00Z", "2025-01-02T11:00Z"))
    c = Collector(source, dest, [(BTC, "1H"), (ETH, "1H")], now=exchange.clock.now, since="2025-01-02T00:00Z")
    assert c.series == [(BTC, "1m"), (ETH, "1H")]  # ETH has nothing stored: its 1H series starts
    report = c.run(max_cycles=1)[0]  # at 12:00:30
    assert not report.errors and report.bars == 60 + 12
    assert dest.timeframes("okx", BTC) == ["1m"]
    got = dest.read("okx", BTC, "1m")
    assert got.index[0] == T("2025-01-02T09:00Z") and got.index[-1] == T("2025-01-02T11:59Z")
    assert len(got) == 180 and got.index.is_unique
    assert dest.complete_up_to("okx", BTC, "1m") == T("2025-01-02T12:00Z")
    assert dest.complete_up_to("okx", BTC, "1H") is None
    assert wait_complete(dest, "okx", [BTC, ETH], "1H", "2025-01-02T12:00Z", timeout_s=0) == []
    hours = dest.read("okx", BTC, "1H")
    assert list(hours.index.hour) == [9, 10, 11]


def test_an_existing_coarser_series_is_kept_current_rather_than_replaced(exchange, source: Source,
                                                                        dest: KlineStore) -> None:
    dest.upsert("okx", BTC, "1m", served(exchange, BTC, "2025-01-01T00:00Z", "2025-01-01T02:00Z"))
    hourly = Source("okx", base_url=exchange.url, timeout_ms=5000, retry=FAST_RETRY)
    c = Collector(hourly, dest, [(BTC, "1H")], now=exchange.clock.now, since="2025-01-02T00:00Z")
    assert c.series == [(BTC, "1m")]
    dest.upsert("okx", BTC, "1H", dest.read("okx", BTC, "1H"))  # a 1H series from an older collector
    c = Collector(hourly, dest, [(BTC, "1H")], now=exchange.clock.now, since="2025-01-02T00:00Z")
    assert c.series == [(BTC, "1H")]  # its own series goes on; reads still prefer the 1m bars
