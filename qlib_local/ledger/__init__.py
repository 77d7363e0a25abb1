"""The live ledger: one SQLite (WAL) file per account recording runs, orders, fills and state."""

from qlib_local.ledger.db import FINAL_STATES, Ledger, LedgerError, OrderRow

__all__ = ["FINAL_STATES", "Ledger", "LedgerError", "OrderRow"]
