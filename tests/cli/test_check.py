"""``qlib-local check lookahead`` as a real subprocess: exit 0 clean, 1 with findings printed,
2 with one ``error:`` line; and ``--help`` without pandas, numba or vectorbt."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from qlib_local.store import KlineStore
from qlib_local.synth import SynthConfig, write_synthetic

CLI = [sys.executable, "-m", "qlib_local"]
PEEK = "\n\ndef PeekAhead(bars, n: int):\n    return bars.close.shift(-n) / bars.close - 1.0\n"


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("check") / "data"
    write_synthetic(KlineStore(root, create=True, durable=False),
                    SynthConfig(instruments=4, timeframe="1H", days=30, seed=9))
    return root


def _config(tmp_path: Path, factors: list[str], name: str = "cfg.yaml") -> Path:
    raw = {"exchange": "okx", "initial_equity": 10000, "strategies": [
        {"strategy_name": "SmaCross_5_20", "kind": "timing", "instruments": ["BTC-USDT-SWAP"], "rule_type": "1H",
         "offset": "0h", "position": 0.5, "leverage": 1},
        {"strategy_name": "BtcBullAndCoinBull_5_10", "kind": "event", "universe": "all", "rule_type": "1H",
         "offset": "0h", "position": 0.5, "leverage": 1, "hold_period": 2, "max_cap_num": 2, "symbol_num_limit": 2,
         "factors": factors, "rank_factor": "QuoteVolumeMean_6", "ascending": False, "side": "long"}]}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw))
    return path


def _run(args: list[str], plugins: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if plugins is not None:
        env["QLIB_LOCAL_PLUGINS"] = str(plugins)
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=300)


def test_clean_config_exits_zero(root, tmp_path):
    proc = _run(["check", "lookahead", str(_config(tmp_path, [])), "--root", str(root), "--samples", "5", "--json"])
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is True and report["lookahead"] == []
    warm = {(r["strategy"], r["name"]): r for r in report["warmup"]}
    assert warm[("SmaCross_5_20", "(strategy)")]["warmup"] == 20  # its SMA20 window
    assert warm[("BtcBullAndCoinBull_5_10", "(strategy)")]["warmup"] > 10  # the EMAs need more than their span


def test_lookahead_exits_one_and_names_the_factor(root, tmp_path, plugin_copy):
    with (plugin_copy / "factors" / "timeseries.py").open("a") as f:
        f.write(PEEK)
    proc = _run(["check", "lookahead", str(_config(tmp_path, ["PeekAhead_1"])), "--root", str(root),
                 "--samples", "5"], plugins=plugin_copy)
    assert proc.returncode == 1, proc.stderr
    assert "LOOKAHEAD" in proc.stdout and "PeekAhead_1" in proc.stdout
    assert "2025-01-01 00:00:00+00:00" in proc.stdout  # the first bar already reads the next one
    assert proc.stderr == ""


@pytest.mark.parametrize("args, message", [
    (["--samples", "0"], "--samples: must be in [1, 10000]"),
    (["--seed", "-1"], "--seed: must be in [0, 2**32)"),
    (["--root", "/nonexistent/qlib"], "/nonexistent/qlib"),
])
def test_bad_input_is_one_error_line(root, tmp_path, args, message):
    cfg = _config(tmp_path, [])
    extra = args if "--root" in args else ["--root", str(root), *args]
    proc = _run(["check", "lookahead", str(cfg), *extra])
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and proc.stderr.strip().count("\n") == 0
    assert message in proc.stderr and proc.stdout == ""


def test_bad_config_is_one_error_line(root, tmp_path):
    cfg = _config(tmp_path, ["Nope_3"])
    proc = _run(["check", "lookahead", str(cfg), "--root", str(root)])
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "Nope_3" in proc.stderr
    assert proc.stderr.strip().count("\n") == 0


def test_cli_main_imports_no_pandas_numba_or_vectorbt():
    code = ("import sys, qlib_local.cli.main as m\n"
            "heavy = sorted(n for n in ('pandas', 'numba', 'vectorbt', 'numpy') if n in sys.modules)\n"
            "print(','.join(heavy))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == ""


def test_help_lists_every_command_without_importing_them():
    from qlib_local.cli.main import COMMANDS

    code = ("import sys, contextlib, io\nfrom qlib_local.cli.main import main\n"
            "buf = io.StringIO()\n"
            "with contextlib.redirect_stdout(buf):\n"
            "    try:\n        main(['--help'])\n    except SystemExit:\n        pass\n"
            "print(buf.getvalue())\n"
            "print('HEAVY', sorted(n for n in ('pandas', 'numba', 'vectorbt') if n in sys.modules))\n"
            "print('LOADED', sorted(n for n in sys.modules if n.startswith('qlib_local.cli.') and n != 'qlib_local.cli.main'))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    for name in COMMANDS:
        assert name in proc.stdout
    assert "HEAVY []" in proc.stdout and "LOADED []" in proc.stdout
    # a subcommand's own --help imports only its module
    sub = subprocess.run([*CLI, "check", "lookahead", "--help"], capture_output=True, text=True)
    assert sub.returncode == 0 and "--samples" in sub.stdout
