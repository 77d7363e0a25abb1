"""docs/tour-binance.md for real: synthetic COIN-M and USDⓈ-M stores, the research backtest of
strategies/binance_coinm.yaml, the local Binance exchange (its clock set, never waited for), and
one papermill paper run of each account of accounts.example.yaml, checked in the ledger and on
the exchange through ccxt."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import ccxt
import pandas as pd
import yaml
from tests_support import GUARD_S, REPO

from qlib_local.cli.main import main
from qlib_local.live import index
from qlib_local.sim.binance import BinanceExchange
from qlib_local.timeframes import to_ms
from qlib_local.venues.binance.adapter import local_urls

START = "2025-01-01"
DAYS = "40"
BAR = {"coinm": "2025-02-05T05:00:00Z", "usdm": "2025-02-05T05:00:00Z"}  # a close of both COIN-M rules' base
KEYS = {"coinm": ("coinm-key", "coinm-secret"), "usdm": ("usdm-key", "usdm-secret")}
WALLETS = {"BTC": 1.0, "ETH": 20.0, "SOL": 400.0, "XRP": 100_000.0}  # strategies/binance_coinm.yaml's


def _synth(root: Path) -> None:
    for exchange, n, seed in (("binancecoinm", "8", "1"), ("binanceusdm", "3", "2")):
        assert main(["data", "synth", "--exchange", exchange, "--instruments", n, "--days", DAYS, "--seed", seed,
                     "--timeframe", "15m", "--start", START, "--root", str(root)]) == 0


def _accounts(tmp: Path, root: Path, urls: dict[str, str]) -> Path:
    """The shipped example's two Binance accounts, pointed at this test's exchanges, store and folders."""
    shipped = yaml.safe_load((REPO / "accounts.example.yaml").read_text())
    accounts = {}
    for name in ("coinm", "usdm"):
        acct = dict(shipped["accounts"][name])
        acct.update(url=urls[name], strategies=str(REPO / acct["strategies"]), store=str(root),
                    ledger=f"ledger/{name}.sqlite", runs_dir="runs/live", wait_data_s=0.5)  # then fetches the bars from the exchange
        accounts[name] = acct
    path = tmp / "accounts.yaml"
    path.write_text(yaml.safe_dump({"defaults": shipped["defaults"] | {"store": str(root)}, "accounts": accounts}))
    return path


def _rows(ledger: Path, sql: str) -> pd.DataFrame:
    with sqlite3.connect(ledger) as c:
        return pd.read_sql_query(sql, c)


def _exchange_positions(name: str, url: str) -> dict[str, float]:
    """Positions as the venue reports them to ccxt (contracts on COIN-M, coins on USDⓈ-M)."""
    key, secret = KEYS[name]
    client = (ccxt.binancecoinm if name == "coinm" else ccxt.binanceusdm)({"apiKey": key, "secret": secret})
    client.urls["api"] = local_urls(client.urls["api"], url)
    raw = client.dapiPrivateGetPositionRisk() if name == "coinm" else client.fapiPrivateV2GetPositionRisk()
    return {p["symbol"]: float(p["positionAmt"]) for p in raw if float(p["positionAmt"]) != 0}


def test_binance_tour_backtest_then_paper_runs_of_both_accounts(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "data"
    _synth(root)
    monkeypatch.setenv("QLIB_LOCAL_ROOT", str(root))

    # research: the backtest of the COIN-M setup, with its report notebook
    out = tmp_path / "runs" / "backtest" / "coinm"
    assert main(["backtest", str(REPO / "strategies" / "binance_coinm.yaml"), "--out", str(out)]) == 0
    equity = pd.read_csv(out / "equity.csv")
    assert {"BtcBullAndCoinBull_21_55", "RankOnly"} <= set(equity.columns)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["settle_ccy"] == "USD" and set(stats["wallets"]) == set(WALLETS)  # a wallet per coin, in USD
    traded = set(pd.read_csv(out / "orders.csv")["instrument"])
    assert len(traded) >= 3, traded  # a cross-section of coins
    assert len(pd.read_csv(out / "orders.csv")) > 0 and (out / "03_backtest.ipynb").exists()

    with ExitStack() as stack:
        exchanges = {}
        for name, folder, funds in (("coinm", "binancecoinm", {"balances": {"USDT": 0.0, **WALLETS}}),
                                    ("usdm", "binanceusdm", {"usdt": 10_000})):
            ex = BinanceExchange(root, start=to_ms(BAR[name]) + 1_000, exchange=folder)  # frozen clock
            ex.add_account(name, *KEYS[name], **funds)
            exchanges[name] = stack.enter_context(ex)
        path = _accounts(tmp_path, root, {n: ex.url for n, ex in exchanges.items()})
        env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        for name, (key, secret) in KEYS.items():
            env[f"QLIB_LOCAL_{name.upper()}_API_KEY"], env[f"QLIB_LOCAL_{name.upper()}_SECRET_KEY"] = key, secret
        runs = {n: subprocess.Popen([sys.executable, "-m", "qlib_local", "live", "run", n, "--accounts", str(path),
                                     "--at", BAR[n]], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True) for n in KEYS}
        for name, proc in runs.items():
            log, _ = proc.communicate(timeout=GUARD_S)
            assert proc.returncode == 0, f"{name}: {log[-3000:]}"
        held = {n: _exchange_positions(n, ex.url) for n, ex in exchanges.items()}

    done = index.read(tmp_path / "runs" / "live")
    assert sorted(done["account"]) == ["coinm", "usdm"] and set(done["status"]) == {"ok"}
    for name in KEYS:
        ledger = tmp_path / "ledger" / f"{name}.sqlite"
        bar_ms = to_ms(BAR[name])
        orders = _rows(ledger, f"select * from orders where bar_ts = {bar_ms}")
        fills = _rows(ledger, "select * from fills")
        assert len(orders) > 0 and set(orders["state"]) == {"filled"}, (name, orders)
        assert set(fills["cl_ord_id"]) == set(orders["cl_ord_id"])
        targets = _rows(ledger, f"select inst_id, sum(contracts) as n from strategy_positions "
                                f"where bar_ts = {bar_ms} group by inst_id")
        want = {r.inst_id: r.n for r in targets.itertuples() if r.n != 0}
        assert want and held[name] == want, (name, held[name], want)
        eq = _rows(ledger, f"select * from equity where bar_ts = {bar_ms}")
        assert set(eq["kind"]) == {"before", "after"} and (eq["total_eq"] > 0).all()
    # the two COIN-M strategies share the account: their equity is in USD (every coin's wallet at its
    # mark), in their capital shares; the run traded swaps margined in two coins
    coinm = tmp_path / "ledger" / "coinm.sqlite"
    usd = float(_rows(coinm, f"select total_eq from equity where bar_ts = {to_ms(BAR['coinm'])} and kind = 'before'")
                ["total_eq"].iloc[0])
    assert 200_000 < usd < 400_000  # ~60,000 USD a wallet, not 1 BTC + 20 ETH + ... added up as coins
    se = _rows(coinm, "select strategy, equity from strategy_equity")
    shares = dict(zip(se["strategy"], se["equity"], strict=True))
    assert shares.keys() == {"BtcBullAndCoinBull_21_55", "RankOnly"}
    assert abs(shares["BtcBullAndCoinBull_21_55"] / usd - 0.5) < 1e-9 and abs(shares["RankOnly"] / usd - 0.4) < 1e-9
    coinm_orders = set(_rows(coinm, "select distinct inst_id from orders")["inst_id"])
    assert len(coinm_orders) >= 2 and coinm_orders <= {f"{c}USD_PERP" for c in WALLETS}, coinm_orders
    parts = _rows(coinm, "select distinct ccy from strategy_wallets")
    assert set(parts["ccy"]) == set(WALLETS)
