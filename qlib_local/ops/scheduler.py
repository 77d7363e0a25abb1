"""``qlib-local serve``: the crontab's schedule in one foreground process.

For machines without cron. Each job is started (as its own process, in its own session so
a Ctrl-C here does not interrupt a run mid-order) ``lead`` seconds before every close of
its schedules. Two rules an operator relies on:

- a run still going when its job is due again is not started twice: the new one is
  skipped and logged;
- runs whose time passed while this process was not looking (suspended machine, clock
  jump, start-up) are logged as missed and not replayed: a live run for an old bar would
  trade on stale prices.

``now`` and ``sleep`` are injected so tests can drive the loop with a stepped clock.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from qlib_local.ops.plan import Job
from qlib_local.timeframes import from_ms, next_close_ms

log = logging.getLogger(__name__)


class Process(Protocol):
    pid: int

    def poll(self) -> int | None: ...


Launcher = Callable[[Job, int], Process]


def launch(job: Job, due_ms: int) -> subprocess.Popen:
    """Start ``job`` detached from our terminal's signals, output appended to its log."""
    env = {**os.environ, **job.env}
    if job.log is not None:
        job.log.parent.mkdir(parents=True, exist_ok=True)
        out = open(job.log, "ab")  # noqa: SIM115 - handed to the child, closed below
        out.write(f"=== {job.name}: started {from_ms(int(time.time() * 1000))} for {from_ms(due_ms)} ===\n".encode())
        out.flush()
    else:
        out = subprocess.DEVNULL
    try:
        return subprocess.Popen(list(job.argv), cwd=job.cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    finally:
        if out is not subprocess.DEVNULL:
            out.close()


@dataclass(frozen=True)
class Event:
    kind: str  # started | skipped | missed | finished | failed
    job: str
    due_ms: int
    at_ms: int
    detail: str = ""


@dataclass
class _Running:
    proc: Process
    due_ms: int
    started_ms: int


def next_fire_ms(job: Job, after_ms: int) -> int:
    """First ``close - lead`` of any of the job's schedules strictly after ``after_ms``."""
    lead = job.lead_s * 1000
    return min(next_close_ms(after_ms + lead, s.rule_ms, s.offset_ms) for s in job.schedules) - lead


@dataclass
class Scheduler:
    jobs: list[Job]
    now: Callable[[], float] = time.time  # seconds since the epoch
    sleep: Callable[[float], None] = time.sleep
    launcher: Launcher = launch
    grace_s: float = 60.0  # later than this after its time, a run counts as missed
    max_sleep_s: float = 30.0  # wake at least this often to notice clock jumps and finished runs
    events: list[Event] = field(default_factory=list)
    running: dict[str, _Running] = field(default_factory=dict)
    _next: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [j.name for j in self.jobs]
        if not self.jobs or len(set(names)) != len(names):
            raise ValueError(f"serve needs jobs with distinct names, got {names}")
        self._by_name = {j.name: j for j in self.jobs}

    def _now_ms(self) -> int:
        return int(self.now() * 1000)

    def _event(self, kind: str, job: str, due_ms: int, detail: str = "") -> None:
        ev = Event(kind, job, due_ms, self._now_ms(), detail)
        self.events.append(ev)
        level = logging.WARNING if kind in ("skipped", "missed", "failed") else logging.INFO
        log.log(level, "%s %s (due %s)%s", job, kind, from_ms(due_ms), f": {detail}" if detail else "")

    def plan(self) -> dict[str, int]:
        """Next fire time (ms) of every job from now."""
        if not self._next:
            t = self._now_ms()
            self._next = {j.name: next_fire_ms(j, t) for j in self.jobs}
        return dict(self._next)

    def step(self) -> None:
        """Reap finished runs, start or skip what is due, log what was missed, then sleep."""
        self.plan()
        self.reap()
        t = self._now_ms()
        for name, due in sorted(self._next.items(), key=lambda kv: kv[1]):
            if due > t:
                continue
            job = self._by_name[name]
            fires = [due]
            while (nxt := next_fire_ms(job, fires[-1])) <= t:
                fires.append(nxt)
            fresh = [f for f in fires if t - f <= self.grace_s * 1000]
            for m in fires:
                if m not in fresh:
                    self._event("missed", name, m, f"noticed {(t - m) / 1000:.0f} s late; not replayed")
            for m in fresh[:-1]:
                self._event("missed", name, m, "superseded by a newer bar; not replayed")
            if fresh:
                self._fire(job, fresh[-1])
            self._next[name] = next_fire_ms(job, fires[-1])
        wait_ms = min(self._next.values()) - self._now_ms()
        if wait_ms > 0:
            self.sleep(min(wait_ms / 1000, self.max_sleep_s))

    def _fire(self, job: Job, due: int) -> None:
        prev = self.running.get(job.name)
        if prev is not None and prev.proc.poll() is None:
            self._event("skipped", job.name, due, f"the run for {from_ms(prev.due_ms)} (pid {prev.proc.pid}) "
                        "is still going; not started twice")
            return
        try:
            proc = self.launcher(job, due)
        except OSError as e:
            self._event("failed", job.name, due, f"could not start: {e}")
            return
        self.running[job.name] = _Running(proc, due, self._now_ms())
        self._event("started", job.name, due, f"pid {proc.pid}")

    def reap(self) -> None:
        for name, r in list(self.running.items()):
            rc = r.proc.poll()
            if rc is None:
                continue
            del self.running[name]
            took = (self._now_ms() - r.started_ms) / 1000
            self._event("finished" if rc == 0 else "failed", name, r.due_ms, f"exit {rc} after {took:.0f} s")

    def run(self, until_s: float | None = None) -> list[Event]:
        """Loop until ``until_s`` (epoch seconds) or forever; returns the events."""
        for name, due in sorted(self.plan().items(), key=lambda kv: kv[1]):
            log.info("%s: next run %s", name, from_ms(due))
        while until_s is None or self.now() < until_s:
            self.step()
        self.reap()
        return self.events

    def still_running(self) -> list[tuple[str, int]]:
        self.reap()
        return [(name, r.proc.pid) for name, r in self.running.items()]
