"""The live ledger: one SQLite (WAL) file per account recording runs, orders, fills and state."""

from qlib_local.ledger.db import Ledger
from qlib_local.ledger.file import LedgerError
from qlib_local.ledger.rows import FINAL_STATES, OrderRow

__all__ = ["FINAL_STATES", "Ledger", "LedgerError", "OrderRow"]
