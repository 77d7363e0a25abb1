"""Which currencies an account settles in, and its starting wallets.

A linear (USDT) account has one wallet. A COIN-M account may trade the inverse swaps of
several coins: each coin has its own wallet (BTC margin for BTCUSD_PERP, ETH for
ETHUSD_PERP), and the account's value is in USD, each wallet at its coin's price. Mixing
linear and inverse swaps in one account is refused: those are different accounts on a venue.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from qlib_local.config_values import Bounds, identifier, number
from qlib_local.specs import spec_for

Wallets = tuple[tuple[str, float], ...]


def settlement_coins(strategies: Iterable, specs: dict, error: type[Exception]) -> list[str]:
    """The currencies the strategies' instruments settle in, sorted. Refused: linear swaps with
    inverse ones, and linear swaps of several quote currencies; inverse swaps of several coins
    are one COIN-M account, a wallet each."""
    groups: dict[tuple[str, str], list[str]] = {}
    for inst in dict.fromkeys(i for s in strategies for i in s.instruments):
        spec = spec_for(specs, inst)
        groups.setdefault((spec.settle_ccy, spec.ct_type), []).append(inst)
    kinds = {kind for _, kind in groups}
    if len(kinds) > 1 or (kinds == {"linear"} and len(groups) > 1):  # sorted only here: sweeps check this often
        parts = [f"{ccy} ({kind}: {', '.join(sorted(insts)[:3])}{', ...' if len(insts) > 3 else ''})"
                 for (ccy, kind), insts in sorted(groups.items())]
        what = "mixes linear and inverse swaps" if len(kinds) > 1 else "settles linear swaps in several currencies"
        raise error(f"instruments: the account {what}: {' and '.join(parts)}; put them in separate configs")
    return sorted(ccy for ccy, _ in groups)


def initial_equity(value: Any, bounds: Bounds, error: type[Exception]) -> tuple[float, Wallets]:
    """``initial_equity``: a number (in the settlement currency), or a mapping coin -> wallet
    (``{BTC: 1, ETH: 10}``, a COIN-M account of several coins; the number is then NaN)."""
    if not isinstance(value, dict):
        return number("initial_equity", value, bounds, error), ()
    if not value:
        raise error("initial_equity: expected a number, or a mapping of coin to wallet such as {BTC: 1}")
    wallets = tuple(sorted((identifier("initial_equity", str(k), error),
                            number(f"initial_equity.{k}", v, bounds, error)) for k, v in value.items()))
    return float("nan"), wallets


def check_wallets(coins: list[str], equity: float, wallets: Wallets, error: type[Exception]) -> tuple[float, Wallets]:
    """The wallets must name exactly the coins the instruments settle in; one coin: a plain number."""
    if not wallets:
        if len(coins) > 1:
            example = ", ".join(f"{c}: 1" for c in coins)
            raise error(f"initial_equity: the instruments settle in {', '.join(coins)}, one wallet each; "
                        f"give each coin's wallet, e.g. {{{example}}}")
        return equity, ()
    named = [c for c, _ in wallets]
    if named != coins:
        raise error(f"initial_equity: names the wallets {', '.join(named)}, but the instruments settle in "
                    f"{', '.join(coins)}")
    return (wallets[0][1], ()) if len(wallets) == 1 else (equity, wallets)
