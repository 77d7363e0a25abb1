"""The ledger: what a live account did, bar by bar, in one SQLite file (WAL, synchronous FULL).

Every state change is one transaction, written before the action it describes when the
action reaches the exchange (an order intent is committed before it is sent), so a run
killed at any line leaves a ledger the next run can reconcile against the exchange.
This module holds the tables' reads and writes (runs, events, bar state, orders, fills,
positions, equity, funding, leverage); the file itself (schema, transactions) is
:mod:`qlib_local.ledger.file`, the row types :mod:`qlib_local.ledger.rows`.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import pandas as pd

from qlib_local.ledger.file import LedgerFile, now_ms
from qlib_local.ledger.rows import OPEN_STATES, ORDER_COLS, OrderRow, bar_row, order_row


class Ledger(LedgerFile):
    """Thread-safe access to one account's ledger file."""

    # ------------------------------------------------------------------ runs
    def start_run(self, run_id: str, account: str, bar_ts: int | None, mode: str, notebook: str | None,
                  pid: int | None) -> None:
        with self.tx() as c:
            c.execute("INSERT OR REPLACE INTO runs (run_id, account, bar_ts, mode, status, started_at, notebook, pid)"
                      " VALUES (?,?,?,?,?,?,?,?)", (run_id, account, bar_ts, mode, "running", now_ms(), notebook, pid))

    def set_run_bar(self, run_id: str, bar_ts: int) -> None:
        with self.tx() as c:
            c.execute("UPDATE runs SET bar_ts=? WHERE run_id=?", (bar_ts, run_id))

    def finish_run(self, run_id: str, status: str, error: str | None = None) -> None:
        with self.tx() as c:
            c.execute("UPDATE runs SET status=?, finished_at=?, error=? WHERE run_id=?",
                      (status, now_ms(), error, run_id))

    def runs(self, account: str) -> pd.DataFrame:
        return self.query("SELECT * FROM runs WHERE account=? ORDER BY started_at", (account,))

    # ------------------------------------------------------------------ events
    def event(self, account: str, run_id: str | None, level: str, kind: str, message: str) -> None:
        with self.tx() as c:
            c.execute("INSERT INTO events (account, run_id, ts, level, kind, message) VALUES (?,?,?,?,?,?)",
                      (account, run_id, now_ms(), level, kind, message))

    def events(self, account: str, run_id: str | None = None) -> pd.DataFrame:
        if run_id is None:
            return self.query("SELECT * FROM events WHERE account=? ORDER BY id", (account,))
        return self.query("SELECT * FROM events WHERE account=? AND run_id=? ORDER BY id", (account, run_id))

    def notification(self, account: str, run_id: str | None, channel: str, ok: bool, error: str | None) -> None:
        with self.tx() as c:
            c.execute("INSERT INTO notifications (account, run_id, ts, channel, ok, error) VALUES (?,?,?,?,?,?)",
                      (account, run_id, now_ms(), channel, int(ok), error))

    # ------------------------------------------------------------------ bar state (model)
    def commit_bar(self, account: str, bar_ts: int, run_id: str, due: list[str], equity_before: float | None,
                   prices: dict[str, float], targets: pd.DataFrame, state: dict, stale: list[str],
                   tranches: list[tuple[str, int, str, float, float]]) -> None:
        """The model's step for a bar, all or nothing: rerunning the bar reuses it instead of re-sizing."""
        with self.tx() as c:
            c.execute("INSERT OR REPLACE INTO bar_state VALUES (?,?,?,?,?,?,?,?,?,?)", (
                account, bar_ts, run_id, json.dumps(due), equity_before, json.dumps(prices),
                json.dumps({"index": list(targets.index), "columns": list(targets.columns),
                            "data": targets.to_numpy().tolist()}), json.dumps(state), json.dumps(stale), now_ms()))
            c.execute("DELETE FROM strategy_positions WHERE account=? AND bar_ts=?", (account, bar_ts))
            c.executemany("INSERT INTO strategy_positions VALUES (?,?,?,?,?)", [
                (account, bar_ts, sid, inst, float(v)) for sid, row in targets.iterrows() for inst, v in row.items()
                if v != 0])
            c.execute("DELETE FROM tranches WHERE account=? AND bar_ts=?", (account, bar_ts))
            c.executemany("INSERT INTO tranches VALUES (?,?,?,?,?,?,?)",
                          [(account, bar_ts, *t) for t in tranches])

    def bar_state(self, account: str, bar_ts: int) -> dict[str, Any] | None:
        with self._lock:
            r = self.conn.execute("SELECT * FROM bar_state WHERE account=? AND bar_ts=?", (account, bar_ts)).fetchone()
        return bar_row(r)

    def last_bar_state(self, account: str, before: int | None = None) -> dict[str, Any] | None:
        sql = "SELECT * FROM bar_state WHERE account=?" + (" AND bar_ts<?" if before is not None else "")
        params: tuple = (account,) if before is None else (account, before)
        with self._lock:
            r = self.conn.execute(sql + " ORDER BY bar_ts DESC LIMIT 1", params).fetchone()
        return bar_row(r)

    # ------------------------------------------------------------------ orders
    def add_orders(self, rows: list[OrderRow]) -> None:
        """Record intents before anything is sent (one transaction; an id already recorded is kept as is)."""
        t = now_ms()
        with self.tx() as c:
            for r in rows:
                r.created_at = r.created_at or t
                r.updated_at = t
                d = asdict(r)
                d["reduce_only"] = int(r.reduce_only)
                c.execute(f"INSERT OR IGNORE INTO orders ({','.join(ORDER_COLS)}) VALUES ({','.join('?' * len(ORDER_COLS))})",
                          [d[k] for k in ORDER_COLS])

    def update_order(self, cl_ord_id: str, **changes: Any) -> None:
        self.update_orders([(cl_ord_id, changes)])

    def update_orders(self, updates: list[tuple[str, dict[str, Any]]]) -> None:
        if not updates:
            return
        t = now_ms()
        with self.tx() as c:
            for cl, changes in updates:
                changes = {**changes, "updated_at": t}
                bad = set(changes) - set(ORDER_COLS)
                if bad:
                    raise ValueError(f"unknown order fields {bad}")
                sets = ", ".join(f"{k}=?" for k in changes)
                c.execute(f"UPDATE orders SET {sets} WHERE cl_ord_id=?", [*changes.values(), cl])

    def order(self, cl_ord_id: str) -> OrderRow | None:
        with self._lock:
            r = self.conn.execute("SELECT * FROM orders WHERE cl_ord_id=?", (cl_ord_id,)).fetchone()
        return order_row(r) if r else None

    def orders(self, account: str, bar_ts: int | None = None, states: frozenset[str] | set[str] | None = None) -> list[OrderRow]:
        sql, params = "SELECT * FROM orders WHERE account=?", [account]
        if bar_ts is not None:
            sql += " AND bar_ts=?"
            params.append(bar_ts)
        with self._lock:
            rows = [order_row(r) for r in self.conn.execute(sql + " ORDER BY created_at, cl_ord_id", params)]
        return [r for r in rows if states is None or r.state in states]

    def open_orders(self, account: str) -> list[OrderRow]:
        return self.orders(account, states=OPEN_STATES)

    # ------------------------------------------------------------------ fills, positions, equity
    def add_fills(self, account: str, fills: list[dict[str, Any]]) -> int:
        """Insert fills not seen yet (idempotent on the exchange's trade id); returns how many were new."""
        with self.tx() as c:
            before = c.total_changes
            c.executemany(
                "INSERT OR IGNORE INTO fills VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [(f["trade_id"], account, f.get("cl_ord_id"), f["ord_id"], f["inst_id"], f["side"], f["pos_side"],
                  f["fill_px"], f["fill_sz"], f["fee"], f["pnl"], f["ts"]) for f in fills])
            return c.total_changes - before

    def fills(self, account: str) -> pd.DataFrame:
        return self.query("SELECT * FROM fills WHERE account=? ORDER BY ts, trade_id", (account,))

    def record_positions(self, account: str, bar_ts: int, rows: list[tuple[str, str, float, float | None]],
                         source: str) -> None:
        """A snapshot of the exchange's positions; ``source`` is ``reconcile`` (before trading) or ``after``."""
        with self.tx() as c:
            c.execute("DELETE FROM positions WHERE account=? AND bar_ts=? AND source=?", (account, bar_ts, source))
            c.execute("INSERT OR REPLACE INTO snapshots VALUES (?,?,?,?)", (account, bar_ts, source, now_ms()))
            c.executemany("INSERT INTO positions VALUES (?,?,?,?,?,?,?)",
                          [(account, bar_ts, inst, side, pos, px, source) for inst, side, pos, px in rows])

    def last_positions(self, account: str) -> tuple[int | None, pd.DataFrame]:
        """The snapshot written last (None when never recorded).

        By write order, not by ``bar_ts``: a reconcile snapshot is keyed by the time the run
        started (after the close when cron fires late), so ordering by bar would let the
        positions seen *before* the last bar's trades outrank the ones recorded after them.
        ``INSERT OR REPLACE`` gives a rewritten snapshot the largest rowid.
        """
        with self._lock:
            r = self.conn.execute(
                "SELECT bar_ts, source FROM snapshots WHERE account=? ORDER BY rowid DESC LIMIT 1", (account,)).fetchone()
        if r is None:
            return None, pd.DataFrame(columns=["inst_id", "pos_side", "contracts", "avg_px"])
        df = self.query("SELECT inst_id, pos_side, contracts, avg_px FROM positions WHERE account=? AND bar_ts=? "
                        "AND source=?", (account, r[0], r[1]))
        return int(r[0]), df

    def record_equity(self, account: str, bar_ts: int, kind: str, total: float, avail: float | None) -> None:
        with self.tx() as c:
            c.execute("INSERT OR REPLACE INTO equity VALUES (?,?,?,?,?)", (account, bar_ts, kind, total, avail))

    def record_strategy_equity(self, account: str, bar_ts: int, equity: dict[str, float]) -> None:
        with self.tx() as c:
            c.executemany("INSERT OR REPLACE INTO strategy_equity VALUES (?,?,?,?)",
                          [(account, bar_ts, s, float(v)) for s, v in equity.items()])

    def strategy_equity(self, account: str, bar_ts: int | None = None) -> pd.DataFrame:
        if bar_ts is None:
            return self.query("SELECT * FROM strategy_equity WHERE account=? ORDER BY bar_ts", (account,))
        return self.query("SELECT * FROM strategy_equity WHERE account=? AND bar_ts=?", (account, bar_ts))

    def record_strategy_wallets(self, account: str, bar_ts: int, parts: dict[tuple[str, str], float]) -> None:
        """Each strategy's part of each coin wallet (a COIN-M account of several coins)."""
        with self.tx() as c:
            c.executemany("INSERT OR REPLACE INTO strategy_wallets VALUES (?,?,?,?,?)",
                          [(account, bar_ts, s, ccy, float(v)) for (s, ccy), v in parts.items()])

    def strategy_wallets(self, account: str, bar_ts: int) -> dict[tuple[str, str], float]:
        rows = self.query("SELECT strategy, ccy, amount FROM strategy_wallets WHERE account=? AND bar_ts=?",
                          (account, bar_ts))
        return {(r.strategy, r.ccy): float(r.amount) for r in rows.itertuples()}

    def strategy_funding_by_ccy(self, account: str, bar_ts: int) -> dict[tuple[str, str], float]:
        """(strategy, currency) -> funding attributed at ``bar_ts``."""
        rows = self.query("SELECT s.strategy, f.ccy, SUM(s.amount) AS amount FROM funding f JOIN funding_split s "
                          "ON s.bill_id=f.bill_id WHERE f.account=? AND f.bar_ts=? GROUP BY s.strategy, f.ccy",
                          (account, bar_ts))
        return {(r.strategy, r.ccy): float(r.amount) for r in rows.itertuples()}

    def equity(self, account: str) -> pd.DataFrame:
        return self.query("SELECT * FROM equity WHERE account=? ORDER BY bar_ts, kind", (account,))

    # ------------------------------------------------------------------ funding
    def add_funding(self, account: str, bills: list[Any]) -> int:
        """Funding bills not seen yet (idempotent on the exchange's bill id); returns how many were new."""
        with self.tx() as c:
            before = c.total_changes
            c.executemany("INSERT OR IGNORE INTO funding VALUES (?,?,?,?,?,?,NULL,?)",
                          [(b.bill_id, account, b.inst_id, b.ccy, b.amount, b.ts, now_ms()) for b in bills])
            return c.total_changes - before

    def unassigned_funding(self, account: str, until: int) -> pd.DataFrame:
        """Bills at or before ``until`` not yet attributed to a bar."""
        return self.query("SELECT bill_id, inst_id, ccy, amount, ts FROM funding WHERE account=? AND bar_ts IS NULL "
                          "AND ts<=? ORDER BY ts, bill_id", (account, until))

    def assign_funding(self, account: str, bar_ts: int, split: dict[str, dict[str, float]]) -> None:
        """Attribute bills to ``bar_ts`` and to strategies (``{bill_id: {strategy: amount}}``), all or nothing;
        a bill already attributed keeps its bar and split."""
        with self.tx() as c:
            for bill, parts in split.items():
                cur = c.execute("UPDATE funding SET bar_ts=? WHERE bill_id=? AND account=? AND bar_ts IS NULL",
                                (bar_ts, bill, account))
                if cur.rowcount:
                    c.executemany("INSERT OR REPLACE INTO funding_split VALUES (?,?,?)",
                                  [(bill, sid, float(v)) for sid, v in parts.items()])

    def funding(self, account: str, bar_ts: int | None = None) -> pd.DataFrame:
        """Recorded bills (all, or those attributed to ``bar_ts``), oldest first."""
        if bar_ts is None:
            return self.query("SELECT * FROM funding WHERE account=? ORDER BY ts, bill_id", (account,))
        return self.query("SELECT * FROM funding WHERE account=? AND bar_ts=? ORDER BY ts, bill_id", (account, bar_ts))

    def strategy_funding(self, account: str, bar_ts: int | None = None) -> pd.DataFrame:
        """Funding per strategy and bar (columns bar_ts, strategy, amount)."""
        sql = ("SELECT f.bar_ts, s.strategy, SUM(s.amount) AS amount FROM funding f JOIN funding_split s "
               "ON s.bill_id=f.bill_id WHERE f.account=?")
        params: tuple = (account,)
        if bar_ts is not None:
            sql, params = sql + " AND f.bar_ts=?", (account, bar_ts)
        return self.query(sql + " GROUP BY f.bar_ts, s.strategy ORDER BY f.bar_ts, s.strategy", params)

    # ------------------------------------------------------------------ leverage
    def leverage(self, account: str) -> dict[tuple[str, str, str], float]:
        with self._lock:
            rows = self.conn.execute("SELECT inst_id, mgn_mode, pos_side, lever FROM leverage WHERE account=?",
                                     (account,)).fetchall()
        return {(r[0], r[1], r[2]): float(r[3]) for r in rows}

    def set_leverage(self, account: str, inst_id: str, mgn_mode: str, pos_side: str, lever: float) -> None:
        with self.tx() as c:
            c.execute("INSERT OR REPLACE INTO leverage VALUES (?,?,?,?,?,?)",
                      (account, inst_id, mgn_mode, pos_side, lever, now_ms()))
