"""The end-to-end demo on embedded synthetic data: what `make demo` runs.

Each step runs the same code a user would (the CLI functions, the local exchange, papermill),
so the demo doubles as a smoke test of the whole pipeline. It leaves no process running.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from qlib_local.cli.main import main as cli

DEMO_INSTRUMENTS = 12
# Hourly bars, the finest the example config needs (1H, and 4H at offset 1h), over 100 days: the
# event strategy waits 530 bars of 4H (88 days) until its EMAs no longer depend on where the
# history starts (its warm-up, `qlib-local check lookahead`), and only then trades.
DEMO_TIMEFRAME = "1H"
DEMO_DAYS = 100
DEMO_SEED = 42
DEMO_START = "2025-01-01"


@dataclass
class DemoResult:
    root: Path
    outputs: list[Path] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def _step(result: DemoResult, name: str, fn: Callable[[], object]) -> None:
    print(f"\n=== {name} ===", flush=True)
    t = time.perf_counter()
    code = fn()
    result.timings[name] = time.perf_counter() - t
    if isinstance(code, int) and code not in (0,):
        raise SystemExit(f"demo step '{name}' failed with exit code {code}")


def run_demo(workdir: Path, repo: Path, runs: Path) -> DemoResult:
    """Synthetic data, a backtest report, the local exchange, a paper run; returns what it wrote."""
    import shutil

    root = workdir / "data"
    result = DemoResult(root=root)
    config = repo / "strategies" / "example.yaml"
    # Each demo starts a fresh local exchange, so the paper account's ledger starts fresh too.
    shutil.rmtree(workdir / "ledger", ignore_errors=True)

    _step(
        result,
        "1. synthetic data into the store",
        lambda: cli(
            [
                "data",
                "synth",
                "--root",
                str(root),
                "--instruments",
                str(DEMO_INSTRUMENTS),
                "--days",
                str(DEMO_DAYS),
                "--seed",
                str(DEMO_SEED),
                "--timeframe",
                DEMO_TIMEFRAME,
                "--start",
                DEMO_START,
                "--inverse",  # funding and mark prices come by default; BTC-USD-SWAP, ETH-USD-SWAP too
            ]
        ),
    )
    # Synthetic data has no gaps unless asked, so check passes (exit 1 would mean problems).
    _step(result, "2. data check", lambda: cli(["data", "check", "--root", str(root), "--max-gaps", "2"]))

    out = runs / "backtest" / "demo"
    _step(
        result,
        "3. backtest notebook (papermill)",
        lambda: cli(["backtest", str(config), "--root", str(root), "--out", str(out)]),
    )
    result.outputs += sorted(out.glob("*.ipynb")) + sorted(out.glob("*.csv")) + sorted(out.glob("*.json"))

    _step(
        result, "4. local OKX exchange + paper trading", lambda: _paper(workdir, root, runs, config, result)
    )
    return result


DEMO_CLOSE = "2025-04-05T01:00:00Z"  # both example strategies (1H, 4H offset 1h) are due, past their warm-up
EXCHANGE_START = "2025-04-05T01:00:02Z"  # the local exchange's clock starts just after that close


def _paper(workdir: Path, root: Path, runs: Path, config: Path, result: DemoResult) -> int:
    """The local exchange on 127.0.0.1; the collector's update against it; one live paper run
    of account ``demo`` through papermill, exactly as cron would run it."""
    import os
    import secrets

    import yaml

    from qlib_local.sim import LocalExchange

    creds = {
        "API_KEY": secrets.token_hex(8),
        "SECRET_KEY": secrets.token_hex(16),
        "PASSPHRASE": "Demo-" + secrets.token_hex(4),
    }
    # The exchange replays the store in real time from just after the close.
    with LocalExchange(root, start=EXCHANGE_START, speed=1) as ex:
        ex.add_account("demo", creds["API_KEY"], creds["SECRET_KEY"], creds["PASSPHRASE"], usdt=10_000)
        print(f"local OKX V5 exchange at {ex.url} (clock {DEMO_CLOSE} + 2 s, real-time replay)")
        _clients_check(ex.url, creds)
        code = cli(["data", "update", "--config", str(config), "--root", str(root), "--base-url", ex.url])
        if code:
            return code
        accounts = workdir / "accounts.yaml"
        accounts.write_text(
            yaml.safe_dump(
                {
                    "defaults": {
                        "exchange": "okx",
                        "pos_mode": "net_mode",
                        "margin_mode": "cross",
                        "leverage": 5,
                        "wait_data_s": 20,
                        "store": str(root),
                        "runs_dir": str(runs / "live"),
                    },
                    "accounts": {
                        "demo": {
                            "mode": "paper",
                            "url": ex.url,
                            "strategies": str(config),
                            "ledger": str(workdir / "ledger" / "demo.sqlite"),
                        }
                    },
                }
            )
        )
        # Keys reach the kernel through the environment only: never a papermill parameter.
        for k, v in creds.items():
            os.environ[f"QLIB_LOCAL_DEMO_{k}"] = v
        try:
            code = cli(["live", "run", "demo", "--accounts", str(accounts), "--at", DEMO_CLOSE])
        finally:
            for k in creds:
                os.environ.pop(f"QLIB_LOCAL_DEMO_{k}", None)
        acct = ex.accounts["demo"]
        print(
            f"exchange view of account demo: {len(acct.orders)} orders, "
            f"{sum(1 for p in acct.positions.values() if p)} open position(s)"
        )
    result.outputs += sorted((runs / "live" / "demo").rglob("*.ipynb"))[-1:]
    return code


def _clients_check(url: str, creds: dict[str, str]) -> None:
    """Both real clients read the local exchange, as they would read OKX."""
    import ccxt
    import okx.Account as Account
    import okx.MarketData as MarketData

    market = MarketData.MarketAPI(flag="1", domain=url, debug=False)
    candles = market.get_candlesticks(instId="BTC-USDT-SWAP", bar="1H", limit="2")
    assert candles["code"] == "0", candles
    for row in candles["data"]:
        print(f"  python-okx: BTC-USDT-SWAP 1H {row[0]} close {row[4]} confirm {row[8]}")
    account = Account.AccountAPI(
        creds["API_KEY"], creds["SECRET_KEY"], creds["PASSPHRASE"], flag="1", domain=url, debug=False
    )
    bal = account.get_account_balance()
    assert bal["code"] == "0", bal
    print(f"  python-okx: account equity {float(bal['data'][0]['totalEq']):,.2f} USDT")
    venue = ccxt.okx({"options": {"fetchMarkets": {"types": ["swap"]}}})
    venue.urls["api"]["rest"] = url
    print(f"  ccxt: {len(venue.load_markets())} swap markets")


def summary(result: DemoResult, repo: Path) -> str:
    lines = ["", "=== demo finished ==="]
    for name, secs in result.timings.items():
        lines.append(f"  {name:<55} {secs:6.1f} s")
    lines.append(f"data store: {result.root}")
    lines.append("output files:")
    lines += [f"  {p.relative_to(repo) if p.is_relative_to(repo) else p}" for p in result.outputs]
    lines.append("open them in JupyterLab with:")
    lines.append("  .venv/bin/jupyter lab --notebook-dir .   # then runs/ and notebooks/")
    return "\n".join(lines)
