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
DEMO_DAYS = 20
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


def run_demo(workdir: Path, repo: Path) -> DemoResult:
    """Synthetic data, a backtest report, the local exchange; returns what it wrote."""
    root = workdir / "data"
    result = DemoResult(root=root)
    config = repo / "strategies" / "example.yaml"

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
                "--start",
                DEMO_START,
            ]
        ),
    )
    # Synthetic data has no gaps unless asked, so check passes (exit 1 would mean problems).
    _step(result, "2. data check", lambda: cli(["data", "check", "--root", str(root), "--max-gaps", "2"]))

    out = repo / "runs" / "backtest" / "demo"
    _step(
        result,
        "3. backtest notebook (papermill)",
        lambda: cli(["backtest", str(config), "--root", str(root), "--out", str(out)]),
    )
    result.outputs += sorted(out.glob("*.ipynb")) + sorted(out.glob("*.csv")) + sorted(out.glob("*.json"))

    _step(result, "4. local OKX exchange: python-okx and ccxt over HTTP", lambda: _exchange_check(root))
    return result


def _exchange_check(root: Path) -> int:
    """Start the local exchange, read it with both real clients, stop it."""
    import secrets

    import ccxt
    import okx.Account as Account
    import okx.MarketData as MarketData

    from qlib_local.sim import LocalExchange

    key, secret, phrase = secrets.token_hex(8), secrets.token_hex(16), "demo-Pass1"
    start = "2025-01-15T00:00:30Z"
    with LocalExchange(root, start=start, speed=0) as ex:
        ex.add_account("demo", key, secret, phrase, usdt=10_000)
        print(f"local exchange at {ex.url}, clock {start}")
        market = MarketData.MarketAPI(flag="1", domain=ex.url, debug=False)
        candles = market.get_candlesticks(instId="BTC-USDT-SWAP", bar="1H", limit="3")
        assert candles["code"] == "0", candles
        for row in candles["data"]:
            print(f"  BTC-USDT-SWAP 1H {row[0]} close {row[4]} confirm {row[8]}")
        account = Account.AccountAPI(key, secret, phrase, flag="1", domain=ex.url, debug=False)
        bal = account.get_account_balance()
        assert bal["code"] == "0", bal
        print(f"  python-okx: account equity {float(bal['data'][0]['totalEq']):,.2f} USDT")
        venue = ccxt.okx(
            {
                "apiKey": key,
                "secret": secret,
                "password": phrase,
                "options": {"fetchMarkets": {"types": ["swap"]}},
            }
        )
        venue.urls["api"]["rest"] = ex.url
        markets = venue.load_markets()
        print(f"  ccxt: {len(markets)} swap markets, e.g. {sorted(markets)[0]}")
    return 0


def summary(result: DemoResult, repo: Path) -> str:
    lines = ["", "=== demo finished ==="]
    for name, secs in result.timings.items():
        lines.append(f"  {name:<55} {secs:6.1f} s")
    lines.append(f"data store: {result.root}")
    lines.append("output files:")
    lines += [f"  {p.relative_to(repo) if p.is_relative_to(repo) else p}" for p in result.outputs]
    lines.append("open them in JupyterLab with:")
    lines.append("  .venv/bin/jupyter lab notebooks/ runs/")
    return "\n".join(lines)
