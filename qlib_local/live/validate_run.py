"""Everything a live run depends on, checked before the run writes anything.

``qlib-local live run`` calls :func:`validate_run` before it takes the account's lock,
creates the ledger's folder, appends to the runs index or starts papermill: the accounts
file and the account (names, numbers, URL), its secrets, the store, the strategies file
against that store (strategy names, shares, leverage, offsets, instruments), that
``history_bars`` covers every strategy's warm-up, and ``--at``.
A failure is one :class:`ConfigError` line and exit 2, and leaves no trace: no ledger file,
no run row, no notebook, no index entry. Left to the notebook, the same mistakes used to
surface at ``connect`` or ``compute``, as a failed run with all four written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from qlib_local.errors import QlibError
from qlib_local.live.accounts import AccountConfig, AccountSecrets, account_paths, load_account, load_secrets
from qlib_local.live.errors import ConfigError
from qlib_local.research import ResearchConfig, load_config
from qlib_local.store import KlineStore
from qlib_local.timeframes import to_ms


@dataclass(frozen=True)
class ValidatedRun:
    """What the checks loaded; the run uses ``acct``, ``secrets`` and the paths as they are."""

    acct: AccountConfig
    secrets: AccountSecrets
    config: ResearchConfig
    store: KlineStore
    ledger: Path
    runs: Path
    at_ms: int | None


def validate_run(accounts_file: str | Path, account: str, mode: str | None = None, at: str | None = None,
                 repo: Path | None = None) -> ValidatedRun:
    """Load and check one account's run; raises :class:`ConfigError` (exit 2) on the first problem."""
    accounts_file = Path(accounts_file).resolve()
    acct = load_account(accounts_file, account).with_mode(mode)
    repo = repo or accounts_file.parent
    secrets = load_secrets(acct, repo=repo)
    store_path, ledger, runs = account_paths(acct, repo)
    store = open_store(store_path)
    try:
        config = load_config(acct.strategies, store)
    except QlibError as e:  # the research layer's ConfigError, a bad specs file (DataError), ...
        raise ConfigError(f"account {acct.name}: strategies file {acct.strategies}: {e}") from None
    if config.exchange != acct.exchange:
        raise ConfigError(f"account {acct.name}: strategies file {acct.strategies} trades on {config.exchange}, "
                          f"the account on {acct.exchange}")
    check_history(acct, config)
    return ValidatedRun(acct, secrets, config, store, ledger, runs, _at_ms(at))


def check_history(acct: AccountConfig, config: ResearchConfig) -> None:
    """Refuse a ``history_bars`` shorter than a strategy's warm-up: that strategy would never trade.

    A live run reads ``history_bars`` bars of the longest rule; each strategy trades only from its
    warm-up's bar on (:func:`qlib_local.research.intents.warmup_bars`), counted in its own rule.
    """
    if acct.history_bars is None:
        return
    from qlib_local.research.intents import warmup_bars  # numba-free, but only this check needs it

    longest = max(sc.rule_ms for sc in config.strategies)
    have_ms = acct.history_bars * longest
    for sc in config.strategies:
        need_ms = (warmup_bars(sc, config.factors) + 1) * sc.rule_ms
        if have_ms < need_ms:
            raise ConfigError(f"account {acct.name}: history_bars {acct.history_bars} ({have_ms / 86_400_000:g} days) "
                              f"is shorter than strategy {sc.id}'s warm-up ({need_ms / 86_400_000:g} days): "
                              f"set history_bars to at least {-(-need_ms // longest)}, or leave it out")


def open_store(path: Path) -> KlineStore:
    """The account's store, refused unless it is a folder this process can list."""
    if not path.is_dir():
        raise ConfigError(f"store {path} does not exist or is not a folder (the account's 'store', "
                          f"else $QLIB_LOCAL_ROOT)")
    if not os.access(path, os.R_OK | os.X_OK):
        raise ConfigError(f"store {path} is not readable by this user")
    try:
        store = KlineStore(path)
        store.exchanges()
    except OSError as e:
        raise ConfigError(f"store {path}: cannot read it ({e.strerror or e})") from None
    return store


def _at_ms(at: str | None) -> int | None:
    if at is None or at == "":
        return None
    try:
        return to_ms(at)
    except QlibError as e:
        raise ConfigError(f"--at: {e}") from None
