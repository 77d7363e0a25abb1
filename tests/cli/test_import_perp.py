"""``qlib-local data import --funding | --mark`` and ``data synth``'s funding, mark and inverse data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qlib_local.cli.main import main
from qlib_local.specs import load_specs
from qlib_local.store import KlineStore
from tests.cli.test_data_cli import store_files

XRP = "XRP-USDT-SWAP"


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def freqtrade_funding(path: Path, n: int = 90) -> pd.Series:
    """A funding file laid out as freqtrade writes ``XRP_USDT_USDT-8h-funding_rate.feather``: a
    candle frame whose ``open`` is the rate, times a few ms after each settlement."""
    settle = pd.date_range("2021-11-18", periods=n, freq="8h", tz="UTC")
    jitter = pd.to_timedelta(np.arange(n) % 7 * 3 + 5, unit="ms")
    rate = np.where(np.arange(n) % 9 == 4, -0.00015, 0.0001)
    zero = np.zeros(n)
    pd.DataFrame({"date": settle + jitter, "open": rate, "high": zero, "low": zero, "close": zero,
                  "volume": zero}).to_feather(path)
    return pd.Series(rate, index=settle)


def test_import_a_freqtrade_funding_file_rate_in_open(tmp_path, capsys):
    want = freqtrade_funding(tmp_path / "XRP_USDT_USDT-8h-funding_rate.feather")
    root = tmp_path / "data"
    code, out, err = run(capsys, "data", "import", str(tmp_path / "XRP_USDT_USDT-8h-funding_rate.feather"),
                         "--funding", "--exchange", "okx", "--symbol", XRP, "--root", str(root))
    assert code == 0, err
    assert "imported 90 funding rates of okx/XRP-USDT-SWAP (2021-11-18 00:00:00+00:00" in out
    got = KlineStore(root).read_funding("okx", XRP)
    assert got.index.equals(want.index)  # ms stamps rounded onto the settlement times
    assert np.array_equal(got.to_numpy(), want.to_numpy())
    code, out, _ = run(capsys, "data", "list", "--root", str(root))
    assert "okx@funding  XRP-USDT-SWAP" in out and "90 settlements" in out
    # again: idempotent, nothing doubles
    assert run(capsys, "data", "import", str(tmp_path / "XRP_USDT_USDT-8h-funding_rate.feather"), "--funding",
               "--exchange", "okx", "--symbol", XRP, "--root", str(root))[0] == 0
    assert len(KlineStore(root).read_funding("okx", XRP)) == 90


@pytest.mark.parametrize(("name", "columns"), [
    ("binance.csv", ("fundingTime", "fundingRate")),  # ccxt / Binance: ms epoch
    ("okx.parquet", ("fundingTime", "realizedRate")),
    ("plain.csv", ("ts", "rate")),
])
def test_import_funding_from_the_common_layouts(tmp_path, capsys, name, columns):
    times = pd.date_range("2025-01-01", periods=6, freq="8h", tz="UTC")
    rates = [0.0001, 0.0002, -0.0003, 0.0001, 0.0001, 0.0045]
    time_col, rate_col = columns
    t = (times.as_unit("ms").asi8 + 8) if time_col == "fundingTime" else times.strftime("%Y-%m-%dT%H:%M:%SZ")
    frame = pd.DataFrame({time_col: t, rate_col: rates, "symbol": "BTCUSDT"})
    path = tmp_path / name
    frame.to_csv(path, index=False) if name.endswith(".csv") else frame.to_parquet(path)
    code, _, err = run(capsys, "data", "import", str(path), "--funding", "--exchange", "binanceusdm", "--symbol",
                       "BTCUSDT", "--root", str(tmp_path / "data"))
    assert code == 0, err
    got = KlineStore(tmp_path / "data").read_funding("binanceusdm", "BTCUSDT")
    assert got.index.equals(times) and got.tolist() == rates


def funding_csv(path: Path, body: str) -> Path:
    path.write_text(body)
    return path


BAD_FUNDING = [
    ("time,price\n2025-01-01,0.0001\n", "missing column(s): a rate"),
    ("rate\n0.0001\n", "missing column(s): a time"),
    ("fundingTime,fundingRate\n", "no funding rates (a header and no rows)"),
    ("ts,rate\n2025-01-01T00:00Z,0.0001\n2025-01-01T08:00Z,abc\n", "first row 2 (2025-01-01 08:00:00+00:00): 'abc'"),
    ("ts,rate\n2025-01-01T00:00Z,0.0001\n2025-01-01T08:00Z,0.5\n", "not a finite number within ±0.1"),
    ("ts,rate\n2025-01-01T00:00Z,0.0001\n2025-01-01T08:00Z,nan\n", "1 rate(s)"),
    ("ts,rate\nyesterday,0.0001\n", "unparseable time"),
    ("ts,rate\n2025-01-01T08:00Z,0.0001\n2025-01-01T00:00Z,0.0001\n", "out-of-order"),
    ("ts,rate\n2025-01-01T00:00:00.004Z,0.0001\n2025-01-01T00:00:00.009Z,0.0002\n", "duplicate funding time"),
]


@pytest.mark.parametrize(("body", "message"), BAD_FUNDING)
def test_a_bad_funding_file_is_one_error_line_and_writes_nothing(tmp_path, capsys, body, message):
    root = tmp_path / "data"
    freqtrade_funding(tmp_path / "good.feather", 3)
    assert run(capsys, "data", "import", str(tmp_path / "good.feather"), "--funding", "--exchange", "okx",
               "--symbol", XRP, "--root", str(root))[0] == 0
    before = store_files(root)
    code, out, err = run(capsys, "data", "import", str(funding_csv(tmp_path / "bad.csv", body)), "--funding",
                         "--exchange", "okx", "--symbol", XRP, "--root", str(root))
    assert code != 0 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err
    assert store_files(root) == before


def test_sort_dedupe_repairs_an_unordered_funding_file(tmp_path, capsys):
    path = funding_csv(tmp_path / "f.csv", "ts,rate\n2025-01-01T08:00Z,0.0002\n2025-01-01T00:00Z,0.0001\n"
                                           "2025-01-01T08:00:00.010Z,0.0003\n")
    code, _, err = run(capsys, "data", "import", str(path), "--funding", "--sort-dedupe", "--exchange", "okx",
                       "--symbol", XRP, "--root", str(tmp_path / "data"))
    assert code == 0, err
    assert KlineStore(tmp_path / "data").read_funding("okx", XRP).tolist() == [0.0001, 0.0003]  # last one wins


def test_import_mark_candles_without_volume(tmp_path, capsys):
    """The real XRP mark file has no volume (NaN): mark candles are stored with volume 0."""
    idx = pd.date_range("2021-11-15 06:00", periods=30, freq="1h", tz="UTC")
    c = np.linspace(1.2, 1.1, 30)
    pd.DataFrame({"date": idx, "open": c, "high": c + 0.01, "low": c - 0.01, "close": c, "volume": np.nan}
                 ).to_feather(tmp_path / "XRP_USDT_USDT-1h-mark.feather")
    root = tmp_path / "data"
    code, out, err = run(capsys, "data", "import", str(tmp_path / "XRP_USDT_USDT-1h-mark.feather"), "--mark",
                         "--exchange", "okx", "--symbol", XRP, "--timeframe", "1H", "--root", str(root))
    assert code == 0, err
    assert "imported 30 1H mark-price candles of okx@mark/XRP-USDT-SWAP" in out
    store = KlineStore(root)
    got = store.read("okx@mark", XRP, "1H")
    assert np.allclose(got["close"], c) and (got["volume"] == 0).all()
    assert store.instruments("okx") == []  # not bars of the exchange itself
    code, out, err = run(capsys, "data", "import", str(tmp_path / "XRP_USDT_USDT-1h-mark.feather"), "--exchange",
                         "okx", "--symbol", XRP, "--timeframe", "1H", "--root", str(root))
    assert code != 0 and "volume nan is not finite" in err  # as bars, the missing volume is refused


def test_import_needs_a_timeframe_except_for_funding(tmp_path, capsys):
    freqtrade_funding(tmp_path / "f.feather", 3)
    code, _, err = run(capsys, "data", "import", str(tmp_path / "f.feather"), "--mark", "--exchange", "okx",
                       "--symbol", XRP, "--root", str(tmp_path / "data"))
    assert code != 0 and err.startswith("error: --timeframe is needed") and len(err.splitlines()) == 1
    assert store_files(tmp_path / "data") == []


def test_synth_writes_funding_and_mark_unless_told_not_and_inverse_when_asked(tmp_path, capsys):
    full, bare = tmp_path / "full", tmp_path / "bare"
    code, out, err = run(capsys, "data", "synth", "--root", str(full), "--instruments", "2", "--days", "2",
                         "--timeframe", "1H", "--inverse")
    assert code == 0, err
    assert "with funding rates and mark-price candles" in out
    store = KlineStore(full)
    assert store.instruments("okx") == ["BTC-USD-SWAP", "BTC-USDT-SWAP", "ETH-USD-SWAP", "ETH-USDT-SWAP"]
    assert len(store.read_funding("okx", "BTC-USD-SWAP")) == 6 and store.instruments("okx@mark") == store.instruments("okx")
    spec = load_specs(full, "okx")["BTC-USD-SWAP"]
    assert spec.inverse and spec.settle_ccy == "BTC" and spec.mm_tiers
    code, out, err = run(capsys, "data", "synth", "--root", str(bare), "--instruments", "2", "--days", "2",
                         "--no-funding", "--no-mark")
    assert code == 0, err
    store = KlineStore(bare)
    assert store.instruments("okx") == ["BTC-USDT-SWAP", "ETH-USDT-SWAP"]
    assert store.read_funding("okx", "BTC-USDT-SWAP").empty and store.instruments("okx@mark") == []
