"""Research benchmarks: the event-strategy backtest and a timing-strategy sweep vs plain pandas loops.

Run: ``.venv/bin/python -m bench.bench_research`` (or via ``python -m bench``). Data comes
from the synthetic generator in a temporary store. The pandas loops are timed on a
prefix of the bars and scaled linearly to the full length (their cost per bar is flat);
they get the same precomputed factor frames, so only the per-bar model work differs.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from qlib_local.backtest import grid_names, run_backtest, run_sweep
from qlib_local.research import FactorContext, load_market_data, parse_config
from qlib_local.specs import spec_for
from qlib_local.store import KlineStore
from qlib_local.synth import SynthConfig, generate

EVENT_INSTRUMENTS, EVENT_DAYS = 300, 730
SWEEP_INSTRUMENTS, SWEEP_DAYS = 50, 365
LOOP_BARS = 300  # bars the pandas loops run before scaling


def _store(root: Path, n: int, days: int) -> KlineStore:
    from qlib_local.specs import save_specs

    store = KlineStore(root, create=True, durable=False)
    bars, specs = generate(SynthConfig(instruments=n, timeframe="1H", days=days, seed=5))
    for inst, df in bars.items():
        store.upsert("okx", inst, "1H", df)
    save_specs(root, "okx", specs)
    return store


def _timed(fn, repeat: int = 1):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def _event_cfg(store: KlineStore):
    return parse_config(
        {
            "initial_equity": 100_000,
            "fees": {"taker": 0.0005, "slippage": 0.0002},
            "strategies": [
                {
                    "strategy_name": "BtcBullAndCoinBull_21_55",
                    "kind": "event",
                    "universe": "all",
                    "rule_type": "1H",
                    "position": 1.0,
                    "leverage": 1,
                    "hold_period": 6,
                    "max_cap_num": 6,
                    "symbol_num_limit": 10,
                    "rank_factor": "QuoteVolumeMean_24",
                    "side": "long",
                }
            ],
        },
        store,
    )


def pandas_event_loop(res, bars_limit: int) -> pd.DataFrame:
    """The event model written as a per-bar pandas loop (selection, tranches, netting, accounting)."""
    sc = res.config.strategies[0]
    ctx = FactorContext(res.data.bars[sc.id], res.config.factors)
    cand = sc.strategy.candidates(ctx)
    score = ctx.frame(sc.rank_factor)
    close = res.data.close
    specs = res.data.specs
    ct = pd.Series({i: spec_for(specs, i).ct_val for i in close.columns})
    lot = pd.Series({i: spec_for(specs, i).lot_sz for i in close.columns})
    tranches = [pd.Series(0.0, index=close.columns) for _ in range(sc.hold_period)]
    held = pd.Series(0.0, index=close.columns)
    equity, prev, rows = res.config.initial_equity, None, []
    fee, slip = res.config.fees.taker, res.config.fees.slippage
    for t, (ts, price) in enumerate(close.iloc[:bars_limit].iterrows()):
        if prev is not None:
            equity += float((held * ct * (price - prev)).sum())
        open_ts = ts - pd.Timedelta(hours=1)
        c = cand.loc[open_ts] if open_ts in cand.index else pd.Series(False, index=close.columns)
        s = (
            score.loc[open_ts].where(c & price.notna())
            if open_ts in score.index
            else pd.Series(np.nan, index=close.columns)
        )
        chosen = s.dropna().sort_values(ascending=sc.ascending, kind="stable").index[: sc.symbol_num_limit]
        slot = t % sc.hold_period
        new = pd.Series(0.0, index=close.columns)
        if len(chosen):
            per = equity * sc.position / sc.hold_period * sc.leverage / len(chosen)
            new[chosen] = np.floor(per / (price[chosen] * ct[chosen]) / lot[chosen] + 1e-9) * lot[chosen]
        tranches[slot] = new
        target = sum(tranches)
        d = target - held
        equity -= float((d.abs() * ct * price * (slip + fee)).sum())
        held, prev = target, price
        rows.append(held)
    return pd.DataFrame(rows)


def pandas_timing_loop(
    sig: pd.DataFrame,
    close: pd.DataFrame,
    ct: pd.Series,
    lot: pd.Series,
    bars_limit: int,
    equity: float = 10_000.0,
) -> float:
    """One timing-strategy account as a per-bar pandas loop."""
    held = pd.Series(0.0, index=close.columns)
    last = pd.Series(0.0, index=close.columns)
    prev = None
    n = len(close.columns)
    for ts, price in close.iloc[:bars_limit].iterrows():
        if prev is not None:
            equity += float((held * ct * (price - prev)).sum())
        s = sig.loc[ts] if ts in sig.index else pd.Series(np.nan, index=close.columns)
        change = s.notna() & (s != last)
        size = np.floor(equity / n / (price * ct) / lot + 1e-9) * lot
        new = held.where(~change, s * size)
        equity -= float(((new - held).abs() * ct * price * 0.0005).sum())
        last = last.where(~change, s)
        held, prev = new, price
    return equity


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t_gen, store = _timed(lambda: _store(Path(tmp) / "event", EVENT_INSTRUMENTS, EVENT_DAYS))
        cfg = _event_cfg(store)
        t_load, data = _timed(lambda: load_market_data(cfg, store))
        run_backtest(
            cfg, data=load_market_data(cfg, store, start="2026-12-01")
        )  # warm numba on a small window
        t_event, res = _timed(lambda: run_backtest(cfg, data=data, record_positions=False), repeat=2)
        t_loop, _ = _timed(lambda: pandas_event_loop(res, LOOP_BARS))
        bars = len(data.index)
        t_loop_full = t_loop * bars / LOOP_BARS
        print(
            f"event backtest: {EVENT_INSTRUMENTS} instruments x {bars} 1H bars, hold_period 6 "
            f"(data written {t_gen:.1f}s, loaded {t_load:.1f}s)"
        )
        print(
            f"  vectorized {t_event:.2f}s (goal < 5s) | pandas loop {t_loop:.2f}s for {LOOP_BARS} bars "
            f"-> {t_loop_full:.1f}s scaled | ratio {t_loop_full / t_event:.0f}x"
        )

        store2 = _store(Path(tmp) / "sweep", SWEEP_INSTRUMENTS, SWEEP_DAYS)
        insts = store2.instruments("okx")
        cfg2 = parse_config(
            {
                "strategies": [
                    {
                        "strategy_name": "SmaCross_20_60",
                        "kind": "timing",
                        "instruments": insts,
                        "rule_type": "1H",
                        "position": 1.0,
                        "leverage": 1,
                    }
                ]
            },
            store2,
        )
        data2 = load_market_data(cfg2, store2)
        grid = {"fast": list(range(5, 55, 5)), "slow": list(range(60, 260, 20))}
        names = grid_names("SmaCross", grid)
        run_sweep(
            cfg2, load_market_data(cfg2, store2, start="2025-12-25"), "SmaCross_20_60", names[:2]
        )  # warm
        t_sweep, eq = _timed(lambda: run_sweep(cfg2, data2, "SmaCross_20_60", names))
        specs = data2.specs
        close = data2.close
        ct = pd.Series({i: spec_for(specs, i).ct_val for i in close.columns})
        lot = pd.Series({i: spec_for(specs, i).lot_sz for i in close.columns})
        bars2 = data2.bars["SmaCross_20_60"].close
        sig = np.sign(bars2.rolling(20).mean() - bars2.rolling(60).mean())
        sig.index = sig.index + pd.Timedelta(hours=1)
        t_one, _ = _timed(lambda: pandas_timing_loop(sig, close, ct, lot, LOOP_BARS))
        t_sweep_loop = t_one * len(close) / LOOP_BARS * len(names)
        print(
            f"timing sweep: {len(names)} SmaCross combinations x {SWEEP_INSTRUMENTS} instruments x {len(close)} 1H bars"
        )
        print(
            f"  vectorized {t_sweep:.2f}s | pandas loop {t_one:.2f}s for 1 combination x {LOOP_BARS} bars "
            f"-> {t_sweep_loop:.0f}s scaled | ratio {t_sweep_loop / t_sweep:.0f}x"
        )
        assert eq.shape == (len(close), len(names))


if __name__ == "__main__":
    main()
