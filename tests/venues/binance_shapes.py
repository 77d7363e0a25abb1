"""Binance futures answers as the API documents them (and ccxt's binance.py quotes them in its parsers):
numbers as strings, upper-case enums. Functions, so each test gets its own copy to edit."""

from __future__ import annotations

from typing import Any


def filters(tick: str, step: str, min_qty: str, market_step: str | None = None) -> list[dict[str, Any]]:
    return [{"filterType": "PRICE_FILTER", "minPrice": "0.10", "maxPrice": "4529764", "tickSize": tick},
            {"filterType": "LOT_SIZE", "stepSize": step, "minQty": min_qty, "maxQty": "1000"},
            {"filterType": "MARKET_LOT_SIZE", "stepSize": market_step or step, "minQty": min_qty, "maxQty": "120"},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MIN_NOTIONAL", "notional": "100"}]


def usdm_exchange_info() -> dict[str, Any]:
    def sym(symbol, base, contract="PERPETUAL", status="TRADING", tick="0.10", step="0.001", min_qty="0.001"):
        return {"symbol": symbol, "pair": symbol, "contractType": contract, "deliveryDate": 4133404800000,
                "onboardDate": 1569398400000, "status": status, "baseAsset": base, "quoteAsset": "USDT",
                "marginAsset": "USDT", "pricePrecision": 2, "quantityPrecision": 3,
                "filters": filters(tick, step, min_qty), "orderTypes": ["LIMIT", "MARKET"]}

    return {"timezone": "UTC", "serverTime": 1736467200000,
            "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400}],
            "symbols": [sym("BTCUSDT", "BTC"), sym("ETHUSDT", "ETH", tick="0.01"),
                        sym("BTCUSDT_250328", "BTC", contract="CURRENT_QUARTER"),  # a delivery contract
                        sym("OLDUSDT", "OLD", status="SETTLING")]}  # not trading


def usdm_brackets() -> list[dict[str, Any]]:
    return [{"symbol": "BTCUSDT", "notionalCoef": 1.0, "brackets": [
        {"bracket": 1, "initialLeverage": 125, "notionalCap": 50000, "notionalFloor": 0, "maintMarginRatio": 0.004,
         "cum": 0.0},
        {"bracket": 2, "initialLeverage": 100, "notionalCap": 250000, "notionalFloor": 50000,
         "maintMarginRatio": 0.005, "cum": 50.0}]},
        {"symbol": "ETHUSDT", "brackets": [
            {"bracket": 1, "initialLeverage": 75, "notionalCap": 10000, "notionalFloor": 0, "maintMarginRatio": 0.0065,
             "cum": 0.0}]}]


def coinm_exchange_info() -> dict[str, Any]:
    def sym(symbol, base, size, contract="PERPETUAL"):
        return {"symbol": symbol, "pair": symbol.split("_")[0], "contractType": contract,
                "deliveryDate": 4133404800000, "onboardDate": 1596006000000, "contractStatus": "TRADING",
                "contractSize": size, "marginAsset": base, "baseAsset": base, "quoteAsset": "USD",
                "pricePrecision": 1, "quantityPrecision": 0, "filters": filters("0.1", "1", "1")}

    return {"timezone": "UTC", "serverTime": 1597667052958,
            "symbols": [sym("BTCUSD_PERP", "BTC", 100), sym("ETHUSD_PERP", "ETH", 10),
                        sym("BTCUSD_200925", "BTC", 100, contract="CURRENT_QUARTER")]}


def coinm_brackets() -> list[dict[str, Any]]:
    return [{"symbol": "BTCUSD_PERP", "brackets": [
        {"bracket": 1, "initialLeverage": 125, "qtyCap": 5, "qtyFloor": 0, "maintMarginRatio": 0.004, "cum": 0.0},
        {"bracket": 2, "initialLeverage": 100, "qtyCap": 10, "qtyFloor": 5, "maintMarginRatio": 0.005, "cum": 0.005}]},
        {"symbol": "ETHUSD_PERP", "brackets": [
            {"bracket": 1, "initialLeverage": 75, "qtyCap": 100, "qtyFloor": 0, "maintMarginRatio": 0.0065,
             "cum": 0.0}]}]


def order(cl: str, symbol: str = "BTCUSDT", side: str = "BUY", qty: str = "0.003", status: str = "FILLED",
          executed: str | None = None, avg: str = "94012.30", position_side: str = "BOTH", reduce_only: bool = False,
          order_id: int = 283194212) -> dict[str, Any]:
    """An order as ``GET /fapi/v1/order`` (and each accepted batchOrders entry) returns it."""
    return {"orderId": order_id, "symbol": symbol, "status": status, "clientOrderId": cl, "price": "0",
            "avgPrice": avg, "origQty": qty, "executedQty": qty if executed is None else executed,
            "cumQuote": "282.03690", "timeInForce": "GTC", "type": "MARKET", "reduceOnly": reduce_only,
            "closePosition": False, "side": side, "positionSide": position_side, "stopPrice": "0",
            "workingType": "CONTRACT_PRICE", "priceProtect": False, "origType": "MARKET", "priceMatch": "NONE",
            "selfTradePreventionMode": "EXPIRE_MAKER", "goodTillDate": 0, "time": 1736467201000,
            "updateTime": 1736467201000}


def trade(trade_id: int, order_id: int, symbol: str = "BTCUSDT", side: str = "BUY", qty: str = "0.003",
          price: str = "94012.30", commission: str = "0.14101845", time: int = 1736467201000) -> dict[str, Any]:
    """A trade as ``GET /fapi/v1/userTrades`` returns it (no client order id)."""
    return {"buyer": side == "BUY", "commission": commission, "commissionAsset": "USDT", "id": trade_id,
            "maker": False, "orderId": order_id, "price": price, "qty": qty, "quoteQty": "282.03690",
            "realizedPnl": "0", "side": side, "positionSide": "BOTH", "symbol": symbol, "time": time}


def usdm_account() -> dict[str, Any]:
    return {"feeTier": 0, "canTrade": True, "totalWalletBalance": "10000.00000000",
            "totalUnrealizedProfit": "12.50000000", "totalMarginBalance": "10012.50000000",
            "availableBalance": "9400.25000000", "maxWithdrawAmount": "9400.25000000",
            "assets": [{"asset": "USDT", "walletBalance": "10000.00000000", "unrealizedProfit": "12.50000000",
                        "marginBalance": "10012.50000000", "availableBalance": "9400.25000000"},
                       {"asset": "BNB", "walletBalance": "0.00000000", "unrealizedProfit": "0.00000000",
                        "marginBalance": "0.00000000", "availableBalance": "0.00000000"}],
            "positions": []}


def coinm_account() -> dict[str, Any]:
    return {"assets": [{"asset": "BTC", "walletBalance": "0.50000000", "unrealizedProfit": "0.00120000",
                        "marginBalance": "0.50120000", "availableBalance": "0.45000000"},
                       {"asset": "ETH", "walletBalance": "2.00000000", "unrealizedProfit": "0.00000000",
                        "marginBalance": "2.00000000", "availableBalance": "2.00000000"}],
            "canTrade": True, "updateTime": 0}


def position(symbol: str, amt: str, side: str = "BOTH", entry: str = "94000.0", leverage: str = "5") -> dict[str, Any]:
    return {"symbol": symbol, "positionSide": side, "positionAmt": amt, "entryPrice": entry,
            "markPrice": "94012.3", "unRealizedProfit": "0.1", "liquidationPrice": "0", "isolatedMargin": "0",
            "marginType": "cross", "isAutoAddMargin": "false", "leverage": leverage, "maxNotionalValue": "20000000",
            "updateTime": 1736467201000}


def error(code: int, msg: str) -> dict[str, Any]:
    return {"code": code, "msg": msg}
