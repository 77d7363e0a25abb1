"""Backfill: paging past the 300-bar cap into history-candles, resume, retries, kill -9."""

from __future__ import annotations

import logging
import os
import signal
import subprocess

import okx.MarketData
import pandas as pd
import pytest
from tests_support import GUARD_MS, GUARD_S, until

from qlib_local.marketdata import RetryPolicy, Source, download
from qlib_local.sim.ratelimit import Rule
from qlib_local.specs import load_specs
from qlib_local.store import KlineStore
from qlib_local.store.check import check_dataset
from qlib_local.timeframes import parse_timeframe, to_ms
from tests.marketdata.conftest import BTC, ETH, PY, START, assert_matches, served

LAST_CLOSED = pd.Timestamp("2025-01-02T11:59Z")  # the bar 12:00 is forming at START


def test_download_pages_through_history_and_keeps_only_closed_bars(exchange, source, dest):
    res = download(source, dest, [BTC, ETH], "1m", "2025-01-01T00:00Z")
    assert [r.error for r in res] == [None, None]
    assert [r.pages for r in res] == [8, 8]  # 2,160 bars / 300 per request
    for inst in (BTC, ETH):
        got = dest.read("okx", inst, "1m")
        assert len(got) == 2160 and got.index[-1] == LAST_CLOSED  # forming 12:00 bar left out
        assert_matches(got, served(exchange, inst, "2025-01-01", "2025-01-02T12:00Z"))
    # every stored value equals what python-okx reads from history-candles
    api = okx.MarketData.MarketAPI(flag="1", domain=exchange.url, debug=False)
    rows = api.get_history_candlesticks(BTC, after=str(to_ms("2025-01-01T00:05Z")), bar="1m", limit="5")["data"]
    got = dest.read("okx", BTC, "1m", end="2025-01-01T00:05Z")
    assert [float(r[4]) for r in reversed(rows)] == got["close"].tolist()
    assert [float(r[6]) for r in reversed(rows)] == got["volume"].tolist()
    assert [float(r[7]) for r in reversed(rows)] == got["quote_volume"].tolist()
    assert load_specs(dest.root, "okx")[BTC].ct_val == 0.01  # contract specs stored beside the bars


def test_resume_continues_after_the_last_stored_bar(exchange, source, dest):
    first = download(source, dest, [BTC], "1m", "2025-01-01T00:00Z", until="2025-01-01T10:00Z")
    assert first[0].written == 600 and dest.last_bar_time("okx", BTC, "1m") == pd.Timestamp("2025-01-01T09:59Z")
    again = download(source, dest, [BTC], "1m", "2025-01-01T00:00Z")
    assert again[0].written == 1560 and again[0].pages == 6  # only the missing tail is fetched
    assert download(source, dest, [BTC], "1m", "2025-01-01T00:00Z")[0].pages == 0
    assert_matches(dest.read("okx", BTC, "1m"), served(exchange, BTC, "2025-01-01", "2025-01-02T12:00Z"))


def test_rate_limit_storm_and_5xx_are_retried(exchange, dest, caplog):
    for path in ("/api/v5/market/history-candles", "/api/v5/market/candles"):
        exchange.limiter.rules[("GET", path)] = Rule(2, 1.0, "ip")  # a storm of 50011
    exchange.faults.fail("/api/v5/market/*candles", 503, times=3)
    src = Source("okx", base_url=exchange.url, timeout_ms=GUARD_MS,
                 retry=RetryPolicy(retries=12, base_delay_s=0.1, max_delay_s=0.6))
    src.ex.rateLimit = 5  # let the client outrun the exchange
    with caplog.at_level(logging.DEBUG, logger="qlib_local.marketdata"):
        res = download(src, dest, [BTC, ETH], "1m", "2025-01-01T06:00Z", workers=4)
    assert [r.error for r in res] == [None, None]
    assert "RateLimitExceeded" in caplog.text and "OnMaintenance" in caplog.text  # 50011 and 503
    for inst in (BTC, ETH):
        assert_matches(dest.read("okx", inst, "1m"), served(exchange, inst, "2025-01-01T06:00Z", "2025-01-02T12:00Z"))


def test_persistent_failure_ends_in_a_clear_error(exchange, dest):
    exchange.faults.fail("/api/v5/market/history-candles", 503)
    src = Source("okx", base_url=exchange.url, retry=RetryPolicy(retries=2, base_delay_s=0.01))
    res = download(src, dest, [BTC], "1m", "2025-01-01T00:00Z")
    assert "still failing after 3 attempts (OnMaintenance" in res[0].error
    assert dest.last_bar_time("okx", BTC, "1m") is None


def test_kill_mid_download_then_rerun(exchange, tmp_path):
    root = tmp_path / "killed"
    exchange.faults.latency("/api/v5/market/history-candles", 0.3)
    cmd = [PY, "-m", "qlib_local", "data", "download", "--exchange", "okx", "--symbols", BTC,
           "--timeframe", "1m", "--since", "2025-01-01T00:00Z", "--base-url", exchange.url,
           "--root", str(root), "--workers", "1", "--chunk-bars", "300", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    ddir = root / "okx" / BTC / "1m"
    until(lambda: len(list(ddir.glob("*.parquet"))) >= 2, "two partitions written")
    # from now on every page hangs: with one worker at most the page in flight lands, so the
    # download cannot finish before the kill however slow this machine is
    exchange.faults.hang("/api/v5/market/history-candles", 3600)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    store = KlineStore(root)
    partial = store.read("okx", BTC, "1m")
    assert 0 < len(partial) < 2160  # killed in the middle
    assert_matches(partial, served(exchange, BTC, "2025-01-01", partial.index[-1] + pd.Timedelta("1min")))
    exchange.faults.clear()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=GUARD_S)
    assert out.returncode == 0, out.stderr
    rep = check_dataset(store, "okx", BTC, "1m")
    assert (rep.rows, rep.duplicates, rep.missing_bars, rep.last) == (2160, 0, 0, LAST_CLOSED)
    assert not list(ddir.glob(".tmp-*"))
    assert_matches(store.read("okx", BTC, "1m"), served(exchange, BTC, "2025-01-01", "2025-01-02T12:00Z"))


@pytest.mark.parametrize("tf,bars", [("15m", 144), ("1H", 36)])
def test_coarser_timeframes_come_from_the_exchange(source, dest, tf, bars):
    res = download(source, dest, [BTC], tf, "2025-01-01T00:00Z")
    assert res[0].written == bars and res[0].error is None
    step = parse_timeframe(tf)
    assert to_ms(dest.last_bar_time("okx", BTC, tf)) == to_ms(START) // step * step - step  # last closed
