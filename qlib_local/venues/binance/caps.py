"""Binance futures as data: endpoints, limits, client-id rule, error codes -> domain kinds (no HTTP).

USDⓈ-M (``/fapi``) and COIN-M (``/dapi``) differ only in data: paths, ccxt's implicit method
names, published weights, and whether balances are one currency (USDT) or per coin.
Codes are Binance's documented ones (the same ccxt's binance.py maps); HTTP statuses
follow Binance's rules: 429 rate limit, 418 auto-ban after ignored 429s, 403 the WAF
limit, 5xx "execution status UNKNOWN" (may have been processed).
"""

from __future__ import annotations

from dataclasses import dataclass

from qlib_local.live.types import Kind
from qlib_local.live.venue import IdRule, PacingTable, VenueCaps, Window

ERROR_KINDS: dict[str, Kind] = {
    "-4116": Kind.DUPLICATE_CLIENT_ID,  # DUPLICATED_CLIENT_ORDER_ID (ccxt: InvalidOrder)
    "-1003": Kind.RETRY_LATER,  # TOO_MANY_REQUESTS (ccxt: RateLimitExceeded)
    "-1015": Kind.RETRY_LATER,  # TOO_MANY_ORDERS
    "-1008": Kind.RETRY_LATER,  # SERVER_BUSY
    "-1004": Kind.RETRY_LATER,  # server busy, wait and try again
    "-1000": Kind.UNKNOWN_OUTCOME,  # UNKNOWN error while processing
    "-1001": Kind.UNKNOWN_OUTCOME,  # DISCONNECTED: internal error
    "-1006": Kind.UNKNOWN_OUTCOME,  # UNEXPECTED_RESP: execution status unknown
    "-1007": Kind.UNKNOWN_OUTCOME,  # TIMEOUT: send status unknown, execution status unknown
    "-1021": Kind.CLOCK_SKEW,  # INVALID_TIMESTAMP: outside recvWindow (ccxt: InvalidNonce)
    "-1002": Kind.AUTH,  # UNAUTHORIZED
    "-1022": Kind.AUTH,  # INVALID_SIGNATURE
    "-2014": Kind.AUTH,  # BAD_API_KEY_FMT
    "-2015": Kind.AUTH,  # REJECTED_MBX_KEY: invalid key, IP or permissions
    "-2019": Kind.INSUFFICIENT_MARGIN,  # MARGIN_NOT_SUFFICIEN (ccxt: InsufficientFunds)
    "-2018": Kind.INSUFFICIENT_MARGIN,  # BALANCE_NOT_SUFFICIENT
    "-4164": Kind.BELOW_MIN_SIZE,  # MIN_NOTIONAL: notional under the minimum unless reduce only
    "-4003": Kind.BELOW_MIN_SIZE,  # QTY_LESS_THAN_ZERO
    "-4004": Kind.BELOW_MIN_SIZE,  # QTY_LESS_THAN_MIN_QTY
    "-1111": Kind.BAD_PRECISION,  # BAD_PRECISION
    "-4014": Kind.BAD_PRECISION,  # PRICE_NOT_INCREASED_BY_TICK_SIZE
    "-4023": Kind.BAD_PRECISION,  # QTY_NOT_INCREASED_BY_STEP_SIZE
    "-2022": Kind.REDUCE_ONLY_REJECTED,  # ReduceOnly Order is rejected
    "-5022": Kind.WOULD_TAKE,  # a GTX (post-only) order that could not rest as a maker
    "-4118": Kind.REDUCE_ONLY_REJECTED,  # REDUCE_ONLY_MARGIN_CHECK_FAILED
    "-2011": Kind.UNKNOWN_ORDER,  # CANCEL_REJECTED: Unknown order sent
    "-2013": Kind.UNKNOWN_ORDER,  # NO_SUCH_ORDER: Order does not exist
    "-4059": Kind.NO_CHANGE,  # No need to change position side
    "-4046": Kind.NO_CHANGE,  # No need to change margin type
}
RATE_LIMIT_CODES = frozenset({"-1003", "-1015"})


def status_kind(status: int) -> Kind | None:
    """What an HTTP status alone says (None: 2xx, the body decides)."""
    if status in (418, 429, 403):
        return Kind.RETRY_LATER
    if status >= 500:
        return Kind.UNKNOWN_OUTCOME
    if status == 401:
        return Kind.AUTH
    if status >= 400:
        return Kind.REJECTED_OTHER
    return None


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # as sent, for pacing, logs and the local exchange's fault patterns
    ccxt: str  # ccxt's implicit method that signs and sends it


@dataclass(frozen=True)
class Family:
    """One Binance futures API: its endpoints by what they do, and whether it is coin-margined."""

    inverse: bool
    endpoints: dict[str, Endpoint]

    def __getitem__(self, name: str) -> Endpoint:
        return self.endpoints[name]


def _family(prefix: str, api: str, inverse: bool, versions: dict[str, str]) -> Family:
    """Endpoints under ``/{prefix}/v1`` unless ``versions`` says otherwise (name -> "v2")."""
    rows = {  # name: (method, path, ccxt section, ccxt name)
        "time": ("GET", "time", "Public", "GetTime"),
        "exchange_info": ("GET", "exchangeInfo", "Public", "GetExchangeInfo"),
        "funding_info": ("GET", "fundingInfo", "Public", "GetFundingInfo"),
        "ticker_price": ("GET", "ticker/price", "Public", "GetTickerPrice"),
        "book_ticker": ("GET", "ticker/bookTicker", "Public", "GetTickerBookTicker"),
        "premium_index": ("GET", "premiumIndex", "Public", "GetPremiumIndex"),
        "leverage_bracket": ("GET", "leverageBracket", "Private", "GetLeverageBracket"),
        "account": ("GET", "account", "Private", "GetAccount"),
        "position_risk": ("GET", "positionRisk", "Private", "GetPositionRisk"),
        "position_mode": ("GET", "positionSide/dual", "Private", "GetPositionSideDual"),
        "set_position_mode": ("POST", "positionSide/dual", "Private", "PostPositionSideDual"),
        "set_leverage": ("POST", "leverage", "Private", "PostLeverage"),
        "set_margin_type": ("POST", "marginType", "Private", "PostMarginType"),
        "batch_orders": ("POST", "batchOrders", "Private", "PostBatchOrders"),
        "order": ("GET", "order", "Private", "GetOrder"),
        "cancel": ("DELETE", "order", "Private", "DeleteOrder"),
        "open_orders": ("GET", "openOrders", "Private", "GetOpenOrders"),
        "all_orders": ("GET", "allOrders", "Private", "GetAllOrders"),
        "user_trades": ("GET", "userTrades", "Private", "GetUserTrades"),
        "income": ("GET", "income", "Private", "GetIncome"),
    }
    out = {}
    for name, (method, path, section, call) in rows.items():
        v = versions.get(name, "v1")
        ccxt_section = section + (v.upper() if v != "v1" else "")  # fapiPrivateV2...
        out[name] = Endpoint(method, f"/{prefix}/{v}/{path}", f"{api}{ccxt_section}{call}")
    return Family(inverse, out)


USDM = _family("fapi", "fapi", False, {"account": "v2", "position_risk": "v2"})
COINM = _family("dapi", "dapi", True, {"leverage_bracket": "v2"})


def _weights(family: Family, weights: dict[str, int], orders: dict[str, Window], weight_limit: int) -> PacingTable:
    """A shared request-weight budget per minute, plus order-count windows that batches draw on per order."""
    windows = {"weight": Window(weight_limit, 60.0), **orders}
    costs: dict[tuple[str, str], dict[str, tuple[int, int]]] = {}
    for name, w in weights.items():
        e = family[name]
        costs[(e.method, e.path)] = {"weight": (w, 0)}
    batch = family["batch_orders"]
    costs[(batch.method, batch.path)] = {**costs[(batch.method, batch.path)], **{k: (0, 1) for k in orders}}
    return PacingTable(windows, costs)


# Published request weights (no symbol where a listing serves every instrument).
USDM_PACING = _weights(USDM, {
    "time": 1, "exchange_info": 1, "funding_info": 1, "ticker_price": 2, "book_ticker": 5, "premium_index": 10,
    "leverage_bracket": 1, "account": 5, "position_risk": 5, "position_mode": 30, "set_position_mode": 1,
    "set_leverage": 1, "set_margin_type": 1, "batch_orders": 5, "order": 1, "cancel": 1, "open_orders": 40,
    "all_orders": 5, "user_trades": 5, "income": 30,
}, {"orders_10s": Window(300, 10.0), "orders_1m": Window(1200, 60.0)}, 2400)
COINM_PACING = _weights(COINM, {
    "time": 1, "exchange_info": 1, "funding_info": 1, "ticker_price": 2, "book_ticker": 5, "premium_index": 10,
    "leverage_bracket": 1, "account": 5, "position_risk": 1, "position_mode": 30, "set_position_mode": 1,
    "set_leverage": 1, "set_margin_type": 1, "batch_orders": 5, "order": 1, "cancel": 1, "open_orders": 40,
    "all_orders": 40, "user_trades": 40, "income": 20,
}, {"orders_1m": Window(1200, 60.0)}, 2400)

ID_RULE = IdRule(36, ".A-Z:/a-z0-9_-")  # newClientOrderId: up to 36 of [.A-Z:/a-z0-9_-]


def _caps(name: str, settle: str | None, pacing: PacingTable, fee_topup: bool = False) -> VenueCaps:
    return VenueCaps(
        name=name,
        max_batch=5,  # batchOrders: at most 5 orders
        id_rule=ID_RULE,
        ids_unique_after_final=False,  # unique among OPEN orders only: a filled order's id is accepted again
        needs_passphrase=False,
        url_modes=frozenset({"paper"}),  # demo and live use ccxt's own endpoints (fapi, dapi, demo-fapi, ...)
        settle_ccy=settle,
        pacing=pacing,
        error_kinds=ERROR_KINDS,
        integer_leverage=True,
        fee_topup=fee_topup,
    )


USDM_CAPS = _caps("Binance USDⓈ-M", "USDT", USDM_PACING, fee_topup=True)  # BNB pays USDⓈ-M fees at 10% off
COINM_CAPS = _caps("Binance COIN-M", None, COINM_PACING)
