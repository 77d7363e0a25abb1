"""``qlib-local data download | update | collect`` end to end, and bad input."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from qlib_local.cli.main import main
from qlib_local.marketdata import needed_series
from qlib_local.store import KlineStore
from tests.marketdata.conftest import BTC, ETH, SOL

T = pd.Timestamp


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def write_config(path: Path) -> Path:
    """BTC: 1H timing + a 4H/1h15m event (base 15m); ETH via universe: all; SOL 1H only."""
    raw = {
        "exchange": "okx",
        "strategies": [
            {"strategy_name": "SmaCross_20_60", "kind": "timing", "instruments": [BTC, SOL], "rule_type": "1H",
             "offset": "0h", "position": 0.4, "leverage": 2},
            {"strategy_name": "BtcBullAndCoinBull_21_55", "kind": "event", "universe": "all", "rule_type": "4H",
             "offset": "1h15m", "position": 0.6, "leverage": 1, "hold_period": 6, "max_cap_num": 6,
             "symbol_num_limit": 3, "cross_sect_factor": "BtcBull_21_55", "rank_factor": "QuoteVolumeMean_6",
             "blacklist": [SOL]},
        ],
    }
    path.write_text(yaml.safe_dump(raw))
    return path


def test_needed_series_takes_the_finest_base_per_instrument(tmp_path, source):
    cfg = write_config(tmp_path / "strategies.yaml")
    assert needed_series(cfg, list_instruments=source.instruments) == {(BTC, "15m"), (ETH, "15m"), (SOL, "1H")}


def test_update_appends_only_new_bars_and_sets_markers(exchange, tmp_path, capsys):
    cfg, root = write_config(tmp_path / "strategies.yaml"), tmp_path / "data"
    args = ("data", "update", "--config", str(cfg), "--base-url", exchange.url, "--root", str(root))
    rc, out, err = cli(capsys, *args)
    assert rc == 0, err
    store = KlineStore(root)
    assert store.instruments("okx") == [BTC, ETH, SOL]
    n_btc = len(store.read("okx", BTC, "15m"))
    assert n_btc == 144  # bootstrap: from the listing (2025-01-01) to the last 15m close
    assert store.complete_up_to("okx", BTC, "15m") == T("2025-01-02T12:00Z")
    assert store.complete_up_to("okx", SOL, "1H") == T("2025-01-02T12:00Z")
    exchange.clock.advance(60 * 60_000)  # an hour later
    rc, out, err = cli(capsys, *args)
    assert rc == 0, err
    assert f"okx/{BTC}/15m: +4 bars, complete up to 2025-01-02 13:00:00+00:00" in out
    assert f"okx/{SOL}/1H: +1 bars" in out
    assert len(store.read("okx", BTC, "15m")) == n_btc + 4
    rc, out, _ = cli(capsys, *args)
    assert f"okx/{BTC}/15m: +0 bars" in out


def test_download_then_collect_cli(exchange, tmp_path, capsys):
    root = tmp_path / "data"
    rc, out, err = cli(capsys, "data", "download", "--symbols", f"{BTC},{ETH}", "--timeframe", "5m",
                       "--since", "2025-01-02T00:00Z", "--until", "2025-01-02T06:00Z", "--base-url", exchange.url,
                       "--root", str(root), "--no-progress")
    assert rc == 0, err
    assert f"okx/{BTC}/5m: 72 bars in 1 page(s), last 2025-01-02 05:55:00+00:00" in out
    rc, out, err = cli(capsys, "data", "collect", "--symbols", BTC, "--timeframe", "5m", "--base-url", exchange.url,
                       "--root", str(root), "--max-cycles", "1")
    assert rc == 0, err
    assert KlineStore(root).complete_up_to("okx", BTC, "5m") == T("2025-01-02T12:00Z")


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--exchange", "nosuchex", "--symbols", BTC, "--timeframe", "1m", "--since", "2025-01-01"],
         "unknown exchange 'nosuchex'"),
        (["--symbols", "NOPE-USDT-SWAP", "--timeframe", "1m", "--since", "2025-01-01"],
         "unknown instrument 'NOPE-USDT-SWAP' on okx"),
        (["--symbols", BTC, "--timeframe", "1m", "--since", "2025-01-02", "--until", "2025-01-01"],
         "is not before --until"),
        (["--symbols", BTC, "--timeframe", "7m", "--since", "2025-01-01"], "okx does not serve timeframe 7m"),
        (["--symbols", BTC, "--timeframe", "1x", "--since", "2025-01-01"], "unknown timeframe '1x'"),
        (["--symbols", BTC, "--timeframe", "1m", "--since", "yesterday-ish"], "cannot parse time"),
        (["--symbols", BTC, "--timeframe", "1m", "--since", "2030-01-01"], "is after the exchange's now"),
    ],
)
def test_bad_download_input_is_one_clear_line(exchange, tmp_path, capsys, argv, message):
    rc, _, err = cli(capsys, "data", "download", *argv, "--base-url", exchange.url, "--root", str(tmp_path / "d"),
                     "--no-progress")
    assert rc != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err


def test_update_needs_a_config_or_symbols(tmp_path, capsys):
    rc, _, err = cli(capsys, "data", "update", "--root", str(tmp_path))
    assert rc != 0 and err.strip() == "error: give --config strategies.yaml, or --symbols with --timeframe"
