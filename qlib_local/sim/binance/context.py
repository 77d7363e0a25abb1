"""What a Binance route sees: the shared engine, the venue's own state, one request's context."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from qlib_local.sim.accounts import Account
from qlib_local.sim.binance.errors import BinanceError
from qlib_local.sim.binance.request import Params
from qlib_local.sim.binance.weights import WeightLimiter
from qlib_local.sim.clock import SimClock
from qlib_local.sim.faults import Faults
from qlib_local.sim.market import MarketData
from qlib_local.sim.matching import Engine
from qlib_local.specs import InstrumentSpec

BNB = "BNB"
USDM_ASSETS = ("USDT", "USDC", BNB)  # what the USDⓈ-M wallet holds (multi-assets and fee BNB)


def wall_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class BinanceState:
    """The engine shared with the OKX front end, plus what only Binance has.

    ``auth_clock`` is what request timestamps are judged against (wall time by default, as
    clients sign with their wall clock; ``clock.now_ms`` makes them sync to server time).
    """

    market: MarketData
    engine: Engine
    clock: SimClock
    faults: Faults
    limiter: WeightLimiter
    auth_clock: Callable[[], int] = wall_ms
    spot: dict[str, dict[str, float]] = field(default_factory=dict)  # api key -> spot wallet
    fee_burn: dict[str, bool] = field(default_factory=dict)  # api key -> pay USDⓈ-M fees in BNB
    spot_orders: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (api key, client id) -> order
    min_notional: float = 5.0  # USDⓈ-M orders below this notional are refused (-4164)
    spot_fee: float = 0.001  # spot taker fee, in the asset received
    bnb_discount: float = 0.10  # fees paid in BNB cost 10% less

    def inverse(self, inst_id: str) -> bool:
        return self.market.spec(inst_id).inverse

    def symbols(self, family: str) -> list[str]:
        """The store's instruments a family trades: linear on fapi (and spot), inverse on dapi."""
        want_inverse = family == "dapi"
        return [i for i in self.market.inst_ids if self.market.spec(i).inverse == want_inverse]

    def pay_fee(self, acct: Account, inst_id: str, fee: float, ts: int) -> tuple[str, float]:
        """The engine's fee hook: a USDⓈ-M fee in BNB at the discount when the account turned
        feeBurn on and holds enough BNB; otherwise in the settlement currency."""
        spec = self.market.spec(inst_id)
        if spec.inverse or not self.fee_burn.get(acct.api_key) or fee <= 0:
            return spec.settle_ccy, fee
        bnb_px = self.bnb_price(ts)
        if not (math.isfinite(bnb_px) and bnb_px > 0):
            return spec.settle_ccy, fee
        in_bnb = fee * (1 - self.bnb_discount) / bnb_px
        if acct.balances.get(BNB, 0.0) + 1e-12 < in_bnb:
            return spec.settle_ccy, fee
        return BNB, in_bnb

    def bnb_price(self, now: int) -> float:
        for inst in self.symbols("fapi"):
            if self.market.spec(inst).base_ccy == BNB and self.market.price(inst, now) is not None:
                return self.market.mark_price(inst, now)
        return math.nan


@dataclass
class Ctx:
    state: BinanceState
    family: str  # fapi | dapi | api | sapi
    params: Params
    acct: Account | None
    now: int
    headers: dict[str, str] = field(default_factory=dict)  # extra response headers

    @property
    def market(self) -> MarketData:
        return self.state.market

    @property
    def engine(self) -> Engine:
        return self.state.engine

    @property
    def account(self) -> Account:
        assert self.acct is not None
        return self.acct

    def symbol(self, key: str = "symbol", required: bool = True, params: Params | None = None) -> str:
        """An instrument of this family, listed by now; -1121 otherwise (``params``: a batch item's)."""
        p = params or self.params
        s = p.required(key) if required else p.text(key)
        if not s:
            return ""
        if s not in self.state.symbols("dapi" if self.family == "dapi" else "fapi") \
                or not self.market.listed(s, self.now):
            raise BinanceError(-1121)
        return s

    def spec(self, inst_id: str) -> InstrumentSpec:
        return self.market.spec(inst_id)
