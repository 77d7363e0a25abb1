"""The fee top-up as the last step of a live run: after ``record`` said ``ok``, on the exchange's
clock, with what it did in the run's events and alerts (so the notification carries the amounts).

A failing top-up never turns a traded bar into a failed run: it is an alert, and the ledger
rows let the next run finish it (:mod:`qlib_local.live.topup`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, cast

from qlib_local.live import redact
from qlib_local.live.topup import FeeTopupPort, TopupOutcome, run_topup

if TYPE_CHECKING:
    from qlib_local.live.session import LiveSession

log = logging.getLogger(__name__)


def top_up_after_record(s: LiveSession) -> TopupOutcome | None:
    """Run the account's top-up when it is enabled, the venue offers it and the run is ok."""
    cfg = s.acct.bnb_topup
    if cfg is None or not cfg.enabled or s.status != "ok" or s.venue is None or s.ledger is None:
        return None
    if not s.venue.caps.fee_topup:  # the accounts loader refuses this; a venue swapped under a config is not trusted
        s.alert("fee_topup", f"{s.venue.caps.name} has no fee top-up; skipped")
        return None
    assert s.bar_ms is not None
    try:
        now = s.venue.server_time_ms()
        ct_val = {i: sp.ct_val for i, sp in s.specs.items()}
        out = run_topup(cast(FeeTopupPort, s.venue), s.ledger, s.acct.name, s.bar_ms, cfg, now, ct_val)
    except Exception as e:  # noqa: BLE001 - an alert, never a failed run
        text = redact.clean(f"fee top-up failed: {type(e).__name__}: {e} (the next run finishes what was started)")
        s.event("error", "fee_topup", text)
        s.alert("fee_topup", text)
        return None
    for line in out.lines:
        s.event("info", "fee_topup", line)
    for a in out.alerts:
        s.event("warning", "fee_topup", a)
        s.alert("fee_topup", a)
    if out.spent or out.moved:
        s.alert("fee_topup", "; ".join(x for x in out.lines if x.startswith(("bought", "moved", "turned", "top-up"))))
    return out
