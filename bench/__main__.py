"""Run every benchmark module's ``main()``; figures go in docs/benchmarks.md."""

from __future__ import annotations

import importlib
import sys

from bench.common import machine

MODULES = [
    "bench.bench_store",
    "bench.bench_research",
    "bench.bench_perp",
    "bench.bench_sweep",
    "bench.bench_rebalance",
    "bench.bench_sim",
    "bench.bench_marketdata",
    "bench.bench_live",
    "bench.bench_cli",
]


def main(argv: list[str]) -> int:
    wanted = [m for m in MODULES if not argv or any(a in m for a in argv)]
    print(f"machine: {machine()}")
    for name in wanted:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:
                continue
            raise
        mod.main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
