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
from qlib_local.venues.okx.adapter import endpoint


def write(tmp_path, accounts: dict, defaults: dict | None = None, name: str = "accounts.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump({"accounts": accounts, **({"defaults": defaults} if defaults else {})}))
    return p


def test_config_fields_and_errors(tmp_path):
    p = write(tmp_path, {"a": {"mode": "paper", "url": "http://127.0.0.1:1", "strategies": "s.yaml"},
                         "b": {"mode": "demo", "strategies": "s.yaml", "pos_mode": "long_short_mode"}},
              defaults={"leverage": 3})
    acc = load_accounts(p)
    assert acc["a"].exchange == "okx" and acc["a"].url == "http://127.0.0.1:1" and acc["a"].leverage == 3
    # the OKX adapter's endpoint: (REST domain, python-okx flag: "1" sends x-simulated-trading)
    assert endpoint(acc["a"]) == ("http://127.0.0.1:1", "1") and endpoint(acc["b"]) == ("https://www.okx.com", "1")
    assert acc["b"].pos_mode == "long_short_mode" and acc["b"].strategies == tmp_path / "s.yaml"
    assert endpoint(load_account(p, "a").with_mode("live")) == ("https://www.okx.com", "0")
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
    assert set(accounts) == {"paper", "okx-demo", "okx-main", "coinm", "usdm", "binance-demo", "coinm-main"}
    assert endpoint(accounts["okx-main"]) == ("https://www.okx.com", "0")
    assert accounts["okx-main"].mode == "live" and accounts["okx-main"].pos_mode == "long_short_mode"
    assert accounts["okx-demo"].secrets_file.is_absolute() and accounts["okx-main"].telegram.chat_id
    assert (accounts["binance-demo"].exchange, accounts["binance-demo"].mode) == ("binanceusdm", "demo")
    assert (accounts["coinm-main"].exchange, accounts["coinm-main"].mode) == ("binancecoinm", "live")


# ---------------------------------------------------------------------- every value checked at load
PAPER = {"mode": "paper", "url": "http://127.0.0.1:8080", "strategies": "s.yaml"}


def load_text(tmp_path, text: str):
    """Load an accounts file written as YAML text (for literals the dumper would not write)."""
    p = tmp_path / "literal.yaml"
    p.write_text(text)
    return load_accounts(p)


@pytest.mark.parametrize("field", ["leverage", "wait_data_s", "max_late_s", "history_bars", "cell_timeout_s",
                                   "retry_budget_s", "poll_timeout_s"])
@pytest.mark.parametrize("literal", [".nan", ".inf", "-.inf", "1e999", ".NaN"])
def test_every_number_must_be_finite(tmp_path, field, literal):
    text = f"accounts:\n  a: {{mode: paper, url: 'http://127.0.0.1:1', strategies: s.yaml, {field}: {literal}}}\n"
    kind = "an integer" if field == "history_bars" else "a finite number"
    with pytest.raises(ConfigError, match=rf"^accounts\.a\.{field}: (must be|expected) {kind}"):
        load_text(tmp_path, text)


@pytest.mark.parametrize("field, bad, message", [
    ("leverage", 126, "must be <= 125, got 126"), ("leverage", 0.5, "must be >= 1, got 0.5"),
    ("max_late_s", 3601, "must be <= 3600"), ("max_late_s", -1, "must be >= 0"),
    ("wait_data_s", 3601, "must be <= 3600"), ("cell_timeout_s", 0, "must be >= 1"),
    ("cell_timeout_s", 86_401, "must be <= 86400"), ("retry_budget_s", 601, "must be <= 600"),
    ("poll_timeout_s", 601, "must be <= 600"), ("history_bars", 2.5, "expected an integer, got 2.5"),
    ("history_bars", 0, "must be >= 1"), ("history_bars", 100_001, "must be <= 100000"),
    ("leverage", "5", "expected a number, got '5'"), ("leverage", True, "expected a number, got True"),
    ("fetch_missing", "no", "must be true or false, got 'no'"), ("fetch_missing", 0, "must be true or false"),
])
def test_numbers_out_of_range_and_wrong_types_are_refused(tmp_path, field, bad, message):
    with pytest.raises(ConfigError, match=rf"accounts\.a\.{field}: {message}"):
        load_accounts(write(tmp_path, {"a": {**PAPER, field: bad}}))


def test_booleans_are_true_or_false_only(tmp_path):
    for word in ("no", "yes", "off", "'no'", "'false'"):
        with pytest.raises(ConfigError, match="fetch_missing: must be true or false"):
            load_text(tmp_path, f"accounts:\n  a: {{mode: paper, url: 'http://127.0.0.1:1', strategies: s, "
                                f"fetch_missing: {word}}}\n")
    acc = load_text(tmp_path, "accounts:\n  a: {mode: paper, url: 'http://127.0.0.1:1', strategies: s, "
                              "fetch_missing: false, history_bars: 0120}\n")["a"]
    assert acc.fetch_missing is False and acc.history_bars == 120  # decimal, not YAML 1.1 octal


def test_defaults_are_checked_like_the_account(tmp_path):
    with pytest.raises(ConfigError, match=r"accounts\.a\.max_late_s: must be a finite number, got nan"):
        load_accounts(write(tmp_path, {"a": PAPER}, defaults={"max_late_s": float("nan")}))
    p = tmp_path / "d.yaml"
    p.write_text("defaults: [1, 2]\naccounts: {a: {mode: paper, url: 'http://127.0.0.1:1', strategies: s}}\n")
    with pytest.raises(ConfigError, match="'defaults' must be a mapping"):
        load_accounts(p)
    with pytest.raises(ConfigError, match=r"accounts\.a\.mode: must be one of"):
        load_accounts(write(tmp_path, {"a": {**PAPER, "mode": ["paper"]}}))


@pytest.mark.parametrize("name", ["../../x", "a/b", "..", "a b", "a.b", "", "é", "x" * 65])
def test_account_names_are_plain_identifiers(tmp_path, name):
    with pytest.raises(ConfigError, match="is not a valid name"):
        load_accounts(write(tmp_path, {name: PAPER}))
    with pytest.raises(ConfigError, match="is not a valid name"):  # the name asked for, before the file
        load_account(write(tmp_path, {"ok": PAPER}), name)


def test_plain_names_load(tmp_path):
    names = ["a", "okx-main", "Paper_2", "x" * 64, "123"]
    assert set(load_accounts(write(tmp_path, {n: PAPER for n in names}))) == set(names)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "https://127.0.0.1", "http://localhost:9",
                                 "http://LOCALHOST:9/api", "http://[::1]:8080", "http://127.8.9.10:1"])
def test_paper_urls_on_this_machine_load(tmp_path, url):
    assert load_accounts(write(tmp_path, {"a": {**PAPER, "url": url}}))["a"].url == url


@pytest.mark.parametrize("url", ["http://10.1.2.3:8080", "https://www.okx.com", "http://localhost.evil.com",
                                 "http://127.0.0.1@evil.com", "http://user:pw@127.0.0.1:1", "ftp://127.0.0.1",
                                 "127.0.0.1:8080", "http://127.0.0.1:notaport", "http://[::ffff:10.1.2.3]:1"])
def test_paper_urls_elsewhere_are_refused(tmp_path, url):
    with pytest.raises(ConfigError, match=r"accounts\.a\.url: "):
        load_accounts(write(tmp_path, {"a": {**PAPER, "url": url}}))


def test_switching_to_paper_keeps_keys_on_this_machine(tmp_path):
    acct = load_account(write(tmp_path, {"d": {"mode": "demo", "strategies": "s", "url": "https://my.okx.example"}}),
                        "d")
    with pytest.raises(ConfigError, match="my.okx.example is not this machine"):
        acct.with_mode("paper")


def test_yaml_secrets_file_values_stay_as_typed(tmp_path_factory):
    outside = tmp_path_factory.mktemp("home")
    sfile = outside / "a.yaml"
    sfile.write_text("API_KEY: 0123\nSECRET_KEY: 1e5\nPASSPHRASE: no\n")
    os.chmod(sfile, 0o600)
    acct = load_account(write(outside, {"a": {"mode": "demo", "strategies": "s", "secrets_file": str(sfile)}}), "a")
    s = load_secrets(acct, env={})
    assert (s.api_key.reveal(), s.secret_key.reveal(), s.passphrase.reveal()) == ("0123", "1e5", "no")


def test_account_paths_settings_else_root_else_repo_defaults(tmp_path, monkeypatch):
    from qlib_local.live.accounts import account_paths

    p = write(tmp_path, {"bare": PAPER, "set": {**PAPER, "store": "st", "ledger": "l/x.sqlite", "runs_dir": "r"}})
    monkeypatch.delenv("QLIB_LOCAL_ROOT", raising=False)
    accts = load_accounts(p)
    assert account_paths(accts["bare"], tmp_path) == (tmp_path / "data", tmp_path / "ledger" / "bare.sqlite",
                                                      tmp_path / "runs" / "live")
    assert account_paths(accts["set"], tmp_path) == (tmp_path / "st", tmp_path / "l" / "x.sqlite", tmp_path / "r")
    monkeypatch.setenv("QLIB_LOCAL_ROOT", str(tmp_path / "root"))
    assert account_paths(accts["bare"], tmp_path)[0] == tmp_path / "root"


# ---------------------------------------------------------------------- venues: data from the registry
@pytest.mark.parametrize("exchange", ["okx", "binanceusdm", "binancecoinm"])
def test_every_registered_exchange_loads_in_every_mode(tmp_path, exchange):
    accts = load_accounts(write(tmp_path, {"p": {**PAPER, "exchange": exchange},
                                           "d": {"exchange": exchange, "mode": "demo", "strategies": "s"},
                                           "l": {"exchange": exchange, "mode": "live", "strategies": "s"}}))
    assert {a.exchange for a in accts.values()} == {exchange}
    assert [accts[n].mode for n in "pdl"] == ["paper", "demo", "live"]


@pytest.mark.parametrize("exchange", ["binance", "OKX", "binanceusdm ", "", 7, None, ["okx"]])
def test_an_unknown_exchange_is_refused_with_the_known_ones(tmp_path, exchange):
    with pytest.raises(ConfigError, match=r"accounts\.a\.exchange: must be one of binancecoinm, binanceusdm, okx"):
        load_accounts(write(tmp_path, {"a": {**PAPER, "exchange": exchange}}))


def test_a_url_goes_only_where_the_venue_takes_one(tmp_path):
    """OKX takes an https domain in demo and live; Binance demo and live use ccxt's own endpoints."""
    assert load_accounts(write(tmp_path, {"a": {"mode": "live", "strategies": "s", "url": "https://aws.okx.com"}}))
    for mode in ("demo", "live"):
        with pytest.raises(ConfigError, match=r"accounts\.a\.url: Binance USDⓈ-M takes a url in paper mode only"):
            load_accounts(write(tmp_path, {"a": {"exchange": "binanceusdm", "mode": mode, "strategies": "s",
                                                 "url": "https://fapi.binance.com"}}))


def test_the_passphrase_is_required_only_where_the_venue_has_one(tmp_path):
    env = {"QLIB_LOCAL_A_API_KEY": "envkey-123", "QLIB_LOCAL_A_SECRET_KEY": "envsecret-456"}
    binance = load_account(write(tmp_path, {"a": {"exchange": "binanceusdm", "mode": "demo", "strategies": "s"}}), "a")
    s = load_secrets(binance, env=env)
    assert s.passphrase is None and s.secret_key.reveal() == "envsecret-456"
    okx = load_account(write(tmp_path, {"a": {"exchange": "okx", "mode": "demo", "strategies": "s"}}), "a")
    with pytest.raises(SecretError, match="missing QLIB_LOCAL_A_PASSPHRASE"):
        load_secrets(okx, env=env)
    with pytest.raises(SecretError, match="missing QLIB_LOCAL_A_SECRET_KEY"):
        load_secrets(binance, env={"QLIB_LOCAL_A_API_KEY": "envkey-123"})
