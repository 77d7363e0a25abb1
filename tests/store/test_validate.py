"""The bar rule on the store's write path: every writer gets it, nothing is written on a refusal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qlib_local.errors import DataError
from qlib_local.store import KlineStore
from qlib_local.synth import SynthConfig, generate


def sane(n: int = 20) -> pd.DataFrame:
    idx = pd.date_range("2025-03-01", periods=n, freq="1min", tz="UTC")
    close = np.linspace(100.0, 101.0, n)
    return pd.DataFrame(
        {"open": close - 0.1, "high": close + 0.5, "low": close - 0.5, "close": close, "volume": 2.0,
         "quote_volume": 200.0},
        index=idx,
    )


BAD = [
    # (column, value at rows 5 and 9, the reason named for row 5)
    ("volume", -3.0, "volume -3 is not finite and >= 0"),
    ("volume", np.inf, "volume inf is not finite and >= 0"),
    ("volume", np.nan, "volume nan is not finite and >= 0"),
    ("high", 50.0, "high 50 is below max(open, close)"),  # also high < low
    ("low", 150.0, "low 150 is above min(open, close)"),
    ("close", 0.0, "close 0 is not a finite positive price"),
    ("open", -1.0, "open -1 is not a finite positive price"),
    ("close", np.inf, "close inf is not a finite positive price"),
    ("quote_volume", -1.0, "quote_volume -1 is not finite and >= 0"),
]


@pytest.mark.parametrize(("column", "value", "reason"), BAD)
def test_a_bad_bar_is_refused_with_its_count_and_the_first_one_named(
    store: KlineStore, column: str, value: float, reason: str
) -> None:
    df = sane()
    df.iloc[[5, 9], df.columns.get_loc(column)] = value
    with pytest.raises(DataError) as e:
        store.upsert("okx", "V-USDT-SWAP", "1m", df)
    msg = str(e.value)
    assert msg.startswith("okx/V-USDT-SWAP/1m: 2 bar(s) break the bar rule, first at 2025-03-01 00:05:00+00:00: ")
    assert reason in msg and msg.endswith("nothing written")
    assert store.timeframes("okx", "V-USDT-SWAP") == []  # nothing reached the store


def test_an_unknown_quote_volume_and_a_flat_bar_are_sane(store: KlineStore) -> None:
    df = sane()
    df["quote_volume"] = np.nan  # venues that do not report it
    df.iloc[3, :4] = 100.0  # open = high = low = close
    df.iloc[4, 4] = 0.0  # no trades
    assert store.upsert("okx", "V-USDT-SWAP", "1m", df) == len(df)


def test_a_refused_write_leaves_the_stored_bars_unchanged(store: KlineStore) -> None:
    good = sane()
    store.upsert("okx", "V-USDT-SWAP", "1m", good)
    bad = good.copy()
    bad[["open", "high", "low", "close"]] *= 2
    bad.iloc[-1, bad.columns.get_loc("low")] = 1e9
    with pytest.raises(DataError, match="1 bar"):
        store.upsert("okx", "V-USDT-SWAP", "1m", bad)
    pd.testing.assert_frame_equal(store.read("okx", "V-USDT-SWAP", "1m"), good, check_freq=False, check_index_type=False, check_names=False)


@pytest.mark.parametrize(("timeframe", "days"), [("1m", 3), ("1H", 90), ("1D", 400)])
def test_synthetic_bars_pass_the_rule(tmp_path, timeframe: str, days: int) -> None:
    store = KlineStore(tmp_path / "s", create=True, durable=False)
    bars, _ = generate(SynthConfig(instruments=60, timeframe=timeframe, days=days, seed=9))
    for name, df in bars.items():
        assert store.upsert("okx", name, timeframe, df) == len(df)
