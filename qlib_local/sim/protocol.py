"""OKX V5 wire conventions: the error codes, HTTP statuses and number formatting.

Kept in one place so every endpoint answers an error exactly the way OKX does, and the
domain modules (accounts, matching) can raise protocol errors without knowing HTTP.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# code -> (HTTP status, OKX's message)
CODES: dict[str, tuple[int, str]] = {
    "0": (200, ""),
    "1": (200, "All operations failed"),
    "2": (200, "Bulk operation partially succeeded"),
    "50001": (503, "Service temporarily unavailable. Please try again later"),
    "50002": (400, "JSON syntax error"),
    "50011": (429, "Too Many Requests"),
    "50013": (503, "Systems are busy. Please try again later"),
    "50014": (400, "Parameter {0} can not be empty"),
    # OKX sends 50026 with HTTP 500; a local exchange that answers 500 hides its own bugs
    # behind "the server is down", so it says 503 (retryable for every client) instead.
    "50026": (503, "System error. Try again later."),
    "50101": (401, "APIKey does not match current environment"),
    "50102": (401, "Timestamp request expired"),
    "50103": (401, 'Request header "OK-ACCESS-KEY" can not be empty'),
    "50104": (401, 'Request header "OK-ACCESS-PASSPHRASE" can not be empty'),
    "50105": (401, 'Request header "OK-ACCESS-PASSPHRASE" incorrect'),
    "50106": (401, 'Request header "OK-ACCESS-SIGN" can not be empty'),
    "50107": (401, 'Request header "OK-ACCESS-TIMESTAMP" can not be empty'),
    "50111": (401, "Invalid OK-ACCESS-KEY"),
    "50112": (401, "Invalid OK-ACCESS-TIMESTAMP"),
    "50113": (401, "Invalid Sign"),
    "51000": (400, "Parameter {0} error"),
    "51001": (200, "Instrument ID does not exist"),
    "51008": (200, "Order failed. Insufficient USDT margin in account"),
    "51016": (200, "Duplicated clOrdId"),
    "51020": (200, "Your order should meet or exceed the minimum order amount."),
    "51121": (200, "Order quantity must be a multiple of the lot size."),
    "51169": (200, "Order failed because you don't have any positions in this direction for this contract to reduce or close."),
    "51202": (200, "Market order amount exceeds the maximum amount."),
    "51203": (200, "Order amount exceeds the limit {0}."),
    "51400": (200, "Order cancellation failed as the order has been filled, canceled or does not exist."),
    "51603": (200, "Order does not exist"),
    "59000": (200, "Settings failed. Close any open positions or orders before modifying settings."),
    "59102": (200, "Leverage exceeds the maximum leverage. Adjust the leverage."),
}


class OkxError(Exception):
    """An OKX error answer: ``code``, ``msg`` and the HTTP status OKX would send."""

    def __init__(self, code: str, arg: str = "", msg: str | None = None):
        status, template = CODES.get(code, (200, "Operation failed"))
        self.code = code
        self.status = status
        self.msg = msg if msg is not None else template.replace("{0}", arg)
        super().__init__(f"{code}: {self.msg}")


class ParamError(OkxError):
    """A malformed request: answered at the top level, never as a per-order ``sCode``."""


def envelope(data: list[Any], code: str = "0", msg: str = "") -> dict[str, Any]:
    return {"code": code, "msg": msg, "data": data}


def num(x: float | int | None, decimals: int | None = None) -> str:
    """An OKX number string: positional, no exponent, no float noise; "" for None/NaN."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return ""
    if decimals is not None:
        return f"{x:.{decimals}f}"
    if isinstance(x, int):
        return str(x)
    return np.format_float_positional(round(float(x), 10), trim="-")


def tick_decimals(tick: float) -> int:
    """How many decimals a price with this tick size shows (0.01 -> 2)."""
    return max(0, -math.floor(math.log10(tick) + 1e-9))


def is_multiple(x: float, step: float) -> bool:
    q = x / step
    return abs(q - round(q)) < 1e-7
