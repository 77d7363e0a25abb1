"""``rebalance: keep`` vs ``resize`` on real 1H data: net order events and final equity.

Reads the ten BTC-quoted Binance pairs of ``/work/shared/data/real`` (5m, January 2018;
see its README), resamples them to 1H into a temporary store and backtests one event
strategy (RankOnly: the top ``symbol_num_limit`` by 24-bar momentum, every bar) with each
``rebalance`` mode and ``min_trade``. Skipped (one line) when the folder is absent: the
project's tests never depend on it.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow.feather as feather

REAL = Path("/work/shared/data/real")
RUNS = [("resize", 0.0), ("keep", 0.0), ("resize", 0.02), ("resize", 0.2)]
SETUPS = [{"hold_period": 1, "symbol_num_limit": 3}, {"hold_period": 3, "symbol_num_limit": 3}]


def real_store(root: Path):
    """The real 5m pairs as 1H bars (a bar needs at least one 5m bar) in a store under ``root``."""
    from qlib_local.store import KlineStore

    store = KlineStore(root, create=True, durable=False)
    names = []
    for path in sorted(REAL.glob("*_BTC-5m.feather")):
        df = feather.read_table(path).to_pandas().set_index("date").sort_index()
        df.index = pd.DatetimeIndex(df.index).tz_convert("UTC")
        h = df.resample("1h").agg({"open": "first", "high": "max", "low": "min", "close": "last",
                                   "volume": "sum"}).dropna(subset=["close"])
        h["quote_volume"] = h["volume"] * h["close"]
        inst = path.name.split("_")[0] + "-BTC-SWAP"
        store.upsert("real", inst, "1H", h)
        names.append(inst)
    return store, names


def run(store, names: list[str], setup: dict, rebalance: str, min_trade: float) -> tuple[int, float]:
    """(net order events, final equity) of the strategy with one rebalance setting."""
    from qlib_local.backtest import run_backtest
    from qlib_local.research.config_load import parse_config

    raw = {"exchange": "real", "initial_equity": 10_000, "funding": "off", "fees": {"taker": 0.0005, "slippage": 0.0002},
           "strategies": [{"strategy_name": "RankOnly", "kind": "event", "universe": names, "rule_type": "1H",
                           "position": 1.0, "leverage": 1, "max_cap_num": setup["hold_period"],
                           "rank_factor": "Momentum_24", "ascending": False, "side": "long",
                           "rebalance": rebalance, "min_trade": min_trade, **setup}]}
    res = run_backtest(parse_config(raw, store), store)
    moved = (res.positions.diff().fillna(res.positions) != 0).to_numpy().sum()
    return int(moved), float(res.equity["total"].iloc[-1])


def main() -> None:
    if not REAL.is_dir():
        print(f"bench_rebalance: skipped, {REAL} is absent")
        return
    with tempfile.TemporaryDirectory() as tmp:
        store, names = real_store(Path(tmp))
        for setup in SETUPS:
            base = None
            for rebalance, min_trade in RUNS:
                orders, equity = run(store, names, setup, rebalance, min_trade)
                base = base or orders
                print(f"hold_period {setup['hold_period']}, top {setup['symbol_num_limit']}: "
                      f"{rebalance:<6} min_trade {min_trade:<4} orders {orders:5d} ({orders / base - 1:+.0%})"
                      f"  final equity {equity:,.2f}")


if __name__ == "__main__":
    sys.exit(main())
