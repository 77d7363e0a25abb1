"""What happened while nobody watched: tables the monitor notebook shows, read-only.

Everything comes from the account's ledger (runs, orders, fills, positions, equity,
events), the runs index that ``qlib-local live run`` appends to, and the K-line store.
Functions return DataFrames with UTC timestamps so the notebook (and its tests) only
format and plot.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from qlib_local.errors import DataError, QlibError
from qlib_local.ledger import Ledger
from qlib_local.ledger.schema import SCHEMA_VERSION
from qlib_local.ops.plan import REPO


class MonitorError(QlibError):
    """Nothing to monitor where the config points."""


@dataclass(frozen=True)
class AccountView:
    """Where one account's records are."""

    name: str
    exchange: str
    mode: str
    ledger: Path
    runs_dir: Path
    store: Path
    strategies: Path


def accounts(accounts_file: str | Path) -> list[AccountView]:
    """The accounts of a config, with the ledger, runs and store paths ``live run`` uses."""
    from qlib_local.live.accounts import load_accounts
    from qlib_local.live.session import default_paths

    path = Path(accounts_file).resolve()
    out = []
    for name, acct in load_accounts(path).items():
        store, ledger, runs = default_paths(acct, path.parent)
        out.append(AccountView(name, acct.exchange, acct.mode, Path(ledger), Path(runs), Path(store), acct.strategies))
    return out


def _ts(ms: pd.Series) -> pd.Series:
    return pd.to_datetime(ms, unit="ms", utc=True)


class ReadOnlyLedger(Ledger):
    """The live ledger's read API over a read-only connection.

    A monitor must never take the write lock a live run is waiting for, nor create or
    migrate anything: ``mode=ro`` guarantees both (WAL readers do not block writers).
    """

    def __init__(self, path: str | Path):  # noqa: D107 - no super().__init__: it opens for writing
        self.path = Path(path)
        self._lock = threading.RLock()
        self.conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False,
                                    timeout=5)
        self.conn.row_factory = sqlite3.Row
        row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None or int(row[0]) != SCHEMA_VERSION:
            raise MonitorError(f"{self.path}: ledger schema {row[0] if row else 'unknown'}, this code reads "
                               f"{SCHEMA_VERSION}")


def open_ledger(view: AccountView) -> Ledger | None:
    """The account's ledger, read-only, or None before its first run (nothing recorded yet)."""
    if not view.ledger.exists():
        return None
    try:
        return ReadOnlyLedger(view.ledger)
    except sqlite3.Error as e:
        raise MonitorError(f"cannot read the ledger {view.ledger}: {e}") from None


def runs_table(view: AccountView, led: Ledger | None) -> pd.DataFrame:
    """One row per run, newest first: bar, status, duration, error, output notebook.

    The runs index knows runs the ledger never saw (a run that died before opening it),
    the ledger knows the bar each run traded; both are joined on the run id.
    """
    from qlib_local.live import index

    idx = index.read(view.runs_dir)
    idx = idx[idx["account"] == view.name] if len(idx) else idx
    cols = ["run_id", "bar", "status", "started", "seconds", "error", "notebook"]
    rows = pd.DataFrame({
        "run_id": idx["run_id"], "bar": pd.to_datetime(idx["bar"], utc=True, errors="coerce"),
        "status": idx["status"], "started": pd.to_datetime(idx["started"], utc=True, errors="coerce"),
        "finished": pd.to_datetime(idx["finished"], utc=True, errors="coerce"),
        "error": idx["error"], "notebook": idx["notebook"],
    }) if len(idx) else pd.DataFrame(columns=[*cols, "finished"])
    if led is not None:
        lr = led.runs(view.name)
        if len(lr):
            lrows = pd.DataFrame({"run_id": lr["run_id"], "bar": _ts(lr["bar_ts"]), "status": lr["status"],
                                  "started": _ts(lr["started_at"]), "finished": _ts(lr["finished_at"]),
                                  "error": lr["error"], "notebook": lr["notebook"]})
            known = set(rows["run_id"])
            rows = pd.concat([rows, lrows[~lrows["run_id"].isin(known)]], ignore_index=True) if len(rows) else lrows
            by_id = lrows.set_index("run_id")
            missing_bar = rows["bar"].isna() & rows["run_id"].isin(by_id.index)
            rows.loc[missing_bar, "bar"] = rows.loc[missing_bar, "run_id"].map(by_id["bar"])
    if rows.empty:
        return pd.DataFrame(columns=cols)
    rows["seconds"] = (rows["finished"] - rows["started"]).dt.total_seconds().round(1)
    return rows.sort_values("started", ascending=False, kind="stable").reset_index(drop=True)[cols]


def equity(led: Ledger | None, account: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(account equity by bar close: ``before``/``after`` columns; per-strategy equity, one column each)."""
    if led is None:
        return pd.DataFrame(), pd.DataFrame()
    eq = led.equity(account)
    acc = eq.pivot_table(index="bar_ts", columns="kind", values="total_eq") if len(eq) else pd.DataFrame()
    st = led.strategy_equity(account)
    per = st.pivot_table(index="bar_ts", columns="strategy", values="equity") if len(st) else pd.DataFrame()
    for df in (acc, per):
        if len(df):
            df.index = _ts(pd.Series(df.index)).rename("bar_close")
            df.columns.name = None
    return acc, per


def positions(led: Ledger | None, account: str) -> tuple[pd.Timestamp | None, pd.DataFrame]:
    """The newest recorded positions and the bar close they were recorded at."""
    if led is None:
        return None, pd.DataFrame(columns=["inst_id", "pos_side", "contracts", "avg_px"])
    bar_ts, df = led.last_positions(account)
    df = df[df["contracts"].abs() > 0].reset_index(drop=True) if len(df) else df
    return (pd.Timestamp(bar_ts, unit="ms", tz="UTC") if bar_ts is not None else None), df


def orders(led: Ledger | None, account: str, n: int = 50) -> pd.DataFrame:
    """The newest ``n`` orders with their state and fill."""
    cols = ["created", "bar_close", "inst_id", "side", "sz", "state", "acc_fill_sz", "avg_px", "fee", "leg",
            "attempt", "code", "msg", "cl_ord_id", "run_id"]
    if led is None:
        return pd.DataFrame(columns=cols)
    df = led.query("SELECT * FROM orders WHERE account=? ORDER BY created_at DESC, cl_ord_id LIMIT ?", (account, n))
    df["created"], df["bar_close"] = _ts(df["created_at"]), _ts(df["bar_ts"])
    return df[cols]


def fills(led: Ledger | None, account: str, n: int | None = 50) -> pd.DataFrame:
    """Fills, newest first (``n`` None: all of them)."""
    cols = ["time", "inst_id", "side", "price", "size", "fee", "pnl", "trade_id", "cl_ord_id"]
    if led is None:
        return pd.DataFrame(columns=cols)
    df = led.fills(account)
    out = pd.DataFrame({"time": _ts(df["ts"]), "inst_id": df["inst_id"], "side": df["side"], "price": df["fill_px"],
                        "size": df["fill_sz"], "fee": df["fee"], "pnl": df["pnl"], "trade_id": df["trade_id"],
                        "cl_ord_id": df["cl_ord_id"]})
    out = out.sort_values("time", ascending=False, kind="stable").reset_index(drop=True)
    return out if n is None else out.head(n)


def problems(view: AccountView, led: Ledger | None, runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Failed or killed runs and warning/error events, newest first: what needs a look."""
    runs = runs_table(view, led) if runs is None else runs
    bad = runs[runs["status"].isin(["failed", "killed"])]
    rows = [pd.DataFrame({"time": bad["started"], "level": "error", "what": "run " + bad["status"].astype(str),
                          "message": bad["error"].fillna("(no error recorded: the process died)"),
                          "run_id": bad["run_id"]})]
    if led is not None:
        ev = led.events(view.name)
        ev = ev[ev["level"].isin(["warning", "error"])]
        if len(ev):
            rows.append(pd.DataFrame({"time": _ts(ev["ts"]), "level": ev["level"], "what": ev["kind"],
                                      "message": ev["message"], "run_id": ev["run_id"]}))
    rows = [r for r in rows if len(r)]
    if not rows:
        return pd.DataFrame(columns=["time", "level", "what", "message", "run_id"])
    return pd.concat(rows, ignore_index=True).sort_values("time", ascending=False, kind="stable").reset_index(drop=True)


def candles(view: AccountView, instrument: str, timeframe: str = "1H", bars: int = 200,
            fill_rows: pd.DataFrame | None = None, until: pd.Timestamp | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``bars`` candles of an instrument ending at ``until`` (the newest traded bar; default the store's
    newest) and the account's fills in that window."""
    from qlib_local.store import KlineStore
    from qlib_local.timeframes import parse_timeframe

    if not view.store.is_dir():
        raise MonitorError(f"no K-line store at {view.store}")
    step = pd.Timedelta(milliseconds=parse_timeframe(timeframe))
    end = None if until is None else until + 3 * step  # a little after the last trade
    try:
        df = KlineStore(view.store).read(view.exchange, instrument, timeframe, end=end)
    except DataError as e:
        raise MonitorError(f"no {timeframe} bars of {instrument} in {view.store} ({e})") from None
    if df.empty:
        raise MonitorError(f"no {timeframe} bars of {instrument} in {view.store}")
    df = df.tail(bars)
    f = fill_rows if fill_rows is not None else pd.DataFrame(columns=["time", "inst_id"])
    f = f[(f["inst_id"] == instrument) & (f["time"] >= df.index[0]) & (f["time"] < df.index[-1] + step)]
    return df, f.reset_index(drop=True)


def repo_accounts_file() -> Path:
    """The default accounts file of this checkout."""
    return REPO / "accounts.yaml"
