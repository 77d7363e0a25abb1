"""Reconcile tells the truth: a clean second run of a bar finds the ledger equal to the exchange."""

from __future__ import annotations

from qlib_local.ledger import Ledger
from qlib_local.live.session import LiveSession

from .conftest import ACCOUNT, bar


def test_second_run_of_a_cleanly_traded_bar_finds_no_difference(accounts_file, exchange, tmp_path):
    """As cron runs them (no ``at``, one second after the close): the first run's reconcile snapshot is
    keyed after the close, yet the positions it recorded after trading are the ledger's last word."""
    path = accounts_file()
    exchange.clock.set(bar(0) + 1_000)
    first = LiveSession.from_config(path, ACCOUNT)
    assert first.run() == "ok", first.error
    assert first.bar_ms == bar(0) and first.net_positions()  # it traded
    second = LiveSession.from_config(path, ACCOUNT)
    assert second.run() == "ok", second.error
    assert second.recon.position_diffs.empty and second.recon.lines() == []
    assert not any("ledger differed" in a for a in second.alerts)
    events = Ledger(tmp_path / "ledger" / "alice.sqlite").events(ACCOUNT, second.run_id)
    assert "reconcile" not in set(events["kind"])
    assert second.report.acks == {}  # and it had nothing to trade
