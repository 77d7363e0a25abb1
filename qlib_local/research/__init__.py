"""Research layer: factors, strategies, configs and the target-position model shared with live.

Live-facing API (see docs/research.md)::

    cfg = load_config("strategies/example.yaml", store)
    model = Model(cfg, load_specs(store.root, cfg.exchange))
    bars = load_strategy_bars(cfg, store, end=close_time)      # history windows
    due = model.due(close_time)
    view = MarketView(prices, latest_intents(cfg, bars, close_time, due))
    state, targets = model.step(state, close_time, view, equity_now)
    orders = diff_orders(net_targets(targets), exchange_positions)
"""

from qlib_local.research.strategy import EventStrategy, Strategy, TimingStrategy  # noqa: I001 (plugins import these first)
from qlib_local.research.config import ConfigError, Fees, ResearchConfig, StrategyConfig
from qlib_local.research.config_load import load_config, parse_config
from qlib_local.research.data import MarketData, load_market_data, load_strategy_bars
from qlib_local.research.factors import Bars, FactorContext, FactorRegistry
from qlib_local.research.intents import compute_intents, latest_intents, strategy_intent
from qlib_local.research.model import MarketView, Model, ModelState, diff_orders, net_targets
from qlib_local.research.plugins import PluginError, parse_name

__all__ = [
    "Bars", "ConfigError", "EventStrategy", "FactorContext", "FactorRegistry", "Fees", "MarketView", "Model",
    "MarketData", "ModelState", "PluginError", "ResearchConfig", "Strategy", "StrategyConfig", "TimingStrategy",
    "compute_intents", "diff_orders", "latest_intents", "load_config", "load_market_data", "load_strategy_bars", "net_targets", "parse_config",
    "parse_name", "strategy_intent",
]
