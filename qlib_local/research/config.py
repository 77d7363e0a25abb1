"""What a validated strategy config is: its fields, their ranges, and the frozen dataclasses
the backtest, the sweeps and live read (``ResearchConfig``, ``StrategyConfig``, ``Fees``).

Kept apart from the YAML loader (:mod:`qlib_local.research.config_load`, which builds these
only after every check passed) so the many modules that only read a config depend on its
shape, not on the plugin registries, the store or the validation rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qlib_local.config_values import MAX_LEVERAGE, Bounds
from qlib_local.errors import QlibError
from qlib_local.research.execution import Execution
from qlib_local.research.factors import FactorRegistry
from qlib_local.research.strategy import Strategy
from qlib_local.timeframes import parse_offset, parse_timeframe


class ConfigError(QlibError):
    """A config that cannot run; the message names the field."""


COMMON = {"strategy_name", "kind", "rule_type", "offset", "position", "leverage", "id", "rebalance", "min_trade",
          "execution"}
TIMING_FIELDS = COMMON | {"instruments", "volatility_ratio"}
EVENT_FIELDS = COMMON | {
    "universe", "hold_period", "max_cap_num", "symbol_num_limit", "factors", "cross_sect_factor",
    "rank_factor", "ascending", "side", "blacklist",
}
TOP_FIELDS = {"strategies", "blacklist", "fees", "initial_equity", "exchange", "plugins", "funding", "margin",
              "mark_prices", "rebalance", "min_trade", "execution", "base_bar"}
FUNDING_MODES = ("auto", "on", "off")  # stored funding: where present (warn) | required | ignored
REBALANCE_MODES = ("keep", "resize")  # a held position: keep its contracts | re-size it from current equity
# Each kind's behaviour before ``rebalance`` existed, so configs without it trade exactly as before.
DEFAULT_REBALANCE = {"timing": "keep", "event": "resize"}


# The allowed range of every numeric field (docs/research.md lists them).
RANGES: dict[str, Bounds] = {
    "fees": Bounds(0.0, 0.1),
    "initial_equity": Bounds(0.0, 1e12, lo_open=True),
    "position": Bounds(0.0, 1.0, lo_open=True),
    "leverage": Bounds(0.0, MAX_LEVERAGE, lo_open=True),
    "volatility_ratio": Bounds(0.0, 10.0, lo_open=True),
    "hold_period": Bounds(1, 10_000, integer=True),
    "max_cap_num": Bounds(1, 10_000, integer=True),
    "symbol_num_limit": Bounds(1, 10_000, integer=True),
    "min_trade": Bounds(0.0, 1.0),
}


@dataclass(frozen=True)
class Fees:
    taker: float = 0.0005
    maker: float = 0.0002
    slippage: float = 0.0


@dataclass(frozen=True)
class StrategyConfig:
    """One configured strategy; ``instruments`` is resolved (``all`` expanded, blacklists removed)."""

    id: str
    strategy_name: str
    kind: str
    rule_type: str
    offset: str
    position: float
    leverage: float
    instruments: tuple[str, ...]
    volatility_ratio: float = 1.0
    universe: str | tuple[str, ...] = ()
    hold_period: int = 1
    max_cap_num: int = 1
    symbol_num_limit: int = 1
    factors: tuple[str, ...] = ()
    cross_sect_factor: str | None = None
    rank_factor: str | None = None
    ascending: bool = False
    side: str = "long"
    blacklist: tuple[str, ...] = ()
    rebalance: str = ""  # keep | resize; empty: the kind's default (DEFAULT_REBALANCE)
    min_trade: float = 0.0  # a same-sign re-size below this share of the position is not made
    execution: Execution | None = None  # its own block over the account's, resolved at load; None: the account's
    strategy: Strategy | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.rebalance:
            object.__setattr__(self, "rebalance", DEFAULT_REBALANCE[self.kind])

    @property
    def rule_ms(self) -> int:
        return parse_timeframe(self.rule_type)

    @property
    def offset_ms(self) -> int:
        return parse_offset(self.offset)


@dataclass(frozen=True)
class ResearchConfig:
    strategies: tuple[StrategyConfig, ...]
    exchange: str = "okx"
    initial_equity: float = 10_000.0
    fees: Fees = Fees()
    blacklist: tuple[str, ...] = ()
    plugins: Path | None = None
    path: Path | None = None
    factors: FactorRegistry | None = field(default=None, compare=False, repr=False)
    funding: str = "auto"  # auto | on | off (see FUNDING_MODES)
    margin: bool = True  # maintenance margin and liquidation in the backtest
    mark_prices: bool = False  # the collectors keep mark-price candles of the instruments too
    execution: Execution = Execution()  # how the backtest fills (research/execution.py); live: the venue
    # inverse swaps of several coins: each coin's starting wallet, sorted by coin (``initial_equity:
    # {BTC: 1, ETH: 10}``); initial_equity is then NaN: the account's value is in USD at the coins' prices
    initial_wallets: tuple[tuple[str, float], ...] = ()
    # the bar the backtest steps on and live counts deadline/twap bars in; empty: the coarsest exchange
    # timeframe dividing every rule and offset. Finer lets the fill models see the prices between
    # decisions that a maker or a twap slice trades at (research.data.common_base)
    base_bar: str = ""

    @property
    def multi_coin(self) -> bool:
        """Inverse swaps settling in more than one coin: one wallet per coin, valued in USD."""
        return len(self.initial_wallets) > 1

    @property
    def instruments(self) -> list[str]:
        """Every instrument any strategy may hold, sorted (the account's columns)."""
        return sorted({i for s in self.strategies for i in s.instruments})

    def strategy_execution(self, s: StrategyConfig) -> Execution:
        """The style strategy ``s`` trades in: its own block (fields it did not set inherited at load),
        else the account's."""
        return s.execution if s.execution is not None else self.execution

    @property
    def styles(self) -> tuple[Execution, ...]:
        """The distinct order styles: 0 is the account's block, then each strategy's own, in config order."""
        return tuple(dict.fromkeys([self.execution, *(self.strategy_execution(s) for s in self.strategies)]))

    @property
    def style_of(self) -> np.ndarray:
        """Each strategy's index into :attr:`styles` (int64 [S], what ``order_styles`` takes)."""
        styles = self.styles
        return np.array([styles.index(self.strategy_execution(s)) for s in self.strategies], np.int64)

    @property
    def default_fills(self) -> bool:
        """Every style is the old fill model: the kernel takes its original path."""
        return all(e.is_default for e in self.styles)

    def strategy(self, sid: str) -> StrategyConfig:
        for s in self.strategies:
            if s.id == sid:
                return s
        raise KeyError(sid)
