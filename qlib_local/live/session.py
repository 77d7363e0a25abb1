"""One live run for one account and one bar close, as steps the notebook calls cell by cell.

connect -> reconcile -> wait for the close -> wait for data -> compute -> plan -> execute ->
record -> notify. Every step is idempotent against the ledger and the exchange, so a run
killed anywhere is repaired by the next one. A step that fails records the failure,
notifies with the cause and re-raises (the notebook shows it, the CLI exits non-zero);
a run with nothing safe to do (too late, all data stale) ends as ``skipped``.

This module holds the plumbing (lock, ledger, connection, clocks, data); the steps that move
money, each behind a guard, are in :mod:`qlib_local.live.trading` (compute, plan),
:mod:`qlib_local.live.rounds` (execute) and :mod:`qlib_local.live.record` (record).
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from qlib_local.ledger import Ledger
from qlib_local.live import guards, redact
from qlib_local.live.accounts import AccountConfig, AccountSecrets, account_paths, load_account, load_secrets
from qlib_local.live.book import Book, StepResult
from qlib_local.live.closes import EARLY_S
from qlib_local.live.data import DataStatus, fetcher, wait_for_data
from qlib_local.live.exec_types import ExecPolicy, ExecReport
from qlib_local.live.lock import AccountLock
from qlib_local.live.maker import ClockFactory
from qlib_local.live.planning import Plan, leverage_wanted
from qlib_local.live.reconcile import ReconcileReport, reconcile
from qlib_local.live.record import RecordStep
from qlib_local.live.retry import RetryPolicy
from qlib_local.live.rounds import ExecuteStep
from qlib_local.live.trading import step
from qlib_local.live.types import Balance, PositionInfo, net_exposure
from qlib_local.live.venue import Venue
from qlib_local.marketdata.needs import base_by_instrument
from qlib_local.notify import DingTalk, Notifier, Telegram
from qlib_local.store import KlineStore
from qlib_local.timeframes import from_ms, to_ms
from qlib_local.venues.registry import open_venue

log = logging.getLogger(__name__)


class LiveSession(ExecuteStep, RecordStep):
    """State of one run; the public methods are the notebook's cells."""

    def __init__(self, acct: AccountConfig, secrets: AccountSecrets, at: str | int | None = None,
                 run_id: str | None = None, notebook: str | None = None, hold_lock: bool = True,
                 policy: ExecPolicy | None = None, repo: Path | None = None, timeout_s: float = 5.0,
                 pace: bool = True, store: KlineStore | None = None, wait_close_s: float = EARLY_S,
                 exchange_clock: ClockFactory | None = None):
        self.acct, self.secrets = acct, secrets
        self.repo = repo or Path.cwd()
        store_path, ledger_path, self.runs_dir = account_paths(acct, self.repo)
        self.store = store or KlineStore(store_path)
        self.ledger_path = ledger_path
        self.at_ms = to_ms(at) if at is not None and at != "" else None
        self.run_id = run_id or f"{pd.Timestamp.now(tz='UTC'):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        self.notebook, self.hold_lock = notebook, hold_lock
        self.policy = policy or ExecPolicy(
            retry=RetryPolicy(attempts=50, base_s=0.1, cap_s=1.0, budget_s=acct.retry_budget_s),
            poll_timeout_s=acct.poll_timeout_s)
        self.timeout_s, self.pace, self.wait_close_s = timeout_s, pace, wait_close_s
        self.exchange_clock = exchange_clock
        self.status = "new"
        self.current = ""
        self.error: str | None = None
        self.timings: dict[str, float] = {}
        self.marks: dict[str, float] = {}
        self.lock: AccountLock | None = None
        self.ledger: Ledger | None = None
        self.venue: Venue | None = None
        self.notifier = Notifier([])
        self.bar_ms: int | None = None
        self.specs: dict = {}
        self.book: Book | None = None
        self.recon: ReconcileReport | None = None
        self.data: DataStatus | None = None
        self.result: StepResult | None = None
        self.balance_before: Balance | None = None
        self.positions_before: list[PositionInfo] = []
        self.plan_: Plan | None = None
        self.report: ExecReport | None = None
        self.positions_after: list[PositionInfo] = []
        self.balance_after: Balance | None = None
        self.strategy_equity: dict[str, float] = {}
        self.wallets_before: dict[str, Balance] = {}  # per coin (one entry unless a COIN-M account of several coins)
        self.wallets_after: dict[str, Balance] = {}
        self.coin_usd: dict[str, float] = {}  # USD per coin of a multi-coin account (the marks it was valued at)
        self.alerts: list[str] = []
        self.exchange_offset_ms = 0.0
        self.last_px: dict[str, float] = {}
        self.mark_px: dict[str, float] = {}
        self.price_checks: list[guards.PriceCheck] = []
        self.refusals: list[guards.Refusal] = []
        self.untraded: dict[str, str] = {}  # instruments this run names as not traded, and why
        self.funding_new = 0  # funding bills this run recorded
        self.order_style: dict[str, int] = {}  # instrument -> its order style (index into cfg.styles)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_config(cls, accounts_file: str | Path, account: str, mode: str | None = None, **kw: Any) -> LiveSession:
        redact.install()
        acct = load_account(accounts_file, account).with_mode(mode)
        repo = kw.pop("repo", None) or Path(accounts_file).resolve().parent
        return cls(acct, load_secrets(acct, repo=repo), repo=repo, **kw)

    # ------------------------------------------------------------------ bookkeeping
    def event(self, level: str, kind: str, message: str) -> None:
        message = redact.clean(message)
        (log.warning if level in ("warning", "error") else log.info)("%s: %s", kind, message)
        if self.ledger is not None:
            self.ledger.event(self.acct.name, self.run_id, level, kind, message)

    def alert(self, kind: str, message: str) -> None:
        self.alerts.append(f"{kind}: {redact.clean(message)}")

    def fail(self, e: BaseException) -> None:
        self.status = "failed"
        cause = redact.clean(f"{type(e).__name__}: {e}")
        self.error = f"step {self.current}: {cause}"
        try:
            if self.ledger is not None:
                self.event("error", "run_failed", self.error)
                self.ledger.finish_run(self.run_id, "failed", self.error)
            self.notifier.send(f"{self.acct.name} run FAILED", self.error + ("\n" + "\n".join(self.alerts) if self.alerts else ""))
        finally:
            self.release()

    def skip(self, reason: str) -> None:
        self.status = "skipped"
        self.error = redact.clean(reason)
        self.event("warning", "run_skipped", self.error)
        assert self.ledger is not None
        self.ledger.finish_run(self.run_id, "skipped", self.error)
        self.notifier.send(f"{self.acct.name} run skipped", self.error)
        self.release()

    def release(self) -> None:
        """Close connections and the ledger, drop the lock (idempotent; the session's data stays readable)."""
        if self.venue is not None:
            self.venue.close()
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    # ------------------------------------------------------------------ steps
    @step
    def start(self) -> None:
        """Take the account lock, open the ledger, record the run, set up notifications."""
        if self.hold_lock:
            self.lock = AccountLock(self.ledger_path.parent, self.acct.name).acquire()
        self.ledger = Ledger(self.ledger_path)
        self.ledger.start_run(self.run_id, self.acct.name, self.at_ms, self.acct.mode, self.notebook, os.getpid())
        channels: list[DingTalk | Telegram] = []
        s = self.secrets
        if self.acct.dingtalk and s.dingtalk_token and s.dingtalk_secret:
            channels.append(DingTalk(s.dingtalk_token.reveal(), s.dingtalk_secret.reveal(), self.acct.dingtalk.base_url,
                                     self.acct.dingtalk.keyword))
        if self.acct.telegram and s.telegram_token:
            channels.append(Telegram(s.telegram_token.reveal(), self.acct.telegram.chat_id, self.acct.telegram.base_url))
        ledger, name = self.ledger, self.acct.name
        self.notifier = Notifier(channels, lambda ch, ok, err: ledger.notification(name, self.run_id, ch, ok, err),
                                 prefix=f"[qlib_local {self.acct.mode}] ")
        self.status = "running"

    @step
    def connect(self) -> None:
        """The account's venue (the registry's adapter for its exchange), position mode, instrument
        specs, the strategies, leverage."""
        self.venue = open_venue(self.acct, self.secrets, timeout_s=self.timeout_s, pace=self.pace)
        t0 = time.time() * 1000
        server = self.venue.server_time_ms()
        self.exchange_offset_ms = server - (t0 + time.time() * 1000) / 2
        mode = self.venue.position_mode()
        if mode != self.acct.pos_mode:
            self.venue.set_position_mode(self.acct.pos_mode)
            self.event("info", "position_mode", f"position mode set from {mode} to {self.acct.pos_mode}")
        self.specs = self.venue.instruments()
        self.book = Book(self.acct.strategies, self.store, self.specs, self.acct.history_bars)
        missing = [i for i in self.book.instruments if i not in self.specs]
        if missing:
            self.event("warning", "not_listed", f"not tradable on the exchange: {', '.join(missing)}")
        self._set_leverage()

    def _set_leverage(self) -> None:
        assert self.venue is not None and self.ledger is not None and self.book is not None
        caps = self.venue.caps
        want = leverage_wanted(self.book.instruments, self.specs, self.acct.leverage, whole=caps.integer_leverage)
        known = self.ledger.leverage(self.acct.name)
        per_side = caps.leverage_per_side and self.acct.margin_mode == "isolated" and self.acct.pos_mode == "long_short_mode"
        sides = ["long", "short"] if per_side else [""]
        todo = [(i, lev, side) for i, lev in want.items() for side in sides
                if known.get((i, self.acct.margin_mode, side or "net")) != lev]

        def one(item: tuple[str, float, str]) -> None:
            inst, lev, side = item
            self.venue.set_leverage(inst, lev, self.acct.margin_mode, side)  # type: ignore[union-attr]
            self.ledger.set_leverage(self.acct.name, inst, self.acct.margin_mode, side or "net", lev)  # type: ignore[union-attr]

        if todo:
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(one, todo))

    @step
    def reconcile(self) -> ReconcileReport:
        """Ledger against exchange, before anything else; differences reported, exchange wins."""
        assert self.venue is not None and self.ledger is not None
        since = int(self.exchange_now_ms() - 3 * 86_400_000)
        ex = self.executor()
        self.recon = reconcile(self.venue, self.ledger, ex, self.acct.name, self.run_id,
                               self.at_ms or int(self.exchange_now_ms()), since)
        lines = self.recon.lines()
        if not self.recon.position_diffs.empty or self.recon.adopted or any(
                s in ("not_placed", "unknown") for s in self.recon.resolved.values()):
            text = "ledger differed from the exchange (exchange taken as truth):\n" + "\n".join(lines)
            self.event("warning", "reconcile", text)
            self.alert("reconcile", text)
        elif lines:
            self.event("info", "reconcile", "\n".join(lines))
        return self.recon

    def exchange_now_ms(self) -> float:
        return time.time() * 1000 + self.exchange_offset_ms

    def choose_bar(self, now_ms: int) -> int:
        """The bar close to trade: ``at``, else as :func:`qlib_local.live.closes.choose_close` says."""
        if self.at_ms is not None:
            return self.at_ms
        assert self.book is not None and self.ledger is not None
        from qlib_local.live.closes import choose_close

        ledger, name = self.ledger, self.acct.name

        def traded(bar: int) -> bool:
            return not ledger.query("SELECT 1 FROM runs WHERE account=? AND bar_ts=? AND status='ok' LIMIT 1",
                                    (name, bar)).empty

        choice = choose_close(now_ms, [(s.rule_ms, s.offset_ms) for s in self.book.cfg.strategies],
                              self.wait_close_s, self.acct.max_late_s, traded)
        self.event("info", "bar_chosen", choice.reason)
        return choice.bar_ms

    @step
    def wait_close(self) -> int:
        """Wait until the exchange's clock has passed the close, however far (cron fires early to hide
        start-up; the CLI does long waits before the kernel starts, see :mod:`qlib_local.live.closes`)."""
        assert self.venue is not None and self.ledger is not None
        from qlib_local.live.closes import exchange_clock, wait_for_clock

        clock = exchange_clock(self.venue.server_time_ms)
        now = clock()
        self.bar_ms = bar = self.choose_bar(now)
        self.ledger.set_run_bar(self.run_id, bar)
        now = wait_for_clock(bar, clock, f"the close {from_ms(bar)}", first=now)
        self.marks["close_seen"] = time.monotonic()
        late_s = (now - bar) / 1000
        if late_s > self.acct.max_late_s:
            self.skip(f"bar {from_ms(bar)} closed {late_s:.0f}s ago, more than max_late_s={self.acct.max_late_s:g}: "
                      "not trading on old prices")
        return bar

    @step
    def wait_data(self) -> DataStatus:
        """Complete-up-to markers with a deadline, then fetch, then skip what is still stale."""
        assert self.book is not None and self.bar_ms is not None
        fetch = fetcher(self.acct.exchange, self.acct.url or None, self.store) if self.acct.fetch_missing else None
        bases = base_by_instrument(self.book.cfg)
        self.data = wait_for_data(self.store, self.book.cfg.exchange, {i: bases[i] for i in self.book.instruments},
                                  self.bar_ms, self.acct.wait_data_s, fetch)
        if self.data.fetched:
            self.event("warning", "fetched", f"fetched late bars myself: {', '.join(self.data.fetched)}")
        if self.data.stale:
            text = "not trading stale instruments: " + "; ".join(f"{i} ({r})" for i, r in self.data.stale.items())
            self.event("error", "stale_data", text)
            self.alert("stale_data", text)
        if not self.data.ready:
            self.skip("no instrument has data up to the close")
        return self.data

    def top_up_fees(self) -> None:
        """The fee top-up after ``record`` (:mod:`qlib_local.live.topup_step`); alerts, never fails the run."""
        from qlib_local.live.topup_step import top_up_after_record

        top_up_after_record(self)

    def notify(self) -> list[str]:
        """Orders, fills, positions, equity per strategy, and every alert. Never raises."""
        if self.status not in ("ok",):
            return []
        try:
            from qlib_local.live.report import summary_text

            return self.notifier.send(f"{self.acct.name} bar {from_ms(self.bar_ms or 0):%Y-%m-%d %H:%M}",
                                      summary_text(self))
        except Exception as e:  # noqa: BLE001
            log.warning("notify failed: %s", redact.clean(e))
            return [str(e)]
        finally:
            self.release()

    def run(self) -> str:
        """Every step in order (the in-process path; the notebook calls them one cell at a time)."""
        for fn in (self.start, self.connect, self.reconcile, self.wait_close, self.wait_data, self.compute,
                   self.plan, self.execute, self.record, self.top_up_fees):
            fn()
        self.notify()
        self.release()
        return self.status

    def net_positions(self, after: bool = True) -> dict[str, float]:
        return net_exposure(self.positions_after if after else self.positions_before)


def run_once(accounts_file: str | Path, account: str, **kw: Any) -> LiveSession:
    """Run one bar in this process; the session is returned with its outcome (raises on failure)."""
    s = LiveSession.from_config(accounts_file, account, **kw)
    s.run()
    return s
