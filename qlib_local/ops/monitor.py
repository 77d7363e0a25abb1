"""What happened while nobody watched: tables the monitor notebook shows, read-only.

Everything comes from the account's ledger (runs, orders, fills, positions, equity,
events), the runs index that ``qlib-local live run`` appends to, and the K-line store.
Functions return DataFrames with UTC timestamps, and the two charts come ready-made
(``equity_chart``, ``price_chart``), so the notebook (and its tests) only display.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from qlib_local.errors import DataError, QlibError
from qlib_local.ledger import Ledger
from qlib_local.ledger.schema import SCHEMA_VERSION
from qlib_local.ops.plan import REPO

if TYPE_CHECKING:
    import plotly.graph_objects as go

POSITION_COLS = ["inst_id", "pos_side", "contracts", "avg_px"]
MARKERS_UP_TO = 60  # equity points drawn with markers; beyond, the line alone reads better


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
    from qlib_local.live.accounts import account_paths, load_accounts

    path = Path(accounts_file).resolve()
    out = []
    for name, acct in load_accounts(path).items():
        store, ledger, runs = account_paths(acct, path.parent)
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


def settle_ccy(view: AccountView) -> str:
    """The account's settlement currency (equity, per-strategy equity and funding are in it):
    the spec of the first of its strategies' instruments found in the store (USDT when none is);
    USD for a COIN-M account of several coins (its config names a wallet per coin)."""
    import yaml

    from qlib_local.specs import load_specs

    try:
        cfg = yaml.safe_load(Path(view.strategies).read_text()) or {}
        specs = load_specs(view.store, view.exchange)
    except (OSError, yaml.YAMLError, ValueError, QlibError):
        return "USDT"  # the runs table names an unreadable config; the charts stay readable
    if isinstance(cfg.get("initial_equity"), dict) and len(cfg["initial_equity"]) > 1:
        return "USD"
    for st in cfg.get("strategies") or []:
        for inst in list(st.get("instruments") or []) + list(st.get("universe") or []):
            if inst in specs:
                return specs[inst].settle_ccy
    return "USDT"


def funding(led: Ledger | None, account: str) -> pd.DataFrame:
    """Funding received (+) or paid (-) per strategy by bar close, from the ledger's attributed bills.
    An account paid in several coins (COIN-M, a wallet per coin) gets one column per strategy and
    coin, ``"<strategy> (<coin>)"``: amounts in different coins are never added."""
    df = _funding_rows(led, account)
    if df.empty:
        return pd.DataFrame()
    if df["ccy"].nunique() > 1:
        df = df.assign(strategy=df["strategy"] + " (" + df["ccy"] + ")")
    out = df.pivot_table(index="bar_ts", columns="strategy", values="amount", aggfunc="sum")
    out.index = _ts(pd.Series(out.index)).rename("bar_close")
    out.columns.name = None
    return out


def funding_totals(led: Ledger | None, account: str) -> dict[str, float]:
    """Funding received (+) or paid (-) in all, per coin it was paid in."""
    df = _funding_rows(led, account)
    return {} if df.empty else {str(k): float(v) for k, v in df.groupby("ccy")["amount"].sum().items()}


def funding_caption(account: str, totals: dict[str, float]) -> str:
    """The funding table's title: its coin and total, or one total per coin when several."""
    if len(totals) == 1:
        (coin, amount), = totals.items()
        return f"{account}: funding per strategy ({coin}, received > 0), total {amount:+.8g}"
    each = ", ".join(f"{amount:+.8g} {coin}" for coin, amount in totals.items())
    return f"{account}: funding per strategy and coin (received > 0), total {each}"


def _funding_rows(led: Ledger | None, account: str) -> pd.DataFrame:
    if led is None:
        return pd.DataFrame()
    try:
        return led.query("SELECT f.bar_ts, s.strategy, f.ccy, SUM(s.amount) AS amount FROM funding f "
                         "JOIN funding_split s ON s.bill_id=f.bill_id WHERE f.account=? "
                         "GROUP BY f.bar_ts, s.strategy, f.ccy ORDER BY f.bar_ts, s.strategy", (account,))
    except sqlite3.OperationalError:  # a ledger from before funding was recorded
        return pd.DataFrame()


def positions(led: Ledger | None, account: str) -> tuple[pd.Timestamp | None, pd.DataFrame]:
    """The newest recorded positions and the close of the bar they belong to.

    A run snapshots positions twice: ``reconcile`` before trading, stamped with the exchange's
    clock at that moment (say a minute after the close, or seconds before it), and ``after``
    trading, stamped with the bar close. The newest snapshot is the one recorded last, and it
    shows the trades of the newest bar committed before it was taken: that bar's close is its
    label (None when no bar was ever traded). Ordering by the stamp instead would put a
    pre-trade snapshot over the bar's own, labelled with a time that is no bar close.
    """
    if led is None:
        return None, pd.DataFrame(columns=POSITION_COLS)
    snap = led.query("SELECT bar_ts, source, taken_at FROM snapshots WHERE account=? ORDER BY taken_at DESC, "
                     "CASE source WHEN 'after' THEN 0 ELSE 1 END, bar_ts DESC LIMIT 1", (account,))
    if snap.empty:
        return None, pd.DataFrame(columns=POSITION_COLS)
    bar_ts, source, taken_at = int(snap["bar_ts"].iloc[0]), str(snap["source"].iloc[0]), int(snap["taken_at"].iloc[0])
    df = led.query(f"SELECT {', '.join(POSITION_COLS)} FROM positions WHERE account=? AND bar_ts=? AND source=?",
                   (account, bar_ts, source))
    df = df[df["contracts"].abs() > 0].reset_index(drop=True)
    if source != "after":
        done = led.query("SELECT MAX(bar_ts) AS bar_ts FROM bar_state WHERE account=? AND committed_at<=?",
                         (account, taken_at))["bar_ts"]
        bar_ts = None if done.isna().all() else int(done.iloc[0])
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
    newest) and the account's fills from the first candle on, up to ``until`` plus three bars.

    Fills past the last stored bar are kept: a fill at a close falls in the bar that opens then,
    which the store only gets once it has closed, and the newest fill is the one most looked for.
    """
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
    f = fill_rows if fill_rows is not None else pd.DataFrame(columns=["time", "inst_id", "side", "price", "size"])
    keep = (f["inst_id"] == instrument) & (f["time"] >= df.index[0])
    if end is not None:
        keep &= f["time"] < end
    return df, f[keep].reset_index(drop=True)


def _axis_time(ts: pd.Timestamp) -> pd.Timestamp:
    """A naive UTC time, as plotly hands trace times to the browser (it drops the zone)."""
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts


def equity_chart(frame: pd.DataFrame, title: str, pad: pd.Timedelta = pd.Timedelta(hours=1)) -> go.Figure:
    """``equity_figure`` that stays readable with few points: markers while there are few (a
    line needs two points to show at all), and an x axis at least ``pad`` either side of a short
    history (plotly gives one point an axis a millisecond wide, ticked ``00:59:59.9995``)."""
    from qlib_local.widgets.plots import equity_figure

    fig = equity_figure(frame, title)
    if len(frame) <= MARKERS_UP_TO:
        fig.update_traces(mode="lines+markers", marker={"size": 8})
    if len(frame):
        lo, hi = frame.index.min(), frame.index.max()
        if hi - lo < pad:
            mid = lo + (hi - lo) / 2
            fig.update_xaxes(range=[_axis_time(mid - pad), _axis_time(mid + pad)])
    return fig


def drawn_fills(fig: go.Figure) -> int:
    """Fill markers a price chart actually draws: points with a time and a finite price."""
    n = 0
    for t in fig.data:
        if t.type == "scatter":
            x = pd.Series(t.x, dtype=object)
            y = pd.to_numeric(pd.Series(t.y, dtype=object), errors="coerce").to_numpy(np.float64)
            n += int((x.notna().to_numpy() & np.isfinite(y)).sum())
    return n


def price_chart(view: AccountView, instrument: str, timeframe: str = "1H", bars: int = 200,
                fill_rows: pd.DataFrame | None = None, until: pd.Timestamp | None = None) -> go.Figure:
    """Candles with the account's fills marked; the x axis reaches the newest fill even past the
    last stored bar, and the title counts the fill markers drawn, so the two always agree."""
    from qlib_local.timeframes import parse_timeframe
    from qlib_local.widgets.plots import candles_figure

    df, f = candles(view, instrument, timeframe, bars, fill_rows, until)
    fig = candles_figure(df, f)
    step = pd.Timedelta(milliseconds=parse_timeframe(timeframe))
    right = df.index[-1] + step
    if len(f):
        right = max(right, f["time"].max() + step / 2)
    fig.update_xaxes(range=[_axis_time(df.index[0] - step / 2), _axis_time(right)])
    fig.update_layout(title=f"{view.name}: {instrument} {timeframe} with {drawn_fills(fig)} fill(s)")
    return fig


def repo_accounts_file() -> Path:
    """The default accounts file of this checkout."""
    return REPO / "accounts.yaml"
