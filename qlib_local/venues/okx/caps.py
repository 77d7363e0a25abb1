"""OKX V5 as data: limits, client-id rule, error codes mapped to domain kinds (no HTTP here)."""

from __future__ import annotations

from qlib_local.live.types import Kind
from qlib_local.live.venue import IdRule, PacingTable, VenueCaps, Window

DEFAULT_URL = "https://www.okx.com"

# (method, path) -> OKX's published limit: requests per window, per instrument where OKX counts so.
LIMITS: dict[tuple[str, str], Window] = {
    ("GET", "/api/v5/public/time"): Window(10, 2),
    ("GET", "/api/v5/public/instruments"): Window(20, 2),
    ("GET", "/api/v5/account/balance"): Window(10, 2),
    ("GET", "/api/v5/account/positions"): Window(10, 2),
    ("GET", "/api/v5/account/config"): Window(5, 2),
    ("GET", "/api/v5/account/bills"): Window(5, 1),
    ("POST", "/api/v5/account/set-leverage"): Window(20, 2),
    ("POST", "/api/v5/account/set-position-mode"): Window(5, 2),
    ("GET", "/api/v5/trade/order"): Window(60, 2, per_inst=True),
    ("POST", "/api/v5/trade/cancel-order"): Window(60, 2, per_inst=True),
    ("GET", "/api/v5/trade/orders-pending"): Window(60, 2),
    ("GET", "/api/v5/trade/fills"): Window(60, 2),
    ("GET", "/api/v5/market/candles"): Window(40, 2),
    ("GET", "/api/v5/market/tickers"): Window(20, 2),
    ("GET", "/api/v5/public/mark-price"): Window(10, 2),
}

# OKX codes -> domain kinds. 501xx (authentication) is a rule of its own: see ``kind_of``.
ERROR_KINDS: dict[str, Kind] = {
    "0": Kind.ACCEPTED,
    "51016": Kind.DUPLICATE_CLIENT_ID,  # Duplicated clOrdId
    "50011": Kind.RETRY_LATER,  # Too Many Requests
    "50061": Kind.RETRY_LATER,  # sub-account rate limit
    "50001": Kind.RETRY_LATER,  # Service temporarily unavailable
    "50013": Kind.RETRY_LATER,  # Systems are busy
    "50026": Kind.RETRY_LATER,  # System error, try again later
    "50004": Kind.UNKNOWN_OUTCOME,  # API endpoint request timeout: may have been processed
    "50102": Kind.CLOCK_SKEW,  # Timestamp request expired
    "51008": Kind.INSUFFICIENT_MARGIN,
    "51131": Kind.INSUFFICIENT_MARGIN,  # insufficient balance
    "51020": Kind.BELOW_MIN_SIZE,  # below the minimum order amount
    "51121": Kind.BAD_PRECISION,  # not a multiple of the lot size
    "51169": Kind.REDUCE_ONLY_REJECTED,  # no position in this direction to reduce
    "51603": Kind.UNKNOWN_ORDER,  # Order does not exist
    "51400": Kind.UNKNOWN_ORDER,  # cancel: filled, canceled or does not exist
    "59000": Kind.REJECTED_OTHER,  # settings need a flat account
}
RATE_LIMIT_CODES = frozenset({"50011", "50061"})

CAPS = VenueCaps(
    name="OKX",
    max_batch=20,  # batch-orders
    id_rule=IdRule(32, "A-Za-z0-9"),  # clOrdId: 1-32 letters and digits
    ids_unique_after_final=True,  # a clOrdId once used is refused (51016), final or not
    needs_passphrase=True,
    url_modes=frozenset({"paper", "demo", "live"}),  # the REST domain (demo and live: https)
    settle_ccy="USDT",
    pacing=PacingTable.per_endpoint(LIMITS),
    error_kinds=ERROR_KINDS,
    leverage_per_side=True,  # isolated margin in long/short mode: leverage per posSide
)


def kind_of(code: str) -> Kind:
    """The domain kind of an OKX code (501xx: authentication)."""
    code = str(code)
    if code.startswith("501") and code not in ERROR_KINDS:
        return Kind.AUTH
    return CAPS.kind(code)
