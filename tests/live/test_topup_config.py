"""``bnb_topup`` in accounts.yaml: defaults, every value checked, refused where the venue has no top-up;
the CLI refuses a bad one with one ``error:`` line before writing anything."""

from __future__ import annotations

import pytest
import yaml

from qlib_local.live.accounts import load_accounts
from qlib_local.live.errors import ConfigError
from qlib_local.live.topup_config import TopupConfig

from .conftest import ACCOUNT
from .test_validate_run import literal, run_refused

PAPER = {"mode": "paper", "url": "http://127.0.0.1:8080", "strategies": "s.yaml"}


def load(tmp_path, topup, exchange: str = "binanceusdm", defaults: dict | None = None):
    p = tmp_path / "accounts.yaml"
    acct = {**PAPER, "exchange": exchange, **({"bnb_topup": topup} if topup is not ... else {})}
    p.write_text(yaml.safe_dump({"accounts": {"a": acct}, **({"defaults": defaults} if defaults else {})}))
    return load_accounts(p)["a"]


def test_defaults_and_values(tmp_path):
    assert load(tmp_path, ...).bnb_topup is None
    assert load(tmp_path, {"enabled": True}).bnb_topup == TopupConfig(True, 3.0, 10.0, 200.0, 0.0005)
    got = load(tmp_path, {"enabled": True, "days": 1.5, "min_usdt": 20, "max_usdt": 20, "fee_rate": 0.0002})
    assert got.bnb_topup == TopupConfig(True, 1.5, 20.0, 20.0, 0.0002)
    assert load(tmp_path, {"enabled": False}, exchange="okx").bnb_topup == TopupConfig()  # off: allowed anywhere
    assert load(tmp_path, ..., defaults={"bnb_topup": {"enabled": True}}).bnb_topup.enabled


@pytest.mark.parametrize("topup, message", [
    ({"enabled": "yes"}, "bnb_topup.enabled: must be true or false, got 'yes'"),
    ({"enabled": 1}, "bnb_topup.enabled: must be true or false, got 1"),
    ({"enabled": True, "days": float("nan")}, "bnb_topup.days: must be a finite number, got nan"),
    ({"enabled": True, "days": 0}, "bnb_topup.days: must be > 0, got 0"),
    ({"enabled": True, "days": 366}, "bnb_topup.days: must be <= 365"),
    ({"enabled": True, "min_usdt": 4}, "bnb_topup.min_usdt: must be >= 5, got 4"),
    ({"enabled": True, "max_usdt": float("inf")}, "bnb_topup.max_usdt: must be a finite number, got inf"),
    ({"enabled": True, "max_usdt": "200"}, "bnb_topup.max_usdt: expected a number, got '200'"),
    ({"enabled": True, "min_usdt": 50, "max_usdt": 20}, "bnb_topup.max_usdt: must be at least min_usdt (50), got 20"),
    ({"enabled": True, "fee_rate": 0.5}, "bnb_topup.fee_rate: must be <= 0.01"),
    ({"enabled": True, "budget": 5}, "bnb_topup.budget: unknown field"),
    ([1, 2], "bnb_topup: expected a mapping"),
])
def test_bad_values_are_refused(tmp_path, topup, message):
    with pytest.raises(ConfigError, match=rf"^accounts\.a\.{message}".replace("(", r"\(").replace(")", r"\)")):
        load(tmp_path, topup)


@pytest.mark.parametrize("exchange", ["okx", "binancecoinm"])
def test_only_where_the_venue_caps_offer_it(tmp_path, exchange):
    with pytest.raises(ConfigError, match=r"accounts\.a\.bnb_topup: .* has no fee top-up"):
        load(tmp_path, {"enabled": True}, exchange=exchange)


def test_cli_refuses_a_bad_top_up_and_writes_nothing(accounts_file, kit):
    if kit.exchange == "binanceusdm":
        path = accounts_file(bnb_topup={"enabled": True, "max_usdt": "TOKEN"})
        run_refused(literal(path, "TOKEN", ".nan"), ACCOUNT, message="bnb_topup.max_usdt: must be a finite number")
    else:  # a venue without the capability
        run_refused(accounts_file(bnb_topup={"enabled": True}), ACCOUNT, message="has no fee top-up")
