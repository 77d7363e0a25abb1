"""Jupyter widgets: the strategy builder (``ConfigBuilder``) and plots the notebooks share."""

from qlib_local.widgets.builder import ConfigBuilder
from qlib_local.widgets.state import ConfigState, StrategyState, load_state, save_state

__all__ = ["ConfigBuilder", "ConfigState", "StrategyState", "load_state", "save_state"]
