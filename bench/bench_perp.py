"""What funding costs, and what funding and margin cost the backtest.

1. The example strategies (``strategies/example.yaml``) on synthetic swaps whose funding
   follows their own prices, with stored funding (and mark prices) and without: final
   equity, funding paid and received per strategy.
2. The event backtest of ``bench_research`` (300 instruments x 2 years of 1H, hold_period 6)
   with funding and margin on, against both off: wall time of the warm kernel run (goal:
   under 1.5 s on an idle machine). The machine's load average is printed beside it.

Run: ``.venv/bin/python -m bench.bench_perp`` (or ``python -m bench perp``).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from qlib_local.backtest import run_backtest
from qlib_local.backtest.stats import flow_totals
from qlib_local.research import load_config, load_market_data, parse_config
from qlib_local.specs import save_specs
from qlib_local.store import KlineStore
from qlib_local.synth import SynthConfig, generate, generate_perp, write_synthetic

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "strategies" / "example.yaml"
EXAMPLE_DATA = SynthConfig(instruments=20, timeframe="1H", days=365, seed=21, funding=True, mark=True)
EVENT_INSTRUMENTS, EVENT_DAYS = 300, 730
GOAL_S = 1.5


def _timed(fn, repeat: int = 3):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def example_with_and_without_funding(tmp: Path) -> None:
    store = KlineStore(tmp / "example", create=True, durable=False)
    write_synthetic(store, EXAMPLE_DATA)
    cfg = load_config(EXAMPLE, store)
    runs = {"with funding": load_market_data(cfg, store), "without": load_market_data(cfg, store, funding={})}
    print(f"\n== funding: example strategies, {EXAMPLE_DATA.instruments} synthetic swaps x {EXAMPLE_DATA.days:g} days "
          f"of 1H (funding tied to each swap's own prices, mark prices stored) ==")
    print(f"{'run':<14} {'strategy':<26} {'final equity':>13} {'funding paid':>13} {'received':>10} {'net':>9}")
    for name, data in runs.items():
        res = run_backtest(cfg, data=data)
        flows = flow_totals(res)
        for sid in [*res.model.strategies, "account"]:
            eq = res.equity["total" if sid == "account" else sid].iloc[-1]
            f = flows[sid]
            print(f"{name:<14} {sid:<26} {eq:13,.2f} {f['funding_paid'] + 0.0:13,.2f} {f['funding_received']:10,.2f} "
                  f"{f['funding_received'] - f['funding_paid']:9,.2f}")


def _event_store(root: Path) -> KlineStore:
    store = KlineStore(root, create=True, durable=False)
    cfg = SynthConfig(instruments=EVENT_INSTRUMENTS, timeframe="1H", days=EVENT_DAYS, seed=5)
    bars, specs = generate(cfg)
    funding, _ = generate_perp(cfg, bars, specs)
    for inst, df in bars.items():
        store.upsert("okx", inst, "1H", df)
        store.upsert_funding("okx", inst, funding[inst])
    save_specs(root, "okx", specs)
    return store


def event_speed(tmp: Path) -> None:
    from bench.bench_research import _event_cfg

    t_write, store = _timed(lambda: _event_store(tmp / "event"), repeat=1)
    cfg = _event_cfg(store)
    on = parse_config({**_raw(cfg), "funding": "on", "margin": True}, store)
    off = parse_config({**_raw(cfg), "funding": "off", "margin": False}, store)
    t_load, data_on = _timed(lambda: load_market_data(on, store), repeat=1)
    data_off = load_market_data(off, store)
    for c in (on, off):  # compile the kernels of both runs
        run_backtest(c, data=load_market_data(c, store, start="2026-12-01"), record_positions=False)
    t_on, res = _timed(lambda: run_backtest(on, data=data_on, record_positions=False))
    t_off, _ = _timed(lambda: run_backtest(off, data=data_off, record_positions=False))
    load = os.getloadavg()
    settlements = int((data_on.funding != 0).to_numpy().sum())
    print(f"\n== funding and margin: event backtest, {EVENT_INSTRUMENTS} instruments x {len(data_on.index)} 1H bars, "
          f"{settlements:,} settlements (data written {t_write:.1f}s, loaded {t_load:.1f}s) ==")
    print(f"  funding + margin on  {t_on:6.2f}s  (goal < {GOAL_S}s on an idle machine: "
          f"{'met' if t_on < GOAL_S else 'MISSED'})")
    print(f"  both off             {t_off:6.2f}s  (on/off {t_on / t_off:.2f}x)")
    print(f"  load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores; "
          f"final equity {res.equity['total'].iloc[-1]:,.0f}")


def _raw(cfg) -> dict:
    """The event config as a mapping again (so funding and margin can be switched)."""
    sc = cfg.strategies[0]
    return {"initial_equity": cfg.initial_equity, "fees": {"taker": cfg.fees.taker, "slippage": cfg.fees.slippage},
            "strategies": [{"strategy_name": sc.strategy_name, "kind": "event", "universe": "all",
                            "rule_type": sc.rule_type, "position": sc.position, "leverage": sc.leverage,
                            "hold_period": sc.hold_period, "max_cap_num": sc.max_cap_num,
                            "symbol_num_limit": sc.symbol_num_limit, "rank_factor": sc.rank_factor, "side": sc.side}]}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        example_with_and_without_funding(Path(tmp))
        event_speed(Path(tmp))


if __name__ == "__main__":
    main()
