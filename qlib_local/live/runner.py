"""``qlib-local live run``: the live notebook through papermill (or in-process), locked and indexed.

Before anything is written, :func:`qlib_local.live.validate_run.validate_run` checks the
account, its secrets, the store and the strategies file: a bad one is exit 2 and no trace.
The CLI holds the account lock for the whole execution (the kernel is told not to take
it again), writes the output notebook to ``runs/live/<account>/<YYYY-MM-DD>/<time>.ipynb``,
adds the run to the index and returns non-zero when the run failed. Secrets reach the
kernel only through its inherited environment, never as parameters; the finished
notebook is scanned and any secret value that slipped through is masked.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from qlib_local.live import index, redact
from qlib_local.live.accounts import AccountConfig, AccountSecrets
from qlib_local.live.closes import (
    EARLY_S,
    WaitInterrupted,
    choose_close,
    exchange_clock,
    traded_in_ledger,
    wait_for_clock,
)
from qlib_local.live.errors import LiveError
from qlib_local.live.lock import AccountLock
from qlib_local.live.validate_run import validate_run
from qlib_local.research.config import ResearchConfig
from qlib_local.timeframes import from_ms, to_ms

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "live" / "live.ipynb"
KERNEL_LEAD_S = 30.0  # a long wait ends this long before the close: kernel start, connect, reconcile come first


@dataclass
class RunOutcome:
    run_id: str
    status: str  # ok | failed | skipped | canceled (Ctrl-C while waiting for the close: nothing was run)
    exit_code: int
    notebook: Path | None
    error: str | None = None
    kernel_overhead_s: float | None = None
    wall_s: float = 0.0


def scrub_notebook(path: Path, secrets: list[str]) -> int:
    """Mask secret values left in an output notebook; returns how many were found."""
    if not path.exists():
        return 0
    text = path.read_text()
    found = sum(text.count(s) for s in secrets if s and len(s) >= redact.MIN_LEN)
    if found:
        cleaned = redact.clean(text)
        path.write_text(cleaned)
    return found


def kernel_overhead(path: Path) -> float | None:
    """Seconds from papermill's start to the first cell starting (kernel start-up, imports excluded)."""
    try:
        nb = json.loads(path.read_text())
        start = pd.Timestamp(nb["metadata"]["papermill"]["start_time"])
        first = min(pd.Timestamp(c["metadata"]["papermill"]["start_time"]) for c in nb["cells"]
                    if c.get("metadata", {}).get("papermill", {}).get("start_time"))
        return (first - start).total_seconds()
    except (KeyError, ValueError, OSError, TypeError):
        return None


def run_live(accounts_file: str | Path, account: str, at: str | None = None, mode: str | None = None,
             in_process: bool = False, runs_dir: str | Path | None = None, kernel: str = "python3") -> RunOutcome:
    redact.install()
    accounts_file = Path(accounts_file).resolve()
    repo = accounts_file.parent
    checked = validate_run(accounts_file, account, mode=mode, at=at, repo=repo)  # before anything is written
    acct, secrets, ledger_path = checked.acct, checked.secrets, checked.ledger
    runs = Path(runs_dir) if runs_dir else checked.runs
    lock = AccountLock(ledger_path.parent, account).acquire()
    try:
        target = _target(acct, secrets, checked.config, ledger_path, at)
    except BaseException:
        lock.release()
        raise
    if target is not None:
        at = from_ms(target.bar_ms).isoformat()  # the kernel trades exactly the bar chosen here
    t0 = time.monotonic()
    now = pd.Timestamp.now(tz="UTC")
    run_id = f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    out = None if in_process else runs / account / f"{now:%Y-%m-%d}" / f"{now:%H%M%S}-{run_id[-6:]}.ipynb"
    entry = {"run_id": run_id, "account": account, "mode": acct.mode, "at": at, "notebook": str(out) if out else None,
             "started": now.isoformat(), "pid": os.getpid(), "bar": at, "why": target.reason if target else None}
    index.append(runs, {**entry, "status": "running"})
    outcome = RunOutcome(run_id, "failed", 1, out)
    try:
        if target is not None:
            try:
                target.wait(min(KERNEL_LEAD_S, acct.cell_timeout_s / 2))
            except KeyboardInterrupt:
                outcome.status = "canceled"
                outcome.error = f"interrupted while waiting for the close {at}: nothing was run"
                return outcome
            except LiveError as e:  # the exchange's clock stood still or could not be read any more
                outcome.error = f"while waiting for the close {at}: {redact.clean(e)}; nothing was run"
                return outcome
        if in_process:
            # imported here: the session brings the exchange clients, needed only once the checks passed
            from qlib_local.live.session import LiveSession

            s = LiveSession(acct, secrets, at=at, run_id=run_id, hold_lock=False, repo=repo)
            try:
                s.run()
            except Exception as e:  # noqa: BLE001 - the session recorded and notified it
                log.error("%s", redact.clean(e))
            outcome.status, outcome.error = s.status, s.error
        else:
            outcome.status, outcome.error = _papermill(accounts_file, account, at, mode, run_id, out, acct.cell_timeout_s,
                                                       kernel, repo, ledger_path)
            assert out is not None
            leaked = scrub_notebook(out, secrets.values())
            if leaked:
                log.error("masked %d secret value(s) in %s", leaked, out)
            outcome.kernel_overhead_s = kernel_overhead(out)
    finally:
        lock.release()
        outcome.exit_code = {"ok": 0, "skipped": 0, "canceled": WaitInterrupted.exit_code}.get(outcome.status, 1)
        outcome.wall_s = time.monotonic() - t0
        index.append(runs, {**entry, "status": outcome.status, "exit_code": outcome.exit_code,
                            "error": outcome.error, "finished": pd.Timestamp.now(tz="UTC").isoformat(),
                            "bar": _bar_of(ledger_path, run_id) or at})
    return outcome


@dataclass
class Target:
    """The close a run trades (chosen here, once) and the exchange clock it waits on."""

    bar_ms: int
    reason: str
    now_ms: int
    clock: Callable[[], int]

    def wait(self, lead_s: float) -> None:
        """Until ``lead_s`` before the close, before any kernel starts (the kernel waits the rest)."""
        start = self.bar_ms - int(lead_s * 1000)
        if self.now_ms < start:
            wait_for_clock(start, self.clock, f"the close {from_ms(self.bar_ms)} (the run starts {lead_s:g}s before it)",
                           first=self.now_ms)


def _target(acct: AccountConfig, secrets: AccountSecrets, config: ResearchConfig, ledger_path: Path,
            at: str | None) -> Target | None:
    """The bar to trade by the exchange's clock; None if that clock cannot be read now (the run then
    starts at once and reports the failure through its ledger and notifications, as any run does)."""
    from qlib_local.live.retry import RetryPolicy
    from qlib_local.venues.registry import open_venue  # the clients, once the checks passed

    venue = open_venue(acct, secrets, timeout_s=5.0, retry=RetryPolicy(attempts=3, base_s=0.2, cap_s=1.0, budget_s=5.0))
    clock = exchange_clock(venue.server_time_ms)
    try:
        now = clock()
    except LiveError as e:
        log.warning("cannot read the exchange's clock (%s); the run starts now", redact.clean(e))
        venue.close()
        return None
    if at:
        return Target(to_ms(at), "--at", now, clock)
    rules = [(x.rule_ms, x.offset_ms) for x in config.strategies]
    choice = choose_close(now, rules, EARLY_S, acct.max_late_s, traded_in_ledger(ledger_path, acct.name))
    log.info("account %s: %s", acct.name, choice.reason)
    return Target(choice.bar_ms, choice.reason, now, clock)


def _bar_of(ledger_path: Path, run_id: str) -> str | None:
    import sqlite3

    try:
        with sqlite3.connect(ledger_path) as c:
            r = c.execute("SELECT bar_ts FROM runs WHERE run_id=?", (run_id,)).fetchone()
    except sqlite3.Error:
        return None
    return pd.Timestamp(r[0], unit="ms", tz="UTC").isoformat() if r and r[0] is not None else None


def _papermill(accounts_file: Path, account: str, at: str | None, mode: str | None, run_id: str, out: Path,
               cell_timeout_s: float, kernel: str, repo: Path, ledger_path: Path) -> tuple[str, str | None]:
    from qlib_local.notebook_runner import run_notebook

    out.parent.mkdir(parents=True, exist_ok=True)
    params = {"accounts_file": str(accounts_file), "account": account, "at": at or "", "mode": mode or "",
              "run_id": run_id, "hold_lock": False}
    try:
        run_notebook(NOTEBOOK, out, params, cwd=repo, kernel_name=kernel, cell_timeout=cell_timeout_s)
    except Exception as e:  # noqa: BLE001 - PapermillExecutionError, timeouts, dead kernels
        status, error = _ledger_status(ledger_path, run_id)
        text = f"{getattr(e, 'ename', type(e).__name__)}: {getattr(e, 'evalue', '') or e}"
        return ("failed" if status in (None, "ok", "running") else status), (error or redact.clean(text)[:2000])
    status, error = _ledger_status(ledger_path, run_id)
    if status not in ("ok", "skipped"):
        return "failed", error or "the notebook finished without recording the run's outcome"
    return status, error


def _ledger_status(ledger_path: Path, run_id: str) -> tuple[str | None, str | None]:
    import sqlite3

    try:
        with sqlite3.connect(ledger_path) as c:
            r = c.execute("SELECT status, error FROM runs WHERE run_id=?", (run_id,)).fetchone()
    except sqlite3.Error:
        return None, None
    return (r[0], r[1]) if r else (None, None)
