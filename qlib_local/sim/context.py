"""What an OKX endpoint sees: the exchange's state and one request's context.

Kept apart from the handlers so the market, account and trade endpoints share one ``Ctx``
(query, parsed body, authenticated account, simulated now) and one way of reading paging
parameters, without importing one another; ``app`` builds a ``Ctx`` per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qlib_local.sim.accounts import Account
from qlib_local.sim.clock import SimClock
from qlib_local.sim.faults import Faults
from qlib_local.sim.market import DEFAULT_LIMIT, MAX_LIMIT, MarketData
from qlib_local.sim.matching import Engine
from qlib_local.sim.params import integer, text
from qlib_local.sim.protocol import ParamError
from qlib_local.sim.ratelimit import RateLimiter


@dataclass
class State:
    """Everything an endpoint may touch."""

    market: MarketData
    engine: Engine
    clock: SimClock
    faults: Faults
    limiter: RateLimiter


@dataclass
class Ctx:
    state: State
    query: dict[str, str]
    body: Any
    acct: Account | None
    now: int

    @property
    def engine(self) -> Engine:
        return self.state.engine

    @property
    def market(self) -> MarketData:
        return self.state.market

    def q(self, key: str, default: str = "") -> str:
        return self.query.get(key, default) or default

    def required(self, key: str) -> str:
        v = self.q(key)
        if not v:
            raise ParamError("50014", key)
        return v

    def obj(self) -> dict[str, Any]:
        """The body of an endpoint that takes one JSON object."""
        if not isinstance(self.body, dict):
            raise ParamError("50002")
        return self.body

    def field(self, key: str) -> str:
        return text(self.obj(), key)


# An endpoint returns data, or (code, msg, data) when per-item results decide the code.
Result = list[Any] | tuple[str, str, list[Any]]


def int_param(ctx: Ctx, key: str) -> int | None:
    return integer(ctx.q(key), key)


def limit_param(ctx: Ctx, maximum: int = MAX_LIMIT, default: int = DEFAULT_LIMIT) -> int:
    n = int_param(ctx, "limit")
    if n is None:
        return default
    if n < 1:
        raise ParamError("51000", "limit")
    return min(n, maximum)


def account(ctx: Ctx) -> Account:
    """The authenticated account of a private endpoint (``app`` authenticates before calling it)."""
    assert ctx.acct is not None
    return ctx.acct
