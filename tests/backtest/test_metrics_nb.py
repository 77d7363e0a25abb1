"""The batch kernel's return metrics (numba) equal vectorbt's own, NaN returns included."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import vectorbt  # noqa: F401  (registers the .vbt accessor)
from hypothesis import given, settings
from hypothesis import strategies as st

from qlib_local.backtest.metrics_nb import N_METRICS, return_metrics_nb
from qlib_local.backtest.stats import RETURN_METRICS

STEPS = st.one_of(st.just(0.0), st.just(float("nan")), st.floats(-0.2, -1e-5), st.floats(1e-5, 0.2))


def vectorbt_metrics(r: np.ndarray) -> list[float]:
    acc = pd.Series(r, index=pd.date_range("2025-01-01", periods=len(r), freq="h")).vbt.returns(freq="1h")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [float(getattr(acc, m)()) for m in RETURN_METRICS]


@settings(max_examples=80)
@given(st.lists(STEPS, min_size=1, max_size=120))
def test_numba_metrics_equal_vectorbt(steps):
    r = np.array(steps, dtype=np.float64)
    out = np.empty(N_METRICS)
    return_metrics_nb(r, 8760.0, out)
    for name, ours, theirs in zip(RETURN_METRICS, out, vectorbt_metrics(r), strict=True):
        if math.isnan(theirs):
            assert math.isnan(ours), (name, ours)
        else:
            assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12), (name, ours, theirs)


def test_the_sweep_path_does_not_import_vectorbt():
    import subprocess
    import sys

    code = "import sys, qlib_local.backtest.sweep, qlib_local.backtest.walkforward; print('vectorbt' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
