"""Sweep grids: any config field is an axis; every combination is a validated config variant.

A grid maps axes to lists of values, in either of two forms (mixable)::

    {"strategies[0].rule_type": ["1H", "4H"],                 # a field, by strategy index or id
     "strategies[SmaCross_20_60].strategy_name.fast": [5, 10],  # one parameter of a name
     "fees.taker": [0.0005, 0.001], "initial_equity": [1e4]}

    {"SmaCross_20_60": {"strategy_name": {"fast": [5, 10], "slow": [40, 60]},   # per strategy id
                        "rule_type": ["1H", "4H"], "leverage": [1, 2]}}

A name's parameters (``strategy_name``, ``rank_factor``, ``cross_sect_factor``) are found by
the plugin's signature (``fast`` of ``SmaCross(fast, slow)``, ``n`` of ``QuoteVolumeMean(bars,
n)``) or by position (``.0``). Each combination is written into a copy of the raw config and
validated by :func:`qlib_local.research.config_load.parse_config` (``max_cap_num``, which must equal
``hold_period``, follows a swept ``hold_period`` unless it is swept itself). A value invalid in
every combination holding it (leverage above an instrument's maximum) refuses the grid; a
combination invalid only jointly (an offset that fits one swept rule but not another) carries
its error and is reported, never silently dropped. A grid that cannot be read at all fails as
one :class:`GridError` before any combination is built.
"""

from __future__ import annotations

import copy
import inspect
import itertools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qlib_local.errors import QlibError
from qlib_local.research.config import EVENT_FIELDS, TIMING_FIELDS, ResearchConfig
from qlib_local.research.config_load import load_registries, parse_config
from qlib_local.research.factors import FactorRegistry
from qlib_local.research.plugins import parse_name
from qlib_local.research.strategy import StrategyRegistry
from qlib_local.specs import load_specs
from qlib_local.yamlfile import read_yaml

MAX_COMBINATIONS = 100_000  # a grid larger than this is refused before it is expanded
NAME_FIELDS = {"strategy_name": "strategy", "rank_factor": "factor", "cross_sect_factor": "factor"}
TOP_AXES = {"initial_equity", "blacklist", "exchange", "fees.taker", "fees.maker", "fees.slippage"}
_STRATEGY_PATH = re.compile(r"strategies\[([^\]]+)\]\.([a-z_]+)(?:\.([A-Za-z0-9_]+))?")
_PARAM_VALUE = re.compile(r"[A-Za-z0-9.+-]+")


class GridError(QlibError):
    """A grid that cannot be expanded (unknown field or strategy, empty axis, too many combinations)."""


@dataclass(frozen=True)
class Axis:
    """One swept field: ``path`` into the raw config (``("strategies", 0, "strategy_name", 1)``)."""

    path: tuple
    values: tuple
    name: str  # canonical text, e.g. strategies[SmaCross_20_60].strategy_name.fast
    short: str  # the field or parameter alone, e.g. fast
    label: str = ""  # column in result tables: ``short`` unless two axes share it

    @property
    def param(self) -> int | None:
        return self.path[3] if len(self.path) == 4 else None


@dataclass
class SweepPlan:
    """The expanded grid: one validated config (or an error) per combination, ids in grid order."""

    base: ResearchConfig
    axes: list[Axis]
    values: list[tuple]
    configs: list[ResearchConfig | None]
    errors: dict[int, str] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        return [a.label for a in self.axes]

    @property
    def combinations(self) -> pd.DataFrame:
        """Every combination's axis values, indexed by combination id."""
        frame = pd.DataFrame(self.values, columns=self.labels, dtype=object)
        frame.index.name = "combination"
        return frame.infer_objects()

    @property
    def valid(self) -> list[int]:
        return [i for i, c in enumerate(self.configs) if c is not None]

    def __len__(self) -> int:
        return len(self.values)


def _ids(raw: dict) -> list[str]:
    return [str(e.get("id", e.get("strategy_name"))) for e in raw["strategies"]]


def _strategy_index(raw: dict, sel: str, where: str) -> int:
    ids = _ids(raw)
    if sel.isdigit():
        if int(sel) >= len(ids):
            raise GridError(f"{where}: the config has {len(ids)} strategies (0 to {len(ids) - 1})")
        return int(sel)
    if sel not in ids:
        raise GridError(f"{where}: no strategy {sel!r} in the config; its ids: {', '.join(ids)}")
    return ids.index(sel)


def _param_names(cfg: ResearchConfig, raw: dict, s: int, fname: str) -> list[str]:
    """Parameter names of the plugin named by strategy ``s``'s field (skipping self / bars)."""
    name = raw["strategies"][s].get(fname)
    if not isinstance(name, str):
        raise GridError(f"strategies[{s}].{fname}: not set in the config, so it has no parameters to sweep")
    base = parse_name(name)[0]
    if NAME_FIELDS[fname] == "strategy":
        target = StrategyRegistry.load(cfg.plugins).classes[base].__init__
    else:
        target = FactorRegistry.load(cfg.plugins).functions[base]
    return list(inspect.signature(target).parameters)[1:]


def _axis(cfg: ResearchConfig, raw: dict, key: str, values: Any) -> Axis:
    if not isinstance(values, list | tuple) or not values:
        raise GridError(f"grid {key}: expected a non-empty list of values, got {values!r}")
    if key in TOP_AXES:
        return Axis(tuple(key.split(".")), tuple(values), key, key)
    m = _STRATEGY_PATH.fullmatch(key)
    if not m:
        raise GridError(f"grid {key}: not a sweepable field; use strategies[INDEX or ID].FIELD[.PARAM] or one of "
                        f"{', '.join(sorted(TOP_AXES))}")
    s = _strategy_index(raw, m.group(1), f"grid {key}")
    fname, param = m.group(2), m.group(3)
    entry = raw["strategies"][s]
    allowed = (TIMING_FIELDS if entry.get("kind") == "timing" else EVENT_FIELDS) - {"id", "kind"}
    if fname not in allowed:
        raise GridError(f"grid {key}: {fname} is not a field of a {entry.get('kind')} strategy; "
                        f"known: {', '.join(sorted(allowed))}")
    sid = _ids(raw)[s]
    if param is None:
        return Axis(("strategies", s, fname), tuple(values), f"strategies[{sid}].{fname}", fname)
    if fname not in NAME_FIELDS:
        raise GridError(f"grid {key}: only {', '.join(NAME_FIELDS)} have parameters")
    names = _param_names(cfg, raw, s, fname)
    pos = int(param) if param.isdigit() else (names.index(param) if param in names else -1)
    if not 0 <= pos < len(names):
        raise GridError(f"grid {key}: {entry[fname]} has parameter(s) ({', '.join(names) or 'none'})")
    for v in values:
        ok = isinstance(v, int | float | str) and not isinstance(v, bool)
        if not ok or (isinstance(v, float) and not math.isfinite(v)) or not _PARAM_VALUE.fullmatch(str(v)):
            raise GridError(f"grid {key}: a name parameter must be a finite number or a plain word, got {v!r}")
    return Axis(("strategies", s, fname, pos), tuple(values), f"strategies[{sid}].{fname}.{names[pos]}", names[pos])


def parse_grid(grid: Any, raw: dict, cfg: ResearchConfig) -> list[Axis]:
    """The grid's axes in order, labelled; both forms (see the module docstring) accepted."""
    if not isinstance(grid, Mapping) or not grid:
        raise GridError("grid: expected a non-empty mapping of fields to lists of values")
    ids = _ids(raw)
    axes: list[Axis] = []
    for key, values in grid.items():
        key = str(key)
        sel = re.fullmatch(r"strategies\[([^\]]+)\]", key)
        if sel and isinstance(values, Mapping):
            key = ids[_strategy_index(raw, sel.group(1), f"grid {key}")]
        if key in ids and isinstance(values, Mapping):  # per-strategy form
            if not values:
                raise GridError(f"grid {key}: expected a mapping of fields to lists of values")
            for fname, v in values.items():
                if fname in NAME_FIELDS and isinstance(v, Mapping):
                    axes += [_axis(cfg, raw, f"strategies[{key}].{fname}.{p}", pv) for p, pv in v.items()]
                else:
                    axes.append(_axis(cfg, raw, f"strategies[{key}].{fname}", v))
        else:
            axes.append(_axis(cfg, raw, key, values))
    seen: dict[tuple, str] = {}
    for a in axes:
        whole = a.path[:3]
        clash = seen.get(a.path) or (seen.get(whole) if a.param is not None else None)
        clash = clash or next((n for p, n in seen.items() if a.param is None and len(p) == 4 and p[:3] == whole), None)
        if clash:
            raise GridError(f"grid {a.name}: overlaps the axis {clash}")
        seen[a.path] = a.name
    short = [a.short for a in axes]
    return [Axis(a.path, a.values, a.name, a.short, a.short if short.count(a.short) == 1 else a.name) for a in axes]


_SCALARS = (str, int, float, bool, type(None))


def _copy_tree(node: Any) -> Any:
    """A deep copy of parsed YAML: mappings and lists rebuilt, plain scalars shared (immutable),
    anything else through ``copy.deepcopy``; several times faster than ``deepcopy`` alone."""
    if type(node) in _SCALARS:
        return node
    if isinstance(node, dict):
        return {k: v if type(v) in _SCALARS else _copy_tree(v) for k, v in node.items()}
    if isinstance(node, list):
        return [v if type(v) in _SCALARS else _copy_tree(v) for v in node]
    return copy.deepcopy(node)


def apply(raw: dict, axes: list[Axis], values: tuple) -> dict:
    """A copy of the raw config with one combination's values written in (whole fields first)."""
    out = _copy_tree(raw)
    for a, v in zip(axes, values, strict=True):
        if a.param is None:
            node = out
            for k in a.path[:-1]:
                if isinstance(k, str) and not isinstance(node.get(k), dict | list):
                    node[k] = {}  # e.g. no fees mapping in the config yet
                node = node[k]
            node[a.path[-1]] = copy.deepcopy(v)
    swept = {a.path[:3] for a in axes}
    for a, v in zip(axes, values, strict=True):  # max_cap_num must equal hold_period: it follows
        if a.path[2:3] == ("hold_period",) and "max_cap_num" in out["strategies"][a.path[1]] \
                and ("strategies", a.path[1], "max_cap_num") not in swept:
            out["strategies"][a.path[1]]["max_cap_num"] = copy.deepcopy(v)
    for a, v in zip(axes, values, strict=True):
        if a.param is not None:
            entry = out["strategies"][a.path[1]]
            base, params = parse_name(entry[a.path[2]])
            params = [*params]
            params[a.param] = v
            entry[a.path[2]] = "_".join([base, *map(str, params)])
    return out


class _ListedStore:
    """The store as the config checks see it, its instrument list and specs read once per plan."""

    def __init__(self, store: Any):
        self.root = store.root
        self._store, self._listed, self._specs = store, {}, {}

    def specs(self, exchange: str) -> dict:
        if exchange not in self._specs:
            self._specs[exchange] = load_specs(self.root, exchange)
        return self._specs[exchange]

    def instruments(self, exchange: str) -> list[str]:
        if exchange not in self._listed:
            self._listed[exchange] = self._store.instruments(exchange)
        return self._listed[exchange]


def plan_sweep(config: str | Path | dict, grid: Any, store: Any = None, plugins: str | Path | None = None,
               strategies: list[str] | None = None, max_combinations: int = MAX_COMBINATIONS) -> SweepPlan:
    """Expand ``grid`` over ``config`` (a YAML path or a raw mapping), validating every combination.

    ``strategies`` keeps only those strategy ids of the config (their positions unchanged).
    """
    path = None
    if isinstance(config, str | Path):
        path = Path(config)
        raw = read_yaml(path, GridError, f"config file {path} does not exist")
        if plugins is None and isinstance(raw, dict) and raw.get("plugins"):
            plugins = (path.parent / raw["plugins"]).resolve()
    else:
        raw = copy.deepcopy(config)
    listed = _ListedStore(store) if store is not None else None
    base = parse_config(raw, store=listed, plugins=plugins, path=path)  # the base config must be valid
    if strategies:
        keep = [_strategy_index(raw, sid, "strategies") for sid in strategies]
        raw["strategies"] = [raw["strategies"][k] for k in sorted(set(keep))]
        base = parse_config(raw, store=listed, plugins=plugins, path=path)
    if base.multi_coin:  # the batch kernel keeps one wallet
        raise GridError("initial_equity: sweeps and walk-forward take accounts of one settlement currency; "
                        "a COIN-M account of several coins runs in run_backtest / qlib-local backtest")
    if not base.default_fills:  # the batch kernel runs the default fill model only (every strategy's too)
        raise GridError("execution: sweeps and walk-forward use the default fill model (style market, spread 0, "
                        "impact 0); run_backtest applies the others")
    axes = parse_grid(grid, raw, base)
    total = math.prod(len(a.values) for a in axes)
    if total > max_combinations:
        raise GridError(f"grid: {total:,} combinations, more than the limit {max_combinations:,}")
    plan = SweepPlan(base, axes, [], [])
    registries = load_registries(plugins)  # once: every combination uses the same plugin root
    for k, values in enumerate(itertools.product(*(a.values for a in axes))):
        plan.values.append(values)
        try:
            plan.configs.append(parse_config(apply(raw, axes, values), store=listed, plugins=plugins, path=path,
                                             registries=registries,
                                             specs_of=listed.specs if listed is not None else None))
        except QlibError as e:
            plan.configs.append(None)
            plan.errors[k] = str(e)
    refuse_bad_values(plan)
    return plan


def refuse_bad_values(plan: SweepPlan) -> None:
    """A value invalid in EVERY combination holding it (leverage above the maximum, a fractional
    ``hold_period``) is a bad grid, refused up front; combinations invalid only jointly (an offset
    that fits one swept rule but not another) stay listed with their error."""
    if not plan.errors:
        return
    bad = np.zeros(len(plan), np.bool_)
    bad[list(plan.errors)] = True
    position = np.unravel_index(np.arange(len(plan)), [len(a.values) for a in plan.axes])  # grid order
    for axis, at in zip(plan.axes, position, strict=True):
        for j, v in enumerate(axis.values):
            holding = at == j
            if bad[holding].all():
                first = int(np.flatnonzero(holding)[0])
                raise GridError(f"grid {axis.name}: value {v!r} is invalid in every combination; "
                                f"combination {first}: {plan.errors[first]}")
