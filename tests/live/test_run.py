"""`qlib-local live run` end to end: papermill, the audit notebook, notifications, secrets, lock, index."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
from pathlib import Path

import pytest

from qlib_local.cli.main import main
from qlib_local.ledger import Ledger
from qlib_local.live import index
from qlib_local.live.lock import AccountLock
from qlib_local.timeframes import from_ms

from .conftest import ACCOUNT, bar, notify_config

CLI = [sys.executable, "-m", "qlib_local"]


def run_cli(path: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "live", "run", ACCOUNT, "--accounts", str(path), *extra], capture_output=True,
                          text=True, timeout=240, cwd=path.parent)


def all_text(tmp_path: Path, log: str) -> str:
    """Every output notebook, the runs index, the log and every ledger row."""
    parts = [p.read_text() for p in (tmp_path / "runs").rglob("*") if p.is_file()]
    parts.append(Ledger(tmp_path / "ledger" / "alice.sqlite").dump_text())
    return "\n".join(parts + [log])


@pytest.mark.every_kit
def test_papermill_run_audits_notifies_and_leaks_no_secret(accounts_file, exchange, capture, notify_secrets,
                                                           fake_secrets, tmp_path):
    path = accounts_file(notify=notify_config(capture.url))
    exchange.clock.set(bar(0) + 1_000)
    r = run_cli(path, "--at", from_ms(bar(0)).isoformat())
    assert r.returncode == 0, r.stderr[-3000:]
    notebooks = list((tmp_path / "runs" / "live" / ACCOUNT).glob("*/*.ipynb"))
    assert len(notebooks) == 1
    nb = json.loads(notebooks[0].read_text())
    text = json.dumps(nb)
    assert "filled" in text and "image/png" in text and '"output_type": "error"' not in text
    assert nb["cells"][1]["metadata"]["tags"] == ["parameters"]
    # DingTalk: signed webhook; Telegram: sendMessage
    ding = [q for q in capture.requests if q["path"] == "/robot/send"]
    tele = [q for q in capture.requests if q["path"].endswith("/sendMessage")]
    assert len(ding) == 1 and len(tele) == 1
    q = ding[0]["query"]
    secret = notify_secrets["DINGTALK_SECRET"]
    want = base64.b64encode(hmac.new(secret.encode(), f"{q['timestamp']}\n{secret}".encode(), hashlib.sha256).digest())
    assert q["access_token"] == notify_secrets["DINGTALK_TOKEN"] and q["sign"] == want.decode()
    assert tele[0]["path"] == f"/bot{notify_secrets['TELEGRAM_TOKEN']}/sendMessage"
    assert tele[0]["json"]["chat_id"] == "-1001" and "orders: " in tele[0]["json"]["text"]
    assert "SmaCross_5_10" in tele[0]["json"]["text"] and "positions:" in tele[0]["json"]["text"]
    runs = index.read(tmp_path / "runs" / "live")
    assert list(runs["status"]) == ["ok"] and runs["bar"].iloc[0] == from_ms(bar(0)).isoformat()
    haystack = all_text(tmp_path, r.stdout + r.stderr)
    for name, value in {**fake_secrets, **notify_secrets}.items():
        assert value not in haystack, f"{name} leaked"


def test_failed_run_shows_the_error_notifies_and_exits_nonzero(accounts_file, kit, exchange, capture, notify_secrets,
                                                               tmp_path, capsys):
    path = accounts_file(notify=notify_config(capture.url), retry_budget_s=1.0)
    exchange.clock.set(bar(0) + 1_000)
    exchange.faults.fail(kit.paths["place"], 503)
    rc = main(["live", "run", ACCOUNT, "--accounts", str(path), "--at", from_ms(bar(0)).isoformat()])
    err = capsys.readouterr().err
    assert rc == 1 and "gave up placing" in err
    nb = next((tmp_path / "runs" / "live" / ACCOUNT).glob("*/*.ipynb")).read_text()
    assert '"output_type": "error"' in nb and "gave up placing" in nb
    failed = [q for q in capture.requests if "FAILED" in json.dumps(q["json"])]
    assert len(failed) == 2 and kit.code("unavailable") in capture.texts()  # both channels, with the cause
    led = Ledger(tmp_path / "ledger" / "alice.sqlite")
    assert list(led.runs(ACCOUNT)["status"]) == ["failed"]
    assert {o.state for o in led.orders(ACCOUNT)} == {"not_placed"} and exchange.accounts[ACCOUNT].orders == {}
    assert main(["runs", "--runs-dir", str(tmp_path / "runs" / "live"), "failed"]) == 0
    assert "failed" in capsys.readouterr().out


def test_second_run_for_the_account_exits_at_once(accounts_file, exchange, tmp_path, capsys):
    path = accounts_file()
    with AccountLock(tmp_path / "ledger", ACCOUNT):
        rc = main(["live", "run", ACCOUNT, "--accounts", str(path), "--at", from_ms(bar(0)).isoformat()])
    assert rc == 3 and "another live run for account alice is in progress" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists() and exchange.accounts[ACCOUNT].orders == {}
