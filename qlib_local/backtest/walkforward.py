"""Walk-forward: choose parameters in-sample, trade them out of sample, stitch the OOS curve.

Splits run on the sweep's base timeline, by bars or by time (``60d``): rolling (train
windows of fixed length slide by ``step``) or anchored (every train window starts at the
first bar). On each train window the sweep picks the combination with the best ``metric``
(non-finite values, e.g. the infinite Sharpe of a curve that never moves, are not eligible;
ties go to the lower combination id); the next test window trades it.

No lookahead: each window is cut from the loaded data so that its panels hold only the bars
closed by the window's last close (:meth:`~qlib_local.backtest.groups.DataGroup.window`);
the choice sees nothing after its train window, and a test window's factors nothing after
it. Earlier history stays available to warm factors up.

Each test window is its own account: it starts FLAT with the equity the previous window
ended with, and ends flat: positions held at its last close are closed there at
close x (1 -/+ slippage) with the taker fee, so every switch of parameters pays its costs.
A window where no combination qualifies stays in cash. The test windows' equity stitches
into one out-of-sample curve.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from qlib_local.backtest.engine import BacktestResult, run_backtest
from qlib_local.backtest.grid import GridError, SweepPlan
from qlib_local.backtest.groups import load_groups
from qlib_local.backtest.stats import return_stats
from qlib_local.backtest.sweep import DEFAULT_MEMORY_MB, LocalExecutor, metric_column, sweep_groups
from qlib_local.perp.contracts import unit_notional, unit_value
from qlib_local.timeframes import parse_timeframe

REPORTED = ("total_return", "annualized_return", "sharpe_ratio", "max_drawdown", "calmar_ratio")
_VBT_NAMES = {"total": "total_return", "annualized": "annualized_return"}


@dataclass(frozen=True)
class Split:
    """Bar positions [start, stop) of a train window and of the test window after it."""

    train: tuple[int, int]
    test: tuple[int, int]


def bars_of(length: int | str | pd.Timedelta, bar: pd.Timedelta, what: str) -> int:
    """A window length as a whole number (>= 1) of base bars: ``90`` bars, or ``"15d"``."""
    if isinstance(length, bool):
        raise GridError(f"{what}: expected a number of bars or a duration such as 15d, got {length!r}")
    if isinstance(length, int | np.integer) or (isinstance(length, str) and length.strip().isdigit()):
        n = int(length)
    else:
        try:
            text = str(length).strip()
            span = pd.Timedelta(text[:-1] + "D" if text.endswith("d") else text)  # pandas 3 spells days D
        except (ValueError, TypeError):
            raise GridError(f"{what}: expected a number of bars or a duration such as 15d, got {length!r}") from None
        if pd.isna(span) or span % bar != pd.Timedelta(0):
            raise GridError(f"{what}: {length} is not a whole number of {bar} bars")
        n = int(span / bar)
    if n < 1:
        raise GridError(f"{what}: must be at least one bar, got {length!r}")
    return n


def make_splits(n_bars: int, train: int, test: int, step: int | None = None, anchored: bool = False) -> list[Split]:
    """Train/test windows over ``n_bars`` bars; only whole test windows; ``step`` defaults to ``test``."""
    step = test if step is None else step
    if step < test:
        raise GridError(f"step: {step} bars is shorter than the test window ({test} bars); test windows would overlap")
    out = []
    k = 0
    while k * step + train + test <= n_bars:
        cut = k * step + train
        out.append(Split((0 if anchored else k * step, cut), (cut, cut + test)))
        k += 1
    if not out:
        raise GridError(f"walk-forward needs at least train + test = {train + test} bars; the data has {n_bars}")
    return out


def exit_cost(res: BacktestResult) -> float:
    """Slippage and taker fee of closing every position held at the last close."""
    q = res.positions.iloc[-1].to_numpy()
    close = res.data.close.reindex(columns=res.model.instruments).iloc[-1].to_numpy()
    fees = res.config.fees
    cost = 0.0
    for i in np.flatnonzero(q != 0):
        d, ct, kind = -q[i], res.model.ct_val[i], res.model.ct_type[i]
        fill = close[i] * (1.0 + fees.slippage * np.sign(d))
        cost += d * (unit_value(fill, ct, kind) - unit_value(close[i], ct, kind))
        cost += abs(d) * unit_notional(fill, ct, kind) * fees.taker
    return float(cost)


@dataclass
class WalkForward:
    """Per window: bounds, the combination chosen and its in-sample vs out-of-sample statistics;
    the stitched out-of-sample equity; a summary (the same side by side for the whole run)."""

    windows: pd.DataFrame
    equity: pd.Series
    summary: dict
    tables: list[pd.DataFrame] = field(default_factory=list)  # each train window's sweep (kept in memory only)

    def write(self, out: str | Path) -> dict[str, Path]:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"windows": out / "windows.csv", "equity": out / "oos_equity.csv", "summary": out / "summary.json"}
        self.windows.to_csv(paths["windows"], index=False)
        self.equity.rename("equity").to_csv(paths["equity"], index_label="timestamp")
        paths["summary"].write_text(json.dumps(self.summary, indent=1, default=str))
        return paths

    @classmethod
    def read(cls, out: str | Path) -> WalkForward:
        out = Path(out)
        dates = ["train_start", "train_end", "test_start", "test_end"]
        windows = pd.read_csv(out / "windows.csv", parse_dates=dates)
        equity = pd.read_csv(out / "oos_equity.csv", index_col="timestamp", parse_dates=True)["equity"]
        return cls(windows, equity, json.loads((out / "summary.json").read_text()))


def _finite(v) -> float | None:
    return float(v) if v is not None and np.isfinite(v) else None


def _stats(equity: pd.Series, freq: pd.Timedelta, start_value: float) -> dict:
    raw = return_stats(equity, freq, start_value)
    return {_VBT_NAMES.get(k, k): v for k, v in raw.items()}


def walk_forward(plan: SweepPlan, store, train, test, step=None, anchored: bool = False, metric: str = "sharpe",
                 start=None, end=None, funding=None, mark=None, memory_mb: float = DEFAULT_MEMORY_MB,
                 parallel: bool = True, threads: int | None = None, executor=None, margin: bool = True) -> WalkForward:
    """Walk ``plan`` forward over the store (see the module docstring)."""
    col = metric_column(metric)
    configs = {k: plan.configs[k] for k in plan.valid}
    if not configs:
        raise GridError("no valid combination in the grid")
    groups = load_groups(configs, store, start, end, funding=funding, mark=mark)
    if len(groups) > 1:
        raise GridError("walk-forward needs every combination on one data timeline; the grid changes the account's "
                        "instruments or exchange")
    group = groups[0]
    bar = pd.Timedelta(milliseconds=parse_timeframe(group.data.base_tf))
    n_train, n_test = bars_of(train, bar, "train"), bars_of(test, bar, "test")
    n_step = None if step is None else bars_of(step, bar, "step")
    splits = make_splits(len(group.index), n_train, n_test, n_step, anchored)
    executor = executor or LocalExecutor(parallel, threads)
    idx = group.index
    rows, curves, tables = [], [], []
    carried = plan.base.initial_equity
    for w, sp in enumerate(splits):
        table, _ = sweep_groups([group.window(idx[sp.train[0]], idx[sp.train[1] - 1])], configs, executor,
                                memory_mb, margin)
        tables.append(table)
        score = table[col].to_numpy(np.float64)
        ok = np.isfinite(score)
        test_group = group.window(idx[sp.test[0]], idx[sp.test[1] - 1])
        row = {"window": w, "train_start": idx[sp.train[0]], "train_end": idx[sp.train[1] - 1],
               "test_start": idx[sp.test[0]], "test_end": idx[sp.test[1] - 1], "candidates": int(ok.sum())}
        if ok.any():
            best = int(table.index[ok][np.argmax(score[ok])])
            cfg = replace(configs[best], initial_equity=carried)
            res = run_backtest(cfg, data=test_group.market(cfg), record_positions=False, margin=margin)
            eq = res.equity["total"].copy()
            cost = exit_cost(res)
            eq.iloc[-1] -= cost
            row.update(combination=best, **dict(zip(plan.labels, plan.values[best], strict=True)))
            row.update({f"is_{s}": float(table.at[best, s]) for s in REPORTED})
        else:
            best, cost = None, 0.0
            eq = pd.Series(carried, index=test_group.index)
            row.update(combination=pd.NA, **dict.fromkeys(plan.labels, pd.NA))
            row.update({f"is_{s}": np.nan for s in REPORTED})
        oos = _stats(eq, bar, carried)
        row.update({f"oos_{s}": oos[s] for s in REPORTED})
        row.update(oos_exit_cost=cost, oos_start_value=carried, oos_end_value=float(eq.iloc[-1]))
        rows.append(row)
        curves.append(eq)
        carried = float(eq.iloc[-1])
    windows = pd.DataFrame(rows)
    windows["combination"] = windows["combination"].astype("Int64")
    equity = pd.concat(curves)
    equity.name = "equity"
    oos_all = _stats(equity, bar, plan.base.initial_equity)
    is_mean = {s: _finite(windows[f"is_{s}"].astype(float).mean()) for s in REPORTED}
    summary = {
        "metric": col, "anchored": anchored, "windows": len(splits), "base_timeframe": group.data.base_tf,
        "train_bars": n_train, "test_bars": n_test, "step_bars": n_step or n_test, "axes": plan.labels,
        "combinations": len(plan), "invalid_combinations": len(plan.errors),
        "in_sample_mean": is_mean, "out_of_sample": {s: oos_all[s] for s in REPORTED},
        "start_value": plan.base.initial_equity, "end_value": float(equity.iloc[-1]),
        # walk-forward efficiency: annualized return out of sample over in sample
        "efficiency": (_finite(oos_all["annualized_return"] / is_mean["annualized_return"])
                       if oos_all["annualized_return"] is not None and is_mean["annualized_return"] else None),
    }
    return WalkForward(windows, equity, summary, tables)
