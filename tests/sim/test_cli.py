"""``qlib-local sim serve`` as a user runs it: a real process, a request, then a signal."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests_support import GUARD_S

from qlib_local.store import KlineStore

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(*args: str, timeout: float = GUARD_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qlib_local", "sim", "serve", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_answers_then_stops_cleanly(sim_root, sig):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "qlib_local", "sim", "serve", "--root", str(sim_root), "--port", str(port),
         "--start", "2025-01-02T00:00:00Z", "--account", "main:k1:s1:p1:2500"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in line and "3 instruments" in line
        r = httpx.get(f"http://127.0.0.1:{port}/api/v5/market/candles",
                      params={"instId": "ETH-USDT-SWAP", "bar": "1H", "limit": "2"}, timeout=GUARD_S)
        rows = r.json()["data"]
        assert r.json()["code"] == "0" and int(rows[0][0]) <= int(time.time() * 1000)
        assert int(rows[0][0]) == 1735776000000  # the replay started at --start
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=GUARD_S)
        assert proc.returncode == 0, err
        assert "stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()


def test_bad_input_errors(sim_root, tmp_path):
    root = str(sim_root)
    cases = [
        (("--root", root, "--account", "a:b:c"), "bad --account"),
        (("--root", root, "--account", "a:k:s:p:lots"), "USDT must be a number"),
        (("--root", str(tmp_path / "missing")), "does not exist"),
        (("--root", root, "--host", "0.0.0.0"), "loopback only"),
        (("--root", root, "--fail", "/api/v5/*=404"), "5xx"),
        (("--root", root, "--start", "yesterday-ish"), "yesterday-ish"),
        (("--root", root, "--speed", "nan"), "speed must be a finite number"),
        (("--root", root, "--taker-fee", "inf"), "taker must be a finite fee rate"),
        (("--root", root, "--late-bar", "nan"), "late bar seconds must be a finite number"),
        (("--root", root, "--funding-rate", "nan"), "funding rate must be finite"),
        (("--root", root, "--book-spread-k", "nan"), "spread_k must be a finite number"),
        (("--root", root, "--book-depth-share", "2"), "depth_share must be a finite number in [0, 1]"),
        (("--root", root, "--through-ticks", "-1"), "through_ticks must be an integer"),
        (("--root", root, "--funding-rate", "0.5"), "funding rate must be finite"),
        (("--root", root, "--latency", "/api/v5/*=nan"), "latency value must be a finite number"),
        (("--root", root, "--account", "a:k:s:p:inf"), "USDT must be zero or more"),
        (("--root", root, "--account", "a:k:s:p:10,BTC=lots"), "BTC must be a number"),
        (("--root", root, "--account", "a:k:s:p:BTC=1,BTC=2"), "BTC given twice"),
        (("--root", root, "--account", "a:k:s:p:10,btc=1"), "is not a currency code"),
        (("--root", root, "--account", "a:k:s:p:10,XRP=1"), "no instrument settles in 'XRP'"),
    ]
    empty = tmp_path / "empty"
    KlineStore(empty, create=True)
    cases.append((("--root", str(empty)), "no okx instruments"))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        cases.append((("--root", root, "--port", str(busy.getsockname()[1])), "cannot listen"))
        for args, message in cases:
            p = run_cli(*args)
            lines = p.stderr.strip().splitlines()
            assert p.returncode != 0 and len(lines) == 1, (args, p.stderr)
            assert lines[0].startswith("error: ") and message in lines[0], (args, lines)


def test_restart_on_the_same_port_right_after_stopping(tmp_path) -> None:
    """Connections left in TIME_WAIT by the last run must not block a restart."""
    import socket

    from qlib_local.sim.server import bind_socket

    first = bind_socket("127.0.0.1", 0)
    port = first.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    conn, _ = first.accept()
    conn.close()  # the server closes first: its side of the connection goes to TIME_WAIT
    client.close()
    first.close()
    again = bind_socket("127.0.0.1", port)
    assert again.getsockname()[1] == port
    again.close()
