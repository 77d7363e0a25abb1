"""The top-up as a run's last step: a real LiveSession (lock, ledger, events) on the local Binance
exchange after a recorded bar: amounts in the run's alerts (the notification) and events; a failure
is an alert, never a failed run. (A whole Binance run waits for the live Binance venue kit.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from sim.binance.conftest import KEY, SECRET, START, binance_root  # noqa: F401 (fixture)

from qlib_local.live.accounts import AccountConfig, AccountSecrets, Secret
from qlib_local.live.session import LiveSession
from qlib_local.live.topup import topups
from qlib_local.live.topup_config import TopupConfig
from qlib_local.store import KlineStore

from .test_topup import BAR, CFG, bex, trade, venue_of  # noqa: F401 (fixture)


def session_after_record(ex, root: Path, tmp_path: Path, cfg: TopupConfig | None, n: int = 0) -> LiveSession:
    acct = AccountConfig(name="alice", exchange="binanceusdm", mode="paper", strategies=Path("s.yaml"), url=ex.url,
                         ledger=tmp_path / "ledger" / "alice.sqlite", runs_dir=tmp_path / "runs", bnb_topup=cfg)
    s = LiveSession(acct, AccountSecrets(Secret(KEY), Secret(SECRET), None), at=BAR, store=KlineStore(root))
    s.start()
    s.venue = venue_of(ex)
    s.venue.set_leverage("ETHUSDT", 10, "cross")
    assert s.ledger is not None
    trade(s.venue, s.ledger, "alice", "buy", 10, n + 1)
    trade(s.venue, s.ledger, "alice", "sell", 10, n + 2)
    s.bar_ms, s.status = BAR, "ok"  # as record leaves a traded bar
    return s


def test_the_step_tops_up_and_alerts_with_amounts(bex, binance_root, tmp_path):  # noqa: F811
    s = session_after_record(bex, binance_root, tmp_path, CFG)
    s.top_up_fees()
    assert s.status == "ok" and bex.spot["alice"]["USDT"] == pytest.approx(970.0)
    (alert,) = s.alerts
    assert "bought 0.05 BNB for 30.00 USDT" in alert and "moved 0.04995 BNB" in alert
    events = s.ledger.events("alice", s.run_id)
    assert (events["kind"] == "fee_topup").sum() == 3  # bought, moved, fee payment in BNB on
    assert topups(s.ledger, "alice")["state"].tolist() == ["done"]
    s.release()


def test_a_failing_top_up_is_an_alert_not_a_failed_run(bex, binance_root, tmp_path):  # noqa: F811
    s = session_after_record(bex, binance_root, tmp_path, CFG)
    bex.faults.add("fail", "/sapi/v1/asset/transfer", 503, times=5)
    s.top_up_fees()
    assert s.status == "ok" and any("fee top-up failed" in a for a in s.alerts)
    assert topups(s.ledger, "alice")["state"].tolist() == ["bought"]
    s.release()


def test_off_or_absent_does_nothing(bex, binance_root, tmp_path):  # noqa: F811
    for n, cfg in enumerate((None, TopupConfig(enabled=False))):
        s = session_after_record(bex, binance_root, tmp_path / str(n), cfg, 10 * n)
        s.top_up_fees()
        assert s.alerts == [] and topups(s.ledger, "alice").empty
        s.release()
    assert bex.spot["alice"] == {"USDT": 1_000.0}
