"""K-line store benchmarks (issue: foundation). Each figure is a ratio against a reference
measured in the same run, so a busy shared machine slows both sides alike."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from bench.common import Result, best_of, report
from qlib_local.store import KlineStore
from qlib_local.store.kline_store import WRITE_OPTIONS
from qlib_local.store.resample import resample_frame
from qlib_local.synth import SynthConfig, generate


def read_year(tmp: Path) -> list[Result]:
    bars, _ = generate(SynthConfig(instruments=1, timeframe="1m", days=365, seed=1))
    df = bars["BTC-USDT-SWAP"]
    store = KlineStore(tmp / "store", create=True)
    store.upsert("okx", "BTC-USDT-SWAP", "1m", df)
    csv = tmp / "btc.csv"
    df.rename_axis("date").to_csv(csv)
    files = [str(p) for p in sorted(store.dataset_dir("okx", "BTC-USDT-SWAP", "1m").glob("*.parquet"))]
    table = pq.read_table(files)
    default_file, same_file = tmp / "default.parquet", tmp / "same.parquet"
    pq.write_table(table, default_file)  # pyarrow's defaults (snappy, dictionary)
    pq.write_table(table, same_file, **WRITE_OPTIONS)  # the store's encoding, one file

    ours = best_of(lambda: store.read("okx", "BTC-USDT-SWAP", "1m"), repeat=9)
    csv_s = best_of(lambda: pd.read_csv(csv, index_col="date", parse_dates=["date"]), repeat=3)
    bare_default = best_of(lambda: pq.read_table(default_file), repeat=9)
    bare_same = best_of(lambda: pq.read_table(same_file), repeat=9)
    bare_same_pandas = best_of(lambda: pq.read_table(same_file).to_pandas(), repeat=9)
    rows = len(df)
    return [
        Result(
            f"read 1 instrument x 1 year of 1m ({rows:,} bars) vs CSV",
            ours,
            "pandas.read_csv",
            csv_s,
            "at least 20x faster",
            csv_s / ours >= 20,
        ),
        Result(
            "  same read vs bare read_table, same encoding, one file",
            ours,
            "read_table (Arrow only)",
            bare_same,
            "at most 1.5x its time",
            ours <= 1.5 * bare_same,
        ),
        Result(
            "  same read vs read_table + to_pandas, same encoding",
            ours,
            "read_table().to_pandas()",
            bare_same_pandas,
            "",
            None,
        ),
        Result(
            "  same read vs bare read_table, pyarrow defaults",
            ours,
            "read_table (Arrow only)",
            bare_default,
            "at most 1.5x its time",
            ours <= 1.5 * bare_default,
        ),
    ]


def panel_and_append(tmp: Path) -> list[Result]:
    bars, _ = generate(SynthConfig(instruments=300, timeframe="1H", days=730, seed=2))
    store = KlineStore(tmp / "panel", create=True)
    names = list(bars)
    for name, df in bars.items():
        store.upsert("okx", name, "1H", df.iloc[:-1])
    panel = best_of(lambda: store.read_panel("okx", names, "1H", fields=("close",)), repeat=3)
    serial = best_of(
        lambda: pd.concat(
            {n: store.read("okx", n, "1H", columns=("close",))["close"] for n in names}, axis=1
        ),
        repeat=2,
    )

    last = {n: df.iloc[[-1]] for n, df in bars.items()}
    t = time.perf_counter()
    for n in names:
        store.upsert("okx", n, "1H", last[n])
    append = time.perf_counter() - t
    fresh = KlineStore(tmp / "panel", create=False, durable=False)
    t = time.perf_counter()
    for n in names:
        fresh.upsert("okx", n, "1H", last[n])  # same bar again: idempotent replace, no fsync
    append_nosync = time.perf_counter() - t
    assert all(len(store.read("okx", n, "1H", start=last[n].index[0])) == 1 for n in names[:5])
    return [
        Result(
            "panel: 300 instruments x 2 years of 1H closes",
            panel,
            "serial reads + concat",
            serial,
            "under 1 s",
            panel < 1.0,
        ),
        Result(
            "append 1 new 1H bar to each of 300 instruments (fsync)",
            append,
            "",
            None,
            "under 2 s in all",
            append < 2.0,
        ),
        Result("  same, again (idempotent replace, no fsync)", append_nosync, "", None, "", None),
    ]


def resample_many() -> list[Result]:
    bars, _ = generate(SynthConfig(instruments=10, timeframe="1m", days=365, seed=3))
    frames = [bars[n] for n in bars] * 10  # 100 instrument-years of 1m bars

    def ours() -> None:
        for f in frames:
            resample_frame(f, "1m", "12H", "2h15m")

    def plain_pandas() -> None:
        agg = {
            "open": "first",
            "high": "max",
            "low": "min",
            "close": "last",
            "volume": "sum",
            "quote_volume": "sum",
        }
        for f in frames:
            f.resample("12h", offset="2h15min").agg(agg)

    o = best_of(ours, repeat=1)
    p = best_of(plain_pandas, repeat=1)
    return [
        Result(
            "resample 100 x 1 year of 1m to 12H offset 2h15m",
            o,
            "pandas resample().agg()",
            p,
            "faster than pandas",
            o < p,
        )
    ]


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        results = read_year(tmp) + panel_and_append(tmp) + resample_many()
    report("K-line store", results)


if __name__ == "__main__":
    main()
