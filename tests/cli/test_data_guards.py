"""Only sane bars in, every unreadable file named in one line, stored series that disagree reported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests_support import REPO

from qlib_local.cli.main import main
from qlib_local.store import KlineStore, layout, resample_frame
from qlib_local.synth import SynthConfig, write_synthetic

CLI = [sys.executable, "-m", "qlib_local"]
EXAMPLE = REPO / "strategies" / "example.yaml"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str, *parts: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for p in parts:
        assert p in lines[0], (p, lines[0])


def bar_csv(path: Path, n: int = 30) -> pd.DataFrame:
    idx = pd.date_range("2025-02-01", periods=n, freq="5min", tz="UTC")
    close = np.linspace(10.0, 12.0, n)
    df = pd.DataFrame({"date": idx.strftime("%Y-%m-%dT%H:%M:%SZ"), "open": close - 0.01, "high": close + 0.1,
                       "low": close - 0.1, "close": close, "volume": 5.0})
    df.to_csv(path, index=False)
    return df


def store_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def import_args(src: Path, root: Path, tf: str = "5m") -> list[str]:
    return ["data", "import", str(src), "--root", str(root), "--exchange", "okx", "--symbol", "A-USDT-SWAP",
            "--timeframe", tf]


BAD_ROWS = [
    # (column, value put in rows 4 and 11, the reason the error names for row 4)
    ("volume", -1.0, "volume -1 is not finite and >= 0"),
    ("high", 1.0, "high 1 is below max(open, close)"),  # high < low too
    ("close", 0.0, "close 0 is not a finite positive price"),
    ("close", "inf", "close inf is not a finite positive price"),
]


@pytest.mark.parametrize(("column", "value", "reason"), BAD_ROWS)
def test_a_file_with_bad_bars_is_refused_naming_the_first_row(tmp_path, capsys, column, value, reason) -> None:
    root = tmp_path / "data"
    good = tmp_path / "good.csv"
    df = bar_csv(good)
    assert run(capsys, *import_args(good, root))[0] == 0
    before = store_files(root)
    bad = tmp_path / "bad.csv"
    df.astype({column: object}).assign(**{column: [value if i in (4, 11) else v for i, v in enumerate(df[column])]}) \
        .to_csv(bad, index=False)
    code, _, err = run(capsys, *import_args(bad, root))
    assert code != 0
    one_error_line(err, str(bad), "2 bad row(s), first row 5 (2025-02-01 00:20:00+00:00)", reason,
                   "--drop-bad-rows")
    assert store_files(root) == before


def test_drop_bad_rows_imports_the_rest_and_reports_what_it_dropped(tmp_path, capsys) -> None:
    src, root = tmp_path / "bars.csv", tmp_path / "data"
    df = bar_csv(src)
    df.loc[3, "volume"] = -2.0
    df.loc[7, "low"] = 99.0
    df.loc[8, "close"] = float("inf")
    df.to_csv(src, index=False)
    code, out, err = run(capsys, *import_args(src, root), "--drop-bad-rows")
    assert code == 0, err
    assert "dropped 3 bad row(s)" in out
    assert "row 4 (2025-02-01 00:15:00+00:00): volume -2" in out
    assert "row 8 (2025-02-01 00:35:00+00:00): low 99 is above min(open, close)" in out
    assert "row 9 (2025-02-01 00:40:00+00:00): close inf" in out
    assert "imported 27 5m bars" in out
    got = KlineStore(root).read("okx", "A-USDT-SWAP", "5m")
    assert len(got) == 27 and pd.Timestamp("2025-02-01T00:15Z") not in got.index
    assert run(capsys, "data", "check", "--root", str(root))[0] == 1  # the dropped rows are gaps now
    df.loc[:, ["volume"]] = -1.0
    df.to_csv(src, index=False)
    code, _, err = run(capsys, *import_args(src, root), "--drop-bad-rows")
    assert code != 0
    one_error_line(err, "all 30 row(s) are bad")


def test_header_only_csv_and_a_huge_timeframe_are_one_line_each(tmp_path, capsys) -> None:
    root = tmp_path / "data"
    empty = tmp_path / "empty.csv"
    empty.write_text("date,open,high,low,close,volume\n")
    code, _, err = run(capsys, *import_args(empty, root))
    assert code != 0
    one_error_line(err, str(empty), "no bars")
    assert store_files(root) == []
    good = tmp_path / "good.csv"
    bar_csv(good)
    code, _, err = run(capsys, *import_args(good, root, tf="99999999999999H"))
    assert code != 0
    one_error_line(err, "timeframe '99999999999999H' is longer than 366 days")
    assert run(capsys, *import_args(good, root))[0] == 0
    code, _, err = run(capsys, "data", "export", "--root", str(root), "--exchange", "okx", "--symbol",
                       "A-USDT-SWAP", "--timeframe", "99999999999999H", "--out", str(tmp_path / "x.csv"))
    assert code != 0
    one_error_line(err, "timeframe '99999999999999H' is longer than 366 days")


def write_raw(store: KlineStore, inst: str, tf: str, df: pd.DataFrame) -> None:
    """A part file written around the store's checks, as a store from before the bar rule holds."""
    ddir = store.dataset_dir("okx", inst, tf)
    ddir.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(df.rename_axis("ts").reset_index(), preserve_index=False)
    table = table.cast(pa.schema([("ts", pa.timestamp("ms", tz="UTC"))] + [(c, pa.float64()) for c in df.columns]))
    pq.write_table(table, ddir / layout.file_name("2025-02", 1, "full"))


def test_check_reports_bad_bars_already_in_the_store(tmp_path, capsys) -> None:
    store = KlineStore(tmp_path / "data", create=True)
    idx = pd.date_range("2025-02-01", periods=10, freq="1min", tz="UTC")
    df = pd.DataFrame({"open": 1.0, "high": 1.1, "low": 0.9, "close": 1.0, "volume": 3.0, "quote_volume": 3.0},
                      index=idx)
    df.iloc[6, df.columns.get_loc("volume")] = -4.0  # what `data import` let through before the rule
    df.iloc[8, df.columns.get_loc("high")] = 0.5
    write_raw(store, "OLD-USDT-SWAP", "1m", df)
    code, out, _ = run(capsys, "data", "check", "--root", str(store.root))
    assert code == 1
    assert "okx/OLD-USDT-SWAP/1m: PROBLEMS" in out and "bad_bars=2" in out
    assert "first bad bar 2025-02-01 00:06:00+00:00: volume -4 is not finite and >= 0" in out


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.fixture
def corrupt_root(tmp_path: Path) -> tuple[Path, Path]:
    """Three swaps of 1m bars; one of ETH's part files truncated (a full disk, a killed copy)."""
    root = tmp_path / "data"
    store = KlineStore(root, create=True, durable=False)
    write_synthetic(store, SynthConfig(instruments=3, timeframe="1m", days=3, seed=5))
    bad = layout.scan(store.dataset_dir("okx", "ETH-USDT-SWAP", "1m"))[0].path
    truncate(bad)
    return root, bad


def test_check_reports_an_unreadable_file_and_checks_every_other_dataset(corrupt_root, capsys) -> None:
    root, bad = corrupt_root
    code, out, _ = run(capsys, "data", "check", "--root", str(root))
    assert code == 1
    assert f"okx/ETH-USDT-SWAP/1m: ERROR {bad}: unreadable store file" in out
    assert "okx/BTC-USDT-SWAP/1m: ok" in out and "okx/SOL-USDT-SWAP/1m: ok" in out
    assert "3 dataset(s) checked, 1 with problems" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["data", "list", "--root", "{root}"],
        ["data", "export", "--root", "{root}", "--exchange", "okx", "--symbol", "ETH-USDT-SWAP", "--timeframe",
         "4H", "--out", "{tmp}/eth.csv"],
        ["backtest", str(EXAMPLE), "--root", "{root}", "--out", "{tmp}/bt"],
        ["sim", "serve", "--root", "{root}", "--port", "0"],
        ["sim", "serve", "--root", "{root}", "--port", "0", "--start", "2025-01-02T00:00:00Z"],
    ],
    ids=["list", "export", "backtest", "sim-serve", "sim-serve-start"],
)
def test_every_read_of_an_unreadable_file_is_one_error_line_naming_it(corrupt_root, tmp_path, argv) -> None:
    root, bad = corrupt_root
    args = [a.format(root=root, tmp=tmp_path) for a in argv]
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode != 0
    one_error_line(proc.stderr, str(bad), "unreadable store file")
    assert not (tmp_path / "eth.csv").exists()


def test_check_reports_stored_series_that_disagree(tmp_path, capsys) -> None:
    store = KlineStore(tmp_path / "data", create=True, durable=False)
    write_synthetic(store, SynthConfig(instruments=2, timeframe="1m", days=1, seed=3))
    minute = store.read("okx", "BTC-USDT-SWAP", "1m")
    hourly = resample_frame(minute, "1m", "1H")
    store.upsert("okx", "BTC-USDT-SWAP", "1H", hourly)  # the same bars as the 1m series makes
    code, out, _ = run(capsys, "data", "check", "--root", str(store.root))
    assert code == 0 and "disagrees" not in out
    at = hourly.index[7]
    changed = hourly.loc[[at]].copy()
    changed["close"] = changed["low"]  # still a sane bar, but not what the 1m series says
    store.upsert("okx", "BTC-USDT-SWAP", "1H", changed)
    code, out, _ = run(capsys, "data", "check", "--root", str(store.root))
    assert code == 1
    assert (f"okx/BTC-USDT-SWAP/1H: PROBLEMS disagrees with the 1m series on 1 of 24 bar(s), first {at}: "
            f"close {changed['close'].iloc[0]:.10g} stored vs {hourly['close'].iloc[7]:.10g} from 1m") in out
    assert "3 dataset(s) checked, 1 with problems" in out
