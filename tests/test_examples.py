"""Every shipped example config loads as shipped: each strategies file against a synthetic store of
its exchange (instruments, settlement currency, leverage checked), and every strategies file the
example accounts name exists and trades the account's exchange."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tests_support import REPO

from qlib_local.live.accounts import load_accounts
from qlib_local.research.config_load import load_config
from qlib_local.store import KlineStore
from qlib_local.synth import SynthConfig, write_synthetic

EXAMPLES = sorted((REPO / "strategies").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_strategies_file_loads_against_a_store_of_its_exchange(path: Path, tmp_path: Path) -> None:
    exchange = yaml.safe_load(path.read_text())["exchange"]
    store = KlineStore(tmp_path)
    write_synthetic(store, SynthConfig(instruments=8, timeframe="1H", days=2, inverse=True), exchange=exchange)
    cfg = load_config(path, store)
    assert cfg.exchange == exchange and cfg.strategies
    assert sum(s.position for s in cfg.strategies) <= 1.0 + 1e-12


def test_example_accounts_name_existing_strategies_of_their_exchange() -> None:
    accounts = load_accounts(REPO / "accounts.example.yaml")
    assert {"coinm", "usdm"} <= set(accounts)
    for name, acct in accounts.items():
        path = Path(acct.strategies)
        assert path.is_file(), f"{name}: {path} does not exist"
        assert yaml.safe_load(path.read_text())["exchange"] == acct.exchange, name
    coinm = load_config(accounts["coinm"].strategies)
    assert [s.kind for s in coinm.strategies] == ["event", "event"]
    seed = next(s for s in coinm.strategies if s.strategy_name.startswith("BtcBullAndCoinBull"))
    assert (seed.rule_type, seed.offset) == ("12H", "2h15m")
    assert [s.kind for s in load_config(accounts["usdm"].strategies).strategies] == ["timing"]
