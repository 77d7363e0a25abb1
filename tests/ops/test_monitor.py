"""The monitor reads what real live runs wrote: runs, equity, positions, orders, fills, errors.

A module fixture trades five hourly bars on the local exchange through `qlib-local live run`
(in-process), the last one started a minute after its close as a late cron run would be,
then one run that fails (a wrong API key). The monitor's tables are checked against the
exchange's own books, and notebooks/monitor.ipynb runs headless over the result. A second
desk is a fresh account as it looks live: one traded bar, a store that ends at that bar's
close, then a run skipped as too late.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pandas as pd
import pytest
import yaml
from tests_support import GUARD_S, REPO

from qlib_local.cli.main import main
from qlib_local.notebook_runner import run_notebook
from qlib_local.ops import monitor as m
from qlib_local.sim import LocalExchange
from qlib_local.store import KlineStore
from qlib_local.synth import SynthConfig, write_synthetic
from qlib_local.timeframes import HOUR_MS, from_ms, to_ms

START = to_ms("2025-01-10T00:00:00Z")
GOOD_BARS = 5
LATE_START_MS = 60_000  # the last good run starts this long after its close, with no --at


def strategies(names: list[str]) -> dict:
    btc, eth, sol, xrp = names[:4]
    return {"exchange": "okx", "initial_equity": 10_000, "fees": {"taker": 0.0005, "maker": 0.0002, "slippage": 0.0},
            "strategies": [
                {"strategy_name": "SmaCross_5_10", "kind": "timing", "instruments": [btc, eth], "rule_type": "1H",
                 "offset": "0h", "position": 0.5, "leverage": 2},
                {"strategy_name": "RankOnly", "kind": "event", "universe": [btc, eth, sol, xrp], "rule_type": "1H",
                 "position": 0.4, "leverage": 1, "hold_period": 2, "max_cap_num": 2, "symbol_num_limit": 2,
                 "rank_factor": "QuoteVolumeMean_3", "side": "long"}]}


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    d = tmp_path_factory.mktemp("desk")
    store = KlineStore(d / "data", create=True, durable=False)
    names = write_synthetic(store, SynthConfig(instruments=4, timeframe="1H", days=20, seed=11))
    for inst in names:
        store.set_complete_up_to("okx", inst, "1H", store.last_bar_time("okx", inst, "1H") + pd.Timedelta(hours=1))
    (d / "strategies.yaml").write_text(yaml.safe_dump(strategies(names)))
    runs = [(START + i * HOUR_MS + 1_000, START + i * HOUR_MS, 0) for i in range(GOOD_BARS - 1)]
    last = START + (GOOD_BARS - 1) * HOUR_MS
    runs += [(last + LATE_START_MS, None, 0), (START + GOOD_BARS * HOUR_MS + 1_000, START + GOOD_BARS * HOUR_MS, 1)]
    return d, trade(d, names, runs, bad_key_from=GOOD_BARS)


def trade(d: Path, names: list[str], runs: list[tuple[int, int | None, int]], bad_key_from: int | None = None) -> dict:
    """`live run alice` in-process once per (exchange clock, --at or None, expected exit code); the books after."""
    keys = {"API_KEY": "fk-" + secrets.token_hex(8), "SECRET_KEY": "fs-" + secrets.token_hex(12),
            "PASSPHRASE": "Fp-" + secrets.token_hex(6)}
    with pytest.MonkeyPatch.context() as mp, LocalExchange(d / "data", start=runs[0][0]) as ex:
        for k, v in keys.items():
            mp.setenv(f"QLIB_LOCAL_ALICE_{k}", v)
        ex.add_account("alice", keys["API_KEY"], keys["SECRET_KEY"], keys["PASSPHRASE"], usdt=10_000)
        ex.rate_limit = False
        acct = {"exchange": "okx", "mode": "paper", "url": ex.url, "strategies": "strategies.yaml", "store": "data",
                "ledger": "ledger/alice.sqlite", "runs_dir": "runs/live", "wait_data_s": 0.5, "fetch_missing": False}
        (d / "accounts.yaml").write_text(yaml.safe_dump({"accounts": {"alice": acct}}))
        for i, (clock, at, expect) in enumerate(runs):
            if i == bad_key_from:
                mp.setenv("QLIB_LOCAL_ALICE_API_KEY", "not-the-key")
            ex.clock.set(clock)
            rc = main(["live", "run", "alice", "--accounts", str(d / "accounts.yaml"), "--in-process",
                       *(["--at", from_ms(at).isoformat()] if at is not None else [])])
            assert rc == expect
        account = ex.accounts["alice"]
        return {"positions": {i: account.signed_exposure(i) for i in names},
                "fills": [(f.inst_id, f.fill_sz) for f in account.fills],
                "fill_times": [(f.inst_id, from_ms(f.ts)) for f in account.fills]}


@pytest.fixture
def view(desk):
    d, _ = desk
    (v,) = m.accounts(d / "accounts.yaml")
    return v


def test_runs_newest_first_with_the_failure(view):
    led = m.open_ledger(view)
    runs = m.runs_table(view, led)
    assert len(runs) == GOOD_BARS + 1
    assert runs["status"].tolist() == ["failed"] + ["ok"] * GOOD_BARS
    assert runs["bar"].iloc[1] == from_ms(START + (GOOD_BARS - 1) * HOUR_MS)
    assert runs["started"].is_monotonic_decreasing
    assert "50111" in runs["error"].iloc[0]


def test_equity_per_account_and_strategy_by_bar_close(view):
    acc, per = m.equity(m.open_ledger(view), view.name)
    closes = [from_ms(START + i * HOUR_MS) for i in range(GOOD_BARS)]
    assert list(acc.index) == closes and {"before", "after"} <= set(acc.columns)
    assert acc["before"].iloc[0] == pytest.approx(10_000)
    assert sorted(per.columns) == ["RankOnly", "SmaCross_5_10"]
    assert per.iloc[0].to_dict() == pytest.approx({"RankOnly": 4_000, "SmaCross_5_10": 5_000}, rel=1e-9)


def test_positions_orders_and_fills_agree_with_the_exchange(view, desk):
    _, books = desk
    led = m.open_ledger(view)
    at, pos = m.positions(led, view.name)
    assert at == from_ms(START + (GOOD_BARS - 1) * HOUR_MS)
    held = {k: v for k, v in books["positions"].items() if v}
    assert held and dict(zip(pos["inst_id"], pos["contracts"], strict=True)) == pytest.approx(held)
    fills = m.fills(led, view.name, None)
    assert sorted(zip(fills["inst_id"], fills["size"], strict=True)) == sorted(books["fills"])
    assert fills["time"].is_monotonic_decreasing
    orders = m.orders(led, view.name, 500)
    assert (orders["state"] == "filled").all() and orders["acc_fill_sz"].sum() == pytest.approx(fills["size"].sum())
    assert len(m.orders(led, view.name, 3)) == 3


def test_candles_carry_the_instruments_fills(view, desk):
    led = m.open_ledger(view)
    fills = m.fills(led, view.name, None)
    inst = fills["inst_id"].value_counts().index[0]
    acc, _ = m.equity(led, view.name)
    bars, marked = m.candles(view, inst, "1H", 50, fills, acc.index[-1])
    assert len(bars) == 50 and bars.index[-1] == acc.index[-1] + pd.Timedelta(hours=2)  # bar opens up to close+3h
    assert len(marked) == (fills["inst_id"] == inst).sum() and set(marked["inst_id"]) == {inst}
    with pytest.raises(m.MonitorError, match="no 1H bars"):
        m.candles(view, "NOPE-USDT-SWAP", "1H", 50, fills)


def test_problems_list_the_failed_run_and_its_event(view):
    p = m.problems(view, m.open_ledger(view))
    assert set(p["what"]) >= {"run failed", "run_failed"}
    assert p["message"].str.contains("Invalid OK-ACCESS-KEY").all()


def test_an_account_that_never_ran(view):
    empty = m.AccountView("bob", "okx", "paper", view.ledger.with_name("bob.sqlite"), view.runs_dir / "none",
                          view.store, view.strategies)
    assert m.open_ledger(empty) is None
    assert m.runs_table(empty, None).empty and m.problems(empty, None).empty
    assert m.equity(None, "bob")[0].empty and m.positions(None, "bob")[0] is None


def test_monitor_notebook_runs_headless(desk, view, tmp_path):
    d, books = desk
    n_problems = len(m.problems(view, m.open_ledger(view)))
    out = tmp_path / "monitor.out.ipynb"
    run_notebook(REPO / "notebooks" / "monitor.ipynb", out, {"accounts_path": str(d / "accounts.yaml"), "bars": 60},
                 cwd=tmp_path, cell_timeout=120)
    text = out.read_text()
    nb = json.loads(text)
    overview = "".join(nb["cells"][3]["outputs"][-1]["data"]["text/plain"])
    assert "alice" in overview and "failed" in overview
    row = overview.splitlines()[-1].split()
    assert row[:4] == ["alice", "paper", str(GOOD_BARS + 1), "1"]  # account, mode, runs, failed
    assert f"alice: {n_problems} problem(s)" in text and n_problems >= 2
    n_top = pd.Series([i for i, _ in books["fills"]]).value_counts()
    assert f"1H with {int(n_top.iloc[0])} fill(s)" in text  # the most traded instrument, fills marked
    assert '"type": "candlestick"' in text


def test_monitor_renders_as_a_voila_dashboard(desk, tmp_path):
    """`voila notebooks/monitor.ipynb` on 127.0.0.1: the page carries the executed tables and charts."""
    import contextlib
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor

    d, _ = desk
    nb = json.loads((REPO / "notebooks" / "monitor.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    cell["source"] = f'accounts_path = "{d / "accounts.yaml"}"\naccount = ""\ninstrument = ""\ntimeframe = "1H"\n' \
                     'bars = 60\nn_rows = 30\n'
    (tmp_path / "monitor.ipynb").write_text(json.dumps(nb))

    def render(deadline_s: float) -> str | None:
        """One Voila server, one page; None if the page did not arrive in time."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        log = (tmp_path / f"voila-{port}.log").open("w")  # kept for a failure's diagnosis
        proc = subprocess.Popen([str(Path(sys.executable).parent / "voila"), str(tmp_path / "monitor.ipynb"),
                                 "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
                                 "--KernelManager.transport=ipc",
                                 "--KernelManager.client_class=qlib_local.notebook_runner.SlicedPollKernelClient"],
                                cwd=tmp_path,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

        def fetch() -> str:
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=deadline_s) as r:
                        return r.read().decode()
                except urllib.error.URLError as e:
                    if not isinstance(e.reason, ConnectionRefusedError):
                        raise
                    time.sleep(0.3)  # not listening yet

        pool = ThreadPoolExecutor(1)
        try:
            return pool.submit(fetch).result(timeout=deadline_s)  # a hard deadline, whatever is streamed
        except (TimeoutError, OSError):
            return None
        finally:
            kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
            kernels = [int(k) for k in kids.read_text().split()] if kids.exists() else []
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            for k in kernels:  # kernels run in their own session; never leave one behind
                with contextlib.suppress(ProcessLookupError):
                    os.kill(k, signal.SIGKILL)
            pool.shutdown(wait=False, cancel_futures=True)

    # one retry: a kernel launch on a busy machine occasionally loses its first messages
    html = render(GUARD_S / 2) or render(GUARD_S / 2)
    logs = "\n".join(f"{f.name}:\n{f.read_text()[-2000:]}" for f in sorted(tmp_path.glob("voila-*.log")))
    assert html is not None, f"Voila did not render the monitor twice in a row\n{logs}"
    assert "alice: last 30 runs" in html and "equity per strategy" in html
    assert "alice: account equity (USDT)" in html and "problem(s)" in html
    assert "Traceback" not in html


def test_monitor_reads_while_a_live_run_holds_the_write_lock(view):
    """A run mid-write (BEGIN IMMEDIATE) neither blocks the monitor nor is blocked by it."""
    import sqlite3

    writer = sqlite3.connect(view.ledger, isolation_level=None, timeout=0.1)
    writer.execute("BEGIN IMMEDIATE")
    try:
        led = m.open_ledger(view)
        led.conn.execute("PRAGMA busy_timeout = 0")  # a read waiting for the writer's lock would now fail at once
        assert len(m.runs_table(view, led)) == GOOD_BARS + 1 and len(m.fills(led, view.name, None))
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            led.conn.execute("DELETE FROM runs")
    finally:
        writer.execute("ROLLBACK")
        writer.close()


# ---------------------------------------------------------------- a fresh account, as it looks live
@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """One traded bar (the close START) on a store that ends at that close, as a live store does,
    then a run of the next close started 400 s after it: too late to trade, it only reconciles."""
    d = tmp_path_factory.mktemp("fresh")
    store = KlineStore(d / "data", create=True, durable=False)
    names = write_synthetic(store, SynthConfig(instruments=4, timeframe="1H", days=9, seed=11))
    for inst in names:
        assert store.last_bar_time("okx", inst, "1H") == from_ms(START - HOUR_MS)
        store.set_complete_up_to("okx", inst, "1H", from_ms(START))
    (d / "strategies.yaml").write_text(yaml.safe_dump(strategies(names)))
    books = trade(d, names, [(START + 1_000, START, 0), (START + HOUR_MS + 400_000, START + HOUR_MS, 0)])
    (v,) = m.accounts(d / "accounts.yaml")
    return v, books


def test_positions_after_a_skipped_run_keep_the_close_of_the_bar_they_show(fresh):
    view, books = fresh
    led = m.open_ledger(view)
    assert m.runs_table(view, led)["status"].tolist() == ["skipped", "ok"]
    at, pos = m.positions(led, view.name)
    assert at == from_ms(START)  # not the skipped run's clock, 400 s after the next close
    held = {k: v for k, v in books["positions"].items() if v}
    assert held and dict(zip(pos["inst_id"], pos["contracts"], strict=True)) == pytest.approx(held)


def test_a_one_point_equity_chart_shows_its_point(fresh):
    view, _ = fresh
    acc, per = m.equity(m.open_ledger(view), view.name)
    assert len(acc) == 1 and len(per) == 1
    for frame in (acc, per):
        fig = m.equity_chart(frame, "one point")
        point = frame.index[0].tz_localize(None)  # plotly's axes are naive UTC
        assert all("markers" in t.mode for t in fig.data) and len(fig.data) == frame.shape[1]
        lo, hi = (pd.Timestamp(x) for x in fig.layout.xaxis.range)
        assert lo < point < hi and hi - lo >= pd.Timedelta(hours=2)  # hours, not a millisecond
        assert [list(t.y) for t in fig.data] == [list(frame[c]) for c in frame.columns]


def test_the_price_chart_reaches_the_newest_fill_and_counts_what_it_draws(fresh):
    view, books = fresh
    led = m.open_ledger(view)
    fills = m.fills(led, view.name, None)
    acc, _ = m.equity(led, view.name)
    for inst in sorted({i for i, _ in books["fill_times"]}):
        times = sorted(t for i, t in books["fill_times"] if i == inst)
        bars, marked = m.candles(view, inst, "1H", 50, fills, acc.index[-1])
        assert bars.index[-1] + pd.Timedelta(hours=1) <= times[-1]  # the fill is past the last stored bar
        assert sorted(marked["time"]) == times
        fig = m.price_chart(view, inst, "1H", 50, fills, acc.index[-1])
        xs = [pd.Timestamp(x) for t in fig.data if t.type == "scatter" for x in t.x]
        assert sorted(xs) == [t.tz_localize(None) for t in times]  # plotly's axes are naive UTC
        lo, hi = (pd.Timestamp(x) for x in fig.layout.xaxis.range)
        assert lo <= bars.index[0].tz_localize(None) and times[-1].tz_localize(None) < hi
        assert fig.layout.title.text == f"alice: {inst} 1H with {len(times)} fill(s)"


def test_monitor_notebook_on_a_fresh_account(fresh, tmp_path):
    """The dashboard itself: the one equity point drawn, positions under their bar close, the newest fills counted."""
    view, books = fresh
    out = tmp_path / "monitor.out.ipynb"
    run_notebook(REPO / "notebooks" / "monitor.ipynb", out, {"accounts_path": str(view.ledger.parents[1] / "accounts.yaml"),
                                                              "bars": 30}, cwd=tmp_path, cell_timeout=120)
    text = out.read_text()
    figures = [o["data"]["application/vnd.plotly.v1+json"] for c in json.loads(text)["cells"] if c["cell_type"] == "code"
               for o in c.get("outputs", []) if "application/vnd.plotly.v1+json" in o.get("data", {})]
    equity = [f for f in figures if "equity" in f["layout"]["title"]["text"]]
    assert len(equity) == 2
    for fig in equity:
        assert all("markers" in t["mode"] for t in fig["data"])
        lo, hi = (pd.Timestamp(x) for x in fig["layout"]["xaxis"]["range"])
        assert hi - lo >= pd.Timedelta(hours=2)
    assert "alice: after the bar closing 2025-01-10 00:00" in text
    top = pd.Series([i for i, _ in books["fills"]]).value_counts()
    assert f"{top.index[0]} 1H with {int(top.iloc[0])} fill(s)" in text


def _bills(led, account: str, bar_ts: int, bills: list[tuple[str, str, float, dict[str, float]]]) -> None:
    from types import SimpleNamespace

    led.add_funding(account, [SimpleNamespace(bill_id=b, inst_id=f"{c}USD_PERP", ccy=c, amount=a, ts=bar_ts)
                              for b, c, a, _ in bills])
    led.assign_funding(account, bar_ts, {b: split for b, _, _, split in bills})


def test_funding_of_a_wallet_per_coin_is_never_added_across_coins(tmp_path):
    from qlib_local.ledger import Ledger

    led = Ledger(tmp_path / "coinm.sqlite")
    t0, t1 = to_ms("2025-01-10T08:00:00Z"), to_ms("2025-01-10T16:00:00Z")
    _bills(led, "coinm", t0, [("b1", "BTC", -0.0001, {"S1": -0.00006, "S2": -0.00004}),
                              ("b2", "ETH", 0.002, {"S1": 0.002})])
    _bills(led, "coinm", t1, [("b3", "BTC", 0.00005, {"S2": 0.00005})])
    paid = m.funding(led, "coinm")
    assert sorted(paid.columns) == ["S1 (BTC)", "S1 (ETH)", "S2 (BTC)"]
    assert paid.loc[pd.Timestamp(from_ms(t0)), "S1 (ETH)"] == pytest.approx(0.002)
    assert paid["S2 (BTC)"].sum() == pytest.approx(0.00001)
    assert m.funding_totals(led, "coinm") == pytest.approx({"BTC": -0.00005, "ETH": 0.002})
    assert m.funding_caption("coinm", m.funding_totals(led, "coinm")) == (
        "coinm: funding per strategy and coin (received > 0), total -5e-05 BTC, +0.002 ETH")

    one = Ledger(tmp_path / "usdt.sqlite")  # one coin: the strategies' names as before
    _bills(one, "usdt", t0, [("u1", "USDT", -1.5, {"S1": -1.0, "S2": -0.5})])
    assert list(m.funding(one, "usdt").columns) == ["S1", "S2"] and m.funding_totals(one, "usdt") == {"USDT": -1.5}
    assert m.funding_caption("usdt", {"USDT": -1.5}) == "usdt: funding per strategy (USDT, received > 0), total -1.5"
    assert m.funding(None, "x").empty and m.funding_totals(None, "x") == {}
