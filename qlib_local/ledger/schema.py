"""Ledger schema. Versioned: an older file is brought up to date by the additive steps in
``MIGRATIONS`` (columns with defaults, in one transaction); a newer one is refused, not rewritten.

Times are UTC milliseconds; ``bar_ts`` is the close time of the bar a row belongs to.
"""

SCHEMA_VERSION = 2

# version reached -> statements taking a file of the version before to it
MIGRATIONS = {
    2: ["ALTER TABLE orders ADD COLUMN px REAL",  # the limit price of a post-only child
        "ALTER TABLE orders ADD COLUMN parent TEXT NOT NULL DEFAULT ''"],  # a child's planned parent order
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, account TEXT NOT NULL, bar_ts INTEGER, mode TEXT, status TEXT NOT NULL,
    started_at INTEGER NOT NULL, finished_at INTEGER, error TEXT, notebook TEXT, pid INTEGER
);
CREATE TABLE IF NOT EXISTS bar_state (
    account TEXT NOT NULL, bar_ts INTEGER NOT NULL, run_id TEXT, due TEXT NOT NULL, equity_before REAL,
    prices TEXT NOT NULL, targets TEXT NOT NULL, state TEXT NOT NULL, stale TEXT NOT NULL,
    committed_at INTEGER NOT NULL, PRIMARY KEY (account, bar_ts)
);
CREATE TABLE IF NOT EXISTS orders (
    cl_ord_id TEXT PRIMARY KEY, account TEXT NOT NULL, bar_ts INTEGER NOT NULL, run_id TEXT,
    inst_id TEXT NOT NULL, side TEXT NOT NULL, pos_side TEXT NOT NULL, sz REAL NOT NULL,
    reduce_only INTEGER NOT NULL, ord_type TEXT NOT NULL, td_mode TEXT NOT NULL, leg TEXT NOT NULL,
    attempt INTEGER NOT NULL, state TEXT NOT NULL, ord_id TEXT, acc_fill_sz REAL NOT NULL DEFAULT 0,
    avg_px REAL, fee REAL NOT NULL DEFAULT 0, code TEXT, msg TEXT,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, px REAL, parent TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS orders_bar ON orders (account, bar_ts);
CREATE INDEX IF NOT EXISTS orders_state ON orders (account, state);
CREATE TABLE IF NOT EXISTS fills (
    trade_id TEXT PRIMARY KEY, account TEXT NOT NULL, cl_ord_id TEXT, ord_id TEXT NOT NULL,
    inst_id TEXT NOT NULL, side TEXT NOT NULL, pos_side TEXT NOT NULL, fill_px REAL NOT NULL,
    fill_sz REAL NOT NULL, fee REAL NOT NULL, pnl REAL NOT NULL, ts INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS fills_order ON fills (cl_ord_id);
CREATE TABLE IF NOT EXISTS positions (
    account TEXT NOT NULL, bar_ts INTEGER NOT NULL, inst_id TEXT NOT NULL, pos_side TEXT NOT NULL,
    contracts REAL NOT NULL, avg_px REAL, source TEXT NOT NULL,
    PRIMARY KEY (account, bar_ts, source, inst_id, pos_side)
);
CREATE TABLE IF NOT EXISTS snapshots (
    account TEXT NOT NULL, bar_ts INTEGER NOT NULL, source TEXT NOT NULL, taken_at INTEGER NOT NULL,
    PRIMARY KEY (account, bar_ts, source)
);
CREATE TABLE IF NOT EXISTS strategy_positions (
    account TEXT NOT NULL, bar_ts INTEGER NOT NULL, strategy TEXT NOT NULL, inst_id TEXT NOT NULL,
    contracts REAL NOT NULL, PRIMARY KEY (account, bar_ts, strategy, inst_id)
);
CREATE TABLE IF NOT EXISTS tranches (
    account TEXT NOT NULL, bar_ts INTEGER NOT NULL, strategy TEXT NOT NULL, slot INTEGER NOT NULL,
    inst_id TEXT NOT NULL, contracts REAL NOT NULL, slot_value REAL NOT NULL,
    PRIMARY KEY (account, bar_ts, strategy, slot, inst_id)
);
CREATE TABLE IF NOT EXISTS equity (
    account TEXT NOT NULL, bar_ts INTEGER NOT NULL, kind TEXT NOT NULL, total_eq REAL NOT NULL,
    avail_eq REAL, PRIMARY KEY (account, bar_ts, kind)
);
CREATE TABLE IF NOT EXISTS strategy_equity (
    account TEXT NOT NULL, bar_ts INTEGER NOT NULL, strategy TEXT NOT NULL, equity REAL NOT NULL,
    PRIMARY KEY (account, bar_ts, strategy)
);
CREATE TABLE IF NOT EXISTS strategy_wallets (
    account TEXT NOT NULL, bar_ts INTEGER NOT NULL, strategy TEXT NOT NULL, ccy TEXT NOT NULL, amount REAL NOT NULL,
    PRIMARY KEY (account, bar_ts, strategy, ccy)
);
CREATE TABLE IF NOT EXISTS funding (
    bill_id TEXT PRIMARY KEY, account TEXT NOT NULL, inst_id TEXT NOT NULL, ccy TEXT NOT NULL,
    amount REAL NOT NULL, ts INTEGER NOT NULL, bar_ts INTEGER, recorded_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS funding_bar ON funding (account, bar_ts);
CREATE TABLE IF NOT EXISTS funding_split (
    bill_id TEXT NOT NULL, strategy TEXT NOT NULL, amount REAL NOT NULL, PRIMARY KEY (bill_id, strategy)
);
CREATE TABLE IF NOT EXISTS fee_topups (
    cl_ord_id TEXT PRIMARY KEY, account TEXT NOT NULL, bar_ts INTEGER NOT NULL, asset TEXT NOT NULL,
    symbol TEXT NOT NULL, quote REAL NOT NULL, state TEXT NOT NULL, qty REAL, cost REAL, moved REAL,
    tran_id TEXT, note TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS fee_topups_state ON fee_topups (account, state);
CREATE TABLE IF NOT EXISTS leverage (
    account TEXT NOT NULL, inst_id TEXT NOT NULL, mgn_mode TEXT NOT NULL, pos_side TEXT NOT NULL,
    lever REAL NOT NULL, set_at INTEGER NOT NULL, PRIMARY KEY (account, inst_id, mgn_mode, pos_side)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT NOT NULL, run_id TEXT, ts INTEGER NOT NULL,
    level TEXT NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT NOT NULL, run_id TEXT, ts INTEGER NOT NULL,
    channel TEXT NOT NULL, ok INTEGER NOT NULL, error TEXT
);
"""
