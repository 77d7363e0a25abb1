"""Binance's contract conventions for instruments the store has no spec for.

A symbol ending ``_PERP`` is a COIN-M inverse perpetual settling in its coin, 100 USD a
contract for BTC and 10 USD for every other coin; any other symbol is a USDⓈ-M linear
perpetual quoted in its quote asset, one coin a contract (Binance's quantity is in coins).
A spec in the store's ``instruments.json`` always wins, but a linear one must say one coin a
contract: Binance USDⓈ-M quantities are coins, so any other contract size (an OKX-style spec
saved under the binance store) would price every order wrong; the exchange refuses to start.
"""

from __future__ import annotations

from qlib_local.specs import InstrumentSpec

QUOTES = ("USDT", "USDC", "BUSD")


def default_binance_spec(symbol: str) -> InstrumentSpec:
    if symbol.endswith("_PERP"):
        coin = symbol[: -len("_PERP")].removesuffix("USD")
        return InstrumentSpec(symbol, ct_val=100.0 if coin == "BTC" else 10.0, lot_sz=1.0, min_sz=1.0,
                              tick_sz=0.1 if coin == "BTC" else 0.01, max_lever=125.0, ct_val_ccy="USD",
                              settle_ccy=coin, ct_type="inverse")
    quote = next((q for q in QUOTES if symbol.endswith(q) and len(symbol) > len(q)), "USDT")
    return InstrumentSpec(symbol, ct_val=1.0, lot_sz=0.001, min_sz=0.001, tick_sz=0.01, max_lever=125.0,
                          ct_val_ccy=symbol.removesuffix(quote), settle_ccy=quote)


def fill_defaults(specs: dict[str, InstrumentSpec], symbols: list[str]) -> None:
    """Give every symbol without a stored spec Binance's convention (in place)."""
    for s in symbols:
        if s not in specs:
            specs[s] = default_binance_spec(s)


def check_linear_contracts(specs: dict[str, InstrumentSpec]) -> None:
    """Refuse (ValueError, one line) a linear spec whose contract is not one coin."""
    bad = sorted(f"{s} ({sp.ct_val:g})" for s, sp in specs.items() if not sp.inverse and sp.ct_val != 1.0)
    if bad:
        raise ValueError(f"Binance USDⓈ-M quantities are coins: a linear spec must say one coin a contract "
                         f"(ct_val 1), but {', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''} say otherwise")
