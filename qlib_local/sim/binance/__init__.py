"""The local Binance futures exchange: USDⓈ-M (/fapi) and COIN-M (/dapi) front end on the sim engine."""

from qlib_local.sim.binance.request import sign
from qlib_local.sim.binance.server import BinanceExchange

__all__ = ["BinanceExchange", "sign"]
