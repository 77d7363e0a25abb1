"""The K-line store: idempotent upserts, atomic writes, range and panel reads, resampling."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests_support import until

from qlib_local.errors import DataError
from qlib_local.store import KlineStore, layout
from qlib_local.store.kline_store import COMPACT_AFTER
from qlib_local.synth import SynthConfig, generate


def bars_1m(n: int, start: str = "2025-01-30 23:00", seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    idx = pd.date_range(start, periods=n, freq="1min", tz="UTC")
    close = 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, n)))
    return pd.DataFrame(
        {"open": close, "high": close * 1.001, "low": close * 0.999, "close": close, "volume": rng.random(n)},
        index=idx,
    )


def test_missing_root_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        KlineStore(tmp_path / "nope")


def test_upsert_is_idempotent_and_replaces(store: KlineStore) -> None:
    df = bars_1m(3000)  # spans a month boundary: two partitions
    store.upsert("okx", "BTC-USDT-SWAP", "1m", df)
    store.upsert("okx", "BTC-USDT-SWAP", "1m", df)
    got = store.read("okx", "BTC-USDT-SWAP", "1m")
    assert len(got) == 3000 and got.index.is_unique
    np.testing.assert_allclose(got["close"].to_numpy(), df["close"].to_numpy())
    changed = df.iloc[100:110].copy()
    changed[["open", "high", "low", "close"]] = 7.0  # far from the ~100 of every other bar
    store.upsert("okx", "BTC-USDT-SWAP", "1m", changed)
    got = store.read("okx", "BTC-USDT-SWAP", "1m")
    assert len(got) == 3000
    assert (got["close"].iloc[100:110] == 7.0).all()
    assert (got["close"].iloc[:100] > 50).all() and (got["close"].iloc[110:] > 50).all()


def test_many_appends_compact_and_keep_every_bar(store: KlineStore) -> None:
    df = bars_1m(200, start="2025-03-01")
    store.upsert("okx", "X-USDT-SWAP", "1m", df.iloc[:100])
    for i in range(100, 200):
        store.upsert("okx", "X-USDT-SWAP", "1m", df.iloc[[i]])
        live = layout.live_files(layout.scan(store.dataset_dir("okx", "X-USDT-SWAP", "1m")))
        assert len(live["2025-03"]) <= COMPACT_AFTER + 1
    got = store.read("okx", "X-USDT-SWAP", "1m")
    pd.testing.assert_frame_equal(
        got[["open", "high", "low", "close", "volume"]],
        df,
        check_freq=False,
        check_index_type=False,
        check_names=False,
    )
    files = os.listdir(store.dataset_dir("okx", "X-USDT-SWAP", "1m"))
    assert not [f for f in files if f.startswith(layout.TMP_PREFIX)]


def test_range_read(store: KlineStore) -> None:
    df = bars_1m(5000, start="2025-01-31")
    store.upsert("okx", "A-USDT-SWAP", "1m", df)
    got = store.read("okx", "A-USDT-SWAP", "1m", start="2025-02-01T01:00Z", end="2025-02-01T02:00Z")
    assert len(got) == 60
    assert got.index[0] == pd.Timestamp("2025-02-01T01:00Z") and got.index[-1] == pd.Timestamp(
        "2025-02-01T01:59Z"
    )


def test_bad_bars_are_refused_and_store_unchanged(store: KlineStore) -> None:
    df = bars_1m(10)
    store.upsert("okx", "B-USDT-SWAP", "1m", df)
    before = sorted(os.listdir(store.dataset_dir("okx", "B-USDT-SWAP", "1m")))
    with pytest.raises(DataError, match="strictly increasing"):
        store.upsert("okx", "B-USDT-SWAP", "1m", df.iloc[[3, 2]])
    with pytest.raises(DataError, match="not on the 5m grid"):
        store.upsert("okx", "B-USDT-SWAP", "5m", df.iloc[1:3])
    bad = df.copy()
    bad.iloc[2, 0] = np.nan
    with pytest.raises(DataError, match="column open"):
        store.upsert("okx", "B-USDT-SWAP", "1m", bad)
    with pytest.raises(DataError, match="missing column"):
        store.upsert("okx", "B-USDT-SWAP", "1m", df.drop(columns="low"))
    assert sorted(os.listdir(store.dataset_dir("okx", "B-USDT-SWAP", "1m"))) == before


def test_resample_with_offset_matches_pandas(store: KlineStore) -> None:
    bars, _ = generate(SynthConfig(instruments=1, timeframe="1m", days=4, seed=3))
    df = bars["BTC-USDT-SWAP"]
    store.upsert("okx", "BTC-USDT-SWAP", "1m", df)
    got = store.read("okx", "BTC-USDT-SWAP", "12H", offset="2h15m")
    assert set(got.index.strftime("%H:%M")) == {"02:15", "14:15"}
    ref = df.resample("12h", offset="2h15min").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    )
    counts = df["close"].resample("12h", offset="2h15min").count()
    ref = ref[counts == 720]
    pd.testing.assert_frame_equal(
        got[ref.columns], ref, check_freq=False, check_index_type=False, check_names=False
    )
    # the first and last bars are partial: reported, not invented
    assert len(got.attrs["incomplete"]) == 2


def test_missing_base_bars_are_left_out_or_flagged(store: KlineStore) -> None:
    df = bars_1m(240, start="2025-05-01")
    holed = df.drop(df.index[70])  # inside the second hour
    store.upsert("okx", "H-USDT-SWAP", "1m", holed)
    got = store.read("okx", "H-USDT-SWAP", "1H")
    assert list(got.index.hour) == [0, 2, 3]
    assert got.attrs["incomplete"] == [pd.Timestamp("2025-05-01T01:00Z")]
    flagged = store.read("okx", "H-USDT-SWAP", "1H", include_incomplete=True)
    assert list(flagged["complete"]) == [True, False, True, True]


def test_range_read_of_a_resampled_view_judges_whole_bars(store: KlineStore) -> None:
    df = bars_1m(600, start="2025-05-01")
    store.upsert("okx", "R-USDT-SWAP", "1m", df)
    got = store.read(
        "okx", "R-USDT-SWAP", "1H", start="2025-05-01T01:30Z", end="2025-05-01T05:00Z", offset="0h", base="1m"
    )
    # a 1H bar opening at 02:00 is whole even though start falls mid-way through 01:00
    assert list(got.index.hour) == [2, 3, 4]


def test_panel_read(store: KlineStore) -> None:
    bars, _ = generate(SynthConfig(instruments=4, timeframe="1H", days=20, seed=5))
    for name, df in bars.items():
        store.upsert("okx", name, "1H", df.iloc[: 400 + 10 * len(name)])
    panel = store.read_panel("okx", None, "4H", fields=("close", "volume"))
    assert set(panel) == {"close", "volume"}
    assert list(panel["close"].columns) == sorted(bars)
    assert panel["close"].index.is_monotonic_increasing
    eth = store.read("okx", "ETH-USDT-SWAP", "4H")
    pd.testing.assert_series_equal(
        panel["close"]["ETH-USDT-SWAP"].dropna(), eth["close"], check_names=False, check_freq=False
    )


def test_complete_up_to_marker(store: KlineStore) -> None:
    assert store.complete_up_to("okx", "M-USDT-SWAP", "1m") is None
    t = pd.Timestamp("2025-01-01T10:05Z")
    store.set_complete_up_to("okx", "M-USDT-SWAP", "1m", t)
    assert store.complete_up_to("okx", "M-USDT-SWAP", "1m") == t


def test_last_bar_time(store: KlineStore) -> None:
    df = bars_1m(100)
    store.upsert("okx", "L-USDT-SWAP", "1m", df)
    store.upsert("okx", "L-USDT-SWAP", "1m", bars_1m(1, start=str(df.index[-1] + pd.Timedelta("1min"))))
    assert store.last_bar_time("okx", "L-USDT-SWAP", "1m") == df.index[-1] + pd.Timedelta("1min")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 3000), st.integers(1, 200)), min_size=1, max_size=8))
def test_any_sequence_of_upserts_reads_back_as_last_write_wins(tmp_path_factory, writes) -> None:
    store = KlineStore(tmp_path_factory.mktemp("s"), create=True, durable=False)
    full = bars_1m(3300, start="2025-01-31T00:00Z")
    expected = pd.Series(dtype=float)
    for i, (start, length) in enumerate(writes):
        chunk = full.iloc[start : start + length].copy()
        chunk[["open", "high", "low", "close"]] = float(i + 1)  # which write a bar came from
        store.upsert("okx", "P-USDT-SWAP", "1m", chunk)
        expected = pd.concat([expected[~expected.index.isin(chunk.index)], chunk["close"]]).sort_index()
    got = store.read("okx", "P-USDT-SWAP", "1m")["close"]
    assert list(got.index) == list(expected.index)
    assert list(got.to_numpy()) == list(expected.to_numpy())


WRITER = textwrap.dedent(
    """
    import sys, numpy as np, pandas as pd
    from qlib_local.store import KlineStore
    s = KlineStore(sys.argv[1])
    idx = pd.date_range("2025-01-01", periods=600_000, freq="1min", tz="UTC")
    v = np.full(len(idx), 2.0)
    df = pd.DataFrame({"open": v, "high": v, "low": v, "close": v, "volume": v}, index=idx)
    print("ready", flush=True)
    while True:
        s.upsert("okx", "K-USDT-SWAP", "1m", df)
    """
)


def test_writer_killed_mid_write_leaves_a_readable_store(tmp_path: Path) -> None:
    store = KlineStore(tmp_path, create=True)
    idx = pd.date_range("2025-01-01", periods=600_000, freq="1min", tz="UTC")
    one = np.ones(len(idx))
    store.upsert(
        "okx",
        "K-USDT-SWAP",
        "1m",
        pd.DataFrame({c: one for c in ("open", "high", "low", "close", "volume")}, index=idx),
    )
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    ddir = store.dataset_dir("okx", "K-USDT-SWAP", "1m")

    def writing() -> bool:
        return any(f.startswith(layout.TMP_PREFIX) for f in os.listdir(ddir))

    def frozen_mid_write() -> bool:
        """Stop the writer while a file is half written (seen before and after stopping it)."""
        if not writing():
            return False
        proc.send_signal(signal.SIGSTOP)
        if writing():
            return True
        proc.send_signal(signal.SIGCONT)
        return False

    until(frozen_mid_write, "caught writing")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert writing()  # killed mid-write: its temporary file is still there
    got = store.read("okx", "K-USDT-SWAP", "1m")
    assert len(got) == len(idx) and got.index.is_unique
    # every bar is either the old or the new version, never torn
    assert set(np.unique(got["close"].to_numpy())) <= {1.0, 2.0}
    # the next writer cleans up whatever the killed one left aside
    store.upsert(
        "okx",
        "K-USDT-SWAP",
        "1m",
        pd.DataFrame({c: [3.0] for c in ("open", "high", "low", "close", "volume")}, index=idx[-1:]),
    )
    assert not [
        f
        for f in os.listdir(store.dataset_dir("okx", "K-USDT-SWAP", "1m"))
        if f.startswith(layout.TMP_PREFIX)
    ]
    assert store.read("okx", "K-USDT-SWAP", "1m")["close"].iloc[-1] == 3.0
