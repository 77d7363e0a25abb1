"""The OKX V5 route table: (method, path, handler, private, trade) for every endpoint served.

The handlers are plain functions of a request context (:mod:`qlib_local.sim.context`), no HTTP,
no Starlette: public market data in ``market_endpoints``, an account's standing in
``account_endpoints``, its orders in ``trade_endpoints``. Each returns the envelope's ``data``, or
raises ``OkxError``; ``app`` serves them.
"""

from __future__ import annotations

from collections.abc import Callable

from qlib_local.sim import account_endpoints as acc
from qlib_local.sim import market_endpoints as mkt
from qlib_local.sim import trade_endpoints as trd
from qlib_local.sim.context import Ctx, Result

# (method, path, handler, private, is trade endpoint with inTime/outTime)
ENDPOINTS: list[tuple[str, str, Callable[[Ctx], Result], bool, bool]] = [
    ("GET", "/api/v5/public/time", mkt.ep_time, False, False),
    ("GET", "/api/v5/public/instruments", mkt.ep_instruments, False, False),
    ("GET", "/api/v5/market/candles", mkt.ep_candles, False, False),
    ("GET", "/api/v5/market/history-candles", mkt.ep_history_candles, False, False),
    ("GET", "/api/v5/market/tickers", mkt.ep_tickers, False, False),
    ("GET", "/api/v5/market/ticker", mkt.ep_ticker, False, False),
    # public funding and mark prices (served from the store's @funding and @mark namespaces)
    ("GET", "/api/v5/public/mark-price", mkt.ep_mark_price, False, False),
    ("GET", "/api/v5/public/funding-rate", mkt.ep_funding_rate, False, False),
    ("GET", "/api/v5/public/funding-rate-history", mkt.ep_funding_rate_history, False, False),
    ("GET", "/api/v5/market/mark-price-candles", mkt.ep_mark_price_candles, False, False),
    ("GET", "/api/v5/market/history-mark-price-candles", mkt.ep_history_mark_price_candles, False, False),
    ("GET", "/api/v5/asset/currencies", acc.ep_currencies, True, False),
    ("GET", "/api/v5/account/balance", acc.ep_balance, True, False),
    ("GET", "/api/v5/account/positions", acc.ep_positions, True, False),
    ("GET", "/api/v5/account/config", acc.ep_config, True, False),
    ("GET", "/api/v5/account/bills", acc.ep_bills, True, False),
    ("GET", "/api/v5/account/bills-archive", acc.ep_bills_archive, True, False),
    ("POST", "/api/v5/account/set-leverage", acc.ep_set_leverage, True, False),
    ("POST", "/api/v5/account/set-position-mode", acc.ep_set_position_mode, True, False),
    ("POST", "/api/v5/trade/order", trd.ep_place_order, True, True),
    ("GET", "/api/v5/trade/order", trd.ep_get_order, True, False),
    ("POST", "/api/v5/trade/batch-orders", trd.ep_batch_orders, True, True),
    ("POST", "/api/v5/trade/cancel-order", trd.ep_cancel_order, True, True),
    ("GET", "/api/v5/trade/orders-pending", trd.ep_orders_pending, True, False),
    ("GET", "/api/v5/trade/fills", trd.ep_fills, True, False),
]
