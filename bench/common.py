"""Timing helpers shared by the benchmark modules."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


def best_of(fn: Callable[[], object], repeat: int = 5) -> float:
    """Median wall time of ``repeat`` runs (after one warm-up), in seconds."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


@dataclass
class Result:
    name: str
    ours_s: float
    reference: str = ""
    reference_s: float | None = None
    goal: str = ""
    met: bool | None = None

    def line(self) -> str:
        ratio = f"{self.reference_s / self.ours_s:8.1f}x" if self.reference_s else " " * 9
        ref = f"{self.reference}: {self.reference_s:.3f}s" if self.reference_s is not None else ""
        verdict = {True: "met", False: "MISSED", None: ""}[self.met]
        return f"{self.name:<58} {self.ours_s:8.3f}s {ratio}  {ref:<36} {self.goal:<28} {verdict}"


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def report(title: str, results: list[Result]) -> None:
    print(f"\n== {title} ==")
    print(f"{'benchmark':<58} {'ours':>9} {'speed-up':>9}  {'reference':<36} {'goal':<28}")
    for r in results:
        print(r.line())
