"""The ledger's SQLite file: opened in WAL with synchronous FULL, its schema brought up to date,
and the one-transaction write every state change goes through.

Apart from :mod:`qlib_local.ledger.db` (the tables' reads and writes) because this is the part
that makes a ledger safe to kill at any line: a write lands whole or not at all, and a file of
another schema version is migrated (older) or refused (newer) before anything is read.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from qlib_local.errors import QlibError
from qlib_local.ledger.schema import MIGRATIONS, SCHEMA, SCHEMA_VERSION


class LedgerError(QlibError):
    """A ledger file that cannot be used (another schema version, not a ledger)."""


def now_ms() -> int:
    return int(time.time() * 1000)


class LedgerFile:
    """Thread-safe access to one ledger file: its connection, schema, transactions and queries."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        self.conn.row_factory = sqlite3.Row
        try:
            self.conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.DatabaseError as e:
            raise LedgerError(f"{self.path}: not a ledger ({e})") from None
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("PRAGMA busy_timeout=30000")
        self._init_schema()

    def _init_schema(self) -> None:
        with self._lock:
            fresh = self.conn.execute("SELECT name FROM sqlite_master WHERE name='meta'").fetchone() is None
            row = None if fresh else self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = SCHEMA_VERSION if row is None else int(row[0])
            if version > SCHEMA_VERSION:
                raise LedgerError(f"{self.path}: schema version {version}, this code reads {SCHEMA_VERSION}")
            if version < SCHEMA_VERSION:
                self._migrate(version)
            self.conn.executescript(SCHEMA)
            if row is None:
                self.conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def _migrate(self, version: int) -> None:
        """Bring a ledger of an older ``version`` up to date, all steps in one transaction (the
        version is read again under the write lock: another process may have just done it)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            version = int(self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0])
            for v in range(version + 1, SCHEMA_VERSION + 1):
                for sql in MIGRATIONS[v]:
                    self.conn.execute(sql)
            self.conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),))
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: all of it lands or none (BEGIN IMMEDIATE takes the write lock up front)."""
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def query(self, sql: str, params: tuple = ()) -> pd.DataFrame:
        with self._lock:
            cur = self.conn.execute(sql, params)
            cols = [d[0] for d in cur.description]
            return pd.DataFrame([tuple(r) for r in cur.fetchall()], columns=cols)

    def dump_text(self) -> str:
        """Every row of every table as text (tests grep it for secrets)."""
        out = []
        with self._lock:
            tables = [r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            for t in tables:
                for row in self.conn.execute(f"SELECT * FROM {t}"):
                    out.append(f"{t}: {tuple(row)}")
        return "\n".join(out)
