"""Accounts config (YAML, in the repository) and their secrets (never in the repository).

Every value is checked at load (``RANGES`` for the numbers, ``true``/``false`` for the
booleans, plain names for accounts, a loopback URL for paper accounts), so a run never
starts on a value it would misread.

Secrets come from environment variables ``QLIB_LOCAL_<ACCOUNT>_<NAME>`` (account upper-cased,
``-`` as ``_``) or from a secrets file (``KEY=value`` lines or YAML) that must live outside
the repository and be readable by its owner only. They are held in :class:`Secret`, whose
repr and str never show the value, and registered with :mod:`qlib_local.live.redact` so
any log line, error or notebook output that would contain one is masked.
"""

from __future__ import annotations

import functools
import os
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from qlib_local.config_values import MAX_LEVERAGE, Bounds, boolean, identifier, integer, loopback_url, number
from qlib_local.live import redact
from qlib_local.live.errors import ConfigError, SecretError
from qlib_local.live.guards import GuardSettings
from qlib_local.live.topup_config import TopupConfig, parse_topup
from qlib_local.live.venue import VenueCaps
from qlib_local.venues.registry import REGISTRY, caps_of
from qlib_local.yamlfile import read_yaml

EXCHANGES = set(REGISTRY)  # the registry's names: qlib_local.venues.registry
MODES = {"paper", "demo", "live"}  # demo: the venue's own test environment
SECRET_NAMES = ("API_KEY", "SECRET_KEY", "PASSPHRASE", "DINGTALK_TOKEN", "DINGTALK_SECRET", "TELEGRAM_TOKEN")


def required_secrets(caps: VenueCaps) -> tuple[str, ...]:
    """The keys a venue needs: API key and secret, and a passphrase where the venue has one."""
    return ("API_KEY", "SECRET_KEY", "PASSPHRASE") if caps.needs_passphrase else ("API_KEY", "SECRET_KEY")
# The allowed range of every numeric field (docs/live.md lists them).
RANGES: dict[str, Bounds] = {
    "leverage": Bounds(1, MAX_LEVERAGE),
    "wait_data_s": Bounds(0, 3600),
    "max_late_s": Bounds(0, 3600),
    "history_bars": Bounds(1, 100_000, integer=True),
    "cell_timeout_s": Bounds(1, 86_400),
    "retry_budget_s": Bounds(0, 600),
    "poll_timeout_s": Bounds(0, 600),
    # guards (qlib_local.live.guards): the price band and the size-cap tolerance
    "price_band_ranges": Bounds(0, 100),
    "price_band_max": Bounds(0.001, 0.5),
    "price_band_bars": Bounds(2, 10_000, integer=True),
    "size_tolerance": Bounds(0, 1),
}


class Secret:
    """A value that prints as ``***``; ``reveal()`` is the only way to read it."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value
        redact.register(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class DingTalkConfig:
    base_url: str = "https://oapi.dingtalk.com"
    keyword: str = ""  # robots set to "custom keyword" security need it in every message


@dataclass(frozen=True)
class TelegramConfig:
    chat_id: str
    base_url: str = "https://api.telegram.org"


@dataclass(frozen=True)
class AccountConfig:
    """One account: where it trades, how, with which strategies, and where its records go."""

    name: str
    exchange: str
    mode: str
    strategies: Path
    pos_mode: str = "net_mode"
    margin_mode: str = "cross"
    url: str = ""  # REST base: the local exchange in paper mode; elsewhere only where the venue takes one
    leverage: float = 5.0
    store: Path | None = None
    ledger: Path | None = None
    runs_dir: Path | None = None
    secrets_file: Path | None = None
    wait_data_s: float = 60.0
    max_late_s: float = 300.0
    history_bars: int | None = None
    fetch_missing: bool = True
    order_type: str = "market"
    cell_timeout_s: float = 600.0
    retry_budget_s: float = 15.0
    poll_timeout_s: float = 10.0
    price_band_ranges: float = GuardSettings.band_ranges  # the guards: see qlib_local.live.guards
    price_band_min: float = GuardSettings.band_min
    price_band_max: float = GuardSettings.band_max
    price_band_bars: int = GuardSettings.band_bars
    size_tolerance: float = GuardSettings.size_tolerance
    dingtalk: DingTalkConfig | None = None
    telegram: TelegramConfig | None = None
    bnb_topup: TopupConfig | None = None  # the fee top-up (qlib_local.live.topup)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def caps(self) -> VenueCaps:
        """What the account's venue can do (plain data; no client is built)."""
        return caps_of(self.exchange)

    @property
    def guards(self) -> GuardSettings:
        return GuardSettings(self.price_band_ranges, self.price_band_min, self.price_band_max, self.price_band_bars,
                             self.size_tolerance)

    def with_mode(self, mode: str | None) -> AccountConfig:
        if mode is None or mode == self.mode:
            return self
        if mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(sorted(MODES))}, got {mode!r}")
        if mode == "paper" and not self.url:
            raise ConfigError(f"account {self.name}: paper mode needs 'url' (the local exchange)")
        if mode == "paper":
            loopback_url(f"account {self.name}: --mode paper: url", self.url, ConfigError)
        from dataclasses import replace

        return replace(self, mode=mode, url=self.url if mode == "paper" else "")


@dataclass
class AccountSecrets:
    api_key: Secret
    secret_key: Secret
    passphrase: Secret | None  # only where the venue has one (VenueCaps.needs_passphrase)
    dingtalk_token: Secret | None = None
    dingtalk_secret: Secret | None = None
    telegram_token: Secret | None = None

    def values(self) -> list[str]:
        return [s.reveal() for s in (self.api_key, self.secret_key, self.passphrase, self.dingtalk_token,
                                     self.dingtalk_secret, self.telegram_token) if s]


def _path(base: Path, v: Any) -> Path | None:
    if v in (None, ""):
        return None
    p = Path(os.path.expandvars(os.path.expanduser(str(v))))
    return p if p.is_absolute() else (base / p)


def _choice(where: str, v: Any, allowed: set[str]) -> str:
    if not isinstance(v, str) or v not in allowed:
        raise ConfigError(f"{where}: must be one of {', '.join(sorted(allowed))}, got {v!r}")
    return str(v)


def _number(where: str, name: str, v: Any) -> float:
    return number(f"{where}.{name}", v, RANGES[name], ConfigError)


GUARDS = {"price_band_ranges", "price_band_min", "price_band_max", "price_band_bars", "size_tolerance"}
KNOWN = {"exchange", "mode", "url", "pos_mode", "margin_mode", "strategies", "leverage", "store", "ledger",
         "runs_dir", "secrets_file", "wait_data_s", "max_late_s", "history_bars", "fetch_missing", "order_type",
         "cell_timeout_s", "retry_budget_s", "poll_timeout_s", "notify", "bnb_topup"} | GUARDS


def _guards(where: str, raw: dict[str, Any]) -> dict[str, Any]:
    """The guard settings (see :class:`qlib_local.live.guards.GuardSettings` for what each refuses)."""
    d = GuardSettings()
    band_max = _number(where, "price_band_max", raw.get("price_band_max", d.band_max))
    band_min = number(f"{where}.price_band_min", raw.get("price_band_min", d.band_min),
                      Bounds(0.0, band_max), ConfigError)
    return {"price_band_ranges": _number(where, "price_band_ranges", raw.get("price_band_ranges", d.band_ranges)),
            "price_band_min": band_min, "price_band_max": band_max,
            "price_band_bars": integer(f"{where}.price_band_bars", raw.get("price_band_bars", d.band_bars),
                                       RANGES["price_band_bars"], ConfigError),
            "size_tolerance": _number(where, "size_tolerance", raw.get("size_tolerance", d.size_tolerance))}


def parse_account(name: str, raw: Any, base: Path, defaults: dict[str, Any]) -> AccountConfig:
    where = f"accounts.{name}"
    identifier("account name", name, ConfigError)  # it names the ledger, the lock and the runs folder
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping")
    raw = {**defaults, **raw}
    for secret_like in ("api_key", "secret_key", "passphrase", "secret", "token"):
        if secret_like in raw:
            raise ConfigError(f"{where}.{secret_like}: secrets never go in the accounts config; use the "
                              f"environment ({env_prefix(name)}...) or a secrets_file outside the repository")
    unknown = set(raw) - KNOWN
    if unknown:
        raise ConfigError(f"{where}.{sorted(unknown)[0]}: unknown field; known: {', '.join(sorted(KNOWN))}")
    mode = _choice(f"{where}.mode", raw.get("mode", "paper"), MODES)
    exchange = _choice(f"{where}.exchange", raw.get("exchange", "okx"), EXCHANGES)
    caps = caps_of(exchange)
    url = raw.get("url") or ""
    if not isinstance(url, str):
        raise ConfigError(f"{where}.url: expected a URL, got {url!r}")
    if mode == "paper" and not url:
        raise ConfigError(f"{where}.url: paper mode trades on the local exchange; give its URL")
    if mode == "paper":
        loopback_url(f"{where}.url", url, ConfigError)  # paper keys go nowhere else
    if mode != "paper" and url and mode not in caps.url_modes:
        raise ConfigError(f"{where}.url: {caps.name} takes a url in {' and '.join(sorted(caps.url_modes))} mode only "
                          f"({mode} uses its own endpoints); remove it")
    if mode != "paper" and url and not url.startswith("https://"):
        raise ConfigError(f"{where}.url: {mode} mode needs an https:// {caps.name} domain, got {url!r}")
    if not raw.get("strategies"):
        raise ConfigError(f"{where}.strategies: missing (the strategies config this account trades)")
    notify = raw.get("notify") or {}
    if not isinstance(notify, dict) or set(notify) - {"dingtalk", "telegram"}:
        raise ConfigError(f"{where}.notify: expected a mapping with dingtalk and/or telegram")
    ding = tele = None
    for channel in ("dingtalk", "telegram"):
        if not isinstance(notify.get(channel) or {}, dict):
            raise ConfigError(f"{where}.notify.{channel}: expected a mapping, got {notify[channel]!r}")
    if notify.get("dingtalk") is not None:
        d = notify["dingtalk"] or {}
        ding = DingTalkConfig(str(d.get("base_url") or DingTalkConfig.base_url), str(d.get("keyword") or ""))
    if notify.get("telegram") is not None:
        t = notify["telegram"] or {}
        if not t.get("chat_id"):
            raise ConfigError(f"{where}.notify.telegram.chat_id: missing")
        tele = TelegramConfig(str(t["chat_id"]), str(t.get("base_url") or TelegramConfig.base_url))
    hist = raw.get("history_bars")
    num = functools.partial(_number, where)
    return AccountConfig(
        name=name, exchange=exchange, mode=mode,
        strategies=_path(base, raw["strategies"]) or Path(), url=url,
        pos_mode=_choice(f"{where}.pos_mode", raw.get("pos_mode", "net_mode"), set(caps.position_modes)),
        margin_mode=_choice(f"{where}.margin_mode", raw.get("margin_mode", "cross"), set(caps.margin_modes)),
        leverage=num("leverage", raw.get("leverage", 5)),
        store=_path(base, raw.get("store")), ledger=_path(base, raw.get("ledger")),
        runs_dir=_path(base, raw.get("runs_dir")), secrets_file=_path(base, raw.get("secrets_file")),
        wait_data_s=num("wait_data_s", raw.get("wait_data_s", 60)),
        max_late_s=num("max_late_s", raw.get("max_late_s", 300)),
        history_bars=integer(f"{where}.history_bars", hist, RANGES["history_bars"], ConfigError)
        if hist is not None else None,
        fetch_missing=boolean(f"{where}.fetch_missing", raw.get("fetch_missing", True), ConfigError),
        order_type=_choice(f"{where}.order_type", raw.get("order_type", "market"), {"market"}),
        cell_timeout_s=num("cell_timeout_s", raw.get("cell_timeout_s", 600)),
        retry_budget_s=num("retry_budget_s", raw.get("retry_budget_s", 15)),
        poll_timeout_s=num("poll_timeout_s", raw.get("poll_timeout_s", 10)),
        dingtalk=ding, telegram=tele, bnb_topup=parse_topup(where, raw.get("bnb_topup"), caps), **_guards(where, raw),
    )


def account_paths(acct: AccountConfig, repo: Path) -> tuple[Path, Path, Path]:
    """(store, ledger, runs dir) of an account: its settings, else $QLIB_LOCAL_ROOT and defaults under ``repo``.

    Here, not in the session, so that checking a run needs none of the exchange clients."""
    store = acct.store or Path(os.environ.get("QLIB_LOCAL_ROOT", repo / "data"))
    ledger = acct.ledger or repo / "ledger" / f"{acct.name}.sqlite"
    runs = acct.runs_dir or repo / "runs" / "live"
    return store, ledger, runs


def load_accounts(path: str | Path) -> dict[str, AccountConfig]:
    """Every account of an accounts file (``defaults`` apply to each; relative paths are from the file)."""
    path = Path(path)
    raw = read_yaml(path, ConfigError, f"accounts config {path} does not exist")
    if not isinstance(raw, dict) or not isinstance(raw.get("accounts"), dict) or not raw["accounts"]:
        raise ConfigError(f"{path}: expected 'accounts:' mapping account names to their settings")
    defaults = raw.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ConfigError(f"{path}: 'defaults' must be a mapping of account settings, got {defaults!r}")
    base = path.resolve().parent
    return {str(n): parse_account(str(n), a, base, defaults) for n, a in raw["accounts"].items()}


def load_account(path: str | Path, name: str) -> AccountConfig:
    identifier("account name", name, ConfigError)  # before anything: it becomes a path component
    accounts = load_accounts(path)
    if name not in accounts:
        raise ConfigError(f"no account {name!r} in {path}; accounts: {', '.join(sorted(accounts))}")
    return accounts[name]


# ---------------------------------------------------------------------- secrets
def env_prefix(account: str) -> str:
    return "QLIB_LOCAL_" + "".join(c if c.isalnum() else "_" for c in account.upper()) + "_"


def repo_root(start: Path) -> Path | None:
    """The git work tree containing ``start`` (None outside one)."""
    try:
        out = subprocess.run(["git", "-C", str(start), "rev-parse", "--show-toplevel"], capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return Path(out.stdout.strip()).resolve() if out.returncode == 0 and out.stdout.strip() else None


def check_secrets_file(path: Path, forbidden_roots: list[Path]) -> None:
    """Refuse a secrets file inside a repository or readable by group/others."""
    if not path.is_file():
        raise SecretError(f"secrets file {path} does not exist")
    real = path.resolve()
    for root in [r for r in forbidden_roots if r is not None]:
        if real.is_relative_to(root.resolve()):
            raise SecretError(f"secrets file {path} is inside the repository {root}; keep it outside")
    here = repo_root(real.parent)
    if here is not None:
        raise SecretError(f"secrets file {path} is inside a git repository ({here}); keep it outside")
    mode = stat.S_IMODE(real.stat().st_mode)
    if mode & 0o077:
        raise SecretError(f"secrets file {path} is readable by group or others (mode {mode:o}); chmod 600 it")


def parse_secrets_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines (``export`` and quotes allowed) or a YAML mapping."""
    text = path.read_text()
    out: dict[str, str] = {}
    if path.suffix in (".yaml", ".yml"):
        raw = yaml.load(text, Loader=yaml.BaseLoader) or {}  # every value a string: "no", "0123" kept as typed
        if not isinstance(raw, dict):
            raise SecretError(f"secrets file {path}: expected a mapping")
        return {str(k): str(v) for k, v in raw.items()}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        if not sep:
            raise SecretError(f"secrets file {path}, line {n}: expected KEY=value")
        out[key.strip()] = value.strip().strip("'\"")
    return out


def load_secrets(acct: AccountConfig, env: dict[str, str] | None = None, repo: Path | None = None) -> AccountSecrets:
    """Secrets of ``acct``: the environment first, then its secrets file (checked before reading)."""
    env = dict(os.environ if env is None else env)
    prefix = env_prefix(acct.name)
    required = required_secrets(acct.caps)
    found = {n: env[prefix + n] for n in SECRET_NAMES if env.get(prefix + n)}
    if acct.secrets_file is not None and any(n not in found for n in required):
        check_secrets_file(acct.secrets_file, [repo] if repo else [])
        filed = parse_secrets_file(acct.secrets_file)
        for n in SECRET_NAMES:
            v = filed.get(prefix + n) or filed.get(n)
            if v and n not in found:
                found[n] = v
    missing = [prefix + n for n in required if n not in found]
    if missing:
        where = f" or in {acct.secrets_file}" if acct.secrets_file else ""
        raise SecretError(f"account {acct.name}: missing {', '.join(missing)} (set them in the environment{where})")
    if acct.dingtalk and not (found.get("DINGTALK_TOKEN") and found.get("DINGTALK_SECRET")):
        raise SecretError(f"account {acct.name}: DingTalk is configured but {prefix}DINGTALK_TOKEN/"
                          f"{prefix}DINGTALK_SECRET are not set")
    if acct.telegram and not found.get("TELEGRAM_TOKEN"):
        raise SecretError(f"account {acct.name}: Telegram is configured but {prefix}TELEGRAM_TOKEN is not set")

    def s(n: str) -> Secret | None:
        return Secret(found[n]) if found.get(n) else None

    return AccountSecrets(Secret(found["API_KEY"]), Secret(found["SECRET_KEY"]), s("PASSPHRASE"),
                          s("DINGTALK_TOKEN"), s("DINGTALK_SECRET"), s("TELEGRAM_TOKEN"))
