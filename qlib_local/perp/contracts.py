"""Linear and inverse contracts: what one contract is worth, PnL, sizing and funding.

Linear (USDT-margined, OKX ``BTC-USDT-SWAP``): one contract is ``ct_val`` coins; value,
PnL, fees and funding are in the quote currency (USDT)::

    notional = |q| * ct_val * price            pnl = q * ct_val * (exit - entry)

Inverse (coin-margined, OKX ``BTC-USD-SWAP``, Binance ``BTCUSD_PERP``): one contract is
``ct_val`` USD; everything settles in the coin::

    notional = |q| * ct_val / price            pnl = q * ct_val * (1/entry - 1/exit)

Both are ``q * (unit_value(exit) - unit_value(entry))`` with ``unit_value = ct_val * p``
(linear) or ``-ct_val / p`` (inverse), which is what the kernels use for marking to market.
Quantities ``q`` are signed contracts (negative = short).
"""

from __future__ import annotations

from numba import njit

LINEAR = 0
INVERSE = 1
_CODES = {"linear": LINEAR, "inverse": INVERSE}


def contract_type_code(ct_type: str) -> int:
    """``"linear"``/``"inverse"`` -> the integer code the kernels take."""
    try:
        return _CODES[ct_type]
    except KeyError:
        raise ValueError(f"contract type must be linear or inverse, got {ct_type!r}") from None


@njit(cache=True)
def unit_value(price: float, ct_val: float, ct_type: int) -> float:
    """Settlement-currency value of one long contract at ``price``, up to a constant:
    differences of it are PnL per contract."""
    if ct_type == INVERSE:
        return -ct_val / price
    return ct_val * price


@njit(cache=True)
def unit_notional(price: float, ct_val: float, ct_type: int) -> float:
    """Settlement-currency notional of one contract at ``price`` (always positive)."""
    if ct_type == INVERSE:
        return ct_val / price
    return ct_val * price


@njit(cache=True)
def pnl(q: float, entry: float, exit_: float, ct_val: float, ct_type: int) -> float:
    """PnL in the settlement currency of ``q`` signed contracts from ``entry`` to ``exit_``."""
    return q * (unit_value(exit_, ct_val, ct_type) - unit_value(entry, ct_val, ct_type))


@njit(cache=True)
def contracts_for(capital: float, price: float, ct_val: float, ct_type: int) -> float:
    """Contracts (unrounded) whose notional at ``price`` equals ``capital`` (settlement currency).

    Linear: ``capital / (price * ct_val)``. Inverse: ``capital * price / ct_val``, i.e.
    ``floor(equity_coin * price * leverage / ctVal)`` once leverage is in ``capital``.
    """
    return capital / unit_notional(price, ct_val, ct_type)


@njit(cache=True)
def funding_flow(q: float, mark: float, rate: float, ct_val: float, ct_type: int) -> float:
    """Cash received by ``q`` signed contracts at a funding time (negative = paid).

    A positive rate makes longs pay shorts: ``-(position value at the mark) x rate``.
    """
    return -q * unit_notional(mark, ct_val, ct_type) * rate
