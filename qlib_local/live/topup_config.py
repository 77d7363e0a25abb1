"""The fee top-up option of an account (``bnb_topup:`` in accounts.yaml), checked at load.

Its own module so the accounts loader can validate it without importing the top-up logic
(which needs the ledger and the venue port). Every number is finite and in range, the flag
a real boolean, unknown keys refused, and an enabled top-up is refused on a venue whose
caps do not offer it (:attr:`VenueCaps.fee_topup`), before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qlib_local.config_values import Bounds, boolean, number
from qlib_local.live.errors import ConfigError
from qlib_local.live.venue import VenueCaps

FIELD = "bnb_topup"
TOPUP_RANGES: dict[str, Bounds] = {
    "days": Bounds(0, 365, lo_open=True),  # days of recent fees to keep in the futures wallet
    "min_usdt": Bounds(5, 100_000),  # Binance spot refuses a market buy under 5 USDT (NOTIONAL)
    "max_usdt": Bounds(5, 100_000),  # and at least min_usdt
    "fee_rate": Bounds(0, 0.01),  # fee per unit of traded notional used for the estimate
}


@dataclass(frozen=True)
class TopupConfig:
    """Keep ``days`` of estimated fees in the fee coin in the futures wallet; buy between
    ``min_usdt`` and ``max_usdt`` of it on spot per run when short."""

    enabled: bool = False
    days: float = 3.0
    min_usdt: float = 10.0
    max_usdt: float = 200.0
    fee_rate: float = 0.0005  # Binance USDⓈ-M regular taker fee


def parse_topup(where: str, raw: Any, caps: VenueCaps) -> TopupConfig | None:
    """The account's top-up settings (None when absent); ConfigError names the first bad value."""
    if raw is None:
        return None
    where = f"{where}.{FIELD}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping (enabled, days, min_usdt, max_usdt, fee_rate), got {raw!r}")
    unknown = set(raw) - {"enabled", *TOPUP_RANGES}
    if unknown:
        raise ConfigError(f"{where}.{sorted(map(str, unknown))[0]}: unknown field; known: enabled, "
                          + ", ".join(TOPUP_RANGES))
    d = TopupConfig()
    enabled = boolean(f"{where}.enabled", raw.get("enabled", d.enabled), ConfigError)
    vals = {k: number(f"{where}.{k}", raw.get(k, getattr(d, k)), b, ConfigError) for k, b in TOPUP_RANGES.items()}
    if vals["max_usdt"] < vals["min_usdt"]:
        raise ConfigError(f"{where}.max_usdt: must be at least min_usdt ({vals['min_usdt']:g}), got {vals['max_usdt']:g}")
    if enabled and not caps.fee_topup:
        raise ConfigError(f"{where}: {caps.name} has no fee top-up (its venue caps say fee_topup=False); remove it")
    return TopupConfig(enabled, **vals)
