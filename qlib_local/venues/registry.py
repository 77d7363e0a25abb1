"""The venue registry: an account's ``exchange`` value -> its capabilities and its adapter.

The one place venue names meet the live path. The capabilities are plain data, read when an
account is checked (secrets it needs, where a ``url`` applies); the adapter module, with its
HTTP clients, is imported only when a run opens the venue.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qlib_local.live.errors import ConfigError
from qlib_local.live.retry import RetryPolicy
from qlib_local.live.venue import Venue, VenueCaps
from qlib_local.venues.binance.caps import COINM_CAPS, USDM_CAPS
from qlib_local.venues.okx.caps import CAPS as OKX_CAPS

if TYPE_CHECKING:
    from qlib_local.live.accounts import AccountConfig, AccountSecrets


@dataclass(frozen=True)
class VenueEntry:
    caps: VenueCaps
    opener: str  # "module:function(acct, secrets, *, timeout_s, retry, pace, reuse) -> Venue"


REGISTRY: dict[str, VenueEntry] = {
    "okx": VenueEntry(OKX_CAPS, "qlib_local.venues.okx.adapter:open_okx"),
    "binanceusdm": VenueEntry(USDM_CAPS, "qlib_local.venues.binance.adapter:open_usdm"),
    "binancecoinm": VenueEntry(COINM_CAPS, "qlib_local.venues.binance.adapter:open_coinm"),
}


def entry(exchange: str) -> VenueEntry:
    try:
        return REGISTRY[exchange]
    except KeyError:
        raise ConfigError(f"exchange must be one of {', '.join(sorted(REGISTRY))}, got {exchange!r}") from None


def caps_of(exchange: str) -> VenueCaps:
    return entry(exchange).caps


def open_venue(acct: AccountConfig, secrets: AccountSecrets, *, timeout_s: float = 5.0,
               retry: RetryPolicy | None = None, pace: bool = True, reuse: bool = True) -> Venue:
    """The account's venue, chosen by its ``exchange``; nothing is sent until a method is called."""
    module, _, name = entry(acct.exchange).opener.partition(":")
    opener = getattr(importlib.import_module(module), name)
    return opener(acct, secrets, timeout_s=timeout_s, retry=retry, pace=pace, reuse=reuse)
