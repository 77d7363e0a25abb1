"""CLI responsiveness: ``qlib-local --help``, and ``qlib-local backtest`` end to end beside the
engine time inside it, without and with the report notebook.

Run: ``.venv/bin/python -m bench.bench_cli`` (or via ``python -m bench``). Every figure is a
fresh process, as a user types it; the data is the demo's (12 synthetic swaps, 100 days of 1H
bars) in a temporary store. "warm": numba's on-disk cache already holds the kernels (one run
before the timed ones).
"""

from __future__ import annotations

import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "qlib_local"]
CONFIG = REPO / "strategies" / "example.yaml"
REPEAT = 3
GOALS = {"help": 0.5, "backtest": 3.0, "report": 12.0}


def _cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)  # the command and the kernel it waited for
    return use.ru_utime + use.ru_stime


def _run(args: list[str], cwd: Path) -> tuple[float, float, str]:
    """(wall s, CPU s, stdout) of one fresh process."""
    c, t = _cpu(), time.perf_counter()
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, check=True)
    return time.perf_counter() - t, _cpu() - c, proc.stdout


def _median(args: list[str], cwd: Path, repeat: int = REPEAT) -> tuple[float, float, list[str]]:
    runs = [_run(args, cwd) for _ in range(repeat)]
    return (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs), [r[2] for r in runs])


def _engine_s(outputs: list[str]) -> float:
    """The engine time the command printed, median over runs."""
    return statistics.median(float(re.search(r"\(engine ([0-9.]+) s\)", o).group(1)) for o in outputs)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        root = work / "data"
        subprocess.run([*CLI, "data", "synth", "--root", str(root), "--instruments", "12", "--days", "100",
                        "--timeframe", "1H", "--seed", "42", "--start", "2025-01-01"],
                       check=True, capture_output=True)
        help_s, help_cpu, _ = _median(["--help"], work, repeat=5)
        base = ["backtest", str(CONFIG), "--root", str(root), "--out", str(work / "out")]
        _run([*base, "--no-notebook"], work)  # numba cache and OS file cache warm
        plain_s, plain_cpu, plain_out = _median([*base, "--no-notebook"], work)
        report_s, report_cpu, report_out = _median(base, work)
        trades_s, trades_cpu, _ = _median([*base, "--no-notebook", "--trade-stats"], work, repeat=1)
        bare = subprocess.run([sys.executable, "-c", "import time; t=time.perf_counter(); "
                               "import qlib_local.cli.main; print(time.perf_counter()-t)"],
                              capture_output=True, text=True, check=True)
    engine_plain, engine_report = _engine_s(plain_out), _engine_s(report_out)
    rows = [
        ("qlib-local --help (fresh process)", help_s, help_cpu, "", GOALS["help"]),
        ("  import qlib_local.cli.main alone", float(bare.stdout), None, "", None),
        ("backtest example.yaml --no-notebook", plain_s, plain_cpu, f"engine {engine_plain:.2f} s: command/engine "
                                                          f"{plain_s / engine_plain:.1f}x", GOALS["backtest"]),
        ("backtest example.yaml (+ report notebook)", report_s, report_cpu, f"engine {engine_report:.2f} s: command/engine "
                                                                 f"{report_s / engine_report:.1f}x; report adds "
                                                                 f"{report_s - plain_s:.1f} s", GOALS["report"]),
        ("backtest example.yaml --no-notebook --trade-stats", trades_s, trades_cpu, f"vectorbt adds {trades_s - plain_s:.1f} s",
         None),
    ]
    print("\n== CLI (bench/bench_cli.py): 12 swaps x 100 days of 1H, median of fresh processes ==")
    print(f"{'command':<52} {'wall':>8} {'CPU':>7}  {'goal':<8} {'':<6} detail")
    for name, secs, cpu, detail, goal in rows:
        verdict = "" if goal is None else ("met" if secs < goal else "MISSED")
        goal_s = "" if goal is None else f"< {goal:g} s"
        cpu_s = "" if cpu is None else f"{cpu:6.2f}s"
        print(f"{name:<52} {secs:7.2f}s {cpu_s:>7}  {goal_s:<8} {verdict:<6} {detail}")
    print("(wall time on a shared machine; CPU = user + system of the command and its kernel)")


if __name__ == "__main__":
    main()
