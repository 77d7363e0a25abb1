"""`qlib-local schedule`: printed lines, UTC handling, and the marked crontab block."""

from __future__ import annotations

import os
import stat
import time

import pytest
import yaml

from qlib_local.cli.main import main
from qlib_local.ops.crontab_block import BEGIN, END, tz_plan

from .cron_eval import fire_times

USER_TAB = "# my jobs\nMAILTO=ops@example.com\n*/5 * * * *   /usr/bin/backup --fast   # keep my spacing\n@reboot echo hi\n"


def run(args: list[str], capsys) -> tuple[int, str, str]:
    rc = main(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


def job_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#") and not line.startswith("CRON_TZ")]


@pytest.fixture
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_prints_collector_and_live_lines_in_utc(accounts_dir, capsys, utc, monkeypatch):
    monkeypatch.chdir(accounts_dir)
    rc, out, _ = run(["schedule", "--config", "accounts.yaml", "--lead", "30"], capsys)
    assert rc == 0
    assert out.startswith(BEGIN) and out.rstrip().endswith(END)
    assert "Times are UTC (this machine's zone is UTC)" in out
    assert "sleeps the remaining seconds" in out
    lines = job_lines(out)
    live_main = [line for line in lines if "live run main" in line]
    # example.yaml: 1H+0h and 4H+1h -> every hour (the 4H closes at 01,05,.. are hourly too)
    assert [line.split(" cd ")[0] for line in live_main] == ["59 * * * *"]
    assert "sleep 30 && " in live_main[0]
    assert f"live run main --accounts {accounts_dir / 'accounts.yaml'}" in live_main[0]
    assert live_main[0].endswith(f">> {accounts_dir / 'runs' / 'logs' / 'live-main.log'} 2>&1")
    collector = [line for line in lines if "data collect" in line and "example.yaml" in line]
    assert [line.split(" cd ")[0] for line in collector] == ["0 * * * *"]
    assert "sleep" not in collector[0]
    assert "# NOTE: account main has no secrets_file" in out  # cron has no shell environment
    assert f"--root {accounts_dir / 'data'} --base-url http://127.0.0.1:9 --max-cycles 1" in collector[0]
    fast = [line for line in lines if "live run fast" in line]
    assert len(fast) == 3  # 45m needs a line per group of minutes of the hour
    fired = sorted(t for line in fast for t in fire_times(" ".join(line.split()[:5]), 0, 1440))
    closes = sorted({(k * 45 - 1) % 1440 for k in range(32)} | {(135 - 1), (855 - 1)})
    assert fired == closes


def test_converts_to_a_fixed_offset_zone_and_uses_cron_tz_with_dst(accounts_dir, capsys, monkeypatch):
    monkeypatch.chdir(accounts_dir)
    try:
        monkeypatch.setenv("TZ", "Asia/Kolkata")
        time.tzset()
        _, out, _ = run(["schedule", "--config", "accounts.yaml", "--lead", "0"], capsys)
        assert "converted to this machine's zone (UTC+05:30" in out
        assert [line.split(" cd ")[0] for line in job_lines(out) if "live run main" in line] == ["30 * * * *"]
        monkeypatch.setenv("TZ", "Europe/Berlin")
        time.tzset()
        _, out, _ = run(["schedule", "--config", "accounts.yaml", "--lead", "0"], capsys)
        assert "\nCRON_TZ=UTC\n" in out and "daylight saving" in out
        assert [line.split(" cd ")[0] for line in job_lines(out) if "live run main" in line] == ["0 * * * *"]
        rc, _, err = run(["schedule", "--config", "accounts.yaml", "--tz", "convert"], capsys)
        assert rc != 0 and err.startswith("error:") and "daylight saving" in err
    finally:
        monkeypatch.undo()
        time.tzset()


def test_tz_plan_choices():
    assert tz_plan("auto", {0}).mode == "utc"
    assert tz_plan("auto", {-300}).shift_min == -300
    assert tz_plan("auto", {60, 120}).mode == "cron-tz"
    assert tz_plan("cron-tz", {0}).mode == "cron-tz"


def test_install_replaces_only_its_own_block_and_uninstall_restores(accounts_dir, capsys, utc):
    tab = accounts_dir / "tab"
    tab.write_text(USER_TAB)
    base = ["schedule", "--config", str(accounts_dir / "accounts.yaml"), "--crontab-file", str(tab)]
    rc, out, _ = run([*base, "--install"], capsys)
    assert rc == 0 and "installed" in out
    first = tab.read_text()
    assert first.startswith(USER_TAB) and first.count(BEGIN) == 1 and first.count(END) == 1
    rc, out, _ = run([*base, "--install"], capsys)
    assert "already installed" in out and tab.read_text() == first
    # the user adds a line after our block; a new lead replaces our block only
    tab.write_text(first + "0 4 * * * /usr/bin/late-job\n")
    run([*base, "--install", "--lead", "90"], capsys)
    second = tab.read_text()
    assert second.count(BEGIN) == 1 and "sleep 30" in second and "59 * * * *" not in second
    assert "58 * * * *" in second  # 90 s before the hour
    assert second.startswith(USER_TAB + "0 4 * * * /usr/bin/late-job\n")  # the user's lines, byte for byte
    rc, out, _ = run([*base, "--uninstall"], capsys)
    assert rc == 0 and "removed" in out
    assert tab.read_text() == USER_TAB + "0 4 * * * /usr/bin/late-job\n"
    rc, out, _ = run([*base, "--uninstall"], capsys)
    assert "nothing to remove" in out


def test_damaged_block_is_refused_and_left_alone(accounts_dir, capsys, monkeypatch):
    tab = accounts_dir / "tab"
    tab.write_text(USER_TAB + BEGIN + "\n0 * * * * something\n")
    monkeypatch.setenv("QLIB_LOCAL_CRONTAB", str(tab))
    rc, _, err = run(["schedule", "--config", str(accounts_dir / "accounts.yaml"), "--install"], capsys)
    assert rc != 0 and "damaged" in err
    assert tab.read_text() == USER_TAB + BEGIN + "\n0 * * * * something\n"


def test_user_crontab_through_the_crontab_command(accounts_dir, capsys, monkeypatch, utc):
    """Without a file, `crontab -l` / `crontab -` are used (a stand-in crontab on PATH)."""
    store = accounts_dir / "spool"
    bindir = accounts_dir / "bin"
    bindir.mkdir()
    fake = bindir / "crontab"
    fake.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "-l" ]; then [ -f {store} ] || {{ echo "no crontab for $USER" >&2; exit 1; }}; cat {store}; '
        f'elif [ "$1" = "-" ]; then cat > {store}; else exit 2; fi\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("QLIB_LOCAL_CRONTAB", raising=False)
    rc, out, _ = run(["schedule", "--config", str(accounts_dir / "accounts.yaml"), "--install"], capsys)
    assert rc == 0 and "the user's crontab" in out
    assert store.read_text().startswith(BEGIN)
    run(["schedule", "--uninstall"], capsys)
    assert store.read_text() == ""


def test_unexpressible_rule_points_to_serve(accounts_dir, capsys):
    cfg = yaml.safe_load((accounts_dir / "fast.yaml").read_text())
    cfg["strategies"][0]["rule_type"] = "2D"
    (accounts_dir / "fast.yaml").write_text(yaml.safe_dump(cfg))
    rc, out, err = run(["schedule", "--config", str(accounts_dir / "accounts.yaml")], capsys)
    assert rc != 0 and out == ""
    assert err.startswith("error:") and "qlib-local serve" in err and "2D" in err


@pytest.mark.parametrize("mutate, message", [
    (lambda d: (d / "accounts.yaml").write_text("accounts: {main: {mode: paper, url: 'http://127.0.0.1:9'}}\n"),
     "strategies: missing"),
    (lambda d: (d / "example.yaml").write_text("strategies:\n  - {rule_type: 4H, offset: 5h}\n"), "does not fit rule"),
    (lambda d: (d / "accounts.yaml").unlink(), "does not exist"),
])
def test_bad_configs_get_one_error_line(accounts_dir, capsys, mutate, message):
    mutate(accounts_dir)
    rc, _, err = run(["schedule", "--config", str(accounts_dir / "accounts.yaml")], capsys)
    assert rc != 0
    assert err.count("\n") == 1 and err.startswith("error:") and message in err


def test_help_lists_install(capsys):
    with pytest.raises(SystemExit):
        main(["schedule", "--help"])
    assert "--install" in capsys.readouterr().out
