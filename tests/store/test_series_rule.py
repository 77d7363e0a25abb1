"""The store rule: a read of (rule, offset, range) gives the same bars whatever series are
added later, unless the new series covers time the store did not have."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qlib_local.store import KlineStore, resample_frame
from qlib_local.synth import SynthConfig, generate
from qlib_local.timeframes import offset_name, timeframe_name

INST = "BTC-USDT-SWAP"
BARS_1M = generate(SynthConfig(instruments=1, timeframe="1m", days=2, seed=21))[0][INST]
T0 = BARS_1M.index[0]
END_1M = BARS_1M.index[-1] + pd.Timedelta("1min")
PRICES = ["open", "high", "low", "close"]
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def with_holes(holes: list[tuple[int, int]]) -> pd.DataFrame:
    keep = np.ones(len(BARS_1M), bool)
    for start, length in holes:
        keep[start : start + length] = False
    return BARS_1M[keep]


def coarse_of(fine: pd.DataFrame, coarse: str) -> pd.DataFrame:
    """The complete ``coarse`` bars ``fine`` holds: a series over time the store already has."""
    return resample_frame(fine, "1m", coarse)


def disagreeing(df: pd.DataFrame, price_k: float, volume_k: float) -> pd.DataFrame:
    """Sane bars that differ from ``df`` in every value (another source, another opinion)."""
    out = df.copy()
    out[PRICES] *= price_k
    out[["volume", "quote_volume"]] *= volume_k
    return out


VIEW = st.tuples(
    st.sampled_from(["5m", "15m", "1H"]),  # the series added
    st.integers(1, 12),  # the view's rule in multiples of it
    st.integers(0, 11),  # the view's offset in multiples of it (mod the rule)
)
RANGE = st.tuples(st.none() | st.integers(0, 2880), st.none() | st.integers(0, 2880))
HOLES = st.lists(st.tuples(st.integers(0, 2879), st.integers(1, 90)), max_size=4)


def view_args(coarse: str, m: int, j: int, rng: tuple[int | None, int | None]) -> dict:
    coarse_ms = int(pd.Timedelta(coarse.lower()).total_seconds() * 1000)
    start, end = (None if x is None else T0 + pd.Timedelta(minutes=x) for x in rng)
    return {"timeframe": timeframe_name(coarse_ms * m), "offset": offset_name(coarse_ms * (j % m)),
            "start": start, "end": end}


def read_both(store: KlineStore, args: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    return (store.read("okx", INST, **args), store.read("okx", INST, **args, include_incomplete=True))


def assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b)
    assert list(a.attrs.get("incomplete", [])) == list(b.attrs.get("incomplete", []))


@SETTINGS
@given(holes=HOLES, view=VIEW, rng=RANGE, k=st.floats(0.5, 2.0), vk=st.floats(0.0, 3.0))
def test_adding_a_series_over_stored_time_changes_no_bar(tmp_path_factory, holes, view, rng, k, vk) -> None:
    store = KlineStore(tmp_path_factory.mktemp("rule"), create=True, durable=False)
    fine = with_holes(holes)
    store.upsert("okx", INST, "1m", fine)
    args = view_args(*view, rng)
    before = read_both(store, args)
    # e.g. the collector's 1H bars beside `data synth`'s 1m bars, even disagreeing with them
    store.upsert("okx", INST, view[0], disagreeing(coarse_of(fine, view[0]), k, vk))
    after = read_both(store, args)
    assert_same(before[0], after[0])
    assert_same(before[1], after[1])


@SETTINGS
@given(holes=HOLES, view=VIEW, k=st.floats(0.5, 2.0), cut=st.integers(600, 2400))
def test_a_series_over_new_time_adds_bars_only_there(tmp_path_factory, holes, view, k, cut) -> None:
    store = KlineStore(tmp_path_factory.mktemp("rule"), create=True, durable=False)
    fine = with_holes(holes)
    stored = fine[fine.index < T0 + pd.Timedelta(minutes=cut)]
    store.upsert("okx", INST, "1m", stored)
    args = view_args(*view, (None, None))
    before = store.read("okx", INST, **args)
    new_time = T0 + pd.Timedelta(minutes=cut)  # the 1m series ends here; the added one goes on
    store.upsert("okx", INST, view[0], disagreeing(coarse_of(fine, view[0]), k, 1.0))
    after = store.read("okx", INST, **args)
    pd.testing.assert_frame_equal(after.loc[before.index], before)  # every bar readable before, unchanged
    added = after.index.difference(before.index)
    rule = pd.Timedelta(args["timeframe"].lower())
    assert ((added + rule) > new_time).all()  # new bars only where the store lacked time


@SETTINGS
@given(holes=HOLES, view=VIEW, rng=RANGE)
def test_adding_an_agreeing_finer_series_keeps_the_bars(tmp_path_factory, holes, view, rng) -> None:
    store = KlineStore(tmp_path_factory.mktemp("rule"), create=True, durable=False)
    fine = with_holes(holes)
    store.upsert("okx", INST, view[0], coarse_of(fine, view[0]))  # a downloaded coarse series
    args = view_args(*view, rng)
    before = store.read("okx", INST, **args)
    store.upsert("okx", INST, "1m", fine)  # the fine bars it was made of, added later
    after = store.read("okx", INST, **args)
    assert after.index.equals(before.index)
    pd.testing.assert_frame_equal(after[PRICES], before[PRICES])  # prices exactly
    # volumes up to float rounding: a sum of sums is not bit-equal to one sum
    np.testing.assert_allclose(after[["volume", "quote_volume"]], before[["volume", "quote_volume"]], rtol=1e-12)


def test_each_bar_comes_from_the_finest_series_holding_it_complete(store: KlineStore) -> None:
    day1 = BARS_1M[BARS_1M.index < T0 + pd.Timedelta("1D")]
    store.upsert("okx", INST, "1m", day1.iloc[:-90])  # 1m: day 1 up to 22:30
    hourly = disagreeing(coarse_of(BARS_1M, "1H"), 2.0, 1.0)
    store.upsert("okx", INST, "1H", hourly)  # 1H: both days, at twice the price
    got = store.read("okx", INST, "1H")
    assert len(got) == 48
    from_1m = coarse_of(day1.iloc[:-90], "1H")
    pd.testing.assert_frame_equal(got.loc[from_1m.index], from_1m[got.columns], check_freq=False)
    rest = got.index.difference(from_1m.index)  # 22:00 (incomplete in 1m) onwards: the 1H series
    pd.testing.assert_frame_equal(got.loc[rest], hourly.loc[rest, got.columns], check_freq=False)
    # a 4H bar is never stitched from two series: 20:00-24:00 is whole only in the 1H series
    four = store.read("okx", INST, "4H")
    assert four.loc[T0 + pd.Timedelta("20h"), "close"] == hourly.loc[T0 + pd.Timedelta("23h"), "close"]
    assert four.loc[T0 + pd.Timedelta("16h"), "close"] == day1.loc[T0 + pd.Timedelta("19h59min"), "close"]
    # base= reads one series only
    assert len(store.read("okx", INST, "1H", base="1m")) == 22
    pd.testing.assert_frame_equal(store.read("okx", INST, "1H", base="1H"), hourly, check_freq=False,
                                  check_index_type=False, check_names=False)

