"""COIN-M market data: the real ccxt ``binancecoinm`` against the local Binance exchange's
``/dapi`` on 127.0.0.1 — download past the page cap (resumable), funding rates, mark prices,
``update --config`` over the venue's inverse listing with markers, and the collector on the
exchange's stepped clock; and OKX's inverse swaps through the real ccxt ``okx``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from tests_support import GUARD_MS

from qlib_local.cli.main import main
from qlib_local.marketdata import Collector, Source
from qlib_local.sim import LocalExchange
from qlib_local.sim.binance import BinanceExchange
from qlib_local.specs import load_specs
from qlib_local.store import KlineStore
from qlib_local.store.funding import mark_exchange
from qlib_local.synth import SynthConfig, write_synthetic
from tests.marketdata.conftest import FAST_RETRY

T = pd.Timestamp
VENUE = "binancecoinm"
BTC, ETH = "BTCUSD_PERP", "ETHUSD_PERP"
START = "2025-01-03T12:00:30Z"  # 2.5 days of 1m bars behind (3,600: past 1,500 a request)


@pytest.fixture(scope="module")
def coinm_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two COIN-M swaps (BTCUSD_PERP, ETHUSD_PERP), four days of 1m bars, funding and mark candles."""
    root = tmp_path_factory.mktemp("coinm")
    write_synthetic(KlineStore(root, create=True, durable=False),
                    SynthConfig(instruments=2, timeframe="1m", days=4, seed=5, funding=True, mark=True), exchange=VENUE)
    return root


@pytest.fixture
def bex(coinm_root: Path) -> Iterator[BinanceExchange]:
    with BinanceExchange(coinm_root, start=START, exchange=VENUE) as ex:
        yield ex


def cli(capsys, *argv: str) -> tuple[int, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out + out.err


def served(ex: BinanceExchange, inst: str, start: str, end: str, exchange: str = VENUE) -> pd.DataFrame:
    return ex.market.store.read(exchange, inst, "1m", start, end)


def test_source_lists_the_inverse_swaps_with_their_coin_settled_specs(bex):
    src = Source(VENUE, base_url=bex.url, timeout_ms=GUARD_MS, retry=FAST_RETRY)
    assert src.instruments() == [BTC, ETH]  # the venue's listing: inverse swaps, not linear ones
    assert src.symbol(BTC) == "BTC/USD:BTC"
    specs = src.specs([BTC, ETH])
    assert (specs[BTC].ct_type, specs[BTC].settle_ccy, specs[BTC].ct_val) == ("inverse", "BTC", 100.0)
    assert (specs[ETH].ct_type, specs[ETH].settle_ccy, specs[ETH].ct_val) == ("inverse", "ETH", 10.0)


def test_download_pages_past_the_cap_resumes_and_keeps_inverse_specs(bex, tmp_path, capsys):
    root = tmp_path / "data"
    base = ("data", "download", "--exchange", VENUE, "--symbols", f"{BTC},{ETH}", "--timeframe", "1m",
            "--base-url", bex.url, "--root", str(root), "--no-progress", "--since", "2025-01-01")
    rc, out = cli(capsys, *base, "--until", "2025-01-02")  # a first part, as a killed run leaves
    assert rc == 0, out
    assert f"{VENUE}/{BTC}/1m: 1440 bars in 2 page(s)" in out
    rc, out = cli(capsys, *base)  # the whole range: only what is missing after it is fetched
    assert rc == 0, out
    assert f"{VENUE}/{BTC}/1m: 2160 bars in 3 page(s), last 2025-01-03 11:59:00+00:00" in out
    store = KlineStore(root)
    for inst in (BTC, ETH):
        got, want = store.read(VENUE, inst, "1m"), served(bex, inst, "2025-01-01", "2025-01-03T12:00Z")
        assert len(got) == 3600 and got.index.equals(want.index)
        assert np.allclose(got["close"], want["close"], rtol=1e-3)  # the exchange rounds to the tick
    specs = load_specs(root, VENUE)
    assert specs[BTC].ct_type == "inverse" and specs[ETH].settle_ccy == "ETH"


def test_download_funding_and_mark_prices_of_inverse_swaps(bex, tmp_path, capsys):
    root = tmp_path / "data"
    common = ("data", "download", "--exchange", VENUE, "--symbols", f"{BTC},{ETH}", "--base-url", bex.url,
              "--root", str(root), "--no-progress")
    rc, out = cli(capsys, *common, "--funding", "--since", "2025-01-01")
    assert rc == 0, out
    store = KlineStore(root)
    for inst in (BTC, ETH):
        got = store.read_funding(VENUE, inst)
        want = bex.market.store.read_funding(VENUE, inst)
        want = want[want.index <= T(START)]  # only settled rates: none from the exchange's future
        assert len(got) == 7 and got.index.equals(want.index)
        assert np.allclose(got.to_numpy(), want.to_numpy())
    rc, out = cli(capsys, *common, "--mark", "--timeframe", "1m", "--since", "2025-01-02")
    assert rc == 0, out
    assert f"{VENUE}/{BTC}/1m: 2160 mark-price candles in 3 page(s)" in out
    got = store.read(mark_exchange(VENUE), ETH, "1m")
    want = served(bex, ETH, "2025-01-02", "2025-01-03T12:00Z", exchange=mark_exchange(VENUE))
    assert got.index.equals(want.index) and np.allclose(got["close"], want["close"], rtol=1e-3)
    assert (got["volume"] == 0).all()


def test_update_from_a_coinm_config_expands_all_to_inverse_swaps_and_sets_markers(bex, tmp_path, capsys):
    cfg = tmp_path / "coinm.yaml"
    cfg.write_text(yaml.safe_dump({"exchange": VENUE, "initial_equity": {"BTC": 1.0, "ETH": 20.0}, "strategies": [
        {"strategy_name": "BtcBullAndCoinBull_21_55", "kind": "event", "universe": "all", "rule_type": "12H",
         "offset": "2h15m", "position": 0.5, "leverage": 1, "hold_period": 2, "max_cap_num": 2,
         "symbol_num_limit": 1, "cross_sect_factor": "BtcBull_21_55", "rank_factor": "QuoteVolumeMean_6"}]}))
    root = tmp_path / "data"
    args = ("data", "update", "--config", str(cfg), "--base-url", bex.url, "--root", str(root),
            "--since", "2025-01-03")
    rc, out = cli(capsys, *args)
    assert rc == 0, out
    store = KlineStore(root)
    assert store.instruments(VENUE) == [BTC, ETH]  # the exchange's inverse listing: two coins, a wallet each
    assert store.complete_up_to(VENUE, ETH, "15m") == T("2025-01-03T12:00Z")  # base of 12H at 2h15m
    assert len(store.read(VENUE, ETH, "15m")) == 48
    assert len(store.read_funding(VENUE, BTC)) > 0  # funding: auto keeps the rates current too
    bex.clock.advance(30 * 60_000)
    rc, out = cli(capsys, *args)
    assert rc == 0, out
    assert f"{VENUE}/{BTC}/15m: +2 bars, complete up to 2025-01-03 12:30:00+00:00" in out


def test_collector_keeps_coinm_series_current_on_the_exchange_clock(bex, tmp_path):
    src = Source(VENUE, base_url=bex.url, timeout_ms=GUARD_MS, retry=FAST_RETRY)
    dest = KlineStore(tmp_path / "dest", create=True, durable=False)

    def sleep(seconds: float) -> None:
        bex.clock.advance(int(round(seconds * 1000)))

    c = Collector(src, dest, [(BTC, "1m"), (ETH, "5m")], now=bex.clock.now, sleep=sleep,
                  since="2025-01-03T11:00Z", mark=True)
    reports = c.run(max_cycles=6)  # catch-up at 12:00:30, then the 12:01 .. 12:05 closes
    assert [r.bars for r in reports] == [60 + 12, 1, 1, 1, 1, 1 + 1]
    assert not any(r.errors or r.late for r in reports)
    assert dest.complete_up_to(VENUE, BTC, "1m") == T("2025-01-03T12:05Z")
    assert dest.complete_up_to(VENUE, ETH, "5m") == T("2025-01-03T12:05Z")
    assert dest.last_bar_time(mark_exchange(VENUE), BTC, "1m") == T("2025-01-03T12:04Z")


def test_okx_lists_its_inverse_swaps_and_collects_a_two_coin_config(tmp_path, capsys):
    """OKX lists linear and inverse swaps: ``universe: all`` stays linear, named inverse swaps of two
    coins (one wallet each) are collected through the real ccxt okx."""
    root = tmp_path / "okx"
    write_synthetic(KlineStore(root, create=True, durable=False),
                    SynthConfig(instruments=2, timeframe="1m", days=2, seed=5, inverse=True))
    with LocalExchange(root, start="2025-01-02T12:00:30Z") as ex:
        src = Source("okx", base_url=ex.url, timeout_ms=GUARD_MS, retry=FAST_RETRY)
        assert src.instruments() == ["BTC-USD-SWAP", "BTC-USDT-SWAP", "ETH-USD-SWAP", "ETH-USDT-SWAP"]
        assert src.instruments("inverse") == ["BTC-USD-SWAP", "ETH-USD-SWAP"]
        strategies = [{"strategy_name": "SmaCross_5_20", "kind": "timing", "instruments": ["BTC-USD-SWAP", "ETH-USD-SWAP"],
                       "rule_type": "1H", "position": 0.5, "leverage": 1},
                      {"strategy_name": "RankOnly", "kind": "event", "universe": "all", "rule_type": "1H",
                       "position": 0.4, "leverage": 1, "rank_factor": "QuoteVolumeMean_6"}]
        cfg = tmp_path / "okx.yaml"
        cfg.write_text(yaml.safe_dump({"exchange": "okx", "initial_equity": {"BTC": 1, "ETH": 20},
                                       "strategies": strategies[:1]}))
        rc, out = cli(capsys, "data", "update", "--config", str(cfg), "--base-url", ex.url, "--root",
                      str(tmp_path / "d1"), "--since", "2025-01-02")
        assert rc == 0, out
        assert KlineStore(tmp_path / "d1").instruments("okx") == ["BTC-USD-SWAP", "ETH-USD-SWAP"]
        cfg.write_text(yaml.safe_dump({"exchange": "okx", "strategies": strategies[1:]}))
        rc, out = cli(capsys, "data", "update", "--config", str(cfg), "--base-url", ex.url, "--root",
                      str(tmp_path / "d2"), "--since", "2025-01-02")
        assert rc == 0, out
        assert KlineStore(tmp_path / "d2").instruments("okx") == ["BTC-USDT-SWAP", "ETH-USDT-SWAP"]  # all: linear
