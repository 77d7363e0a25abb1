"""Binance futures error answers: ``{"code": -2019, "msg": ...}`` with Binance's HTTP status.

The engine speaks OKX codes (it was built for the OKX front end); ``from_engine`` turns
each into the answer Binance gives for the same refusal, so the engine stays venue-neutral.
"""

from __future__ import annotations

from qlib_local.sim.protocol import OkxError

# code -> (HTTP status, Binance's message)
CODES: dict[int, tuple[int, str]] = {
    -1000: (400, "An unknown error occured while processing the request."),
    -1001: (503, "Internal error; unable to process your request. Please try again."),
    -1003: (429, "Too many requests; current limit of IP(127.0.0.1) is {0} requests per minute. "
                 "Please use the websocket for live updates to avoid polling the API."),
    -1007: (408, "Timeout waiting for response from backend server. Send status unknown; execution status unknown."),
    -1013: (400, "Filter failure: NOTIONAL"),
    -1015: (429, "Too many new orders; current limit is {0} orders per MINUTE."),
    -1021: (400, "Timestamp for this request is outside of the recvWindow."),
    -1022: (400, "Signature for this request is not valid."),
    -1100: (400, "Illegal characters found in parameter '{0}'; legal range is '{1}'."),
    -1102: (400, "Mandatory parameter '{0}' was not sent, was empty/null, or malformed."),
    -1106: (400, "Parameter '{0}' sent when not required."),
    -1111: (400, "Precision is over the maximum defined for this asset."),
    -1116: (400, "Invalid orderType."),
    -1117: (400, "Invalid side."),
    -1120: (400, "Invalid interval."),
    -1121: (400, "Invalid symbol."),
    -1130: (400, "Data sent for parameter '{0}' is not valid."),
    -2010: (400, "Account has insufficient balance for requested action."),
    -2011: (400, "Unknown order sent."),
    -2013: (400, "Order does not exist."),
    -2014: (401, "API-key format invalid."),
    -2015: (401, "Invalid API-key, IP, or permissions for action, request ip: 127.0.0.1"),
    -2019: (400, "Margin is insufficient."),
    -2022: (400, "ReduceOnly Order is rejected."),
    -4001: (400, "Asset is not supported."),
    -4003: (400, "Quantity less than or equal to zero."),
    -4005: (400, "Quantity greater than max quantity."),
    -4014: (400, "Price not increased by tick size."),
    -4028: (400, "Leverage {0} is not valid"),
    -4046: (400, "No need to change margin type."),
    -4059: (400, "No need to change position side."),
    -4068: (400, "Position side cannot be changed if there exists position."),
    -4067: (400, "Position side cannot be changed if there exists open orders."),
    -4061: (400, "Order's position side does not match user's setting."),
    -4116: (400, "ClientOrderId is duplicated."),
    -4164: (400, "Order's notional must be no smaller than {0} (unless you choose reduce only)."),
    -5022: (400, "Due to the order could not be executed as maker, the Post Only order will be rejected. "
                 "The order will not be recorded in the order history"),
    -5013: (400, "Asset transfer failed: insufficient balance"),
}


class BinanceError(Exception):
    """A Binance error answer: ``code``, ``msg`` and the HTTP status Binance would send."""

    def __init__(self, code: int, *args: str, msg: str | None = None):
        status, template = CODES.get(code, (400, "Unknown error."))
        for i, a in enumerate(args):
            template = template.replace("{" + str(i) + "}", a)
        self.code, self.status = code, status
        self.msg = msg if msg is not None else template
        super().__init__(f"{code}: {self.msg}")

    def body(self) -> dict[str, object]:
        return {"code": self.code, "msg": self.msg}


# OKX code the engine raised -> the Binance code for the same refusal
_FROM_OKX: dict[str, int] = {
    "51001": -1121,  # unknown or unlisted instrument
    "51008": -2019,  # margin insufficient
    "51016": -4116,  # duplicate client order id
    "51020": -4003,  # below the minimum size (the notional check, -4164, runs first)
    "51121": -1111,  # off the lot size
    "51169": -2022,  # reduce-only with nothing to reduce
    "51202": -4005, "51203": -4005,  # above the maximum size (MARKET_LOT_SIZE / LOT_SIZE maxQty)
    "51400": -2011,  # cancel: unknown or finished order
    "51603": -2013,  # query: no such order
    "59000": -4068,  # position mode with positions or orders open
    "59102": -4028,  # leverage above the maximum
}


def from_engine(e: OkxError, field: str = "") -> BinanceError:
    """The Binance answer to a refusal the engine raised with an OKX code."""
    if e.code == "51000" and "px" in e.msg:
        return BinanceError(-4014)
    code = _FROM_OKX.get(e.code)
    if code is None:
        return BinanceError(-1130, field or "parameter")
    return BinanceError(code, field) if code in (-4028, -1130) else BinanceError(code)
