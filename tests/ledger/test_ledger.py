"""The SQLite ledger: WAL, versioning, atomic steps, idempotent fills, resume after reopening."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import pandas as pd
import pytest

from qlib_local.ledger import Ledger, LedgerError, OrderRow


def order(cl: str, state: str = "intent") -> OrderRow:
    return OrderRow(cl, "acct", 1_000, "BTC-USDT-SWAP", "buy", "net", 1.0, False, "market", "cross", "open", 1,
                    state=state, run_id="r1")


def test_wal_and_version(tmp_path):
    path = tmp_path / "l.sqlite"
    Ledger(path).close()
    c = sqlite3.connect(path)
    assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    c.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    c.commit()
    c.close()
    with pytest.raises(LedgerError, match="schema version 99"):
        Ledger(path)


V1_ORDERS = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1');
CREATE TABLE orders (
    cl_ord_id TEXT PRIMARY KEY, account TEXT NOT NULL, bar_ts INTEGER NOT NULL, run_id TEXT,
    inst_id TEXT NOT NULL, side TEXT NOT NULL, pos_side TEXT NOT NULL, sz REAL NOT NULL,
    reduce_only INTEGER NOT NULL, ord_type TEXT NOT NULL, td_mode TEXT NOT NULL, leg TEXT NOT NULL,
    attempt INTEGER NOT NULL, state TEXT NOT NULL, ord_id TEXT, acc_fill_sz REAL NOT NULL DEFAULT 0,
    avg_px REAL, fee REAL NOT NULL DEFAULT 0, code TEXT, msg TEXT,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
);
INSERT INTO orders VALUES ('old1', 'acct', 3600000, 'r0', 'BTC-USDT-SWAP', 'buy', 'net', 1, 0, 'market', 'cross',
                           'open', 1, 'filled', '7', 1, 100, -0.05, NULL, NULL, 1, 2);
"""


def test_a_version_1_ledger_is_migrated_in_place_and_keeps_its_orders(tmp_path):
    path = tmp_path / "v1.sqlite"
    c = sqlite3.connect(path)
    c.executescript(V1_ORDERS)
    c.close()
    led = Ledger(path)
    old = led.order("old1")
    assert old is not None and old.state == "filled" and old.parent == "" and old.px is None
    led.add_orders([replace(order("child"), px=101.5, parent="old1")])
    assert led.order("child").px == 101.5 and led.order("child").parent == "old1"
    led.close()
    c = sqlite3.connect(path)
    assert c.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "2"
    c.close()
    Ledger(path).close()  # a migrated file opens as a current one


def test_not_a_ledger_is_refused(tmp_path):
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(LedgerError):
        Ledger(path)


def test_orders_fills_resume_after_reopen(tmp_path):
    path = tmp_path / "l.sqlite"
    led = Ledger(path)
    led.add_orders([order("a"), order("b")])
    led.add_orders([order("a", state="filled")])  # an id already recorded is kept as is
    led.update_order("a", state="filled", acc_fill_sz=1.0, ord_id="9")
    fill = {"trade_id": "t1", "cl_ord_id": "a", "ord_id": "9", "inst_id": "BTC-USDT-SWAP", "side": "buy",
            "pos_side": "net", "fill_px": 100.0, "fill_sz": 1.0, "fee": -0.05, "pnl": 0.0, "ts": 1_000}
    assert led.add_fills("acct", [fill]) == 1 and led.add_fills("acct", [fill]) == 0
    led.close()
    again = Ledger(path)
    assert [(o.cl_ord_id, o.state) for o in again.orders("acct")] == [("a", "filled"), ("b", "intent")]
    assert [o.cl_ord_id for o in again.open_orders("acct")] == ["b"]
    with pytest.raises(ValueError):
        again.update_order("a", bogus=1)


def test_commit_bar_round_trip_and_atomicity(tmp_path):
    led = Ledger(tmp_path / "l.sqlite")
    targets = pd.DataFrame([[1.5, 0.0], [0.0, -2.0]], index=["s1", "s2"], columns=["BTC", "ETH"])
    led.commit_bar("acct", 2_000, "r1", ["s1"], 1000.0, {"BTC": 1.0}, targets, {"x": 1}, [], [("s2", 0, "ETH", -2.0, 5.0)])
    got = led.bar_state("acct", 2_000)
    assert got["targets"].equals(targets.rename_axis(index="strategy", columns="instrument"))
    assert got["state"] == {"x": 1} and led.last_bar_state("acct", before=2_001)["bar_ts"] == 2_000
    assert led.last_bar_state("acct", before=2_000) is None
    with pytest.raises(ZeroDivisionError), led.tx() as c:
        c.execute("INSERT INTO equity VALUES ('acct', 3000, 'before', 1.0, 1.0)")
        raise ZeroDivisionError("killed mid-transaction")
    assert led.equity("acct").empty  # rolled back whole


def test_position_snapshots_latest_wins(tmp_path):
    led = Ledger(tmp_path / "l.sqlite")
    assert led.last_positions("acct")[0] is None
    led.record_positions("acct", 1, [("BTC", "net", 1.0, 10.0)], "reconcile")
    led.record_positions("acct", 1, [("BTC", "net", 2.0, 10.0)], "after")
    led.record_positions("acct", 2, [], "reconcile")  # flat is a snapshot too
    ts, df = led.last_positions("acct")
    assert ts == 2 and df.empty
