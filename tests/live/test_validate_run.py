"""`qlib-local live run` refuses a bad account before it writes anything: exit 2, one `error:` line.

Each case runs the real CLI in a fresh process (so every line it prints is seen) against the
conftest's accounts file with one thing broken, then checks that nothing was written: no ledger
file, no runs folder (notebook, index), nothing new next to the project.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from qlib_local.live.accounts import env_prefix
from qlib_local.timeframes import from_ms

from .conftest import ACCOUNT, bar, strategies_config

CLI = [sys.executable, "-m", "qlib_local", "live", "run"]


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def run_refused(path: Path, account: str, *extra: str, message: str) -> None:
    """The CLI exits 2 with exactly one stderr line, ``error: ...message...``, and writes nothing."""
    project, outside = path.parent, path.parent.parent
    before, before_outside = tree(project), set(os.listdir(outside))
    r = subprocess.run([*CLI, account, "--accounts", str(path), "--at", from_ms(bar(0)).isoformat(), *extra],
                       capture_output=True, text=True, timeout=120, cwd=project)
    lines = r.stderr.splitlines()
    assert r.returncode == 2, r.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr[-3000:]
    assert message in lines[0], lines[0]
    assert r.stdout == ""
    assert not (project / "ledger").exists() and not (project / "runs").exists()
    assert tree(project) == before and set(os.listdir(outside)) == before_outside


def literal(path: Path, token: str, text: str) -> Path:
    """Put YAML text the dumper would not write (``1e999``, unquoted ``no``) in place of ``token``."""
    path.write_text(path.read_text().replace(token, text))
    return path


def with_strategies(tmp_path: Path, kit, edit: Callable[[dict], None]) -> Path:
    raw = strategies_config(kit)
    edit(raw)
    (tmp_path / "bad_strategies.yaml").write_text(yaml.safe_dump(raw))
    return tmp_path / "bad_strategies.yaml"


@pytest.mark.parametrize("overrides, text, message", [
    ({"max_late_s": float("nan")}, None, "max_late_s: must be a finite number, got nan"),
    ({"max_late_s": "TOKEN"}, "1e999", "max_late_s: must be a finite number, got inf"),
    ({"leverage": float("nan")}, None, "leverage: must be a finite number, got nan"),
    ({"leverage": 200}, None, "leverage: must be <= 125, got 200"),
    ({"fetch_missing": "no"}, None, "fetch_missing: must be true or false, got 'no'"),
    ({"fetch_missing": "TOKEN"}, "no", "fetch_missing: must be true or false, got 'no'"),
    ({"history_bars": 2.5}, None, "history_bars: expected an integer, got 2.5"),
    ({"history_bars": 5}, None, "history_bars 5 (0.208333 days) is shorter than strategy"),
    ({"url": "http://10.1.2.3:8080"}, None, "10.1.2.3 is not this machine"),
])
def test_bad_account_fields_exit_2_and_write_nothing(accounts_file, tmp_path, overrides, text, message):
    path = accounts_file(**overrides)
    if text is not None:
        literal(path, "TOKEN", text)
    run_refused(path, ACCOUNT, message=message)


@pytest.mark.parametrize("edit, text, message", [
    (lambda r: r["strategies"][0].update(strategy_name="NoSuch_1_2"), None, "unknown strategy 'NoSuch_1_2'"),
    (lambda r: r["strategies"][1].update(position=0.6), None, "positions sum to 1.1, more than 1"),
    (lambda r: r["strategies"][0].update(leverage=-2), None, "leverage: must be > 0, got -2"),
    (lambda r: r["strategies"][0].update(offset="2h"), None, "offset 2h does not fit rule 1H"),
    (lambda r: r["strategies"][0].update(instruments=[*r["strategies"][0]["instruments"], "ZZZ-USDT-SWAP"]), None,
     "ZZZ-USDT-SWAP not in the store"),
    (lambda r: r["strategies"][0].update(position=float("nan")), None, "position: must be a finite number, got nan"),
    (lambda r: r["strategies"][0].update(leverage="TOKEN"), "1e999", "leverage: must be a finite number, got inf"),
    (lambda r: r["strategies"][1].update(hold_period=2.5, max_cap_num=2.5), None,
     "hold_period: expected an integer, got 2.5"),
    (lambda r: r["strategies"][1].update(execution={"style": "iceberg"}), None,
     "strategies[1] (RankOnly).execution.style: must be one of market, maker_first, twap, got 'iceberg'"),
    (lambda r: r["strategies"][0].update(execution={"style": "maker_first", "reprice_s": "TOKEN"}), "1e999",
     ".execution.reprice_s: must be a finite number, got inf"),
])
def test_bad_strategies_file_exits_2_and_writes_nothing(accounts_file, kit, tmp_path, edit, text, message):
    strategies = with_strategies(tmp_path, kit, edit)
    if text is not None:
        literal(strategies, "TOKEN", text)
    run_refused(accounts_file(strategies=strategies.name), ACCOUNT, message=message)


def test_missing_strategies_file_store_and_bad_at_exit_2(accounts_file, tmp_path):
    run_refused(accounts_file(strategies="nope.yaml"), ACCOUNT, message="nope.yaml does not exist")
    run_refused(accounts_file(store=str(tmp_path / "no-store")), ACCOUNT, message="no-store does not exist")
    (tmp_path / "a-file").write_text("not a store")
    run_refused(accounts_file(store=str(tmp_path / "a-file")), ACCOUNT, message="is not a folder")
    run_refused(accounts_file(), ACCOUNT, "--at", "yesterday-ish", message="--at: cannot parse time")


def test_missing_or_unsafe_secrets_exit_2(accounts_file, tmp_path, tmp_path_factory, monkeypatch):
    path = accounts_file()
    monkeypatch.delenv("QLIB_LOCAL_ALICE_SECRET_KEY")  # every venue needs it (a passphrase only some)
    run_refused(path, ACCOUNT, message="missing QLIB_LOCAL_ALICE_SECRET_KEY")
    sfile = tmp_path_factory.mktemp("home") / "alice.env"
    sfile.write_text("SECRET_KEY=whatever-1\n")
    sfile.chmod(0o644)
    run_refused(accounts_file(secrets_file=str(sfile)), ACCOUNT, message="readable by group or others")


def test_an_account_name_that_is_a_path_is_refused(accounts_file, tmp_path, fake_secrets, monkeypatch):
    """`../../x` would put the ledger, the lock and the notebook outside the project."""
    path = accounts_file()
    raw = yaml.safe_load(path.read_text())
    acct = raw["accounts"].pop(ACCOUNT)
    acct.pop("ledger")  # the default, ledger/<account>.sqlite, is what escapes
    raw["accounts"]["../../x"] = acct
    path.write_text(yaml.safe_dump(raw))
    for k, v in fake_secrets.items():  # the name's secrets exist: only the name is wrong
        monkeypatch.setenv(env_prefix("../../x") + k, v)
    run_refused(path, "../../x", message="'../../x' is not a valid name")
    run_refused(accounts_file(), "../../x", message="'../../x' is not a valid name")  # the argument alone


def test_a_valid_account_passes_the_checks_unchanged(accounts_file, insts):
    """The checks accept what the other live tests run (they would fail otherwise); here, in-process."""
    from qlib_local.live.validate_run import validate_run

    checked = validate_run(accounts_file(), ACCOUNT, at=from_ms(bar(0)).isoformat())
    assert checked.acct.name == ACCOUNT and checked.at_ms == bar(0)
    assert [s.id for s in checked.config.strategies] == ["SmaCross_5_10", "RankOnly"]
    assert set(checked.config.instruments) >= {insts.BTC, insts.ETH} and checked.ledger.name == "alice.sqlite"


def test_history_bars_must_cover_every_warm_up(accounts_file):
    """The boundary is each strategy's measured warm-up: one bar less is refused, the warm-up passes."""
    from qlib_local.live.errors import ConfigError
    from qlib_local.live.validate_run import validate_run
    from qlib_local.research.intents import warmup_bars

    path = accounts_file()
    config = validate_run(path, ACCOUNT).config
    need = max(warmup_bars(sc, config.factors) + 1 for sc in config.strategies)  # all rules are 1H here
    assert validate_run(accounts_file(history_bars=need), ACCOUNT).acct.history_bars == need
    with pytest.raises(ConfigError, match=f"set history_bars to at least {need}"):
        validate_run(accounts_file(history_bars=need - 1), ACCOUNT)
