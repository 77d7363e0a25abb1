"""The Binance route table: (method, path, handler, signed) for /fapi, /dapi, /api and /sapi."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qlib_local.sim.binance import account_routes as acc
from qlib_local.sim.binance import market_routes as mkt
from qlib_local.sim.binance import trade_routes as trd
from qlib_local.sim.binance import wallet_routes as wal
from qlib_local.sim.binance.context import Ctx

Handler = Callable[[Ctx], Any]

_FUTURES_PUBLIC: list[tuple[str, str, Handler]] = [
    ("GET", "/v1/ping", mkt.ep_ping), ("GET", "/v1/time", mkt.ep_time),
    ("GET", "/v1/exchangeInfo", mkt.ep_exchange_info), ("GET", "/v1/klines", mkt.ep_klines),
    ("GET", "/v1/markPriceKlines", mkt.ep_mark_klines), ("GET", "/v1/premiumIndex", mkt.ep_premium_index),
    ("GET", "/v1/fundingRate", mkt.ep_funding_rate), ("GET", "/v1/ticker/price", mkt.ep_ticker_price),
    ("GET", "/v1/fundingInfo", mkt.ep_funding_info), ("GET", "/v1/ticker/bookTicker", mkt.ep_book_ticker),
]
_FUTURES_PRIVATE: list[tuple[str, str, Handler]] = [
    ("POST", "/v1/leverage", acc.ep_leverage), ("POST", "/v1/marginType", acc.ep_margin_type),
    ("GET", "/v1/positionSide/dual", acc.ep_get_dual), ("POST", "/v1/positionSide/dual", acc.ep_set_dual),
    ("GET", "/v1/income", acc.ep_income),
    ("POST", "/v1/order", trd.ep_new_order), ("GET", "/v1/order", trd.ep_get_order),
    ("DELETE", "/v1/order", trd.ep_cancel_order), ("POST", "/v1/batchOrders", trd.ep_batch_orders),
    ("GET", "/v1/openOrders", trd.ep_open_orders), ("GET", "/v1/allOrders", trd.ep_all_orders),
    ("GET", "/v1/userTrades", trd.ep_user_trades),
]
_FAPI_ONLY: list[tuple[str, str, Handler]] = [
    ("GET", "/v2/account", acc.ep_account), ("GET", "/v3/account", acc.ep_account),
    ("GET", "/v2/balance", acc.ep_balance), ("GET", "/v3/balance", acc.ep_balance),
    ("GET", "/v2/positionRisk", acc.ep_position_risk), ("GET", "/v3/positionRisk", acc.ep_position_risk),
    ("GET", "/v1/leverageBracket", acc.ep_leverage_bracket),
    ("GET", "/v1/feeBurn", acc.ep_get_fee_burn), ("POST", "/v1/feeBurn", acc.ep_set_fee_burn),
]
_FAPI_PUBLIC_ONLY: list[tuple[str, str, Handler]] = [("GET", "/v2/ticker/price", mkt.ep_ticker_price)]
_DAPI_ONLY: list[tuple[str, str, Handler]] = [
    ("GET", "/v1/account", acc.ep_account), ("GET", "/v1/balance", acc.ep_balance),
    ("GET", "/v1/positionRisk", acc.ep_position_risk),
    ("GET", "/v1/leverageBracket", acc.ep_leverage_bracket), ("GET", "/v2/leverageBracket", acc.ep_leverage_bracket),
]
_SPOT: list[tuple[str, str, Handler, bool]] = [
    ("GET", "/v3/time", mkt.ep_time, False), ("GET", "/v3/exchangeInfo", wal.ep_spot_exchange_info, False),
    ("POST", "/v3/order", wal.ep_spot_order, True), ("GET", "/v3/order", wal.ep_get_spot_order, True),
    ("GET", "/v3/account", wal.ep_spot_account, True),
]
_SAPI: list[tuple[str, str, Handler]] = [
    ("GET", "/v1/capital/config/getall", wal.ep_coins), ("GET", "/v1/margin/allPairs", wal.ep_margin_pairs),
    ("GET", "/v1/margin/isolated/allPairs", wal.ep_margin_pairs),
    ("POST", "/v1/asset/transfer", wal.ep_asset_transfer), ("POST", "/v1/futures/transfer", wal.ep_futures_transfer),
]

# (method, family, sub-path, handler, signed); the full path is /<family><sub-path>
ROUTES: list[tuple[str, str, str, Handler, bool]] = (
    [(m, f, s, h, False) for f in ("fapi", "dapi") for m, s, h in _FUTURES_PUBLIC]
    + [(m, f, s, h, True) for f in ("fapi", "dapi") for m, s, h in _FUTURES_PRIVATE]
    + [(m, "fapi", s, h, False) for m, s, h in _FAPI_PUBLIC_ONLY]
    + [(m, "fapi", s, h, True) for m, s, h in _FAPI_ONLY]
    + [(m, "dapi", s, h, True) for m, s, h in _DAPI_ONLY]
    + [(m, "api", s, h, signed) for m, s, h, signed in _SPOT]
    + [(m, "sapi", s, h, True) for m, s, h in _SAPI]
)
