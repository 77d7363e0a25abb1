"""Reconcile tells the truth: a clean second run of a bar finds the ledger equal to the exchange."""

from __future__ import annotations

from qlib_local.ledger import Ledger
from qlib_local.live.session import LiveSession

from .conftest import ACCOUNT, bar


def test_second_run_of_a_cleanly_traded_bar_finds_no_difference(accounts_file, exchange, tmp_path):
    """The first run as cron runs it (no ``at``, one second after the close): its reconcile snapshot is
    keyed after the close, yet the positions it recorded after trading are the ledger's last word.
    The second run re-runs that bar (``--at``; without it a run would wait for the next close)."""
    path = accounts_file()
    exchange.clock.set(bar(0) + 1_000)
    first = LiveSession.from_config(path, ACCOUNT)
    assert first.run() == "ok", first.error
    assert first.bar_ms == bar(0) and first.net_positions()  # it traded
    second = LiveSession.from_config(path, ACCOUNT, at=bar(0))
    assert second.run() == "ok", second.error
    assert second.recon.position_diffs.empty and second.recon.lines() == []
    assert not any("ledger differed" in a for a in second.alerts)
    events = Ledger(tmp_path / "ledger" / "alice.sqlite").events(ACCOUNT, second.run_id)
    assert "reconcile" not in set(events["kind"])
    assert second.report.acks == {}  # and it had nothing to trade
