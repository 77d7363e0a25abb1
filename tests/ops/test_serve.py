"""`qlib-local serve`: runs start lead seconds before each close, never twice, missed runs not replayed.

The loop runs on a stepped clock; the jobs are real processes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from tests_support import GUARD_S, until

from qlib_local.ops.plan import Job, build_jobs
from qlib_local.ops.scheduler import Scheduler, next_fire_ms
from qlib_local.timeframes import MINUTE_MS, Schedule

T0 = 1_735_689_600.0  # 2025-01-01T00:00:00Z


class Clock:
    """A stepped clock; ``sleep`` first lets the runs that finish quickly finish (if asked)."""

    def __init__(self, t: float, sched_ref: list | None = None, settle: bool = True):
        self.t, self.settle, self.ref = t, settle, sched_ref
        self.jumps: dict[float, float] = {}  # at or after this time, jump by this many seconds once

    def now(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        if self.settle and self.ref:
            for r in self.ref[0].running.values():
                r.proc.wait(timeout=GUARD_S)  # however slow the machine; the guard ends a deadlock
        self.t += s
        for at, by in list(self.jumps.items()):
            if self.t >= at:
                del self.jumps[at]
                self.t += by


def job(tmp_path: Path, code: str, rule: str = "1m", offset: str = "0h", lead: int = 10, name: str = "j") -> Job:
    return Job(name, (Schedule(rule, offset, name),), lead, (sys.executable, "-c", code), tmp_path, {},
               tmp_path / "logs" / f"{name}.log")


def make(jobs: list[Job], t: float, settle: bool = True, **kw) -> tuple[Scheduler, Clock]:
    ref: list = []
    clock = Clock(t, ref, settle)
    sched = Scheduler(jobs, now=clock.now, sleep=clock.sleep, **kw)
    ref.append(sched)
    return sched, clock


def kill_all(sched: Scheduler) -> None:
    for r in sched.running.values():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(r.proc.pid, signal.SIGKILL)


def test_runs_start_lead_seconds_before_each_close(tmp_path):
    marks = tmp_path / "marks"
    j = job(tmp_path, f"open({str(marks)!r}, 'a').write('x')", rule="1m", lead=10)
    sched, clock = make([j], T0 + 5)
    events = sched.run(until_s=T0 + 5 * 60)
    started = [e for e in events if e.kind == "started"]
    assert [e.due_ms for e in started] == [int(T0 * 1000) + k * MINUTE_MS - 10_000 for k in range(1, 6)]
    assert all(e.at_ms == e.due_ms for e in started)  # woke exactly on time
    assert [e.kind for e in events if e.kind != "started"] == ["finished"] * 5
    assert marks.read_text() == "x" * 5
    log = (tmp_path / "logs" / "j.log").read_text()
    assert log.count("=== j: started") == 5


def test_a_run_still_going_is_not_started_twice(tmp_path):
    marks = tmp_path / "marks"
    j = job(tmp_path, f"import time; open({str(marks)!r}, 'a').write('x'); time.sleep(60)", rule="1m", lead=0)
    sched, clock = make([j], T0 + 1, settle=False)
    try:
        events = sched.run(until_s=T0 + 3 * 60 + 30)
        until(marks.exists, "marked by the one child")
        kinds = [e.kind for e in events]
        assert kinds == ["started", "skipped", "skipped"]
        assert "not started twice" in events[1].detail and str(sched.running["j"].proc.pid) in events[1].detail
        assert marks.read_text() == "x"
    finally:
        kill_all(sched)


def test_missed_runs_are_logged_not_replayed(tmp_path, caplog):
    j = job(tmp_path, "pass", rule="15m", lead=0)
    sched, clock = make([j], T0 + 1)
    clock.jumps[T0 + 16 * 60] = 3600  # the machine sleeps for an hour after the first run
    with caplog.at_level("WARNING", logger="qlib_local.ops.scheduler"):
        events = sched.run(until_s=T0 + 2 * 3600)
    started = [e.due_ms for e in events if e.kind == "started"]
    missed = [e.due_ms for e in events if e.kind == "missed"]
    q = 15 * MINUTE_MS
    base = int(T0 * 1000)
    assert started[0] == base + q
    assert missed == [base + k * q for k in range(2, 5)]  # 00:30, 00:45, 01:00 passed while asleep
    assert not set(missed) & set(started)
    # it wakes at 01:16: 01:15 is within the 60 s grace and runs late, then on schedule again
    assert started[1:] == [base + k * q for k in range(5, 8)]
    late = next(e for e in events if e.kind == "started" and e.due_ms == base + 5 * q)
    assert late.at_ms - late.due_ms == 60_000
    assert sum("missed" in r.message for r in caplog.records) == 3


def test_jobs_due_together_all_start_and_failures_are_reported(tmp_path):
    ok = job(tmp_path, "pass", rule="1H", lead=0, name="ok")
    bad = job(tmp_path, "raise SystemExit(3)", rule="4H", offset="1h", lead=0, name="bad")
    sched, clock = make([ok, bad], T0 + 1)
    events = sched.run(until_s=T0 + 3600 + 30)
    assert {(e.kind, e.job) for e in events} == {("started", "ok"), ("finished", "ok"), ("started", "bad"),
                                                  ("failed", "bad")}
    assert next(e for e in events if e.kind == "failed").detail.startswith("exit 3")


def test_next_fire_takes_the_earliest_schedule():
    j = Job("x", (Schedule("4H", "1h"), Schedule("1H", "0h")), 30, ("true",), Path("."))
    t = int(T0 * 1000) + 5 * MINUTE_MS
    assert next_fire_ms(j, t) == int(T0 * 1000) + 60 * MINUTE_MS - 30_000


def test_the_accounts_jobs_run_their_real_commands(accounts_dir, monkeypatch):
    """build_jobs -> serve: the live command starts at the close and its output lands in its log."""
    from qlib_local.cli.main import build_parser

    monkeypatch.chdir(accounts_dir)
    for k in [k for k in os.environ if k.startswith("QLIB_LOCAL_MAIN_")]:
        monkeypatch.delenv(k)
    jobs = build_jobs(accounts_dir / "accounts.yaml", 30)
    assert sorted(j.name for j in jobs) == ["collector-example", "collector-fast", "live-fast", "live-main"]
    for j in jobs:  # the commands are ones the real CLI accepts
        build_parser().parse_args(list(j.argv[1:]))
    sched, clock = make([j for j in jobs if j.name == "live-main"], T0 + 10 * 60)
    events = sched.run(until_s=T0 + 3600)
    started = [(e.job, e.due_ms) for e in events if e.kind == "started"]
    assert started == [("live-main", int(T0 * 1000) + 3600_000 - 30_000)]
    log = (accounts_dir / "runs" / "logs" / "live-main.log").read_text()
    assert "=== live-main: started" in log
    assert "QLIB_LOCAL_MAIN_API_KEY" in log  # the live CLI ran and stopped at the missing secrets
    assert [e.kind for e in events] == ["started", "failed"]


def test_serve_cli_stops_cleanly_on_sigterm(accounts_dir):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "qlib_local", "serve", "--config", "accounts.yaml"],
                            cwd=accounts_dir, env=env, stderr=subprocess.PIPE, text=True)
    try:
        lines: list[str] = []
        while not any("live-fast: next run" in x for x in lines):
            line = proc.stderr.readline()
            assert line, f"serve ended early: {''.join(lines)}"
            lines.append(line)
        assert any("serving 4 job(s)" in x for x in lines), lines
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=GUARD_S)[1]
        assert proc.returncode == 0
        assert "stopping: no new runs will start" in rest
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("args, msg", [(["--grace", "0"], "--grace"), (["--lead", "-5"], "--lead"),
                                       (["--config", "nope.yaml"], "does not exist")])
def test_serve_bad_arguments(accounts_dir, capsys, monkeypatch, args, msg):
    from qlib_local.cli.main import main

    monkeypatch.chdir(accounts_dir)
    rc = main(["serve", "--config", "accounts.yaml", *args])
    err = capsys.readouterr().err
    assert rc != 0 and err.startswith("error:") and msg in err
