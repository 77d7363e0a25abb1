"""What runs when: the collector per strategies config and the live run per account.

Both ``qlib-local schedule`` (cron) and ``qlib-local serve`` (one foreground process)
build the same list of :class:`Job` from the accounts config, so the two cannot drift.
Only ``rule_type`` and ``offset`` are read from each strategies config here (a crontab can
be installed before any data is downloaded); the live run validates the rest itself.
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from qlib_local.errors import QlibError
from qlib_local.timeframes import (
    Schedule,
    TimeframeError,
    check_offset,
    normalize_timeframe,
    offset_name,
    parse_offset,
    parse_timeframe,
)

ACCOUNTS_ENV = "QLIB_LOCAL_ACCOUNTS"
DEFAULT_ACCOUNTS = "accounts.yaml"
# environment a scheduled command must see as it was when the schedule was made
# (paths only: secrets are never written into a crontab)
PASSED_ENV = ("QLIB_LOCAL_ROOT", "QLIB_LOCAL_PLUGINS", "QLIB_LOCAL_ACCOUNTS", "QLIB_LOCAL_RUNS")
REPO = Path(__file__).resolve().parents[2]


class PlanError(QlibError):
    """An accounts or strategies config the scheduler cannot use."""


@dataclass(frozen=True)
class Account:
    name: str
    strategies_path: Path
    schedules: tuple[Schedule, ...]
    store: Path  # the K-line store its live runs read (the collector writes there)
    market_url: str = ""  # paper accounts collect from the local exchange they trade on
    secrets_file: bool = True  # False: secrets only from the environment, which cron does not have


@dataclass(frozen=True)
class Job:
    """One scheduled command: runs ``lead_s`` before every close of ``schedules``."""

    name: str  # collector-<config stem> or live-<account>
    schedules: tuple[Schedule, ...]
    lead_s: int
    argv: tuple[str, ...]
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    log: Path | None = None
    note: str = ""  # a warning shown with the job's cron lines

    def shell(self, sleep_s: int = 0) -> str:
        """The command as one ``/bin/sh`` line for cron (``%`` escaped, cron's newline)."""
        parts = [f"cd {shlex.quote(str(self.cwd))}"]
        if sleep_s:
            parts.append(f"sleep {sleep_s}")
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(self.env.items()))
        cmd = (env + " " if env else "") + " ".join(shlex.quote(a) for a in self.argv)
        if self.log is not None:
            cmd += f" >> {shlex.quote(str(self.log))} 2>&1"
        parts.append(cmd)
        return " && ".join(parts).replace("%", r"\%")


def accounts_path(explicit: str | Path | None = None) -> Path:
    """--config, else $QLIB_LOCAL_ACCOUNTS, else ./accounts.yaml."""
    path = Path(explicit or os.environ.get(ACCOUNTS_ENV) or DEFAULT_ACCOUNTS)
    if not path.is_file():
        raise PlanError(
            f"accounts config {path} does not exist: pass --config FILE (see docs/operations.md)"
        )
    return path.resolve()


def _yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise PlanError(f"{path} does not exist") from None
    except yaml.YAMLError as e:
        raise PlanError(f"{path}: not valid YAML ({e})") from None


def strategy_schedules(path: Path) -> tuple[Schedule, ...]:
    """The (rule, offset) of every strategy in a strategies YAML, checked."""
    raw = _yaml(path)
    entries = raw.get("strategies") if isinstance(raw, dict) else None
    if not isinstance(entries, list) or not entries:
        raise PlanError(f"{path}: strategies: expected a non-empty list")
    out = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or "rule_type" not in e:
            raise PlanError(f"{path}: strategies[{i}].rule_type: missing")
        name = e.get("id") or e.get("strategy_name") or f"strategies[{i}]"
        try:
            rule = normalize_timeframe(str(e["rule_type"]))
            off = parse_offset(e.get("offset", 0))
            check_offset(parse_timeframe(rule), off, rule, str(e.get("offset", 0)))
        except TimeframeError as err:
            raise PlanError(f"{path}: strategies[{i}] ({name}): {err}") from None
        out.append(Schedule(rule, offset_name(off), str(name)))
    return tuple(out)


def load_accounts(path: Path) -> list[Account]:
    """The accounts file, read by the live layer's own loader (same validation as ``live run``)."""
    from qlib_local.live.accounts import load_accounts as load_live_accounts

    out = []
    for name, acct in load_live_accounts(path).items():
        if not acct.strategies.is_file():
            raise PlanError(f"{path}: accounts.{name}.strategies: {acct.strategies} does not exist")
        store = acct.store or Path(os.environ.get("QLIB_LOCAL_ROOT") or REPO / "data")
        out.append(Account(name, acct.strategies.resolve(), strategy_schedules(acct.strategies), store.resolve(),
                           acct.url if acct.mode == "paper" else "", acct.secrets_file is not None))
    return out


def cli_argv() -> list[str]:
    """How cron (minimal PATH) reaches this installation's ``qlib-local``."""
    exe = Path(sys.executable).parent / "qlib-local"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "qlib_local"]


def build_jobs(
    accounts_file: Path, lead_s: int, log_dir: Path | None = None, cwd: Path | None = None,
    accounts: list[Account] | None = None,
) -> list[Job]:
    """A collector job per distinct strategies config (at the close) and a live job per account."""
    cwd = (cwd or Path.cwd()).resolve()
    log_dir = (log_dir or cwd / "runs" / "logs").resolve()
    env = {k: str(Path(os.environ[k]).resolve()) for k in PASSED_ENV if os.environ.get(k)}
    accounts = accounts if accounts is not None else load_accounts(accounts_file)
    exe = cli_argv()
    jobs: list[Job] = []
    seen: set[tuple[Path, Path, str]] = set()
    for acc in accounts:
        key = (acc.strategies_path, acc.store, acc.market_url)
        if key in seen:  # accounts sharing a config, store and source share one collector
            continue
        seen.add(key)
        name = f"collector-{acc.strategies_path.stem}"
        if any(j.name == name for j in jobs):
            name = f"{name}-{acc.name}"
        argv = [*exe, "data", "collect", "--config", str(acc.strategies_path), "--root", str(acc.store)]
        if acc.market_url:
            argv += ["--base-url", acc.market_url]
        sched = tuple(Schedule(s.rule, s.offset, name) for s in acc.schedules)
        jobs.append(Job(name, sched, 0, (*argv, "--max-cycles", "1"), cwd, env, log_dir / f"{name}.log"))
    for acc in accounts:
        name = f"live-{acc.name}"
        sched = tuple(Schedule(s.rule, s.offset, name) for s in acc.schedules)
        note = "" if acc.secrets_file else (
            f"account {acc.name} has no secrets_file: cron does not see keys exported in your shell, "
            "so set secrets_file (chmod 600, outside the repository) in the accounts config")
        jobs.append(Job(name, sched, lead_s, (*exe, "live", "run", acc.name, "--accounts", str(accounts_file)),
                        cwd, env, log_dir / f"{name}.log", note))
    return jobs
