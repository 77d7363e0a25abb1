"""Backtest execution cost per fill style, side by side (issue 12 calibration, backtest half).

Run: ``.venv/bin/python -m bench.bench_execution``. The example config over 12 synthetic swaps x
150 days of 1H bars, under the default fills, ``market`` with spread and impact, and
``maker_first``; prints each style's execution cost (fees + slippage + spread + impact, the
kernel's fee flows) and its ratio to the default. The local-exchange paper run of the same
strategy (the other half of the calibration) is not here yet.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import yaml

from qlib_local.backtest import run_backtest
from qlib_local.research import load_config
from qlib_local.research.kernels import FLOW_FEE
from qlib_local.store import KlineStore
from qlib_local.synth import SynthConfig, write_synthetic

REPO = Path(__file__).resolve().parents[1]
STYLES = {
    "default (market, slippage only)": None,
    "market spread 0.05 impact 0.1": {"style": "market", "spread": 0.05, "impact": 0.1},
    "maker_first spread 0.05 deadline 1": {"style": "maker_first", "spread": 0.05, "impact": 0.1, "deadline_bars": 1},
}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        store = KlineStore(root, create=True, durable=False)
        write_synthetic(store, SynthConfig(instruments=12, timeframe="1H", days=150, seed=3))
        raw = yaml.safe_load((REPO / "strategies" / "example.yaml").read_text())
        rows = []
        for name, ex in STYLES.items():
            cfg_raw = copy.deepcopy(raw)
            if ex is not None:
                cfg_raw["execution"] = ex
            path = Path(tmp) / "cfg.yaml"
            path.write_text(yaml.safe_dump(cfg_raw))
            res = run_backtest(load_config(path, store), store)
            cost = -float(res.flows[:, :, FLOW_FEE].sum())
            rows.append((name, len(res.orders), cost, float(res.equity["total"].iloc[-1])))
        base = rows[0][2]
        print(f"{'style':40s} {'orders':>7s} {'exec cost':>11s} {'x default':>9s} {'final equity':>13s}")
        for name, n, cost, eq in rows:
            print(f"{name:40s} {n:7d} {cost:11.2f} {cost / base if base else float('nan'):9.2f} {eq:13.2f}")


if __name__ == "__main__":
    main()
