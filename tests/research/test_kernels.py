"""Lot rounding: exact at any size, one rule in the kernel, the specs and order planning."""

from __future__ import annotations

import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from qlib_local.live.planning import lots
from qlib_local.research.kernels import floor_lots
from qlib_local.specs import InstrumentSpec

EPS = sys.float_info.epsilon
LOTS = st.sampled_from([0.001, 0.01, 0.1, 1.0, 10.0])


def decimal_lots(n: int, lot: float) -> float:
    """The float nearest to n lots written in decimal (55439717 x 0.001 -> 55439.717)."""
    return float(f"{n * round(lot * 1000)}e-3")


def all_three(x: float, lot: float) -> float:
    """The kernel, the spec and the order planner agree bit for bit on ``x >= 0``; returns their result."""
    spec = InstrumentSpec("X-USDT-SWAP", lot_sz=lot)
    r = floor_lots(x, lot)
    assert r == spec.round_lots(x) == lots(x, spec, nearest=False)
    assert spec.round_lots(-x) == -r
    return r


def test_a_target_of_55439_717_contracts_is_55439_717():
    assert all_three(55439.717, 0.001) == 55439.717
    assert all_three(55439.7179, 0.001) == 55439.717
    assert all_three(0.37, 0.1) == 0.3 and all_three(0.0, 0.1) == 0.0
    assert floor_lots(-5.0, 1.0) == 0.0 and InstrumentSpec("X", lot_sz=1.0).round_lots(-5.5) == -5.0


@settings(max_examples=500, deadline=None)
@given(n=st.integers(0, 10**12), lot=LOTS)
def test_a_whole_number_of_lots_is_kept_exactly(n, lot):
    x = decimal_lots(n, lot)
    assert all_three(x, lot) == x


@settings(max_examples=500, deadline=None)
@given(n=st.integers(0, 10**12), frac=st.floats(0.0, 1.0, exclude_max=True), lot=LOTS)
def test_floor_is_a_lot_multiple_never_above_and_never_a_lot_below(n, frac, lot):
    x = (n + frac) * lot
    r = all_three(x, lot)
    k = round(r / lot)
    assert r == decimal_lots(k, lot)  # a lot multiple, to float precision
    assert r <= x * (1 + 8 * EPS)  # never above x, beyond the rounding of x itself
    assert x / lot - k < 1 + 8 * EPS * (x / lot)  # never a whole lot below
