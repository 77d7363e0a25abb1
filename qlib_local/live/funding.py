"""Funding bills in the ledger: recorded once by bill id, attributed to strategies by their contracts.

The exchange settles funding on the account's net position; the strategies' shares of it are
their own contracts going into the funding time (the targets of the last bar before it), exactly
as the backtest attributes funding: ``funding_flow(q_s) = funding_flow(q_net) * q_s / q_net``.
A bill is attributed once, to the first bar run at or after its time; rerunning that bar (or a
crash between recording and attributing) reuses the attribution instead of counting it again.
"""

from __future__ import annotations

import math

from qlib_local.ledger import Ledger
from qlib_local.live.types import FundingInfo
from qlib_local.timeframes import DAY_MS

FUNDING_LOOKBACK_MS = 3 * DAY_MS  # bills read back this far each run (OKX keeps seven days in account/bills)


def split_bill(amount: float, holdings: dict[str, float]) -> dict[str, float]:
    """A bill of the net position shared by the strategies' signed contracts (``{}`` when they net to zero)."""
    net = sum(holdings.values())
    if net == 0 or not math.isfinite(net):
        return {}
    return {sid: amount * q / net for sid, q in holdings.items() if q != 0}


def record_funding(ledger: Ledger, account: str, bar_ts: int, bills: list[FundingInfo]) -> int:
    """Record new bills (idempotent by bill id) and attribute every unattributed one at or before
    ``bar_ts`` to this bar and to the strategies holding the instrument then. Returns the new bills."""
    new = ledger.add_funding(account, bills)
    todo = ledger.unassigned_funding(account, bar_ts)
    split: dict[str, dict[str, float]] = {}
    held: dict[int, dict | None] = {}
    for row in todo.itertuples(index=False):
        ts = int(row.ts)
        if ts not in held:
            held[ts] = ledger.last_bar_state(account, before=ts)  # holdings going into the funding time
        prev = held[ts]
        col = prev["targets"][row.inst_id] if prev is not None and row.inst_id in prev["targets"] else None
        holdings = {str(k): float(v) for k, v in col.items()} if col is not None else {}
        split[str(row.bill_id)] = split_bill(float(row.amount), holdings)
    if split:
        ledger.assign_funding(account, bar_ts, split)
    return new
