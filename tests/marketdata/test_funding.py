"""Funding-rate history and mark-price candles from the local OKX exchange through real ccxt:
paging past the venue's cap, resuming, the CLI, and the collector keeping both current."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests_support import GUARD_MS

from qlib_local.cli.main import main
from qlib_local.marketdata import Collector, Source, download
from qlib_local.marketdata.funding import download_funding, sync_funding
from qlib_local.sim import LocalExchange
from qlib_local.store import KlineStore
from qlib_local.synth import SynthConfig, write_synthetic
from tests.marketdata.conftest import BTC, ETH, FAST_RETRY

T = pd.Timestamp
INV = "BTC-USD-SWAP"
NOW = "2025-02-10T00:30Z"  # 40 days of 15m history: 120 settlements (> 100 a page), 3,840 bars (> 1,440 recent)


@pytest.fixture(scope="module")
def perp_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("perpsim")
    write_synthetic(KlineStore(root, create=True, durable=False),
                    SynthConfig(instruments=2, timeframe="15m", days=45, seed=11, funding=True, mark=True, inverse=True))
    return root


@pytest.fixture
def exchange(perp_root: Path) -> Iterator[LocalExchange]:
    with LocalExchange(perp_root, start=NOW) as ex:
        yield ex

# `source` and `dest` come from conftest.py (its `source` talks to this module's `exchange`)


def settled(exchange: LocalExchange, inst: str, start: str, end) -> pd.Series:
    """What the exchange's store holds with funding time in [start, end]."""
    return exchange.market.store.read_funding("okx", inst, start, None).loc[:T(end)]


def test_download_funding_pages_past_the_cap_and_keeps_only_settled_rates(exchange, source, dest):
    res = download_funding(source, dest, [BTC, INV], "2025-01-01")
    assert [r.error for r in res] == [None, None]
    for r, inst in zip(res, [BTC, INV], strict=True):
        want = settled(exchange, inst, "2025-01-01", NOW)
        assert len(want) == 120 and r.written == 120 and r.pages >= 2  # 100 a page: more than one request
        got = dest.read_funding("okx", inst)
        assert got.index.equals(want.index) and np.array_equal(got.to_numpy(), want.to_numpy())
        assert got.index[-1] == T("2025-02-10T00:00Z")  # nothing after the exchange's now
    assert dest.read_funding("okx", ETH).empty  # only what was asked


def test_funding_download_resumes_after_the_last_stored_settlement(exchange, source, dest):
    first = download_funding(source, dest, [ETH], "2025-01-01", until="2025-01-20")
    assert first[0].written == 56 and dest.read_funding("okx", ETH).index[-1] == T("2025-01-19T16:00Z")
    again = download_funding(source, dest, [ETH], "2025-01-01")
    assert again[0].written == 120 - 56  # only the tail is fetched
    want = settled(exchange, ETH, "2025-01-01", NOW)
    got = dest.read_funding("okx", ETH)
    assert got.index.equals(want.index) and np.array_equal(got.to_numpy(), want.to_numpy())
    rerun = download_funding(source, dest, [ETH], "2025-01-01")[0]
    assert rerun.written == 0 and rerun.pages == 1  # only the head before the first settlement is asked again


def test_okx_serves_about_three_months_of_funding_history(exchange, source, dest):
    exchange.clock.set("2025-04-10T00:30Z")  # past the synthetic data: still 92 days of settlements back
    ts = source.ex.publicGetPublicFundingRateHistory({"instId": BTC, "after": "1736000000000"})["data"]
    assert ts == []  # 2025-01-04 is older than the venue keeps
    res = download_funding(source, dest, [BTC], "2025-01-01")
    assert res[0].error is None
    assert dest.read_funding("okx", BTC).index[0] >= T("2025-04-10T00:30Z") - pd.Timedelta(days=92)


def test_download_mark_candles_through_both_endpoints(exchange, source, dest):
    res = download(source, dest, [BTC, INV], "15m", "2025-01-01", price="mark")
    assert [r.error for r in res] == [None, None]
    for inst in (BTC, INV):
        want = exchange.market.store.read("okx@mark", inst, "15m", "2025-01-01", "2025-02-10T00:30Z")
        got = dest.read("okx@mark", inst, "15m")
        assert got.index.equals(want.index) and len(got) == 40 * 96 + 2  # > 1,440 bars: history and recent
        assert np.allclose(got["close"], want["close"], rtol=1e-9) and (got["volume"] == 0).all()
        assert dest.instruments("okx") == []  # mark candles are not last-price bars
    # the two endpoints answer as ccxt parses them: [ts, o, h, l, c, confirm], newest first, 100 at most
    raw = source.ex.publicGetMarketHistoryMarkPriceCandles({"instId": BTC, "bar": "15m", "limit": "300",
                                                            "after": str(T("2025-01-05").value // 10**6)})["data"]
    assert len(raw) == 100 and len(raw[0]) == 6 and int(raw[0][0]) == T("2025-01-04T23:45Z").value // 10**6
    assert raw[0][5] == "1" and int(raw[0][0]) > int(raw[1][0])
    recent = source.ex.publicGetMarketMarkPriceCandles({"instId": BTC, "bar": "15m"})["data"]
    assert int(recent[0][0]) == T("2025-02-10T00:30Z").value // 10**6 and recent[0][5] == "0"  # the forming one
    assert int(recent[1][0]) == T("2025-02-10T00:15Z").value // 10**6 and recent[1][5] == "1"


def test_funding_rate_quotes_the_next_settlement_without_look_ahead(exchange, source):
    fr = source.ex.fetch_funding_rate(source.symbol(BTC))
    last = settled(exchange, BTC, "2025-02-09", NOW)
    assert fr["fundingTimestamp"] == T("2025-02-10T08:00Z").value // 10**6
    assert fr["nextFundingTimestamp"] == T("2025-02-10T16:00Z").value // 10**6
    assert fr["fundingRate"] == pytest.approx(last.iloc[-1])  # the last settled rate, not the coming one


def test_funding_history_pages_by_before_and_after_newest_first(exchange, source):
    api = source.ex.publicGetPublicFundingRateHistory
    page = api({"instId": BTC})["data"]
    times = [int(r["fundingTime"]) for r in page]
    assert len(page) == 100 and times == sorted(times, reverse=True) and times[0] == T(NOW).floor("8h").value // 10**6
    older = api({"instId": BTC, "after": str(times[-1])})["data"]
    assert [int(r["fundingTime"]) for r in older][0] < times[-1] and len(older) == 20
    newer = api({"instId": BTC, "before": str(times[2]), "limit": "5"})["data"]
    assert [int(r["fundingTime"]) for r in newer] == times[:2]
    assert len(api({"instId": BTC, "limit": "300"})["data"]) == 100  # capped at 100, as OKX does


def test_cli_download_funding_and_mark(exchange, tmp_path, capsys):
    root = tmp_path / "data"
    rc = main(["data", "download", "--funding", "--symbols", f"{BTC},{ETH}", "--since", "2025-01-01",
               "--base-url", exchange.url, "--root", str(root), "--no-progress"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert f"okx/{BTC}: 120 funding rates in" in out and f"okx/{ETH}: 120 funding rates in" in out
    assert KlineStore(root).instruments("okx") == []  # no bars asked for
    rc = main(["data", "download", "--mark", "--timeframe", "1H", "--symbols", ETH, "--since", "2025-02-01",
               "--base-url", exchange.url, "--root", str(root), "--no-progress"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert f"okx/{ETH}/1H: 216 mark-price candles in 3 page(s)" in out  # 100 a page
    assert len(KlineStore(root).read("okx@mark", ETH, "1H")) == 216
    rc = main(["data", "download", "--mark", "--symbols", ETH, "--since", "2025-02-01", "--base-url", exchange.url,
               "--root", str(root)])
    assert rc != 0 and capsys.readouterr().err.startswith("error: --timeframe is needed")


def test_collector_keeps_funding_and_mark_current(perp_root, dest):
    with LocalExchange(perp_root, start="2025-02-09T23:30:10Z") as exchange:
        _collect(exchange, Source("okx", base_url=exchange.url, timeout_ms=GUARD_MS, retry=FAST_RETRY), dest)


def _collect(exchange: LocalExchange, source: Source, dest: KlineStore) -> None:
    def sleep(seconds: float) -> None:
        exchange.clock.advance(int(round(seconds * 1000)))

    c = Collector(source, dest, [(BTC, "15m")], now=exchange.clock.now, sleep=sleep, since="2025-02-09T00:00Z",
                  funding=True, mark=True)
    reports = c.run(max_cycles=4)  # catch-up, then the 23:45, 00:00 and 00:15 closes
    assert not any(r.errors for r in reports), [r.errors for r in reports]
    assert reports[0].funding == 3 and reports[1].funding == 0  # 2025-02-09 00:00, 08:00, 16:00; nothing new at 23:45
    assert reports[2].funding == 1  # the 00:00 settlement
    assert dest.read_funding("okx", BTC).index[-1] == T("2025-02-10T00:00Z")
    marks = dest.read("okx@mark", BTC, "15m")
    assert marks.index[0] == T("2025-02-09T00:00Z") and marks.index[-1] == T("2025-02-10T00:00Z")
    assert sum(r.mark_bars for r in reports) == len(marks)


def test_sync_funding_asks_nothing_until_a_settlement_is_due(exchange, source, dest):
    download_funding(source, dest, [BTC], "2025-02-01")
    exchange.faults.fail("/api/v5/public/funding-rate-history", 503, times=50)  # any request would fail
    assert sync_funding(source, dest, [BTC])[0].skipped
    exchange.clock.advance(8 * 3_600_000)
    assert sync_funding(source, dest, [BTC])[0].error is not None  # due now: it asks (and the fault shows)
