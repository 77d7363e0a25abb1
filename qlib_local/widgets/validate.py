"""Per-field errors for the builder, as the user types.

Field checks (rule, offset, names, numbers) come first so each message sits next to its
input; then the research layer's own validator runs on the whole config, so nothing the
builder lets through can fail later in a backtest or a live run.
"""

from __future__ import annotations

import copy
import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qlib_local.config_values import number
from qlib_local.errors import QlibError
from qlib_local.research.config import RANGES
from qlib_local.research.config_load import parse_config, parse_rebalance
from qlib_local.research.execution import Execution, check_resting, parse_execution
from qlib_local.research.factors import FactorRegistry
from qlib_local.research.plugins import PluginError
from qlib_local.research.strategy import StrategyRegistry
from qlib_local.research.wallets import initial_equity
from qlib_local.timeframes import (
    EXCHANGE_TIMEFRAMES,
    TimeframeError,
    check_offset,
    coarsest_dividing,
    normalize_timeframe,
    parse_offset,
    parse_timeframe,
)
from qlib_local.widgets.state import ConfigState, StrategyState

GENERAL = "general"
FACTOR_KINDS = ("timeseries", "cross_section")
RANK_KINDS = ("rank", "timeseries", "cross_section")
# a stand-in universe for 'all' when there is no store to list instruments
PLACEHOLDER_UNIVERSE = ["BTC-USDT-SWAP"]
# the account's fields the loader's messages start with -> the error label beside their inputs
ACCOUNT_PREFIXES = (("initial_equity", "initial_equity"), ("execution", "execution"), ("rebalance", "rebalance"),
                    ("min_trade", "rebalance"), ("base_bar", "base_bar"))
COIN_RE = re.compile(r"[A-Z0-9]{1,20}")  # as the venues name a settlement coin: BTC, ETH, 1000PEPE


@dataclass(frozen=True)
class Registries:
    strategies: StrategyRegistry
    factors: FactorRegistry
    root: Path | None = None

    @classmethod
    def load(cls, plugins: str | Path | None = None) -> Registries:
        return cls(StrategyRegistry.load(plugins), FactorRegistry.load(plugins), Path(plugins) if plugins else None)

    def strategy_names(self, kind: str) -> list[str]:
        return self.strategies.known(kind)

    def factor_names(self, kinds: tuple[str, ...]) -> list[str]:
        return sorted(n for n, k in self.factors.kinds.items() if k in kinds)

    def params_of(self, base: str) -> list[str]:
        """Constructor parameter names of a strategy class (what ``_p1_p2`` fills)."""
        return [p.name for p in self.param_specs(base)]

    def param_specs(self, base: str) -> list[inspect.Parameter]:
        """The named constructor parameters (``*args``/``**kwargs`` of an inherited constructor are none)."""
        klass = self.strategies.classes.get(base)
        if klass is None:
            return []
        return [p for p in list(inspect.signature(klass.__init__).parameters.values())[1:]
                if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]


Errors = dict[tuple[int, str], str]  # (strategy index or -1, field) -> message


def strategy_errors(i: int, s: StrategyState, regs: Registries) -> Errors:
    err: Errors = {}
    try:
        rule_ms = parse_timeframe(normalize_timeframe(s.rule_type))
    except TimeframeError as e:
        err[(i, "rule_type")] = str(e)
        rule_ms = None
    try:
        off = parse_offset(s.offset)
        if rule_ms is not None:
            check_offset(rule_ms, off, s.rule_type, s.offset)
    except TimeframeError as e:
        err[(i, "offset")] = str(e)
    if s.base not in regs.strategies.classes or regs.strategies.classes[s.base].kind != s.kind:
        known = ", ".join(regs.strategy_names(s.kind)) or "none"
        err[(i, "strategy")] = f"unknown {s.kind} strategy {s.base!r}; known: {known}"
    elif empty := [n for n, v in zip(regs.params_of(s.base), s.params, strict=False) if not str(v).strip()]:
        err[(i, "params")] = f"parameter(s) {', '.join(empty)} of {s.base} are empty"
    else:
        try:
            strat = regs.strategies.create(s.strategy_name)
            for f in strat.factors():
                regs.factors.resolve(f)
        except PluginError as e:
            err[(i, "params")] = str(e)
        except Exception as e:  # the plugin's own constructor refused the values
            err[(i, "params")] = f"{s.strategy_name}: {type(e).__name__}: {e}"
    numbers = ["position", "leverage"] + (["volatility_ratio"] if s.kind == "timing" else
                                          ["hold_period", "symbol_num_limit"])
    for name in numbers:
        _in_range(err, i, name, getattr(s, name))
    if s.kind == "timing":
        if not s.instruments:
            err[(i, "instruments")] = "at least one instrument is needed"
        return err
    for name in s.factors:
        _factor(err, (i, "factors"), regs, name, FACTOR_KINDS)
    if s.cross_sect_factor:
        _factor(err, (i, "cross_sect_factor"), regs, s.cross_sect_factor, ("cross_section",))
    if not s.rank_factor:
        err[(i, "rank_factor")] = "an event strategy needs a rank factor (it orders the candidates)"
    else:
        _factor(err, (i, "rank_factor"), regs, s.rank_factor, RANK_KINDS)
    return err


def _in_range(err: Errors, i: int, name: str, value: Any) -> None:
    """The loader's own range for the field (one definition: ``research.config.RANGES``)."""
    try:
        number(name, value, RANGES[name], QlibError)
    except QlibError as e:
        err[(i, name)] = str(e)


def _factor(err: Errors, key: tuple[int, str], regs: Registries, name: str, kinds: tuple[str, ...]) -> None:
    try:
        regs.factors.resolve(name, kinds)
    except PluginError as e:
        err.setdefault(key, str(e))


def wallet_errors(state: ConfigState) -> Errors:
    """``initial_equity``: the loader's own check (``research.wallets.initial_equity``), after
    what a mapping cannot show: a row without a coin, a coin twice, a coin not named as venues do."""
    key = (-1, "initial_equity")
    if state.wallets is None:
        value: Any = state.initial_equity
    else:
        coins = [c for c, _ in state.wallets]
        if not coins:
            return {key: "initial_equity: add at least one coin's wallet"}
        if "" in coins:
            return {key: "initial_equity: a wallet row has no coin name; name it (BTC, ETH) or remove it"}
        if bad := [c for c in coins if not COIN_RE.fullmatch(c)]:
            return {key: f"initial_equity: coin {bad[0]!r} is not a coin name; use 1 to 20 upper-case letters "
                         "or digits, as the venue names it (BTC, ETH)"}
        if dup := sorted({c for c in coins if coins.count(c) > 1}):
            return {key: f"initial_equity: coin {', '.join(dup)} has two wallets; keep one"}
        value = dict(state.wallets)
    try:
        initial_equity(value, RANGES["initial_equity"], QlibError)
    except QlibError as e:
        return {key: str(e)}
    return {}


def execution_errors(state: ConfigState) -> Errors:
    """Each block through the loader's ``parse_execution`` (a strategy's over the account's),
    then its ``check_resting``: no order may still be working at the account's next decision."""
    err: Errors = {}
    try:
        account = parse_execution(state.execution, QlibError)
    except QlibError as e:
        err[(-1, "execution")] = str(e)
        account = Execution()
    resolved: list[Execution | None] = []
    for i, s in enumerate(state.strategies):
        try:
            own = parse_execution(s.execution, QlibError, account, f"strategies[{i}].execution")
        except QlibError as e:
            err[(i, "execution")] = str(e)
            own = None
        resolved.append(own)
    rules = _rules(state)
    if rules is None:
        return err  # beside the rule or offset already
    base_ms = EXCHANGE_TIMEFRAMES.get(state.base_bar, 0)  # canonical: the dropdown's, or read by parse_base_bar
    if base_ms and any(r % base_ms or o % base_ms for r, o in rules):
        return err  # the loader refuses that base bar before it checks resting (its message beside the dropdown)
    for i, (s, ex) in enumerate(zip(state.strategies, resolved, strict=True)):
        if ex is not None and rules:
            try:
                check_resting([(f"strategies[{i}] ({s.label}).execution", ex)], rules, QlibError, base_ms)
            except QlibError as e:
                err[(i, "execution")] = str(e)
    return err


def _rules(state: ConfigState) -> list[tuple[int, int]] | None:
    """Each strategy's (rule, offset) in ms; None while one does not parse (its error is beside it)."""
    try:
        return [(parse_timeframe(normalize_timeframe(s.rule_type)), parse_offset(s.offset)) for s in state.strategies]
    except TimeframeError:
        return None


def auto_base_bar(state: ConfigState) -> str:
    """What an unset ``base_bar`` resolves to: the coarsest exchange timeframe dividing every rule and
    offset (as live and ``check_resting`` take it); empty while a rule or offset does not parse or none divides."""
    rules = _rules(state)
    if not rules:
        return ""
    return coarsest_dividing([r for r, _ in rules] + [o for _, o in rules])


def rebalance_errors(state: ConfigState) -> Errors:
    """``rebalance``/``min_trade``, the account's and each strategy's own, checked as the loader
    checks them (its names, its range ``RANGES['min_trade']``): one message per block, beside it."""
    err: Errors = {}
    blocks = [(-1, "", state)] + [(i, f"strategies[{i}] ({s.strategy_name}).", s)  # as the loader names it
                                  for i, s in enumerate(state.strategies)]
    for i, at, s in blocks:
        try:
            parse_rebalance(f"{at}rebalance", s.rebalance, QlibError)
            if s.min_trade is not None:
                number(f"{at}min_trade", s.min_trade, RANGES["min_trade"], QlibError)
        except QlibError as e:
            err[(i, "rebalance")] = str(e)
    return err


def config_errors(state: ConfigState, regs: Registries, store: Any = None) -> Errors:
    """Every error: per field, then (only if those pass) the research validator's verdict."""
    err: Errors = {}
    if not state.strategies:
        err[(-1, GENERAL)] = "add at least one strategy"
    for i, s in enumerate(state.strategies):
        err.update(strategy_errors(i, s, regs))
    err.update(wallet_errors(state))
    err.update(execution_errors(state))
    err.update(rebalance_errors(state))
    total = sum(s.position for s in state.strategies)
    if total > 1 + 1e-9:
        for i, _ in enumerate(state.strategies):
            err.setdefault((i, "position"), f"capital shares sum to {total:g}, more than 1")
        err[(-1, "position")] = f"capital shares sum to {total:g}, more than 1"
    labels = [s.label for s in state.strategies]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        err[(-1, "id")] = f"two strategies share the id {', '.join(dup)}: give one an id"
    if err:
        return err
    raw = state.to_raw()
    if store is None:  # 'all' is checked against the store when there is one
        raw = copy.deepcopy(raw)
        for e in raw["strategies"]:
            if e.get("universe") == "all":
                e["universe"] = PLACEHOLDER_UNIVERSE
    try:
        parse_config(raw, store=store, plugins=regs.root)
    except QlibError as e:  # beside the account's input it names, else in the summary
        field = next((f for prefix, f in ACCOUNT_PREFIXES if str(e).startswith(prefix)), GENERAL)
        err[(-1, field)] = str(e)
    return err
