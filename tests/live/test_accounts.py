"""Accounts config validation and secrets: environment, a checked secrets file, masking."""

from __future__ import annotations

import logging
import os
import subprocess

import pytest
import yaml

from qlib_local.live import redact
from qlib_local.live.accounts import Secret, load_account, load_accounts, load_secrets
from qlib_local.live.errors import ConfigError, SecretError


def write(tmp_path, accounts: dict, defaults: dict | None = None, name: str = "accounts.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump({"accounts": accounts, **({"defaults": defaults} if defaults else {})}))
    return p


def test_config_fields_and_errors(tmp_path):
    p = write(tmp_path, {"a": {"mode": "paper", "url": "http://127.0.0.1:1", "strategies": "s.yaml"},
                         "b": {"mode": "demo", "strategies": "s.yaml", "pos_mode": "long_short_mode"}},
              defaults={"leverage": 3})
    acc = load_accounts(p)
    assert acc["a"].domain == "http://127.0.0.1:1" and acc["a"].flag == "1" and acc["a"].leverage == 3
    assert acc["b"].domain == "https://www.okx.com" and acc["b"].pos_mode == "long_short_mode"
    assert acc["b"].strategies == tmp_path / "s.yaml"
    assert load_account(p, "a").with_mode("live").flag == "0"
    bad = [({"mode": "real", "strategies": "s"}, "mode"), ({"mode": "paper", "strategies": "s"}, "url"),
           ({"mode": "demo", "strategies": "s", "api_key": "x"}, "secrets never go"),
           ({"mode": "demo"}, "strategies"), ({"mode": "demo", "strategies": "s", "margin_mode": "x"}, "margin_mode"),
           ({"mode": "live", "strategies": "s", "url": "http://evil"}, "https://")]
    for raw, msg in bad:
        with pytest.raises(ConfigError, match=msg):
            load_accounts(write(tmp_path, {"x": raw}, name="bad.yaml"))
    with pytest.raises(ConfigError, match="no account 'zz'"):
        load_account(p, "zz")


def test_secrets_from_env_and_masking(tmp_path, caplog):
    acct = load_account(write(tmp_path, {"my-acct": {"mode": "demo", "strategies": "s"}}), "my-acct")
    env = {"QLIB_LOCAL_MY_ACCT_API_KEY": "envkey-123", "QLIB_LOCAL_MY_ACCT_SECRET_KEY": "envsecret-456",
           "QLIB_LOCAL_MY_ACCT_PASSPHRASE": "envpass-789"}
    s = load_secrets(acct, env=env)
    assert s.secret_key.reveal() == "envsecret-456" and "envsecret" not in repr(s) and str(s.api_key) == "Secret('***')"
    assert redact.clean("sig envsecret-456 and envpass-789") == "sig *** and ***"
    redact.install()
    with caplog.at_level(logging.INFO):
        logging.getLogger("x").info("leaking %s", "envkey-123")
    assert "envkey-123" not in caplog.text or "***" in caplog.text
    with pytest.raises(SecretError, match="QLIB_LOCAL_MY_ACCT_PASSPHRASE"):
        load_secrets(acct, env={k: v for k, v in env.items() if "PASS" not in k})


def test_secrets_file_permissions_and_location(tmp_path, tmp_path_factory):
    outside = tmp_path_factory.mktemp("home")
    sfile = outside / "alice.env"
    sfile.write_text("export API_KEY=filekey-1\nSECRET_KEY='filesecret-2'\nPASSPHRASE=filepass-3\n")
    os.chmod(sfile, 0o644)
    acct = load_account(write(tmp_path, {"alice": {"mode": "demo", "strategies": "s", "secrets_file": str(sfile)}}),
                        "alice")
    with pytest.raises(SecretError, match="readable by group or others"):
        load_secrets(acct, env={})
    os.chmod(sfile, 0o600)
    assert load_secrets(acct, env={}).passphrase.reveal() == "filepass-3"
    repo = tmp_path_factory.mktemp("repo")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    inside = repo / "secrets.env"
    inside.write_text(sfile.read_text())
    os.chmod(inside, 0o600)
    acct2 = load_account(write(tmp_path, {"alice": {"mode": "demo", "strategies": "s", "secrets_file": str(inside)}}),
                         "alice")
    with pytest.raises(SecretError, match="inside a git repository"):
        load_secrets(acct2, env={})


def test_secret_short_values_do_not_mask_words():
    Secret("ab")
    assert redact.clean("ab cd") == "ab cd"


def test_the_example_accounts_file_is_valid():
    from tests_support import REPO

    accounts = load_accounts(REPO / "accounts.example.yaml")
    assert set(accounts) == {"paper", "okx-demo", "okx-main"}
    assert accounts["okx-main"].flag == "0" and accounts["okx-main"].pos_mode == "long_short_mode"
    assert accounts["okx-demo"].secrets_file.is_absolute() and accounts["okx-main"].telegram.chat_id
