"""Strategy configs (YAML): load, validate everything up front, fail with field and reason.

Every check that can fail runs before any data is computed: unknown strategy or
factor names, numbers that are not finite or out of range (``RANGES``), integers written
as fractions, booleans written as anything but true/false, positions summing over 1,
leverage above the instruments' maximum, offsets that do not fit the rule, ``max_cap_num``
other than ``hold_period``, instruments missing from the store, and an account mixing linear
with inverse swaps (a COIN-M account may hold several coins' swaps, one wallet per coin: then
``initial_equity`` names each coin's wallet, ``{BTC: 1, ETH: 10}``).

The result is a :class:`~qlib_local.research.config.ResearchConfig` (the shape, in
:mod:`qlib_local.research.config`); this module is the one place that builds it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from qlib_local.config_values import Bounds, boolean, identifier, integer, number
from qlib_local.errors import QlibError
from qlib_local.research.config import (
    DEFAULT_REBALANCE,
    EVENT_FIELDS,
    FUNDING_MODES,
    RANGES,
    REBALANCE_MODES,
    TIMING_FIELDS,
    TOP_FIELDS,
    ConfigError,
    Fees,
    ResearchConfig,
    StrategyConfig,
)
from qlib_local.research.execution import Execution, check_resting, parse_execution
from qlib_local.research.factors import FactorRegistry
from qlib_local.research.plugins import PluginError
from qlib_local.research.strategy import StrategyRegistry
from qlib_local.research.wallets import check_wallets, initial_equity, settlement_coins
from qlib_local.specs import load_specs, spec_for
from qlib_local.timeframes import (
    EXCHANGE_TIMEFRAMES,
    TimeframeError,
    check_offset,
    normalize_timeframe,
    offset_name,
    parse_offset,
    parse_timeframe,
)
from qlib_local.yamlfile import read_yaml


def _num(where: str, name: str, value: Any) -> float:
    """A finite number in the range of field ``name`` (``RANGES``); ``where`` leads the message."""
    return number(f"{where}.{name}" if where else name, value, RANGES[name], ConfigError)


def _int(where: str, name: str, value: Any) -> int:
    return integer(f"{where}.{name}", value, RANGES[name], ConfigError)


def _names(where: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of names, got {value!r}")
    return tuple(value)


def load_config(path: str | Path, store: Any = None, plugins: str | Path | None = None,
                specs_of: Callable[[str], dict] | None = None) -> ResearchConfig:
    """Read and validate a YAML config; with a ``KlineStore`` also check instruments and leverage
    (``specs_of``: the instruments' specs by exchange, when not the store's, see :func:`parse_config`)."""
    path = Path(path)
    raw = read_yaml(path, ConfigError, f"config file {path} does not exist")
    if plugins is None and isinstance(raw, dict) and raw.get("plugins"):
        plugins = (path.parent / raw["plugins"]).resolve()
    return parse_config(raw, store=store, plugins=plugins, path=path, specs_of=specs_of)


def load_registries(plugins: str | Path | None = None) -> tuple[FactorRegistry, StrategyRegistry]:
    """The factor and strategy registries of a plugin root (``ConfigError`` on a broken plugin)."""
    try:
        return FactorRegistry.load(plugins), StrategyRegistry.load(plugins)
    except PluginError as e:
        raise ConfigError(str(e)) from None


def parse_config(raw: Any, store: Any = None, plugins: str | Path | None = None, path: Path | None = None,
                 registries: tuple[FactorRegistry, StrategyRegistry] | None = None,
                 specs_of: Callable[[str], dict] | None = None) -> ResearchConfig:
    """Validate an already-parsed config mapping (see :func:`load_config`).

    ``registries``: the plugin root's, already loaded (a sweep validates thousands of configs
    against one plugin root); loaded here when not given. ``specs_of``: likewise, the store's
    instrument specs of a (validated) exchange name, e.g. cached (read from the store when not given).
    """
    if not isinstance(raw, dict):
        raise ConfigError("config: expected a mapping with a 'strategies' list")
    unknown = set(raw) - TOP_FIELDS
    if unknown:
        raise ConfigError(f"{', '.join(sorted(unknown))}: unknown top-level field(s); known: {', '.join(sorted(TOP_FIELDS))}")
    entries = raw.get("strategies")
    if not isinstance(entries, list) or not entries:
        raise ConfigError("strategies: expected a non-empty list")
    exchange = identifier("exchange", raw.get("exchange", "okx"), ConfigError)  # a folder of the store
    fees_raw = raw.get("fees") or {}
    if not isinstance(fees_raw, dict) or set(fees_raw) - {"taker", "maker", "slippage"}:
        raise ConfigError(f"fees: expected a mapping of taker, maker, slippage, got {fees_raw!r}")
    fees = Fees(**{k: number(f"fees.{k}", v, RANGES["fees"], ConfigError) for k, v in fees_raw.items()})
    equity, wallets = initial_equity(raw.get("initial_equity", 10_000.0), RANGES["initial_equity"], ConfigError)
    funding = raw.get("funding", "auto")
    if funding not in FUNDING_MODES:
        raise ConfigError(f"funding: must be one of {', '.join(FUNDING_MODES)}, got {funding!r}")
    margin = boolean("margin", raw.get("margin", True), ConfigError)
    mark_prices = boolean("mark_prices", raw.get("mark_prices", False), ConfigError)
    execution = parse_execution(raw.get("execution"), ConfigError)
    base_bar = parse_base_bar(raw.get("base_bar"), ConfigError)
    blacklist = _names("blacklist", raw.get("blacklist"))
    account_rebalance = parse_rebalance("rebalance", raw.get("rebalance"), ConfigError)
    account_min_trade = _num("", "min_trade", raw.get("min_trade", 0.0))
    factor_reg, strat_reg = registries or load_registries(plugins)
    stored = store.instruments(exchange) if store is not None else None
    if store is None:
        specs = {}
    else:
        specs = specs_of(exchange) if specs_of is not None else load_specs(store.root, exchange)
    strategies = [
        _strategy(f"strategies[{i}]", e, factor_reg, strat_reg, blacklist, stored, specs,
                  (account_rebalance, account_min_trade), execution)
        for i, e in enumerate(entries)
    ]
    ids = [s.id for s in strategies]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ConfigError(f"strategies: duplicate strategy id(s) {', '.join(dup)}; give each an 'id'")
    base_ms = EXCHANGE_TIMEFRAMES[base_bar] if base_bar else 0
    for i, s in enumerate(strategies):
        if base_ms and (s.rule_ms % base_ms or s.offset_ms % base_ms):
            raise ConfigError(f"base_bar: {base_bar} does not divide strategies[{i}] ({s.id})'s rule {s.rule_type} "
                              f"and offset {s.offset}; choose a bar that divides every rule and offset")
    check_resting([(f"strategies[{i}] ({s.id}).execution", s.execution or execution) for i, s in enumerate(strategies)],
                  [(s.rule_ms, s.offset_ms) for s in strategies], ConfigError, base_ms)
    total = sum(s.position for s in strategies)
    if total > 1 + 1e-9:
        raise ConfigError(f"position: the strategies' positions sum to {total:g}, more than 1")
    if specs:
        coins = settlement_coins(strategies, specs, ConfigError)
        equity, wallets = check_wallets(coins, equity, wallets, ConfigError)
    elif len(wallets) == 1:
        equity, wallets = wallets[0][1], ()
    return ResearchConfig(
        tuple(strategies), exchange, equity, fees, blacklist,
        Path(plugins) if plugins else None, path, factor_reg, funding, margin, mark_prices, execution, wallets,
        base_bar,
    )


def parse_base_bar(value: Any, error: type[QlibError]) -> str:
    """``base_bar``: absent/empty for the default, else an exchange timeframe by its canonical name
    (``1h`` reads as ``1H``); the strategy builder reads it with this too."""
    if value is None or value == "":
        return ""
    try:
        name = normalize_timeframe(value) if isinstance(value, str) else ""
    except TimeframeError:
        name = ""
    if name not in EXCHANGE_TIMEFRAMES:
        raise error(f"base_bar: must be an exchange timeframe ({', '.join(EXCHANGE_TIMEFRAMES)}), got {value!r}")
    return name


def _strategy(
    where: str, e: Any, factor_reg: FactorRegistry, strat_reg: StrategyRegistry,
    global_black: tuple[str, ...], stored: list[str] | None, specs: dict,
    account: tuple[str | None, float] = (None, 0.0), account_execution: Execution = Execution(),
) -> StrategyConfig:
    if not isinstance(e, dict):
        raise ConfigError(f"{where}: expected a mapping, got {e!r}")
    kind = e.get("kind")
    if kind not in ("timing", "event"):
        raise ConfigError(f"{where}.kind: must be 'timing' or 'event', got {kind!r}")
    if "strategy_name" not in e:
        raise ConfigError(f"{where}.strategy_name: missing")
    name = e["strategy_name"]
    try:
        strategy = strat_reg.create(name)
    except PluginError as err:
        raise ConfigError(f"{where} ({name}).strategy_name: {err}") from None
    if strategy.kind != kind:
        raise ConfigError(f"{where} ({name}).kind: {name} is a {strategy.kind} strategy, not {kind}")
    allowed = TIMING_FIELDS if kind == "timing" else EVENT_FIELDS
    unknown = set(e) - allowed
    if unknown:
        raise ConfigError(f"{where}.{sorted(unknown)[0]}: unknown field for a {kind} strategy; known: {', '.join(sorted(allowed))}")
    for req in ("rule_type", "position", "leverage"):
        if req not in e:
            raise ConfigError(f"{where}.{req}: missing")
    where = f"{where} ({name})"
    try:
        rule = normalize_timeframe(str(e["rule_type"]))
    except TimeframeError as err:
        raise ConfigError(f"{where}.rule_type: {err}") from None
    try:
        off_ms = parse_offset(e.get("offset", 0))
        check_offset(parse_timeframe(rule), off_ms, rule, str(e.get("offset", 0)))
    except TimeframeError as err:
        raise ConfigError(f"{where}.offset: {err}") from None
    position = _num(where, "position", e["position"])
    # the instruments' own maximum (with a store) is checked first: its message is the more useful
    leverage = number(f"{where}.leverage", e["leverage"], Bounds(0.0, lo_open=True), ConfigError)
    try:
        for fname in strategy.factors():
            factor_reg.resolve(fname)
    except PluginError as err:
        raise ConfigError(f"{where}.strategy_name: {name} reads {err}") from None
    kw: dict[str, Any] = {}
    if kind == "timing":
        insts = _names(f"{where}.instruments", e.get("instruments"))
        if not insts:
            raise ConfigError(f"{where}.instruments: at least one instrument is needed")
        kw["volatility_ratio"] = _num(where, "volatility_ratio", e.get("volatility_ratio", 1.0))
    else:
        hold = _int(where, "hold_period", e.get("hold_period", 1))
        cap = _int(where, "max_cap_num", e.get("max_cap_num", hold))
        if cap != hold:
            raise ConfigError(f"{where}.max_cap_num: must equal hold_period ({hold}), got {cap}")
        side = e.get("side", "long")
        if side not in ("long", "short"):
            raise ConfigError(f"{where}.side: must be 'long' or 'short', got {side!r}")
        ascending = boolean(f"{where}.ascending", e.get("ascending", False), ConfigError)
        factors = _names(f"{where}.factors", e.get("factors"))
        for fname in factors:
            _resolve(factor_reg, f"{where}.factors", fname, ("timeseries", "cross_section"))
        cross = e.get("cross_sect_factor")
        if cross is not None:
            _resolve(factor_reg, f"{where}.cross_sect_factor", cross, "cross_section")
        rank = e.get("rank_factor")
        if rank is None:
            raise ConfigError(f"{where}.rank_factor: missing (the factor that orders candidates)")
        _resolve(factor_reg, f"{where}.rank_factor", rank, ("rank", "timeseries", "cross_section"))
        universe = e.get("universe", "all")
        black = set(global_black) | set(_names(f"{where}.blacklist", e.get("blacklist")))
        if universe == "all":  # the stored swaps of one kind, as the collectors list them (_universe_all)
            if stored is None:
                raise ConfigError(f"{where}.universe: 'all' needs a store to list instruments")
            insts = tuple(i for i in _universe_all(stored, specs) if i not in black)
        else:
            insts = tuple(i for i in _names(f"{where}.universe", universe) if i not in black)
        if not insts:
            raise ConfigError(f"{where}.universe: no instruments left after the blacklist")
        kw.update(
            universe=universe if universe == "all" else tuple(universe), hold_period=hold, max_cap_num=cap,
            symbol_num_limit=_int(where, "symbol_num_limit", e.get("symbol_num_limit", 1)), factors=factors,
            cross_sect_factor=cross, rank_factor=rank, ascending=ascending, side=side, blacklist=tuple(sorted(black)),
        )
    if kind == "timing":
        insts = tuple(i for i in insts if i not in global_black)
        if not insts:
            raise ConfigError(f"{where}.instruments: every instrument is blacklisted")
    field_name = "instruments" if kind == "timing" else "universe"
    if stored is not None:
        missing = [i for i in insts if i not in stored]
        if missing:
            raise ConfigError(f"{where}.{field_name}: {', '.join(missing)} not in the store")
        for inst in insts:
            cap_lev = spec_for(specs, inst).max_lever
            if leverage > cap_lev:
                raise ConfigError(f"{where}.leverage: {leverage:g} exceeds the maximum {cap_lev:g} of {inst}")
    _num(where, "leverage", leverage)
    rebalance = parse_rebalance(f"{where}.rebalance", e.get("rebalance", account[0]), ConfigError) or DEFAULT_REBALANCE[kind]
    min_trade = _num(where, "min_trade", e["min_trade"]) if "min_trade" in e else account[1]
    execution = (parse_execution(e["execution"], ConfigError, account_execution, f"{where}.execution")
                 if e.get("execution") is not None else None)
    return StrategyConfig(
        id=str(e.get("id", name)), strategy_name=name, kind=kind, rule_type=rule, offset=offset_name(off_ms),
        position=position, leverage=leverage, instruments=tuple(insts), strategy=strategy, rebalance=rebalance,
        min_trade=min_trade, execution=execution, **kw,
    )


def _universe_all(stored: list[str], specs: dict) -> list[str]:
    """``universe: all``: every stored linear swap; on a store of inverse swaps only (a COIN-M
    venue's folder) every inverse one, so ``all`` never mixes the two kinds in one account."""
    linear = [i for i in stored if not spec_for(specs, i).inverse]
    return linear or list(stored)


def parse_rebalance(where: str, value: Any, error: type[QlibError]) -> str | None:
    """``keep`` or ``resize`` (None when not given); the strategy builder checks with this too."""
    if value is None:
        return None
    if value not in REBALANCE_MODES:
        raise error(f"{where}: must be one of {', '.join(REBALANCE_MODES)}, got {value!r}")
    return str(value)


def _resolve(reg: FactorRegistry, where: str, name: Any, kinds: str | tuple[str, ...]) -> None:
    if not isinstance(name, str):
        raise ConfigError(f"{where}: expected a factor name, got {name!r}")
    try:
        reg.resolve(name, kinds)
    except PluginError as err:
        raise ConfigError(f"{where}: {err}") from None
