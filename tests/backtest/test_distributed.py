"""The same sweep and walk-forward on a local Ray instance (2 CPUs): results identical to the serial run."""

from __future__ import annotations

import pandas as pd
import ray

from qlib_local.backtest import plan_sweep, sweep
from qlib_local.backtest.distributed import RayExecutor
from qlib_local.backtest.walkforward import walk_forward


def test_ray_sweep_and_walk_forward_equal_the_serial_run_and_ray_shuts_down(hourly_store, example_raw):
    grid = {"SmaCross_20_60": {"strategy_name": {"fast": [5, 10, 20], "slow": [30, 60]}, "rule_type": ["1H", "4H"]},
            "BtcBullAndCoinBull_21_55": {"symbol_num_limit": [1, 3]}}
    plan = plan_sweep(example_raw, grid, hourly_store)
    serial = sweep(plan, hourly_store, parallel=False, memory_mb=0.05)  # several chunks, so several Ray tasks
    assert len(serial.chunks) > 2
    wf_plan = plan_sweep(example_raw, {"SmaCross_20_60": {"strategy_name": {"fast": [5, 10], "slow": [30, 60]}}},
                         hourly_store, strategies=["SmaCross_20_60"])
    wf_serial = walk_forward(wf_plan, hourly_store, "10d", "5d", parallel=False)
    assert not ray.is_initialized()
    with RayExecutor(num_cpus=2) as executor:
        assert ray.is_initialized() and ray.cluster_resources()["CPU"] == 2 and executor.in_flight == 2
        on_ray = sweep(plan, hourly_store, memory_mb=0.05, executor=executor)
        wf_ray = walk_forward(wf_plan, hourly_store, "10d", "5d", executor=executor)
    assert not ray.is_initialized()  # the instance it started is shut down
    assert len(on_ray.chunks) > 2 and sum(c.combinations for c in on_ray.chunks) == 24
    pd.testing.assert_frame_equal(on_ray.table, serial.table, check_exact=True)
    assert on_ray.table["sharpe_ratio"].notna().all() and on_ray.table["sharpe_ratio"].nunique() > 12
    pd.testing.assert_frame_equal(wf_ray.windows, wf_serial.windows, check_exact=True)
    pd.testing.assert_series_equal(wf_ray.equity, wf_serial.equity, check_exact=True)
