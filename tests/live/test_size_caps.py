"""Size caps against the local exchange: whatever the model computes, no opening order and no
account's gross exposure beyond equity x the strategies' capital shares x leverage (+ tolerance)."""

from __future__ import annotations

import pytest

from qlib_local.ledger import Ledger
from qlib_local.live.session import LiveSession

from .conftest import ACCOUNT, bar
from .stores import live_copy


def test_order_over_the_account_cap_is_refused_and_the_rest_goes(accounts_file, kit, exchange, insts, tmp_path):
    """A BTC close 47% low passes a price band widened to 50%: the model sizes BTC ~1.9x; the cap refuses it."""
    close = bar(3)
    BTC = insts.BTC
    store = live_copy(tmp_path / "bad_store", kit, close, lambda c: c / 1.9)
    path = accounts_file(store=str(store.root), price_band_min=0.5, price_band_max=0.5)
    exchange.clock.set(close + 1_000)
    s = LiveSession.from_config(path, ACCOUNT, at=close)
    assert s.run() == "ok", s.error
    equity = s.balance_before.total_eq
    cap = equity * (0.5 * 2 * 1.0 + 0.4 * 1) * 1.10  # strategies: timing 0.5 x 2x, event 0.4 x 1x; 10% tolerance
    [refusal] = s.refusals
    assert refusal.order.inst_id == BTC and refusal.order.leg == "open" and f"cap {cap:,.0f}" in refusal.reason
    acct = exchange.accounts[ACCOUNT]
    assert acct.orders and all(o.inst_id != BTC for o in acct.orders.values())  # refused before sending
    assert acct.signed_exposure(BTC) == 0 and s.untraded[BTC] == refusal.reason
    gross = sum(abs(p.contracts) * s.specs[p.inst_id].ct_val * s.last_px[p.inst_id] for p in s.positions_after)
    assert 0 < gross <= cap
    for inst, target in s.result.net.items():  # everything else reached its target
        if inst != BTC:
            assert acct.signed_exposure(inst) == pytest.approx(target)
    events = Ledger(tmp_path / "ledger" / "alice.sqlite").events(ACCOUNT, s.run_id)
    refused = events[events["kind"] == "refused_order"]
    assert len(refused) == 1 and "refused before sending" in refused["message"].iloc[0]
    assert [a for a in s.alerts if a.startswith("refused_order")] == [f"refused_order: {refusal.text}"]
