"""The ledger's row types: an order as the ledger knows it, its states, and how stored rows are
read back into Python values (orders into :class:`OrderRow`, a bar's JSON columns into a dict).

Apart from :mod:`qlib_local.ledger.db` because the live side (execution, reconcile) works in
these rows and their states without touching the file.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, fields
from typing import Any

import pandas as pd

FINAL_STATES = frozenset({"filled", "canceled", "rejected", "not_placed"})
OPEN_STATES = frozenset({"intent", "sent", "unknown", "live", "partially_filled"})


@dataclass
class OrderRow:
    """One order as the ledger knows it; ``cl_ord_id`` is its identity on the exchange too."""

    cl_ord_id: str
    account: str
    bar_ts: int
    inst_id: str
    side: str
    pos_side: str
    sz: float
    reduce_only: bool
    ord_type: str
    td_mode: str
    leg: str
    attempt: int
    state: str = "intent"
    run_id: str | None = None
    ord_id: str | None = None
    acc_fill_sz: float = 0.0
    avg_px: float | None = None
    fee: float = 0.0
    code: str | None = None
    msg: str | None = None
    created_at: int = 0
    updated_at: int = 0
    px: float | None = None  # a post-only child's limit price
    parent: str = ""  # a child's planned parent order ("" for a parent)

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def signed_filled(self) -> float:
        return self.acc_fill_sz if self.side == "buy" else -self.acc_fill_sz


ORDER_COLS = [f.name for f in fields(OrderRow)]


def order_row(r: sqlite3.Row) -> OrderRow:
    """An ``orders`` row as an :class:`OrderRow` (``reduce_only`` back to a bool)."""
    d = dict(r)
    d["reduce_only"] = bool(d["reduce_only"])
    return OrderRow(**d)


def bar_row(r: sqlite3.Row | None) -> dict[str, Any] | None:
    """A ``bar_state`` row with its JSON columns decoded (``targets`` a strategy x instrument frame)."""
    if r is None:
        return None
    d = dict(r)
    for k in ("due", "prices", "state", "stale"):
        d[k] = json.loads(d[k])
    t = json.loads(d["targets"])
    d["targets"] = pd.DataFrame(t["data"], index=pd.Index(t["index"], name="strategy"),
                                columns=pd.Index(t["columns"], name="instrument"), dtype=float)
    return d
