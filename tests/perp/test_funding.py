"""The funding schedule."""

from __future__ import annotations

import numpy as np

from qlib_local.perp import FUNDING_INTERVAL_MS, funding_times, is_funding_time
from qlib_local.timeframes import HOUR_MS, to_ms


def test_eight_hour_schedule_at_midnight_eight_and_sixteen_utc():
    t = funding_times(to_ms("2025-01-01T00:00:00Z"), to_ms("2025-01-02T00:00:00Z"))
    hours = [(int(x) // HOUR_MS) % 24 for x in t]
    assert hours == [8, 16, 0]  # (start, end]: midnight of the start is not inside
    assert all(is_funding_time(int(x), FUNDING_INTERVAL_MS) for x in t)
    assert not is_funding_time(to_ms("2025-01-01T01:00:00Z"), FUNDING_INTERVAL_MS)


def test_other_intervals_and_empty_spans():
    t = funding_times(to_ms("2025-01-01T00:00:00Z"), to_ms("2025-01-01T12:00:00Z"), 4 * HOUR_MS)
    assert [(int(x) // HOUR_MS) % 24 for x in t] == [4, 8, 12]
    assert funding_times(5, 5).size == 0 and funding_times(0, 10, 0).dtype == np.int64
