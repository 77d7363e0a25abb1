"""``qlib-local data``: the commands a user runs, their output files and their errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qlib_local.cli.main import main
from qlib_local.store import KlineStore

CLI = [sys.executable, "-m", "qlib_local"]


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def dataset_args(root: Path, symbol: str, tf: str, exchange: str) -> list[str]:
    return ["--root", str(root), "--exchange", exchange, "--symbol", symbol, "--timeframe", tf]


def import_args(
    src: Path, root: Path, symbol: str = "A-USDT-SWAP", tf: str = "5m", exchange: str = "okx"
) -> list[str]:
    return ["data", "import", str(src), *dataset_args(root, symbol, tf, exchange)]


def export_args(
    root: Path, out: Path, tf: str, *extra: str, symbol: str = "A-USDT-SWAP", exchange: str = "okx"
) -> list[str]:
    return ["data", "export", *dataset_args(root, symbol, tf, exchange), "--out", str(out), *extra]


def bar_file(path: Path, n: int = 120, fmt: str = "csv", time_col: str = "date") -> pd.DataFrame:
    idx = pd.date_range("2025-02-01", periods=n, freq="5min", tz="UTC")
    close = np.linspace(1.0, 2.0, n)
    df = pd.DataFrame(
        {time_col: idx, "open": close, "high": close + 0.1, "low": close - 0.1, "close": close, "volume": 1.0}
    )
    if fmt == "csv":
        df.to_csv(path, index=False)
    elif fmt == "feather":
        df.to_feather(path)
    else:
        df.to_parquet(path)
    return df


def store_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.mark.parametrize(
    ("fmt", "time_col"), [("csv", "date"), ("feather", "date"), ("parquet", "timestamp")]
)
def test_import_then_export_round_trips(tmp_path: Path, capsys, fmt: str, time_col: str) -> None:
    src = tmp_path / f"bars.{fmt}"
    df = bar_file(src, fmt=fmt, time_col=time_col)
    root = tmp_path / "data"
    code, out, _ = run(
        import_args(src, root, "ETHUSDT", exchange="binanceusdm"),
        capsys,
    )
    assert code == 0 and "imported 120 5m bars" in out
    dest = tmp_path / "out.csv"
    code, out, _ = run(
        export_args(root, dest, "5m", symbol="ETHUSDT", exchange="binanceusdm"),
        capsys,
    )
    assert code == 0
    back = pd.read_csv(dest)
    assert list(back.columns) == ["date", "open", "high", "low", "close", "volume"]
    assert back["date"].iloc[0] == "2025-02-01T00:00:00Z"
    np.testing.assert_allclose(back["close"], df["close"])


def test_export_resamples_complete_bars_only(tmp_path: Path, capsys) -> None:
    src = tmp_path / "bars.csv"
    bar_file(src, n=12 * 5 + 3)  # 00:00 .. 05:10
    root = tmp_path / "data"
    assert (
        run(
            import_args(src, root),
            capsys,
        )[0]
        == 0
    )
    dest = tmp_path / "h.csv"
    code, out, _ = run(
        export_args(root, dest, "1h", "--offset", "15m", "--format", "csv"),
        capsys,
    )
    assert code == 0 and "1 incomplete bar(s) left out" in out  # 23:15 holds only 00:00 .. 00:10
    back = pd.read_csv(dest)
    assert list(back["date"]) == [f"2025-02-01T{h:02d}:15:00Z" for h in range(5)]
    pq_dest = tmp_path / "h.parquet"
    assert (
        run(
            export_args(root, pq_dest, "1H", "--format", "parquet", "--start", "2025-02-01T01:00Z"),
            capsys,
        )[0]
        == 0
    )
    assert len(pd.read_parquet(pq_dest)) == 4


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.drop(columns=["close"]), "missing column(s) close"),
        (lambda d: d.drop(columns=["date"]), "missing column(s) date or timestamp"),
        (lambda d: d.assign(date=["garbage"] + list(d["date"].astype(str)[1:])), "unparseable date"),
        (lambda d: pd.concat([d, d.iloc[[5]]]), "duplicate timestamp"),
        (lambda d: d.iloc[::-1], "out-of-order timestamp"),
        (lambda d: d.assign(open=["x"] + list(d["open"][1:])), "non-numeric prices"),
    ],
)
def test_bad_files_give_one_line_and_leave_the_store_unchanged(
    tmp_path: Path, capsys, mutate, message: str
) -> None:
    root = tmp_path / "data"
    good = tmp_path / "good.csv"
    df = bar_file(good)
    assert (
        run(
            import_args(good, root),
            capsys,
        )[0]
        == 0
    )
    before = store_files(root)
    bad = tmp_path / "bad.csv"
    tripled = df.assign(**{c: df[c] * 3 for c in ("open", "high", "low", "close")})  # differs from the stored bars
    mutate(tripled).to_csv(bad, index=False)
    code, out, err = run(
        import_args(bad, root),
        capsys,
    )
    assert code != 0
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert store_files(root) == before


def test_sort_dedupe_flag_imports_sorted_unique(tmp_path: Path, capsys) -> None:
    src = tmp_path / "messy.csv"
    df = bar_file(tmp_path / "clean.csv")
    pd.concat([df.iloc[::-1], df.iloc[[3]]]).to_csv(src, index=False)
    root = tmp_path / "data"
    code, out, _ = run(
        [*import_args(src, root), "--sort-dedupe"],
        capsys,
    )
    assert code == 0
    got = KlineStore(root).read("okx", "A-USDT-SWAP", "5m")
    assert len(got) == 120 and got.index.is_monotonic_increasing


def test_synth_is_deterministic_and_check_reports_gaps(tmp_path: Path, capsys) -> None:
    roots = [tmp_path / "a", tmp_path / "b"]
    for root in roots:
        code, _, _ = run(
            [
                "data",
                "synth",
                "--root",
                str(root),
                "--instruments",
                "3",
                "--days",
                "1",
                "--seed",
                "4",
                "--gaps",
                "2",
            ],
            capsys,
        )
        assert code == 0
    a, b = (KlineStore(r).read("okx", "ETH-USDT-SWAP", "1m") for r in roots)
    pd.testing.assert_frame_equal(a, b)
    code, out, _ = run(["data", "check", "--root", str(roots[0])], capsys)
    assert code == 1  # gaps are problems
    assert "okx/BTC-USDT-SWAP/1m: PROBLEMS" in out and "gap 2025-01-01" in out
    code, out, _ = run(["data", "list", "--root", str(roots[0])], capsys)
    lines = out.splitlines()[1:]
    assert code == 0 and out.count("-USDT-SWAP") == 9  # bars, mark-price candles and funding of each
    for ns in ("okx ", "okx@mark ", "okx@funding "):
        assert sum(line.startswith(ns) and "-USDT-SWAP" in line for line in lines) == 3


def test_check_passes_on_clean_data(tmp_path: Path, capsys) -> None:
    root = tmp_path / "data"
    assert run(["data", "synth", "--root", str(root), "--instruments", "2", "--days", "1"], capsys)[0] == 0
    code, out, _ = run(["data", "check", "--root", str(root)], capsys)
    assert code == 0 and "0 with problems" in out


BAD_EXPORTS = [
    # (timeframe, extra arguments, symbol, message)
    ("7q", [], "BTC-USDT-SWAP", "unknown timeframe '7q'"),
    ("1H", ["--offset", "zz"], "BTC-USDT-SWAP", "unknown offset 'zz'"),
    ("1H", ["--offset", "30s"], "BTC-USDT-SWAP", "no exchange timeframe divides"),
    ("12H", ["--offset", "13h"], "BTC-USDT-SWAP", "does not fit rule 12H"),
    ("1H", [], "NOPE-USDT-SWAP", "no data stored for okx/NOPE-USDT-SWAP"),
]


@pytest.mark.parametrize(
    ("args", "message"),
    [(["data", "list", "--root", "/nonexistent/qlib"], "data root /nonexistent/qlib does not exist")]
    + [
        (export_args(Path("{root}"), Path("x.csv"), tf, *extra, symbol=sym), msg)
        for tf, extra, sym, msg in BAD_EXPORTS
    ],
)
def test_bad_arguments_exit_non_zero_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    root = tmp_path / "data"
    KlineStore(root, create=True)
    subprocess.run(
        [*CLI, "data", "synth", "--root", str(root), "--instruments", "1", "--days", "0.2"],
        check=True,
        capture_output=True,
    )
    before = store_files(root)
    proc = subprocess.run(
        [*CLI, *[a.format(root=root) for a in args]], capture_output=True, text=True, cwd=tmp_path
    )
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith("error: ") and message in proc.stderr
    assert store_files(root) == before
    assert not os.path.exists(tmp_path / "x.csv")


def test_root_from_environment(tmp_path: Path) -> None:
    root = tmp_path / "envroot"
    env = {**os.environ, "QLIB_LOCAL_ROOT": str(root)}
    subprocess.run(
        [*CLI, "data", "synth", "--instruments", "1", "--days", "0.1"],
        check=True,
        env=env,
        capture_output=True,
    )
    proc = subprocess.run([*CLI, "data", "list"], env=env, capture_output=True, text=True, check=True)
    assert "BTC-USDT-SWAP" in proc.stdout


def test_every_subcommand_has_help() -> None:
    for args in (
        ["--help"],
        ["data", "--help"],
        ["data", "import", "--help"],
        ["data", "export", "--help"],
        ["data", "synth", "--help"],
        ["data", "check", "--help"],
        ["data", "list", "--help"],
    ):
        proc = subprocess.run([*CLI, *args], capture_output=True, text=True)
        assert proc.returncode == 0 and "usage: qlib-local" in proc.stdout
