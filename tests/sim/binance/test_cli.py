"""``qlib-local sim serve --venue binance`` as a user runs it: a real process, ccxt, then a signal."""

from __future__ import annotations

import signal
import subprocess
import sys

import ccxt
import httpx
from tests_support import GUARD_MS, GUARD_S

from ..test_cli import REPO, free_port, run_cli
from .conftest import at, local_urls


def test_serve_binance_answers_ccxt_then_stops(binance_root):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "qlib_local", "sim", "serve", "--venue", "binance", "--root", str(binance_root),
         "--port", str(port), "--start", "2025-03-03T00:00:00Z", "--speed", "0",
         "--account", "main:k1:s1:2500,BTC=0.5"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline()
        assert f"serving Binance futures at http://127.0.0.1:{port}" in line and "4 instruments" in line
        url = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{url}/fapi/v1/time", timeout=GUARD_S).json() == {"serverTime": at("2025-03-03T00:00Z")}
        usdm = ccxt.binanceusdm({"apiKey": "k1", "secret": "s1", "timeout": GUARD_MS})
        local_urls(usdm, url)
        assert usdm.fetch_balance()["USDT"]["total"] == 2500
        coinm = ccxt.binancecoinm({"apiKey": "k1", "secret": "s1", "timeout": GUARD_MS})
        local_urls(coinm, url)
        assert coinm.fetch_balance()["BTC"]["total"] == 0.5
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=GUARD_S)
        assert proc.returncode == 0 and "stopped" in out, err
    finally:
        if proc.poll() is None:
            proc.kill()


def test_binance_bad_input_is_one_error_line(binance_root):
    for args, message in [
        (("--account", "a:k:s:p:10"), "NAME:KEY:SECRET:CASH"),
        (("--account", "a:k:s:lots"), "USDT must be a number"),
        (("--account", "a:k:s:10,XRP=1"), "no instrument settles in 'XRP'"),
        (("--sign-clock", "moon"), "invalid choice"),
    ]:
        p = run_cli("--venue", "binance", "--root", str(binance_root), *args)
        lines = p.stderr.strip().splitlines()
        assert p.returncode != 0 and message in lines[-1], (args, p.stderr)
        if message != "invalid choice":  # argparse's own usage lines come before its error
            assert len(lines) == 1 and lines[0].startswith("error: "), (args, lines)


def test_a_linear_spec_of_other_than_one_coin_is_refused_at_start(tmp_path):
    """An OKX-style linear spec (0.01 BTC a contract) under the binance store: one error line, no server."""
    from qlib_local.specs import InstrumentSpec, save_specs
    from qlib_local.store import KlineStore

    from ..perp_data import stepped_bars

    store = KlineStore(tmp_path, create=True, durable=False)
    store.upsert("binance", "BTCUSDT", "1m", stepped_bars({"2025-03-01T00:00Z": 50_000.0}, start="2025-03-01T00:00Z",
                                                          end="2025-03-01T06:00Z"))
    save_specs(tmp_path, "binance", {"BTCUSDT": InstrumentSpec("BTCUSDT", ct_val=0.01, lot_sz=1.0, min_sz=1.0,
                                                               tick_sz=0.1, max_lever=125.0, ct_val_ccy="BTC")})
    p = run_cli("--venue", "binance", "--root", str(tmp_path))
    lines = p.stderr.strip().splitlines()
    assert p.returncode != 0 and len(lines) == 1 and lines[0].startswith("error: "), p.stderr
    assert "quantities are coins" in lines[0] and "BTCUSDT (0.01)" in lines[0]
