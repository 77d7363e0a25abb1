"""``BinanceExchange``: the local Binance futures exchange (USDⓈ-M /fapi, COIN-M /dapi, and the
spot and wallet routes of the BNB fee top-up) on the engine the local OKX exchange runs.

The store's ``binance`` instruments are Binance symbols: linear ones (``BTCUSDT``, settling in
USDT) trade on /fapi, inverse ones (``BTCUSD_PERP``, settling in the coin) on /dapi.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from qlib_local.sim.accounts import USDT, Account
from qlib_local.sim.binance.app import build_app
from qlib_local.sim.binance.context import BinanceState, wall_ms
from qlib_local.sim.binance.specs import check_linear_contracts, fill_defaults
from qlib_local.sim.binance.trade_routes import CLIENT_ID_RE
from qlib_local.sim.binance.weights import WeightLimiter
from qlib_local.sim.matching import FeeModel
from qlib_local.sim.server import LocalExchange
from qlib_local.store import KlineStore

STORE_EXCHANGE = "binance"


class BinanceExchange(LocalExchange):
    """A protocol-faithful local Binance futures REST exchange over a K-line store.

    Clock, faults, accounts and serving are ``LocalExchange``'s; ``limiter`` counts Binance
    weights, ``auth_clock`` judges request timestamps (wall time by default; set it to
    ``clock.now_ms`` to make clients sync to server time as on Binance).
    """

    def __init__(self, root: str | Path | KlineStore, start: int | str | None = None, speed: float = 0.0,
                 host: str = "127.0.0.1", port: int = 0, rate_limit: bool = True, fees: FeeModel | None = None,
                 exchange: str = STORE_EXCHANGE, min_notional: float = 5.0, funding_rate: float | None = None):
        super().__init__(root, start=start, speed=speed, host=host, port=port, rate_limit=False, fees=fees,
                         exchange=exchange, funding_rate=funding_rate)
        fill_defaults(self.market.specs, self.market.inst_ids)  # before an account or order reads a spec
        check_linear_contracts(self.market.specs)
        self.limiter = WeightLimiter(rate_limit)  # type: ignore[assignment]
        self.binance = BinanceState(self.market, self.engine, self.clock, self.faults, self.limiter, wall_ms,
                                    min_notional=min_notional)
        self.engine.cl_ord_id_re = CLIENT_ID_RE
        self.engine.cl_ord_id_open_only = True  # newClientOrderId is unique among open orders only
        self.engine.fee_payer = self.binance.pay_fee
        self.app = build_app(self.binance)

    @property
    def auth_clock(self) -> Callable[[], int]:
        return self.binance.auth_clock

    @auth_clock.setter
    def auth_clock(self, fn: Callable[[], int]) -> None:
        self.binance.auth_clock = fn

    def add_account(self, name: str, api_key: str, secret: str, passphrase: str = "",  # type: ignore[override]
                    usdt: float | None = None, simulated: bool | None = None,
                    balances: Mapping[str, float] | None = None, spot: Mapping[str, float] | None = None) -> Account:
        """A futures account (``usdt`` or ``balances`` by currency, e.g. ``{"BTC": 1}`` for COIN-M)
        with a spot wallet (``spot``, e.g. ``{"USDT": 100}``) for the BNB top-up."""
        wallet = {}
        for ccy, v in dict(spot or {}).items():
            if isinstance(v, bool) or not isinstance(v, int | float) or not (v == v and 0 <= v < float("inf")):
                raise ValueError(f"spot {ccy} balance must be a finite number >= 0, got {v!r}")
            wallet[str(ccy)] = float(v)
        acct = super().add_account(name, api_key, secret, passphrase, usdt=usdt, simulated=simulated,
                                   balances=balances)
        self.binance.spot[api_key] = wallet
        return acct

    @property
    def spot(self) -> dict[str, dict[str, float]]:
        """Spot wallets by account name."""
        return {a.name: self.binance.spot.get(a.api_key, {}) for a in self.engine.accounts.values()}


__all__ = ["USDT", "BinanceExchange"]
