"""The fee top-up port on Binance (:class:`qlib_local.live.topup.FeeTopupPort`): BNB bought on the
spot wallet (``/api/v3/order``, MARKET by ``quoteOrderQty``), moved to the USDⓈ-M wallet
(``/sapi/v1/asset/transfer`` ``MAIN_UMFUTURE``), fees paid in it (``/fapi/v1/feeBurn``).

A mixin of the USDⓈ-M adapter: the same ccxt client signs these (its error hook maps Binance's
codes on every URL). Reads are retried; the buy and the transfer are sent once (the top-up's
ledger rows make them safe to finish on the next run).
"""

from __future__ import annotations

from typing import Any

import ccxt

from qlib_local.errors import DataError
from qlib_local.live.errors import ApiError, VenueError
from qlib_local.live.retry import RetryPolicy, call_with_retry
from qlib_local.live.topup import QTY_DECIMALS, SpotOrder
from qlib_local.live.types import Kind
from qlib_local.venues.binance import parse

FINAL = {"FILLED", "CANCELED", "EXPIRED", "REJECTED", "EXPIRED_IN_MATCH"}


class BinanceFeeTopup:
    """BNB for USDⓈ-M fees. Needs ``ex`` (the ccxt client) and ``retry`` from the adapter."""

    ex: ccxt.Exchange
    retry: RetryPolicy
    requests: int
    fee_asset, fee_symbol, quote_asset = "BNB", "BNBUSDT", "USDT"

    def _spot(self, method: str, params: dict[str, Any], what: str, retry: bool = True) -> Any:
        def once() -> Any:
            self.requests += 1
            try:
                return getattr(self.ex, method)(dict(params))
            except VenueError as err:
                raise type(err)(f"{what}: {err}", err.code, err.status, err.kind) from None
            except ccxt.BaseError as err:
                from qlib_local.venues.binance.adapter import transport_error

                raise transport_error(err, what) from None

        return call_with_retry(once, what, self.retry) if retry else once()

    def fee_asset_price(self) -> float:
        """BNBUSDT's mark price: what a fee paid in BNB is converted at."""
        r = self._spot("fapiPublicGetPremiumIndex", {"symbol": self.fee_symbol}, "BNB price")
        px = parse.prices(r if isinstance(r, list) else [r], "markPrice").get(self.fee_symbol)
        if px is None:
            raise DataError(f"no {self.fee_symbol} price")
        return px

    def futures_free(self, asset: str) -> float:
        """The asset's wallet balance in the USDⓈ-M wallet (0 when it has none)."""
        rows = self._spot("fapiPrivateV2GetAccount", {}, "futures balance").get("assets") or []
        row = next((r for r in rows if isinstance(r, dict) and r.get("asset") == asset), None)
        return parse.num(row.get("walletBalance"), 0.0) if row else 0.0

    def spot_free(self, asset: str) -> float:
        rows = self._spot("privateGetAccount", {}, "spot balance").get("balances") or []
        row = next((r for r in rows if isinstance(r, dict) and r.get("asset") == asset), None)
        return parse.num(row.get("free"), 0.0) if row else 0.0

    def spot_order(self, cl_ord_id: str) -> SpotOrder | None:
        """The spot order with this client id, or None when Binance does not know it (-2013)."""
        try:
            r = self._spot("privateGetOrder", {"symbol": self.fee_symbol, "origClientOrderId": cl_ord_id},
                           f"spot order {cl_ord_id}")
        except ApiError as e:
            if e.kind == Kind.UNKNOWN_ORDER:
                return None
            raise
        return _spot_order(r, cl_ord_id)

    def spot_market_buy(self, quote: float, cl_ord_id: str) -> SpotOrder:
        params = {"symbol": self.fee_symbol, "side": "BUY", "type": "MARKET", "quoteOrderQty": f"{quote:.2f}",
                  "newClientOrderId": cl_ord_id, "newOrderRespType": "FULL"}
        return _spot_order(self._spot("privatePostOrder", params, f"buy {self.fee_asset}", retry=False), cl_ord_id)

    def transfer_to_futures(self, asset: str, amount: float) -> str:
        params = {"type": "MAIN_UMFUTURE", "asset": asset, "amount": f"{amount:.{QTY_DECIMALS}f}"}
        r = self._spot("sapiPostAssetTransfer", params, f"move {asset} to futures", retry=False)
        return str(r.get("tranId") or "")

    def fee_burn(self) -> bool:
        return self._spot("fapiPrivateGetFeeBurn", {}, "feeBurn").get("feeBurn") in (True, "true")

    def set_fee_burn(self, on: bool) -> None:
        self._spot("fapiPrivatePostFeeBurn", {"feeBurn": "true" if on else "false"}, "set feeBurn")


def _spot_order(r: Any, cl_ord_id: str) -> SpotOrder:
    if not isinstance(r, dict):
        raise DataError(f"spot order {cl_ord_id}: unexpected answer {r!r}")
    filled, cost = parse.num(r.get("executedQty"), 0.0), parse.num(r.get("cummulativeQuoteQty"), 0.0)
    return SpotOrder(str(r.get("clientOrderId") or cl_ord_id), filled, cost, str(r.get("status")) in FINAL)
