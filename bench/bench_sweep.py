"""Sweep benchmarks: our grid sweep against vectorbt's ``Portfolio.from_signals``, and a
10,000-combination sweep's time and peak memory.

Run: ``.venv/bin/python -m bench.bench_sweep`` (or via ``python -m bench``). Data: 50
synthetic instruments x 1 year of 1H bars in a temporary store, loaded once outside the
timings.

The vectorbt reference does the same work per combination: SMA crossover signals on the
same closes (long above, short below), one account per combination over all 50
instruments (``group_by`` + ``cash_sharing``), fees and slippage, then the same
statistics (total return, Sharpe, max drawdown). Ours: ``sweep_groups`` on the loaded
group, serial and with numba threads. The 10,000-combination sweep runs in a fresh
subprocess so its peak RSS is its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import vectorbt as vbt

from bench.bench_research import _store

INSTRUMENTS, DAYS = 50, int(os.environ.get("BENCH_SWEEP_DAYS", 365))
FAST, SLOW = list(range(5, 55, 5)), list(range(60, 260, 20))  # 10 x 10 = 100 combinations
BIG_GRID_EXTRA = {"leverage": [1, 2, 3, 4, 5], "volatility_ratio": [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3,
                                                                     1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0, 2.1, 2.2,
                                                                     2.3, 2.4]}  # x 100 = 10,000


def raw_config(instruments: list[str]) -> dict:
    return {"exchange": "okx", "initial_equity": 100_000, "fees": {"taker": 0.0005, "slippage": 0.0002},
            "strategies": [{"strategy_name": "SmaCross_20_60", "kind": "timing", "instruments": instruments,
                            "rule_type": "1H", "position": 1.0, "leverage": 1}]}


def ours(plan, group, parallel: bool) -> pd.DataFrame:
    from qlib_local.backtest.sweep import LocalExecutor, sweep_groups

    configs = {k: plan.configs[k] for k in plan.valid}
    return sweep_groups([group], configs, LocalExecutor(parallel))[0]


def vectorbt_sweep(close: pd.DataFrame) -> pd.DataFrame:
    """The same grid with vectorbt: signals, one cash-sharing account per combination, statistics."""
    fast = vbt.MA.run(close, FAST, short_name="fast")
    slow = vbt.MA.run(close, SLOW, short_name="slow")
    rows = [(f, s) for f in FAST for s in SLOW]
    fast_ma = np.concatenate([fast.ma[f].to_numpy() for f, _ in rows], axis=1)
    slow_ma = np.concatenate([slow.ma[s].to_numpy() for _, s in rows], axis=1)
    above, below = fast_ma > slow_ma, fast_ma < slow_ma
    n = close.shape[1]
    cols = pd.MultiIndex.from_tuples([(f, s, c) for f, s in rows for c in close.columns], names=["fast", "slow", "i"])
    wide = pd.DataFrame(np.tile(close.to_numpy(), (1, len(rows))), index=close.index, columns=cols)
    pf = vbt.Portfolio.from_signals(
        wide, entries=above, exits=below, short_entries=below, short_exits=above, size=100_000 / n,
        size_type="value", fees=0.0005, slippage=0.0002, init_cash=100_000, cash_sharing=True,
        group_by=["fast", "slow"], freq="1h")
    return pd.DataFrame({"total_return": pf.total_return(), "sharpe_ratio": pf.sharpe_ratio(),
                         "max_drawdown": pf.max_drawdown()})


def _timed(fn, repeat: int = 2):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


BIG = """
import json, sys, time
from qlib_local.backtest.grid import plan_sweep
from qlib_local.backtest.sweep import sweep
from qlib_local.store import KlineStore
def peak_mb():
    # VmHWM: this process's own high-water mark. Not ru_maxrss: Linux carries that over fork and
    # exec, so a child of a large parent reports the parent's peak (the 5.2 GB once published here).
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
store = KlineStore(sys.argv[1])
cfg, grid = json.loads(sys.argv[2]), json.loads(sys.argv[3])
t = time.perf_counter()
plan = plan_sweep(cfg, grid, store)
t_plan = time.perf_counter() - t
rss_before = peak_mb()  # imports, data-free plan
t = time.perf_counter()
res = sweep(plan, store, parallel=sys.argv[4] == "parallel")
t_run = time.perf_counter() - t
assert len(res.table) == 10_000 and res.table["sharpe_ratio"].notna().all()
print(json.dumps({"plan_s": t_plan, "sweep_s": t_run, "chunks": len(res.chunks),
                  "max_intents": max(c.intents for c in res.chunks),
                  "rss_before_mb": rss_before,
                  "peak_rss_mb": peak_mb()}))
"""


def big_sweep(root: Path, instruments: list[str], parallel: bool) -> dict:
    cfg = raw_config(instruments)
    grid = {"SmaCross_20_60": {"strategy_name": {"fast": FAST, "slow": SLOW}, **BIG_GRID_EXTRA}}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                        os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", BIG, str(root), json.dumps(cfg), json.dumps(grid),
                          "parallel" if parallel else "serial"], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    from qlib_local.backtest.grid import plan_sweep
    from qlib_local.backtest.groups import load_groups

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "sweep"
        store = _store(root, INSTRUMENTS, DAYS)
        insts = store.instruments("okx")
        grid = {"SmaCross_20_60": {"strategy_name": {"fast": FAST, "slow": SLOW}}}
        plan = plan_sweep(raw_config(insts), grid, store)
        configs = {k: plan.configs[k] for k in plan.valid}
        group = load_groups(configs, store)[0]
        close = group.data.close.reindex(columns=insts)
        print(f"\n== sweep vs vectorbt: {len(plan)} SmaCross combinations x {INSTRUMENTS} instruments x "
              f"{len(group.index)} 1H bars, one account per combination ==")
        ours(plan, group, False), ours(plan, group, True)  # compile
        t_serial, table = _timed(lambda: ours(plan, group, False))
        t_parallel, table_p = _timed(lambda: ours(plan, group, True))
        pd.testing.assert_frame_equal(table, table_p, check_exact=True)
        vectorbt_sweep(close.iloc[:300])  # compile
        t_vbt, ref = _timed(lambda: vectorbt_sweep(close), repeat=1)
        assert len(ref) == len(table) == len(plan)
        print(f"  ours serial   {t_serial:7.2f}s  vectorbt {t_vbt:7.2f}s  ratio {t_vbt / t_serial:5.1f}x (goal >= 5x)")
        print(f"  ours parallel {t_parallel:7.2f}s  ({os.cpu_count()} cores)     ratio {t_vbt / t_parallel:5.1f}x"
              f"  (load average {os.getloadavg()[0]:.1f})")
        for mode in ("serial", "parallel"):
            big = big_sweep(root, insts, mode == "parallel")
            print(f"  10,000 combinations ({mode}): plan {big['plan_s']:.1f}s "
                  f"({big['plan_s'] / 10:.2f} ms per combination), sweep {big['sweep_s']:.1f}s, "
                  f"{big['chunks']} chunk(s) of <= {big['max_intents']} signals, peak RSS {big['peak_rss_mb']:.0f} MB "
                  f"({big['rss_before_mb']:.0f} MB before the sweep: imports and the plan), "
                  f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
